"""The per-run supervisor: `python -m localwes.supervisor RUN_FOLDER`.

It outlives the daemon. While the engine lives it holds the run folder's lock
(a held lock means "alive", immune to pid reuse), starts the engine from
command.json in its own process group with its streams sent to files, and
writes exit.json when the engine ends. SIGTERM means cancel: SIGTERM to the
engine's group, SIGKILL after the grace period. No process of the run is
left behind: the whole group is killed once the engine itself has ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from localwes.durable import read_json, write_json_durably
from localwes.engines.base import EngineCommand
from localwes.engines.warm import ForkedEngine, fork_engine, warm_module
from localwes.groups import become_subreaper, kill_orphans, wait_then_sweep
from localwes.models import utc_now
from localwes.store import RunPaths
from localwes.tasks import RUN_DIR_ENV, close_open_tasks

# Set by the zygote in the supervisors it forks: engines are then forked warm too.
WARM = False
# The daemon reads this one line on the supervisor's stdout to mark the run RUNNING.
STARTED_LINE = b"started\n"
EXIT_ALREADY_SUPERVISED = 3
EXIT_STALE = 4
DEFAULT_GRACE_S = 10.0


def main(argv: list[str]) -> int:
    began_at = time.time()  # sub-second, for measuring the scheduler's hand-over
    paths = RunPaths(Path(argv[0]).resolve())
    attempt = int(argv[1])
    grace = float(argv[2]) if len(argv) > 2 else DEFAULT_GRACE_S
    lock = FileLock(str(paths.lock), timeout=5)
    try:
        lock.acquire()
    except Timeout:
        print(f"run {paths.root.name} is already supervised", file=sys.stderr)
        return EXIT_ALREADY_SUPERVISED
    try:
        if read_json(paths.state).get("attempt") != attempt:
            # The daemon that started us died and its successor has moved the run
            # on (queued it again): running now would run it twice.
            print(f"run {paths.root.name}: attempt {attempt} is no longer current", file=sys.stderr)
            return EXIT_STALE
        if paths.exit.exists():
            return 0  # it already ran; the daemon only has to read exit.json
        outcome = supervise(paths, grace, began_at)
        write_json_durably(paths.exit, {"attempt": attempt, **outcome})
    finally:
        lock.release()
    return 0


def supervise(paths: RunPaths, grace: float, began_at: float) -> dict[str, Any]:
    """Run the engine to its end; return what exit.json records."""
    start_time = utc_now()
    # Handlers first: a cancel that comes before the engine exists must still count.
    cancel = _CancelFlag()
    signal.signal(signal.SIGTERM, cancel.set)
    signal.signal(signal.SIGINT, cancel.set)
    become_subreaper()
    try:
        paths.make_folders()
        command = EngineCommand.from_json(read_json(paths.command))
        if cancel.is_set():
            raise InterruptedError("canceled before the engine started")
        engine = _start_engine(paths, command)
        engine_started_at = time.time()
    except (OSError, ValueError, KeyError) as exc:
        return {
            "exit_code": None,
            "error": f"could not start the engine: {exc}",
            "start_time": start_time,
            "end_time": utc_now(),
            "canceled": cancel.is_set(),
        }
    write_json_durably(
        paths.supervisor,
        {
            "pid": os.getpid(),
            "engine_pid": engine.pid,
            "start_time": start_time,
            "supervisor_began_at": began_at,
            "engine_started_at": engine_started_at,
        },
    )
    _announce_started()
    status = wait_then_sweep(engine, cancel.is_set, grace)
    kill_orphans()
    ended = "the run was canceled" if cancel.is_set() else f"the engine ended (status {status})"
    close_open_tasks(paths.tasks, f"still running when {ended}; stopped with it")
    return {
        "exit_code": status,
        "ended_at": time.time(),  # sub-second, for measuring the scheduler
        "start_time": start_time,
        "end_time": utc_now(),
        "canceled": cancel.is_set(),
    }


def _start_engine(
    paths: RunPaths, command: EngineCommand
) -> subprocess.Popen[bytes] | ForkedEngine:
    tmp = paths.work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**command.env, "TMPDIR": str(tmp), RUN_DIR_ENV: str(paths.root)}
    if WARM and warm_module(command.argv):
        return fork_engine(command.argv, paths.root / command.cwd, env, paths.stdout, paths.stderr)
    with paths.stdout.open("ab") as out, paths.stderr.open("ab") as err:
        return subprocess.Popen(
            command.argv,
            cwd=paths.root / command.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            process_group=0,
        )


def _announce_started() -> None:
    """Tell the daemon, if it still listens, then let go of the pipe for good."""
    # If the daemon is gone, it learns the state from the run folder later.
    with contextlib.suppress(OSError):
        os.write(1, STARTED_LINE)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


class _CancelFlag:
    """Set by SIGTERM/SIGINT; the wait loop turns it into SIGTERM, then SIGKILL."""

    def __init__(self) -> None:
        self._set = False

    def set(self, signum: int, frame: object) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
