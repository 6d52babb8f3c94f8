"""Warm engine starts (localwes.zygote): forked from a process that has imported
the engines, with every guarantee of a cold start."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import DATA
from tests.helpers import Wes, wait_no_processes
from tests.test_wdl_runs import submit_wdl

SLEEP = {"sleep.cwl": DATA / "cwl" / "sleep.cwl"}


async def until_warm(wes: Wes) -> None:
    for _ in range(300):
        if (await wes.get("/service-info"))["tags"]["warm_engines"] == "ready":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("warm engine starts never became ready")


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def running_processes(folder: Path) -> dict[str, Any]:
    for _ in range(400):
        if (folder / "supervisor.json").exists():
            return dict(json.loads((folder / "supervisor.json").read_text()))
        await asyncio.sleep(0.02)
    raise AssertionError("the engine never started")


async def test_warm_runs_keep_every_supervisor_guarantee(wes: Wes, state_dir: Path) -> None:
    await until_warm(wes)
    run_id = await wes.submit("sleep.cwl", {"seconds": 300}, dict(SLEEP))
    folder = state_dir / "runs" / run_id
    pids = await running_processes(folder)
    supervisor, engine = pids["pid"], pids["engine_pid"]
    assert "localwes.zygote" in cmdline(engine)  # forked warm, not a fresh interpreter
    assert os.getsid(supervisor) == supervisor  # its own session: outlives the daemon
    assert os.getpgid(engine) == engine  # the engine leads its own process group
    assert await wes.state(run_id) == "RUNNING"
    tasks = await wes.started_tasks(run_id)
    assert tasks[0]["cmd"][0] == "sleep"  # the task hooks work warm too
    await wes.post(f"/runs/{run_id}/cancel")
    assert await wes.wait(run_id, timeout=30) == "CANCELED"
    assert await wait_no_processes(folder) == []
    exit_record = json.loads((folder / "exit.json").read_text())
    assert exit_record["canceled"] is True


async def test_warm_runs_of_both_engines_complete(wes: Wes) -> None:
    await until_warm(wes)
    cwl = await wes.submit("echo.cwl", {"message": "warm"}, {"echo.cwl": DATA / "cwl" / "echo.cwl"})
    wdl = await submit_wdl(wes, "main.wdl", {"name": "warm"})
    fail = await wes.submit("fail.cwl", {}, {"fail.cwl": DATA / "cwl" / "fail.cwl"})
    assert await wes.wait(cwl) == "COMPLETE"
    assert await wes.wait(wdl) == "COMPLETE"
    assert await wes.wait(fail) == "EXECUTOR_ERROR"
    out = (await wes.get(f"/runs/{cwl}"))["outputs"]["out"]
    assert Path(out["path"]).read_text() == "warm\n"
    assert (await wes.get(f"/runs/{wdl}"))["outputs"] == {"main.said": "imported task says warm"}
    assert (await wes.get(f"/runs/{fail}"))["run_log"]["exit_code"] == 1


async def test_a_warm_run_survives_a_daemon_crash(daemon_factory: Any, state_dir: Path) -> None:
    daemon = daemon_factory()
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        await until_warm(wes)
        run_id = await wes.submit("sleep.cwl", {"seconds": 2}, dict(SLEEP))
        pids = await running_processes(state_dir / "runs" / run_id)
        assert "localwes.zygote" in cmdline(pids["engine_pid"])
    daemon.stop(kill=True)
    daemon = daemon_factory()
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        assert await wes.wait(run_id, timeout=60) == "COMPLETE"
    assert await wait_no_processes(state_dir / "runs") == []
