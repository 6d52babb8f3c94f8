"""Process groups: an engine or a task runs in its own group, and nothing of the
group outlives it; a supervisor also catches what escaped its group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Protocol


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class GroupLeader(Protocol):
    """A started engine or task: subprocess.Popen, or a warm-forked engine."""

    pid: int

    def wait(self) -> int: ...


def wait_then_sweep(
    proc: GroupLeader,
    terminating: Callable[[], bool] = lambda: False,
    grace: float = 10.0,
) -> int:
    """Wait for a group leader to end, then kill what is left of its group and reap it.

    The wait goes through a pidfd, so an exit is seen at once (no polling delay).
    `terminating()` is checked a few times a second: once true, the group gets
    SIGTERM, then SIGKILL after `grace` seconds. Waiting without reaping
    (WNOWAIT) keeps the group id from being reused before the sweep.
    Returns a shell-style status: 128+N for death by signal N.
    """
    pidfd = os.pidfd_open(proc.pid)
    deadline: float | None = None
    try:
        while not select.select([pidfd], [], [], 0.2)[0]:
            if deadline is None and terminating():
                kill_group(proc.pid, signal.SIGTERM)
                deadline = time.monotonic() + grace
            elif deadline is not None and time.monotonic() > deadline:
                kill_group(proc.pid, signal.SIGKILL)
    finally:
        os.close(pidfd)
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    kill_group(proc.pid, signal.SIGKILL)
    code = proc.wait()
    return 128 - code if code < 0 else code


# prctl(2) option: orphaned descendants are reparented to this process, not init.
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Make descendants that lose their parent (a task left behind when its engine
    was killed, a daemonised helper) this process's children, so they can be
    found and killed. Linux only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def kill_orphans(rounds: int = 20) -> None:
    """Kill and reap every remaining child of this process, and their groups."""
    for _ in range(rounds):
        children = _children()
        if not children:
            return
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _children() -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = proc_stat(entry)
        if fields is not None and int(fields[1]) == me:
            found.append(int(entry))
    return found


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which is in parentheses
    and may hold spaces): state, ppid, ... (stat(5) field N is at N - 3); None once
    the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
