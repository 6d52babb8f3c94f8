"""What a run leaves running when its supervisor dies without ending it (SIGKILL,
the OOM killer): the engine's process group and every process that carries the
run folder in its environment. The daemon kills them before it records the
run's end or starts it again, so nothing of a run outlives the run, and a
requeued run never runs beside its previous attempt.

A pid alone is not trusted: the engine's is taken only while the process with
that pid started when supervisor.json says the engine did and works in the run
folder, and any other process only if its own environment names the run folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from localwes.durable import read_json
from localwes.groups import proc_stat
from localwes.store import RunPaths
from localwes.tasks import RUN_DIR_ENV

log = logging.getLogger(__name__)

# supervisor.json's engine_started_at is taken just after the fork (a warm one is
# forked by the zygote, a moment earlier); /proc's start time is in clock ticks
# after a boot time given in whole seconds.
SAME_START_S = 5.0
ROUNDS = 10  # a process forking as we kill: its children are caught on a later round


def kill_leftovers(paths: RunPaths) -> list[int]:
    """SIGKILL what is left of a run whose supervisor is gone; the pids killed."""
    killed: list[int] = []
    engine = _recorded_engine(paths)
    if engine is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(engine, signal.SIGKILL)
            killed.append(engine)
    folder = os.path.realpath(paths.root)
    for _ in range(ROUNDS):
        marked = [pid for pid in _other_pids() if _run_folder_of(pid) == folder]
        if not marked:
            break
        for pid in marked:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed += marked
    if killed:
        log.warning("run_leftovers_killed run_folder=%s pids=%s", paths.root, sorted(set(killed)))
    return sorted(set(killed))


def _recorded_engine(paths: RunPaths) -> int | None:
    """The engine's pid (its process group), if that process still runs."""
    try:
        record = read_json(paths.supervisor)
        pid, started_at = int(record["engine_pid"]), float(record["engine_started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    began = _start_time(pid)
    if began is None or abs(began - started_at) > SAME_START_S:
        return None  # gone, or the pid now belongs to another process
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    # The engine works inside its run folder, cold or warm.
    return pid if Path(cwd).is_relative_to(os.path.realpath(paths.root)) else None


def _start_time(pid: int) -> float | None:
    """When a process started, in seconds since the epoch."""
    fields = proc_stat(pid)
    if fields is None:
        return None
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    ticks = int(fields[22 - 3])  # stat(5) field 22: starttime, in clock ticks since boot
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _other_pids() -> list[int]:
    me = os.getpid()
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and int(entry) != me]


def _run_folder_of(pid: int) -> str | None:
    """The run folder a process was started for, from its environment."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = f"{RUN_DIR_ENV}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return os.path.realpath(os.fsdecode(entry[len(prefix) :]))
    return None
