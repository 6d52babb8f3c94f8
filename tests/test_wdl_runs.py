"""Real miniwdl runs through the API, tasks on the host (no container runtime here)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.conftest import DATA
from tests.helpers import Wes, attach_tree, wait_no_processes

WDL = DATA / "wdl"


async def post_wdl(
    wes: Wes,
    workflow: str,
    params: dict[str, Any],
    version: str = "1.0",
    status: int = 200,
    **fields: str,
) -> Any:
    """POST /runs of a workflow in tests/data/wdl, with that whole folder attached."""
    return await wes.submit(
        workflow,
        params,
        attach_tree(WDL),
        status,
        workflow_type="wdl",
        workflow_type_version=version,
        **fields,
    )


async def submit_wdl(
    wes: Wes, workflow: str, params: dict[str, Any], version: str = "1.0", **fields: str
) -> str:
    return str(await post_wdl(wes, workflow, params, version, 200, **fields))


async def test_single_task_with_a_relative_file_input(wes: Wes, state_dir: Path) -> None:
    run_id = await submit_wdl(
        wes, "hello.wdl", {"hello.who": "world", "greeting": "data/greeting.txt"}
    )
    assert await wes.wait(run_id) == "COMPLETE"
    log = await wes.get(f"/runs/{run_id}")
    outputs = log["outputs"]
    assert outputs["hello.line"] == "hello world"
    out = Path(outputs["hello.out"])
    assert out.read_text() == "hello world\n"
    assert out.is_relative_to(state_dir / "runs" / run_id / "outputs")
    assert log["run_log"]["exit_code"] == 0
    assert log["request"]["workflow_type"] == "WDL"
    assert "runtime.docker ignored" in (state_dir / "runs" / run_id / "stderr.log").read_text()


async def test_scatter_over_attached_files_feeding_a_gather(wes: Wes) -> None:
    texts = [f"data/{name}.txt" for name in "abc"]
    run_id = await submit_wdl(wes, "scatter.wdl", {"shout.texts": texts}, version="1.1")
    assert await wes.wait(run_id) == "COMPLETE"
    outputs = (await wes.get(f"/runs/{run_id}"))["outputs"]
    assert [Path(p).read_text() for p in outputs["shout.uppers"]] == [
        "ALPHA\n",
        "BETA\n",
        "GAMMA\n",
    ]
    assert Path(outputs["shout.all"]).read_text() == "ALPHA\nBETA\nGAMMA\n"


async def test_failing_task_reports_the_call_and_its_stderr(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "fail.wdl", {})
    assert await wes.wait(run_id) == "EXECUTOR_ERROR"
    log = await wes.get(f"/runs/{run_id}")
    assert log["run_log"]["exit_code"] != 0
    notes = "\n".join(log["run_log"]["system_logs"])
    assert "call-boom" in notes and "exit status 3" in notes
    stderr_file = notes.split("its stderr: ")[1].split()[0]
    assert Path(stderr_file).read_text() == "about to fail\n"


async def test_retry_and_runtime_env(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "retry.wdl", {}, version="1.2")
    assert await wes.wait(run_id) == "COMPLETE"
    outputs = (await wes.get(f"/runs/{run_id}"))["outputs"]
    assert outputs == {"retrying.attempts": 2, "retrying.greeting": "hello from the environment"}


async def test_import_from_a_subfolder_and_inputs_without_prefix(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "main.wdl", {"name": "bob"})
    assert await wes.wait(run_id) == "COMPLETE"
    assert (await wes.get(f"/runs/{run_id}"))["outputs"] == {"main.said": "imported task says bob"}


async def test_draft_2_label_on_a_version_1_0_document_runs_with_a_note(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "main.wdl", {"main.name": "al"}, version="draft-2")
    assert await wes.wait(run_id) == "COMPLETE"
    log = await wes.get(f"/runs/{run_id}")
    assert "declares version 1.0" in " ".join(log["run_log"]["system_logs"])


async def test_cancel_in_the_middle_of_a_scatter_kills_every_task(
    wes: Wes, state_dir: Path
) -> None:
    run_id = await submit_wdl(wes, "sleepy.wdl", {"n": 3})
    folder = state_dir / "runs" / run_id
    for _ in range(600):
        started = list((folder / "outputs").glob("call-nap-*/stdout.txt"))
        # miniwdl runs as many tasks at once as there are cores (two here).
        if len([f for f in started if "napping" in f.read_text()]) >= 2:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the scatter never started its tasks")
    await wes.post(f"/runs/{run_id}/cancel")
    assert await wes.wait(run_id, timeout=60) == "CANCELED"
    assert await wait_no_processes(folder) == []


async def test_engine_parameters_for_miniwdl(wes: Wes, state_dir: Path) -> None:
    params = json.dumps({"--verbose": "", "--dir": "/tmp/x", "--call-cache": "false"})
    run_id = await submit_wdl(wes, "main.wdl", {"name": "p"}, workflow_engine_parameters=params)
    assert await wes.wait(run_id) == "COMPLETE"
    log = await wes.get(f"/runs/{run_id}")
    assert "--verbose" in log["run_log"]["cmd"] and "/tmp/x" not in log["run_log"]["cmd"]
    assert "--dir dropped" in " ".join(log["run_log"]["system_logs"])
    env = json.dumps({"--env": "X"})
    refused = await post_wdl(wes, "main.wdl", {}, status=400, workflow_engine_parameters=env)
    assert "--env" in refused["msg"]
    unknown_version = await post_wdl(wes, "main.wdl", {}, version="3.0", status=400)
    assert "workflow_type_version" in unknown_version["msg"]


async def test_service_info_lists_miniwdl(wes: Wes) -> None:
    info = await wes.get("/service-info")
    versions = info["workflow_type_versions"]["WDL"]["workflow_type_version"]
    assert {"draft-2", "1.0", "1.1"} <= set(versions)
    assert info["workflow_engine_versions"]["miniwdl"]["workflow_engine_version"][0][0].isdigit()
    assert info["tags"]["container_runtime"] == "none"


async def test_absolute_file_input(wes: Wes) -> None:
    greeting = str(WDL / "data" / "greeting.txt")
    run_id = await submit_wdl(wes, "hello.wdl", {"who": "abs", "greeting": greeting})
    assert await wes.wait(run_id) == "COMPLETE"
    assert (await wes.get(f"/runs/{run_id}"))["outputs"]["hello.line"] == "hello abs"


async def test_missing_relative_input_fails_the_run_with_miniwdls_reason(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "hello.wdl", {"who": "x", "greeting": "data/nope.txt"})
    assert await wes.wait(run_id) == "EXECUTOR_ERROR"
    notes = " ".join((await wes.get(f"/runs/{run_id}"))["run_log"]["system_logs"])
    assert "InputError" in notes and "nope.txt" in notes


async def test_fragment_names_the_task_of_a_workflowless_document(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "lib/tasks.wdl#say", {"name": "frag"})
    assert await wes.wait(run_id) == "COMPLETE"
    assert (await wes.get(f"/runs/{run_id}"))["outputs"] == {"say.said": "imported task says frag"}
    # A run of one task is one task, named by the task as miniwdl names it.
    tasks = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"]
    assert [(t["name"], t["exit_code"]) for t in tasks] == [("say", 0)]
