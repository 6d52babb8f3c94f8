"""Starting supervisors and waiting on them without asyncio's subprocess transport.

asyncio's subprocess transport kills its child when it is closed or garbage
collected, and a supervisor must outlive the daemon. So supervisors are plain
Popen children; their exit is awaited through a pidfd on the event loop, and
the one "started" line is read through a pipe transport, which kills nothing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path


def spawn_supervisor(
    run_folder: Path, attempt: int, grace: float, log: Path
) -> subprocess.Popen[bytes]:
    """Start `python -m localwes.supervisor` in its own session."""
    argv = [sys.executable, "-m", "localwes.supervisor", str(run_folder), str(attempt), str(grace)]
    with log.open("ab") as errors:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )


async def read_first_line(proc: subprocess.Popen[bytes]) -> bytes:
    """The first line the supervisor writes, or b"" if it closes its stdout first."""
    assert proc.stdout is not None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), proc.stdout
    )
    try:
        return await reader.readline()
    finally:
        transport.close()


async def wait_for_exit(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the process to end without blocking the loop, and reap it."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        await wait_pidfd(pidfd)
    finally:
        os.close(pidfd)
    return proc.wait()


async def wait_pidfd(pidfd: int) -> None:
    """Until the process behind a pidfd (a child or not) has ended."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.add_reader(pidfd, _settle, ended)
    try:
        await ended
    finally:
        loop.remove_reader(pidfd)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
