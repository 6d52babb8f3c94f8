"""Task records (the WES tasks endpoints), live logs and output files."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from tests.conftest import DATA
from tests.helpers import Wes
from tests.test_cwl_runs import submit_over_three_files
from tests.test_wdl_runs import submit_wdl

CWL = DATA / "cwl"


async def fetch(url: str, **params: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as response:
        return response.status, await response.text()


async def all_tasks(wes: Wes, run_id: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    token = ""
    while True:
        page = await wes.get(f"/runs/{run_id}/tasks", page_size=2, page_token=token)
        tasks += page["task_logs"]
        token = page["next_page_token"]
        if not token:
            return tasks


async def test_cwl_scatter_and_sub_workflow_steps_are_tasks(wes: Wes) -> None:
    run_id = await submit_over_three_files(wes, "pipeline.cwl")
    assert await wes.wait(run_id) == "COMPLETE"
    tasks = await all_tasks(wes, run_id)
    # The hooks into cwltool fired for every job, scatter and sub-workflow included.
    assert [t["name"] for t in tasks] == ["upper[0]", "upper[1]", "upper[2]", "count", "report"]
    assert [t["cmd"][:3] for t in tasks[:3]] == [["tr", "a-z", "A-Z"]] * 3
    assert tasks[3]["cmd"][:2] == ["wc", "-c"] and tasks[4]["cmd"][0] == "sed"
    assert all(t["exit_code"] == 0 and t["start_time"] and t["end_time"] for t in tasks)
    uppers = [(await fetch(t["stdout"]))[1] for t in tasks[:3]]
    assert uppers == ["ALPHA\n", "BETA\n", "GAMMA\n"]  # captured stdout, after cwltool moved it
    assert (await fetch(tasks[4]["stdout"]))[1].endswith("total bytes: 17 total\n")
    assert (await fetch(tasks[4]["stderr"])) == (200, "")
    one = await wes.get(f"/runs/{run_id}/tasks/{tasks[1]['id']}")
    assert one == tasks[1]
    log = await wes.get(f"/runs/{run_id}")
    assert log["task_logs"] is None and log["task_logs_url"].endswith(f"/runs/{run_id}/tasks")


async def test_wdl_scatter_and_gather_are_tasks(wes: Wes) -> None:
    texts = [f"data/{name}.txt" for name in "abc"]
    run_id = await submit_wdl(wes, "scatter.wdl", {"texts": texts}, version="1.1")
    assert await wes.wait(run_id) == "COMPLETE"
    tasks = await all_tasks(wes, run_id)
    names = [t["name"] for t in tasks]
    assert sorted(names[:3]) == ["call-upper-0-a", "call-upper-1-b", "call-upper-2-c"]
    assert names[3] == "call-gather"
    assert all(t["exit_code"] == 0 and t["end_time"] for t in tasks)
    assert "tr a-z A-Z" in tasks[0]["cmd"][-1]
    assert [(await fetch(t["stdout"]))[0] for t in tasks] == [200] * 4


async def test_a_retried_wdl_task_is_one_task_per_try(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "retry.wdl", {}, version="1.2")
    assert await wes.wait(run_id) == "COMPLETE"
    tasks = await all_tasks(wes, run_id)
    assert [(t["name"], t["exit_code"]) for t in tasks] == [
        ("call-flaky", 1),
        ("call-flaky (try 2)", 0),
    ]
    assert (await fetch(tasks[0]["stderr"]))[1] == "first try fails\n"
    assert (await fetch(tasks[1]["stdout"]))[1] == "hello from the environment\n"


async def test_running_tasks_have_a_start_and_no_end(wes: Wes) -> None:
    cwl = await wes.submit("sleep.cwl", {"seconds": 300}, {"sleep.cwl": CWL / "sleep.cwl"})
    wdl = await submit_wdl(wes, "sleepy.wdl", {"n": 2})
    for run_id in (cwl, wdl):
        tasks = await wes.started_tasks(run_id)
        assert await wes.state(run_id) == "RUNNING"
        assert tasks[0]["start_time"] and "end_time" not in tasks[0]
        assert "exit_code" not in tasks[0]
        await wes.post(f"/runs/{run_id}/cancel")
        assert await wes.wait(run_id, timeout=60) == "CANCELED"


async def test_follow_streams_new_bytes_until_the_task_ends(wes: Wes) -> None:
    run_id = await submit_wdl(wes, "ticker.wdl", {})
    task: dict[str, Any] = {}
    for _ in range(400):
        listed = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"]
        if listed and "line 1" in (await fetch(listed[0]["stdout"]))[1]:
            task = listed[0]
            break
        await asyncio.sleep(0.02)
    assert task and "end_time" not in task
    status, text = await fetch(task["stdout"], follow="true")  # returns when the task ends
    assert status == 200 and text == "line 1\nline 2\nline 3\nline 4\n"
    assert "end_time" in await wes.get(f"/runs/{run_id}/tasks/{task['id']}")
    run_log = await wes.get(f"/runs/{run_id}")
    status, text = await fetch(run_log["run_log"]["stderr"], follow="true")
    assert status == 200 and "workflow start" in text
    assert await wes.state(run_id) == "COMPLETE"


async def test_a_single_tool_is_named_as_cwltools_log_names_it(wes: Wes) -> None:
    run_id = await wes.submit("echo.cwl", {"message": "x"}, {"echo.cwl": CWL / "echo.cwl"})
    assert await wes.wait(run_id) == "COMPLETE"
    tasks = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"]
    assert [t["name"] for t in tasks] == ["echo.cwl"]
    _, log = await fetch(f"{wes.base}/runs/{run_id}/logs/stderr")
    assert "[job echo.cwl]" in log


async def test_follow_a_run_log_while_it_runs(wes: Wes) -> None:
    run_id = await wes.submit("sleep.cwl", {"seconds": 1}, {"sleep.cwl": CWL / "sleep.cwl"})
    await wes.wait(run_id, {"RUNNING"})
    log = await wes.get(f"/runs/{run_id}")
    status, text = await fetch(log["run_log"]["stderr"], follow="true")
    assert status == 200 and "Final process status is success" in text
    assert await wes.state(run_id) == "COMPLETE"


async def test_output_files_are_served_from_outputs_only(wes: Wes, state_dir: Path) -> None:
    run_id = await wes.submit("echo.cwl", {"message": "fetch me"}, {"echo.cwl": CWL / "echo.cwl"})
    assert await wes.wait(run_id) == "COMPLETE"
    outputs = (await wes.get(f"/runs/{run_id}"))["outputs"]
    folder = state_dir / "runs" / run_id
    relative = Path(outputs["out"]["path"]).relative_to(folder / "outputs")
    assert await fetch(f"{wes.base}/runs/{run_id}/outputs/{relative}") == (200, "fetch me\n")
    (folder / "outputs" / "escape").symlink_to(folder / "state.json")
    (folder / "outputs" / "passwd").symlink_to("/etc/passwd")
    listing = await wes.get(f"/runs/{run_id}/outputs")
    assert listing["files"] == ["out.txt"]
    run_url = f"{wes.base}/runs/{run_id}"
    for path in (
        "escape",
        "passwd",
        "..%2Fstate.json",
        "..%2F..%2F..%2Fstate%2Fdaemon.json",
        "%2Fetc%2Fpasswd",
        "nope.txt",
    ):
        assert (await fetch(str(URL(f"{run_url}/outputs/{path}", encoded=True))))[0] == 404


async def test_log_and_task_urls_cannot_escape(wes: Wes, state_dir: Path) -> None:
    run_id = await wes.submit("echo.cwl", {"message": "x"}, {"echo.cwl": CWL / "echo.cwl"})
    assert await wes.wait(run_id) == "COMPLETE"
    run_url = f"{wes.base}/runs/{run_id}"
    for path in (
        "logs/..%2Fstate.json",
        "logs/..%2F..%2Fdaemon.json",
        "tasks/..%2F..%2Fstate/logs/stdout",
        "tasks/.hidden/logs/stdout",
    ):
        status, text = await fetch(str(URL(f"{run_url}/{path}", encoded=True)))
        assert status == 404 and "submitted_time" not in text and '"pid"' not in text
    # A task record edited by hand to point outside the run folder serves nothing.
    task = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"][0]
    record = state_dir / "runs" / run_id / "tasks" / f"{task['id']}.json"
    record.write_text(
        record.read_text().replace(
            '"stdout_file": "tasks/', '"stdout_file": "../../../../../../../etc/passwd#'
        )
    )
    status, text = await fetch(task["stdout"])
    assert "root:" not in text
    assert os.path.exists("/etc/passwd")


async def test_logs_take_range_requests(wes: Wes) -> None:
    run_id = await wes.submit("echo.cwl", {"message": "ranged"}, {"echo.cwl": CWL / "echo.cwl"})
    assert await wes.wait(run_id) == "COMPLETE"
    task = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"][0]
    headers = {"Range": "bytes=2-4"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(task["stdout"], headers=headers) as r,
    ):
        assert r.status == 206 and await r.text() == "nge"
    async with aiohttp.ClientSession() as session:
        # Past the end: a 416 ErrorResponse, like every error.
        async with session.get(task["stdout"], headers={"Range": "bytes=999-"}) as r:
            assert r.status == 416
            assert (await r.json())["status_code"] == 416
        # A followed log picks up after the bytes a client already has.
        follow = {"follow": "true"}
        async with session.get(task["stdout"], headers={"Range": "bytes=3-"}, params=follow) as r:
            assert r.status == 206 and await r.text() == "ged\n"
        async with session.get(task["stdout"], headers={"Range": "bytes=1-2"}, params=follow) as r:
            assert r.status == 400 and "bytes=N-" in (await r.json())["msg"]
