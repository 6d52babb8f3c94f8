"""Fixtures: a real localwes server (in-process or as a daemon process) on an
ephemeral port, over a fresh state dir, with every process cleaned up."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from localwes.api.app import create_app
from localwes.config import Settings
from localwes.engines.cwltool import CwltoolEngine
from tests.fake_engine import FakeEngine
from tests.helpers import Wes, kill_processes_under

DATA = Path(__file__).parent / "data"


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state"
    yield path
    kill_processes_under(path)


def make_settings(state_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "port": 0,
        "container": "none",
        "max_concurrent": 2,
        "cancel_grace": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Wes]:
    """A real server on an ephemeral loopback port, in this process."""
    app = create_app(settings, engines=[CwltoolEngine("none"), FakeEngine()])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            yield Wes(session, f"http://127.0.0.1:{port}/ga4gh/wes/v1")
    finally:
        await runner.cleanup()


@pytest.fixture
async def wes(state_dir: Path) -> AsyncIterator[Wes]:
    async with serving(make_settings(state_dir)) as client:
        yield client


class Daemon:
    """`localwes serve` as a separate process."""

    def __init__(self, state_dir: Path, *extra: str) -> None:
        self.state_dir = state_dir
        self.log = state_dir.parent / "daemon.log"
        state_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "localwes",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(state_dir),
            "--container",
            "none",
            "--max-concurrent",
            "2",
            "--cancel-grace",
            "2",
            *extra,
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.base = self._wait_for_url()
        self.url = self.base.removesuffix("/ga4gh/wes/v1")

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines()[::-1]:
                if "listening on " in line:
                    return line.split("listening on ")[1].split()[0]
            if self.proc.poll() is not None:
                raise RuntimeError(f"localwes serve exited: {self.log.read_text()}")
            time.sleep(0.05)
        raise RuntimeError("localwes serve did not start")

    def stop(self, kill: bool = False) -> int:
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
        return self.proc.wait(timeout=30)


@pytest.fixture
def daemon_factory(state_dir: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def start(*extra: str) -> Daemon:
        # The log is shared across restarts: forget earlier "listening" lines.
        log = state_dir.parent / "daemon.log"
        if log.exists():
            log.unlink()
        daemon = Daemon(state_dir, *extra)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        with contextlib.suppress(Exception):
            daemon.stop(kill=True)
    kill_processes_under(state_dir)


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALWES_PORT", raising=False)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    os.environ.pop("NOTIFY_SOCKET", None)
