"""The /runs endpoints: thin handlers over Intake, RunStore and Scheduler."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from localwes.api import keys
from localwes.api.logs import file_response, serve_log
from localwes.api.reply import json_reply
from localwes.api.request import UploadLimits, read_run_fields
from localwes.api.service_info import base_url
from localwes.errors import BadRequest, storage_error
from localwes.store import RunStore


async def post_run(request: web.Request) -> web.Response:
    intake = request.app[keys.INTAKE]
    settings = request.app[keys.SETTINGS]
    try:
        staged = intake.begin()
    except OSError as exc:
        raise storage_error(exc, "create the run folder") from None
    try:
        limits = UploadLimits(settings.max_upload_bytes, settings.max_attachments)
        fields = await read_run_fields(request, staged.workflow, limits)
        run_id = await intake.accept(staged, fields)
    except OSError as exc:
        await asyncio.to_thread(intake.discard, staged)
        raise storage_error(exc, "create the run folder") from None
    except BaseException:
        await asyncio.to_thread(intake.discard, staged)
        raise
    return json_reply({"run_id": run_id})


async def list_runs(request: web.Request) -> web.Response:
    runs, token = request.app[keys.STORE].list_runs(
        _page_size(request), request.query.get("page_token") or None
    )
    return json_reply({"runs": [r.to_json() for r in runs], "next_page_token": token})


async def get_run_log(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    return json_reply(run_log(request.app[keys.STORE], run_id, base_url(request)))


async def get_run_status(request: web.Request) -> web.Response:
    summary = request.app[keys.STORE].summary(request.match_info["run_id"])
    return json_reply({"run_id": summary.run_id, "state": str(summary.state)})


async def cancel_run(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    request.app[keys.STORE].summary(run_id)  # 404 for an unknown run
    await request.app[keys.SCHEDULER].cancel(run_id)
    return json_reply({"run_id": run_id})


async def list_tasks(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    records, token = request.app[keys.STORE].list_tasks(
        run_id, _page_size(request), request.query.get("page_token") or None
    )
    run_url = f"{base_url(request)}/runs/{run_id}"
    tasks = [task_log(record, run_url) for record in records]
    return json_reply({"task_logs": tasks, "next_page_token": token})


async def get_task(request: web.Request) -> web.Response:
    run_id, task_id = request.match_info["run_id"], request.match_info["task_id"]
    record = request.app[keys.STORE].task(run_id, task_id)
    return json_reply(task_log(record, f"{base_url(request)}/runs/{run_id}"))


async def get_run_stream(request: web.Request) -> web.StreamResponse:
    """The engine's stdout or stderr, as plain text (Range and ?follow=true work)."""
    store = request.app[keys.STORE]
    run_id = request.match_info["run_id"]
    path = store.log_file(run_id, request.match_info["stream"])
    return await serve_log(request, path, lambda: store.summary(run_id).state.is_terminal)


async def get_task_stream(request: web.Request) -> web.StreamResponse:
    """A task's stdout or stderr, as plain text (Range and ?follow=true work)."""
    store = request.app[keys.STORE]
    run_id, task_id = request.match_info["run_id"], request.match_info["task_id"]
    path = store.task_stream(run_id, task_id, request.match_info["stream"])

    def finished() -> bool:
        ended = "end_time" in store.task(run_id, task_id)
        return ended or store.summary(run_id).state.is_terminal

    return await serve_log(request, path, finished)


async def list_outputs(request: web.Request) -> web.Response:
    """The files under the run's outputs/, as paths for GET .../outputs/{path}."""
    run_id = request.match_info["run_id"]
    files = request.app[keys.STORE].output_listing(run_id)
    return json_reply({"run_id": run_id, "files": files})


async def get_output(request: web.Request) -> web.StreamResponse:
    path = request.app[keys.STORE].output_file(
        request.match_info["run_id"], request.match_info["path"]
    )
    return file_response(request, path)


def task_log(record: dict[str, Any], run_url: str) -> dict[str, Any]:
    """A WES TaskLog from a task record: the log files become URLs."""
    task_url = f"{run_url}/tasks/{record['id']}"
    log = {key: value for key, value in record.items() if not key.endswith("_file")}
    log.setdefault("system_logs", [])
    log["stdout"] = f"{task_url}/logs/stdout"
    log["stderr"] = f"{task_url}/logs/stderr"
    return {key: value for key, value in log.items() if value is not None}


def run_log(store: RunStore, run_id: str, base: str) -> dict[str, Any]:
    """The RunLog of one run, from its folder."""
    record = store.record(run_id)
    run_request = store.request(run_id)
    run_url = f"{base}/runs/{run_id}"
    log: dict[str, Any] = {
        "name": run_request.workflow_url,
        # WES: "the command line that was executed"; a run that never started has none.
        "cmd": store.engine_argv(run_id) if record.start_time else [],
        "stdout": f"{run_url}/logs/stdout",
        "stderr": f"{run_url}/logs/stderr",
        "system_logs": record.system_logs,
    }
    for key in ("start_time", "end_time", "exit_code"):
        if getattr(record, key) is not None:
            log[key] = getattr(record, key)
    return {
        "run_id": run_id,
        "request": run_request.to_json(),
        "state": str(record.state),
        "run_log": log,
        "task_logs_url": f"{run_url}/tasks",
        "task_logs": None,
        "outputs": store.outputs(run_id),
    }


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _page_size(request: web.Request) -> int | None:
    raw = request.query.get("page_size")
    if raw is None:
        return None
    try:
        size = int(raw)
    except ValueError:
        raise BadRequest(f"page_size: {raw!r} is not a whole number") from None
    if not INT64_MIN <= size <= INT64_MAX:  # WES: page_size is an int64
        raise BadRequest(f"page_size: {raw} is beyond a 64-bit integer")
    return size
