"""Fixtures: a real localwes server (in-process or as a daemon process) on an
ephemeral port, over a fresh state dir, with every process cleaned up."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from localwes.api.app import create_app
from localwes.config import Settings
from localwes.engines.base import Engine
from localwes.engines.cwltool import CwltoolEngine
from localwes.engines.miniwdl import MiniwdlEngine
from tests.fake_engine import FakeEngine
from tests.helpers import Wes, kill_processes_under, start_serve

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
    engines: list[Engine] = [CwltoolEngine("none"), MiniwdlEngine("none"), FakeEngine()]
    app = create_app(settings, engines=engines)
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

    def __init__(self, state_dir: Path, *extra: str, number: int = 1) -> None:
        self.state_dir = state_dir
        # One log per daemon, so a restarted daemon's log does not replace the first's.
        self.log = state_dir.parent / f"daemon-{number}.log"
        flags = ("--max-concurrent", "2", "--cancel-grace", "2", *extra)
        self.proc, self.base = start_serve(state_dir, self.log, *flags)
        self.url = self.base.removesuffix("/ga4gh/wes/v1")

    def stop(self, kill: bool = False) -> int:
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
        return self.proc.wait(timeout=30)


@pytest.fixture
def daemon_factory(state_dir: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def start(*extra: str) -> Daemon:
        daemon = Daemon(state_dir, *extra, number=len(started) + 1)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        # Shown by pytest when the test failed: how each daemon ended, and its log.
        print(f"--- {daemon.log.name} (exit status {daemon.proc.poll()}):")
        print(daemon.log.read_text(errors="replace")[-4000:])
        with contextlib.suppress(Exception):
            daemon.stop(kill=True)
    kill_processes_under(state_dir)


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALWES_PORT", raising=False)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    os.environ.pop("NOTIFY_SOCKET", None)
