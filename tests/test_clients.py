"""Real WES clients, unchanged: wes-client (wes-service) and toil-wes-cwl-runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import DATA
from tests.helpers import latest_run_log

CWL = DATA / "cwl"
BIN = Path(sys.executable).parent


def run_client(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run(
        argv, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300, check=False
    )


def wes_client(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_client([str(BIN / "wes-client"), "--host", host, "--proto", "http", *args], CWL)


def toil_runner(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_client([str(BIN / "toil-wes-cwl-runner"), "--wes_endpoint", url, *args], CWL)


async def test_wes_client_runs_a_scatter_workflow(daemon_factory: Any) -> None:
    host = daemon_factory().url.removeprefix("http://")
    attachments = "tools/upper.cwl,tools/count.cwl"
    done = wes_client(host, "--attachments", attachments, "scatter.cwl", "scatter-job.json")
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    uppers = [Path(f["path"]).read_text() for f in outputs["uppers"]]
    assert uppers == ["ALPHA\n", "BETA\n", "GAMMA\n"]
    assert "State is COMPLETE" in done.stderr
    # Its --log, --list and --info calls work too.
    run_id = done.stderr.split("Workflow run id is ")[1].split()[0]
    assert "Final process status is success" in wes_client(host, "--log", run_id).stdout
    assert run_id in wes_client(host, "--list").stdout
    assert json.loads(wes_client(host, "--info").stdout)["type"]["artifact"] == "wes"


async def test_toil_wes_cwl_runner_runs_and_forwards_engine_flags(
    daemon_factory: Any, tmp_path: Path
) -> None:
    daemon = daemon_factory()
    done = toil_runner(
        daemon.url, f"--outdir={tmp_path}", "--quiet", "scatter.cwl", "scatter-job.json"
    )
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    assert Path(outputs["count"]["path"]).read_text().split()[-2:] == ["17", "total"]
    log = await latest_run_log(daemon.base)
    assert log["request"]["workflow_type"] == "CWL"
    assert "--outdir dropped" in " ".join(log["run_log"]["system_logs"])


async def test_toil_wes_cwl_runner_exits_with_the_run_exit_code(daemon_factory: Any) -> None:
    daemon = daemon_factory()
    done = toil_runner(daemon.url, "fail.cwl")
    log = await latest_run_log(daemon.base)
    assert log["state"] == "EXECUTOR_ERROR"
    assert done.returncode == log["run_log"]["exit_code"] == 1


async def test_wes_client_runs_wdl_although_it_says_draft_2(daemon_factory: Any) -> None:
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
            "data/greeting.txt",
            "hello.wdl",
            "hello-inputs.json",
        ],
        DATA / "wdl",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hello.line"] == "hello wes-client"
    log = await latest_run_log(daemon.base)
    assert log["request"]["workflow_type_version"] == "draft-2"
    assert "declares version 1.0" in " ".join(log["run_log"]["system_logs"])
