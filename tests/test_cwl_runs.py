"""Real cwltool runs through the API, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.conftest import DATA
from tests.helpers import Wes, attach_tree, wait_no_processes

CWL = DATA / "cwl"


async def test_a_tool_runs_and_returns_outputs_and_logs(wes: Wes, state_dir: Path) -> None:
    run_id = await wes.submit(
        "echo.cwl",
        {"message": "hello"},
        {"echo.cwl": CWL / "echo.cwl"},
        tags=json.dumps({"project": "demo"}),
    )
    assert await wes.wait(run_id) == "COMPLETE"
    log = await wes.get(f"/runs/{run_id}")
    run_folder = state_dir / "runs" / run_id
    out = log["outputs"]["out"]
    assert out["class"] == "File" and Path(out["path"]).read_text() == "hello\n"
    assert Path(out["path"]).parent == run_folder / "outputs"
    # RunLog.outputs is cwltool's own output object, unchanged.
    assert log["outputs"] == json.loads((run_folder / "outputs.json").read_text())
    assert log["run_log"]["exit_code"] == 0
    assert log["run_log"]["start_time"].endswith("Z") and log["run_log"]["end_time"]
    assert log["request"]["tags"] == {"project": "demo"}
    assert log["task_logs_url"] == f"{wes.base}/runs/{run_id}/tasks"
    assert "localwes.engines.cwltool_runner" in log["run_log"]["cmd"]
    async with aiohttp.ClientSession() as session:
        async with session.get(log["run_log"]["stderr"]) as response:
            assert response.status == 200
            assert "Final process status is success" in await response.text()
        async with session.get(log["run_log"]["stdout"]) as response:
            assert json.loads(await response.text()) == log["outputs"]
    # The run folder holds everything, as README documents it.
    for name in (
        "request.json",
        "state.json",
        "inputs.json",
        "command.json",
        "exit.json",
        "stdout.log",
        "stderr.log",
        "workflow/echo.cwl",
        "outputs/out.txt",
    ):
        assert (run_folder / name).exists(), name
    assert json.loads((run_folder / "request.json").read_text())["workflow_params"] == {
        "message": "hello"
    }


async def submit_over_three_files(wes: Wes, workflow: str) -> str:
    """A workflow of tests/data/cwl over data/{a,b,c}.txt, with tools/ and data/ attached."""
    attachments = {
        k: v
        for k, v in attach_tree(CWL).items()
        if k.startswith(("tools/", "data/")) or k == workflow
    }
    params = {"texts": [{"class": "File", "location": f"data/{n}.txt"} for n in "abc"]}
    run_id: str = await wes.submit(workflow, params, attachments)
    return run_id


async def test_scatter_workflow_with_subfolders_and_relative_inputs(wes: Wes) -> None:
    run_id = await submit_over_three_files(wes, "scatter.cwl")
    assert await wes.wait(run_id) == "COMPLETE"
    outputs = (await wes.get(f"/runs/{run_id}"))["outputs"]
    uppers = [Path(f["path"]).read_text() for f in outputs["uppers"]]
    assert uppers == ["ALPHA\n", "BETA\n", "GAMMA\n"]
    assert Path(outputs["count"]["path"]).read_text().split()[-2:] == ["17", "total"]


async def test_workflow_url_with_fragment_and_params_as_a_file_part(wes: Wes) -> None:
    form = aiohttp.FormData()
    form.add_field("workflow_type", "cwl")
    form.add_field("workflow_type_version", "v1.2")
    form.add_field("workflow_url", "packed.cwl#main")
    form.add_field("workflow_params", b'{"message": "from a file part"}', filename="job.json")
    form.add_field("workflow_attachment", (CWL / "packed.cwl").read_bytes(), filename="packed.cwl")
    run_id = (await wes.post("/runs", data=form))["run_id"]
    assert await wes.wait(run_id) == "COMPLETE"
    out = (await wes.get(f"/runs/{run_id}"))["outputs"]["out"]
    assert Path(out["path"]).read_text() == "from a file part\n"


async def test_local_workflow_by_absolute_path_and_file_url(wes: Wes, tmp_path: Path) -> None:
    body = {
        "workflow_type": "CWL",
        "workflow_type_version": "v1.2",
        "workflow_params": {"message": "json body"},
    }
    first = await wes.post("/runs", json={**body, "workflow_url": str(CWL / "echo.cwl")})
    second = await wes.post("/runs", json={**body, "workflow_url": (CWL / "echo.cwl").as_uri()})
    for run in (first, second):
        assert await wes.wait(run["run_id"]) == "COMPLETE"
        out = (await wes.get(f"/runs/{run['run_id']}"))["outputs"]["out"]
        assert Path(out["path"]).read_text() == "json body\n"


async def test_http_workflow_url_is_fetched_into_the_run_folder(
    wes: Wes, state_dir: Path, aiohttp_server: object
) -> None:
    app = aiohttp.web.Application()

    async def serve_echo(_request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        return aiohttp.web.FileResponse(CWL / "echo.cwl")

    app.router.add_get("/wf/echo.cwl", serve_echo)
    server = await aiohttp_server(app)  # type: ignore[operator]
    url = f"http://127.0.0.1:{server.port}/wf/echo.cwl"
    run_id = await wes.submit(url, {"message": "fetched"})
    assert await wes.wait(run_id) == "COMPLETE"
    fetched = state_dir / "runs" / run_id / "workflow" / "echo.cwl"
    assert fetched.read_bytes() == (CWL / "echo.cwl").read_bytes()
    missing = await wes.submit(url.replace("echo", "nothing"), status=400)
    assert "workflow_url" in missing["msg"] and "404" in missing["msg"]


async def test_an_http_workflow_url_brings_its_parts(
    wes: Wes, state_dir: Path, aiohttp_server: object
) -> None:
    """As `cwltool URL` and `miniwdl run URL` do: parts named by relative URLs are
    fetched too, into the run folder where the references say."""
    app = aiohttp.web.Application()
    app.router.add_static("/cwl/", CWL)
    app.router.add_static("/wdl/", DATA / "wdl")

    async def climbing(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(
            text="cwlVersion: v1.2\nclass: Workflow\nsteps:\n  a:\n    run: ../up.cwl\n"
        )

    app.router.add_get("/wf/climbing.cwl", climbing)
    server = await aiohttp_server(app)  # type: ignore[operator]
    base = f"http://127.0.0.1:{server.port}"
    texts = [{"class": "File", "path": str(CWL / "data" / f"{n}.txt")} for n in "abc"]
    cwl = await wes.submit(f"{base}/cwl/scatter.cwl", {"texts": texts})
    wdl = await wes.submit(
        f"{base}/wdl/main.wdl",
        {"main.name": "url"},
        workflow_type="WDL",
        workflow_type_version="1.0",
    )
    assert await wes.wait(cwl) == "COMPLETE" and await wes.wait(wdl) == "COMPLETE"
    fetched = state_dir / "runs" / cwl / "workflow"
    assert sorted(p.relative_to(fetched).as_posix() for p in fetched.rglob("*.cwl")) == [
        "scatter.cwl", "tools/count.cwl", "tools/upper.cwl"
    ]  # fmt: skip
    assert (state_dir / "runs" / wdl / "workflow" / "lib" / "tasks.wdl").is_file()
    assert (await wes.get(f"/runs/{wdl}"))["outputs"] == {"main.said": "imported task says url"}
    # A part above the workflow's folder is not fetched: the run would not find it.
    above = await wes.submit(f"{base}/wf/climbing.cwl", status=400)
    assert "'../up.cwl', above the folder of the workflow" in above["msg"]


async def test_failing_tool_is_executor_error_with_cwltool_exit_code(wes: Wes) -> None:
    run_id = await wes.submit("fail.cwl", {}, {"fail.cwl": CWL / "fail.cwl"})
    assert await wes.wait(run_id) == "EXECUTOR_ERROR"
    log = await wes.get(f"/runs/{run_id}")
    assert log["run_log"]["exit_code"] == 1  # cwltool's exit status for a failed workflow
    assert log["outputs"] == {}
    async with aiohttp.ClientSession() as session, session.get(log["run_log"]["stderr"]) as r:
        assert "failing" in await r.text()


async def test_a_failure_note_carries_cwltools_reason(wes: Wes) -> None:
    run_id = await wes.submit("echo.cwl", {"mesage": "typo"}, {"echo.cwl": CWL / "echo.cwl"})
    assert await wes.wait(run_id) == "EXECUTOR_ERROR"
    notes = (await wes.get(f"/runs/{run_id}"))["run_log"]["system_logs"]
    # cwltool says why on the lines after its ERROR line; the note has them all.
    assert any(
        note.startswith("ERROR Workflow error")
        and "Missing required input parameter 'message'" in note
        for note in notes
    ), notes


async def test_cancel_a_running_tool_leaves_no_process(wes: Wes, state_dir: Path) -> None:
    run_id = await wes.submit("sleep.cwl", {"seconds": 300}, {"sleep.cwl": CWL / "sleep.cwl"})
    await wes.wait(run_id, {"RUNNING"})
    run_folder = state_dir / "runs" / run_id
    await wes.started_tasks(run_id)
    assert (await wes.post(f"/runs/{run_id}/cancel")) == {"run_id": run_id}
    assert await wes.state(run_id) in ("CANCELING", "CANCELED")
    assert await wes.wait(run_id, timeout=30) == "CANCELED"
    assert await wait_no_processes(run_folder) == []
    # cwltool ended on its own SIGTERM handler (status 15) as soon as the job did,
    # not by SIGKILL (137) at the end of the grace period.
    assert (await wes.get(f"/runs/{run_id}"))["run_log"]["exit_code"] == 15
    (task,) = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"]
    assert "exit_code" not in task and "canceled" in task["system_logs"][0]
    # Terminal states are sticky: a second cancel is a 200 that changes nothing.
    assert (await wes.post(f"/runs/{run_id}/cancel")) == {"run_id": run_id}
    assert await wes.state(run_id) == "CANCELED"


async def test_cancel_a_parallel_scatter_ends_it_promptly(wes: Wes, state_dir: Path) -> None:
    files = {"sleep-scatter.cwl": CWL / "sleep-scatter.cwl", "sleep.cwl": CWL / "sleep.cwl"}
    run_id = await wes.submit(
        "sleep-scatter.cwl",
        {"seconds": [300, 300, 300]},
        files,
        workflow_engine_parameters=json.dumps({"--parallel": ""}),
    )
    await wes.started_tasks(run_id)
    await wes.post(f"/runs/{run_id}/cancel")
    assert await wes.wait(run_id, timeout=30) == "CANCELED"
    assert await wait_no_processes(state_dir / "runs" / run_id) == []
    # cwltool's own handler deadlocks with --parallel (the engine ended only by
    # SIGKILL, 137, after the grace); localwes's ends it on the SIGTERM (15).
    assert (await wes.get(f"/runs/{run_id}"))["run_log"]["exit_code"] == 15
    tasks = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"]
    assert tasks and all("end_time" in task for task in tasks)


async def test_engine_parameters_allowed_dropped_and_refused(wes: Wes, state_dir: Path) -> None:
    attachments = {"echo.cwl": CWL / "echo.cwl"}
    params = json.dumps(
        {"--parallel": None, "--outdir": "/tmp/elsewhere", "--quiet": "", "--on-error": "continue"}
    )
    run_id = await wes.submit(
        "echo.cwl", {"message": "x"}, attachments, workflow_engine_parameters=params
    )
    assert await wes.wait(run_id) == "COMPLETE"
    log = await wes.get(f"/runs/{run_id}")
    cmd = log["run_log"]["cmd"]
    assert "--parallel" in cmd and "--on-error=continue" in cmd
    assert "/tmp/elsewhere" not in " ".join(cmd)
    notes = " ".join(log["run_log"]["system_logs"])
    assert "--outdir dropped" in notes and "--quiet dropped" in notes
    refused = await wes.submit(
        "echo.cwl",
        {},
        attachments,
        status=400,
        workflow_engine_parameters=json.dumps({"--preserve-entire-environment": ""}),
    )
    assert "workflow_engine_parameters" in refused["msg"]
    assert "--preserve-entire-environment" in refused["msg"]
    assert len(list((state_dir / "runs").iterdir())) == 1


def test_advertised_cwltool_defaults_are_cwltools() -> None:
    """Each allowed flag's default_value says whether its effect is cwltool's default."""
    from cwltool.argparser import arg_parser

    from localwes.engines.cwltool import ALLOWED

    actions = {flag: a for a in arg_parser()._actions for flag in a.option_strings}
    for flag, parameter in ALLOWED.items():
        action = actions[flag]
        if parameter.type == "bool":
            in_effect = action.default == action.const
            assert parameter.default_value == str(in_effect).lower(), flag
        elif parameter.type in ("int", "float"):
            assert float(parameter.default_value) == float(action.default), flag
        else:  # a string: cwltool's None means not given, advertised as ""
            assert parameter.default_value == (action.default or ""), flag


async def test_service_info_lists_each_engine_parameter_once(wes: Wes) -> None:
    listed = (await wes.get("/service-info"))["default_workflow_engine_parameters"]
    names = [p["name"] for p in listed]
    assert len(names) == len(set(names)), names
    by_name = {p["name"]: p["default_value"] for p in listed}
    assert by_name["--strict"] == "true" and by_name["--non-strict"] == "false"


async def test_a_version_label_that_differs_from_the_document_runs_with_a_note(
    wes: Wes,
) -> None:
    run_id = await wes.submit(
        "echo.cwl", {"message": "v"}, {"echo.cwl": CWL / "echo.cwl"}, workflow_type_version="v1.0"
    )
    assert await wes.wait(run_id) == "COMPLETE"
    notes = " ".join((await wes.get(f"/runs/{run_id}"))["run_log"]["system_logs"])
    assert "declares cwlVersion v1.2; cwltool runs it as v1.2" in notes
