"""Who serves a state dir: `daemon.lock` (held by the daemon while it lives) and
`daemon.json` (its pid and URL).

One module for the three readers and writers of those files: the daemon takes
the lock, `localwes doctor` and the client commands probe it. A probe never
takes the lock for longer than the probe, and never creates a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from localwes.durable import read_json, write_json_durably
from localwes.errors import CommandError
from localwes.locks import lock_is_held

LOCK_NAME = "daemon.lock"
RECORD_NAME = "daemon.json"


class DaemonAlreadyRunning(CommandError):
    """Another daemon holds this state dir's lock."""


@dataclass(frozen=True)
class DaemonRecord:
    """What the state dir says about its daemon: daemon.lock held, daemon.json."""

    running: bool
    pid: int | None = None
    url: str | None = None


def own_state_dir(state_dir: Path) -> FileLock:
    """Take the state dir for this process, or name the daemon that has it."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = FileLock(str(state_dir / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        other = _read_record(state_dir)
        raise DaemonAlreadyRunning(
            f"another localwes daemon (pid {other.get('pid', '?')}, "
            f"{other.get('url', 'url unknown')}) "
            f"already serves {state_dir}; stop it or use another --state-dir"
        ) from None
    write_json_durably(state_dir / RECORD_NAME, {"pid": os.getpid()})
    return lock


def record_daemon_url(state_dir: Path, url: str) -> None:
    """Noted in daemon.json so clients find the daemon and a second one can name it."""
    write_json_durably(state_dir / RECORD_NAME, {"pid": os.getpid(), "url": url})


def find_daemon(state_dir: Path) -> DaemonRecord:
    if not lock_is_held(state_dir / LOCK_NAME):
        return DaemonRecord(running=False)
    info = _read_record(state_dir)
    pid, url = info.get("pid"), info.get("url")
    return DaemonRecord(True, pid if isinstance(pid, int) else None, url if url else None)


def _read_record(state_dir: Path) -> dict[str, Any]:
    try:
        info = read_json(state_dir / RECORD_NAME)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
