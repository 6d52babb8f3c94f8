"""Starting supervisors and waiting on them without asyncio's subprocess transport.

asyncio's subprocess transport kills its child when it is closed or garbage
collected, and a supervisor must outlive the daemon. So a supervisor is either
a plain Popen child (cold start) or forked by the zygote (warm start, not our
child at all); either way its end is awaited through a pidfd on the event loop,
and its one "started" line is read through a pipe transport, which kills nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Protocol

log = logging.getLogger(__name__)


class Supervisor(Protocol):
    """A started run's supervisor, as the scheduler sees it."""

    async def first_line(self) -> bytes: ...

    async def wait(self) -> None: ...

    def terminate(self) -> None: ...


class ColdSupervisor:
    """`python -m localwes.supervisor` started afresh, in its own session."""

    def __init__(self, run_folder: Path, attempt: int, grace: float, log: Path) -> None:
        argv = [
            sys.executable,
            "-m",
            "localwes.supervisor",
            str(run_folder),
            str(attempt),
            str(grace),
        ]
        with log.open("ab") as errors:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )

    async def first_line(self) -> bytes:
        assert self.proc.stdout is not None
        return await read_first_line(self.proc.stdout)

    async def wait(self) -> None:
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            await wait_pidfd(pidfd)
        finally:
            os.close(pidfd)
        self.proc.wait()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)


class WarmSupervisor:
    """A supervisor the zygote forked; known by a pidfd, so signals cannot hit a
    reused pid."""

    def __init__(self, pidfd: int, started: IO[bytes]) -> None:
        self.pidfd = pidfd
        self.started = started
        self.ended = False

    async def first_line(self) -> bytes:
        return await read_first_line(self.started)

    async def wait(self) -> None:
        try:
            await wait_pidfd(self.pidfd)
        finally:
            self.ended = True
            os.close(self.pidfd)

    def terminate(self) -> None:
        if not self.ended:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGTERM)


class Zygote:
    """The daemon's warm-start helper (localwes.zygote); cold starts until it is ready."""

    def __init__(self, socket_path: Path, log_path: Path) -> None:
        self.socket_path = socket_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False

    async def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        with self.log_path.open("ab") as errors:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "localwes.zygote", str(self.socket_path), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        assert self.proc.stdout is not None
        self.ready = await read_first_line(self.proc.stdout) == b"ready\n"
        log.info("zygote_started ready=%s pid=%s", self.ready, self.proc.pid)

    async def stop(self) -> None:
        self.ready = False
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait)
        self.socket_path.unlink(missing_ok=True)

    async def spawn(self, run_folder: Path, attempt: int, grace: float) -> WarmSupervisor:
        read_end, write_end = os.pipe()
        try:
            pidfd = await asyncio.to_thread(self._ask, run_folder, attempt, grace, write_end)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return WarmSupervisor(pidfd, os.fdopen(read_end, "rb", buffering=0))

    def _ask(self, run_folder: Path, attempt: int, grace: float, started: int) -> int:
        request = {"run_dir": str(run_folder), "attempt": attempt, "grace": grace}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(30)
            conn.connect(str(self.socket_path))
            socket.send_fds(conn, [json.dumps(request).encode()], [started])
            _reply, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        if len(fds) != 1:
            raise OSError("the zygote did not start a supervisor")
        return fds[0]


async def read_first_line(stream: IO[bytes]) -> bytes:
    """The first line written to a pipe, or b"" if its writer closes it first."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), stream
    )
    try:
        return await reader.readline()
    finally:
        transport.close()


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
