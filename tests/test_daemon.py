"""`localwes serve` as a user runs it: a separate process, stopped and killed."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from localwes.daemon_record import find_daemon
from tests.conftest import DATA
from tests.helpers import Wes, serve_argv, wait_no_processes

SLEEP = {"sleep.cwl": DATA / "cwl" / "sleep.cwl"}


async def test_serve_logs_its_url_and_stops_cleanly_on_sigterm(daemon_factory: Any) -> None:
    daemon = daemon_factory()
    assert daemon.base.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session:
        info = await Wes(session, daemon.base).get("/service-info")
    assert info["type"]["artifact"] == "wes"
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 10
    daemon = daemon_factory()
    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.proc.wait(timeout=15) == 0


async def test_a_second_daemon_on_the_same_state_dir_refuses(
    daemon_factory: Any, state_dir: Path
) -> None:
    first = daemon_factory()
    second = subprocess.run(
        serve_argv(state_dir), capture_output=True, text=True, timeout=60, check=False
    )
    assert second.returncode != 0
    assert "another localwes daemon" in second.stderr
    assert str(first.proc.pid) in second.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [*serve_argv(tmp_path / "state"), "--port", str(port)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: the address is in use" in done.stderr
    assert "--port" in done.stderr and "Traceback" not in done.stderr
    # The state dir is free again for the next try.
    assert not find_daemon(tmp_path / "state").running


async def test_kill_9_with_runs_queued_and_running_loses_nothing(
    daemon_factory: Any, state_dir: Path
) -> None:
    daemon = daemon_factory()
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        run_ids = [await wes.submit("sleep.cwl", {"seconds": 2}, dict(SLEEP)) for _ in range(4)]
        await wes.wait(run_ids[0], {"RUNNING"})
    daemon.stop(kill=True)
    daemon = daemon_factory()
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        for run_id in run_ids:
            assert await wes.wait(run_id, timeout=120) == "COMPLETE"
            log = await wes.get(f"/runs/{run_id}")
            assert log["run_log"]["exit_code"] == 0
        listed = await wes.get("/runs")
    assert sorted(r["run_id"] for r in listed["runs"]) == sorted(run_ids)
    for run_id in run_ids:
        exit_record = json.loads((state_dir / "runs" / run_id / "exit.json").read_text())
        assert exit_record["exit_code"] == 0
    assert await wait_no_processes(state_dir / "runs") == []
