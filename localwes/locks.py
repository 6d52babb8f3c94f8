"""Whether someone holds a lock file (daemon.lock, a run's .lock), without taking it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def lock_is_held(lock: Path) -> bool:
    """A shared, non-blocking flock on an existing lock file, let go at once: it
    fails only while another process holds the exclusive lock (filelock takes
    flock LOCK_EX), never keeps the holder from taking it, and creates nothing."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the probe's lock
    return False
