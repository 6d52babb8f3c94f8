"""Real WES clients, unchanged: wes-client (wes-service) and toil-wes-cwl-runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import DATA
from tests.helpers import Wes

CWL = DATA / "cwl"
BIN = Path(sys.executable).parent


def run_client(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", **env}
    return subprocess.run(
        argv, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300, check=False
    )


async def test_wes_client_runs_a_scatter_workflow(daemon_factory: Any) -> None:
    daemon = daemon_factory()
    host = daemon.url.removeprefix("http://")
    done = run_client(
        [
            str(BIN / "wes-client"),
            "--host",
            host,
            "--proto",
            "http",
            "--attachments",
            "tools/upper.cwl,tools/count.cwl",
            "scatter.cwl",
            "scatter-job.json",
        ],
        cwd=CWL,
    )
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    assert [Path(f["path"]).read_text() for f in outputs["uppers"]] == [
        "ALPHA\n",
        "BETA\n",
        "GAMMA\n",
    ]
    assert "State is COMPLETE" in done.stderr
    # Its --log, --list and --info calls work too.
    run_id = done.stderr.split("Workflow run id is ")[1].split()[0]
    log = run_client(
        [str(BIN / "wes-client"), "--host", host, "--proto", "http", "--log", run_id], cwd=CWL
    )
    assert "Final process status is success" in log.stdout
    listed = run_client(
        [str(BIN / "wes-client"), "--host", host, "--proto", "http", "--list"], cwd=CWL
    )
    assert run_id in listed.stdout


async def test_toil_wes_cwl_runner_runs_and_forwards_engine_flags(
    daemon_factory: Any, tmp_path: Path
) -> None:
    daemon = daemon_factory()
    done = run_client(
        [
            str(BIN / "toil-wes-cwl-runner"),
            "--wes_endpoint",
            daemon.url,
            f"--outdir={tmp_path}",
            "--quiet",
            "scatter.cwl",
            "scatter-job.json",
        ],
        cwd=CWL,
    )
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    assert Path(outputs["count"]["path"]).read_text().split()[-2:] == ["17", "total"]
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        run = (await wes.get("/runs"))["runs"][0]
        log = await wes.get(f"/runs/{run['run_id']}")
    assert log["request"]["workflow_type"] == "CWL"
    assert "--outdir dropped" in " ".join(log["run_log"]["system_logs"])


async def test_toil_wes_cwl_runner_exits_with_the_run_exit_code(daemon_factory: Any) -> None:
    daemon = daemon_factory()
    done = run_client(
        [str(BIN / "toil-wes-cwl-runner"), "--wes_endpoint", daemon.url, "fail.cwl"], cwd=CWL
    )
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        run = (await wes.get("/runs"))["runs"][0]
        log = await wes.get(f"/runs/{run['run_id']}")
    assert log["state"] == "EXECUTOR_ERROR"
    assert done.returncode == log["run_log"]["exit_code"] == 1
