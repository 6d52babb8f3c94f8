"""The client subcommands: submit, ls, status, wait, logs, tasks, outputs, cancel.

Each prints a readable table or line for people, or JSON with --json for
scripts. Exit status: 0 done, 1 the run did not COMPLETE (wait, submit --wait),
2 the command could not be carried out (the message says why).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import aiohttp

from localwes.client.attach import prepare
from localwes.client.connection import ClientError, DaemonUnreachable, WesClient
from localwes.client.show import print_json, print_table, progress_line, tags_text
from localwes.models import TERMINAL_STATES, State

STATES = tuple(str(state) for state in State)
POLL_S = 0.5
CANCEL_OUTCOME = {"CANCELING": "canceling", "CANCELED": "canceled"}
PAGE = 100
FOLLOW = {"follow": "true"}

Handler = Callable[[WesClient, argparse.Namespace], Coroutine[Any, Any, int]]


def add_client_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The subcommands, each with the connection options in `common`."""

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, parents=[common], help=help_text, description=help_text, allow_abbrev=False
        )
        parser.set_defaults(client_handler=handler)
        return parser

    submit_parser = add("submit", submit, "submit a CWL or WDL workflow, with what it needs")
    submit_parser.add_argument("workflow", help="the workflow file (or an http(s) URL)")
    submit_parser.add_argument(
        "inputs", nargs="?", type=Path, help="inputs file (JSON or YAML; - reads stdin)"
    )
    submit_parser.add_argument(
        "--attach", action="append", type=Path, default=[], metavar="PATH",
        help="also attach this file or folder (repeatable)",
    )  # fmt: skip
    submit_parser.add_argument(
        "--tag", action="append", default=[], metavar="K=V", help="tag the run (repeatable)"
    )
    submit_parser.add_argument(
        "--engine-param", action="append", default=[], metavar="K=V",
        help="a workflow_engine_parameters entry, e.g. --engine-param=--parallel=",
    )  # fmt: skip
    submit_parser.add_argument("--type", choices=("CWL", "WDL"), help="default: by file name")
    submit_parser.add_argument(
        "--type-version", help="workflow_type_version (default: from the document)"
    )
    submit_parser.add_argument("--wait", action="store_true", help="wait for the run's end")

    ls_parser = add("ls", list_runs, "list runs, newest first")
    ls_parser.add_argument(
        "--state", type=str.upper, choices=STATES, metavar="STATE",
        help=f"only runs in this state ({', '.join(STATES)})",
    )  # fmt: skip
    ls_parser.add_argument(
        "--tag", action="append", default=[], metavar="K=V",
        help="only runs with this tag (repeatable: all must match)",
    )  # fmt: skip
    ls_parser.add_argument(
        "--limit", type=int, default=20, help="at most this many (default: %(default)s; 0: all)"
    )

    for name, handler, text in (
        ("status", status, "a run's state, times and exit code"),
        ("wait", wait, "follow a run to its end; exit 0 only if it COMPLETEs"),
        ("tasks", tasks, "a run's tasks"),
    ):
        add(name, handler, text).add_argument("run_id", metavar="RUN")
    add("cancel", cancel, "cancel runs").add_argument("run_ids", nargs="+", metavar="RUN")

    logs_parser = add("logs", logs, "a run's engine log (stderr), or a task's output")
    logs_parser.add_argument("run_id", metavar="RUN")
    logs_parser.add_argument(
        "--task", metavar="TASK", help="a task's log (its id, name or number) instead of the run's"
    )
    streams = logs_parser.add_mutually_exclusive_group()
    streams.add_argument(
        "--stdout", dest="stream", action="store_const", const="stdout",
        help="the standard output (default for a task)",
    )  # fmt: skip
    streams.add_argument(
        "--stderr", dest="stream", action="store_const", const="stderr",
        help="the standard error (default for the run: the engine's log)",
    )  # fmt: skip
    logs_parser.add_argument("-f", "--follow", action="store_true", help="keep printing")

    outputs_parser = add("outputs", outputs, "list a run's outputs, or copy them into DEST")
    outputs_parser.add_argument("run_id", metavar="RUN")
    outputs_parser.add_argument("dest", nargs="?", type=Path, metavar="DEST")


async def submit(client: WesClient, args: argparse.Namespace) -> int:
    plan = prepare(args.workflow, args.inputs, args.attach, args.type)
    form = aiohttp.FormData()
    fields = {
        "workflow_type": plan.workflow_type,
        "workflow_type_version": args.type_version or plan.workflow_type_version,
        "workflow_url": plan.workflow_url,
        "workflow_params": json.dumps(plan.params),
        "tags": json.dumps(_pairs(args.tag, "--tag")),
        "workflow_engine_parameters": json.dumps(_pairs(args.engine_param, "--engine-param")),
    }
    for key, value in fields.items():
        form.add_field(key, value)
    handles = []
    try:
        for name, path in plan.attachments.items():
            handles.append(path.open("rb"))
            form.add_field("workflow_attachment", handles[-1], filename=name)
        run_id = str((await client.post("/runs", data=form))["run_id"])
    finally:
        for handle in handles:
            handle.close()
    if not args.wait:
        print_json({"run_id": run_id}) if args.json else print(run_id)
        return 0
    if not args.json:
        print(f"{run_id} submitted", file=sys.stderr)
    return await _follow_run(client, run_id, args.json)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ClientError(f"{flag}: {item!r} is not KEY=VALUE")
        if key in pairs and pairs[key] != value:
            raise ClientError(f"{flag}: {key!r} is given twice ({pairs[key]!r}, {value!r})")
        pairs[key] = value
    return pairs


async def list_runs(client: WesClient, args: argparse.Namespace) -> int:
    wanted_tags = _pairs(args.tag, "--tag")
    chosen: list[dict[str, Any]] = []
    token = ""
    while args.limit <= 0 or len(chosen) < args.limit:
        page = await client.get("/runs", page_size=PAGE, **({"page_token": token} if token else {}))
        chosen += [run for run in page["runs"] if _matches(run, args.state, wanted_tags)]
        token = page.get("next_page_token") or ""
        if not token:
            break
    if args.limit > 0:
        chosen = chosen[: args.limit]
    if args.json:
        print_json(chosen)
    else:
        rows = [
            [r["run_id"], r["state"], r.get("start_time") or "", tags_text(r.get("tags") or {})]
            for r in chosen
        ]
        print_table(["RUN", "STATE", "STARTED", "TAGS"], rows)
    return 0


def _matches(run: dict[str, Any], state: str | None, tags: dict[str, str]) -> bool:
    run_tags = run.get("tags") or {}
    return (state is None or run["state"] == state) and all(
        run_tags.get(k) == v for k, v in tags.items()
    )


async def status(client: WesClient, args: argparse.Namespace) -> int:
    run = await client.get(f"/runs/{_id(args.run_id)}")
    if args.json:
        print_json(run)
        return 0
    log = run.get("run_log") or {}
    rows = [
        ["run", run["run_id"]],
        ["state", run["state"]],
        ["workflow", (run.get("request") or {}).get("workflow_url", "")],
        ["started", log.get("start_time", "")],
        ["ended", log.get("end_time", "")],
        ["exit code", str(log.get("exit_code", ""))],
    ]
    print_table([], rows)
    for line in log.get("system_logs") or []:
        print(f"  note: {line}")
    return 0


async def wait(client: WesClient, args: argparse.Namespace) -> int:
    return await _follow_run(client, _id(args.run_id), args.json)


async def _follow_run(client: WesClient, run_id: str, as_json: bool) -> int:
    """Print state and task changes as they happen; the exit status is the outcome.
    A restart of the daemon meanwhile is waited out."""
    client.patient = True
    state, seen = "", dict[str, str]()
    while True:
        current = (await client.get(f"/runs/{run_id}/status"))["state"]
        if not as_json:
            # Tasks that ended come before the run's end, as they happened.
            if current in TERMINAL_STATES:
                seen = await _print_task_changes(client, run_id, seen)
            if current != state:
                print(progress_line(run_id, current), flush=True)
            if current not in TERMINAL_STATES:
                seen = await _print_task_changes(client, run_id, seen)
        state = current
        if state in TERMINAL_STATES:
            break
        await asyncio.sleep(POLL_S)
    run = await client.get(f"/runs/{run_id}")
    if as_json:
        print_json(run)
    elif state != "COMPLETE":
        log = run.get("run_log") or {}
        for line in log.get("system_logs") or []:
            print(f"  note: {line}")
        if log.get("start_time"):  # a run canceled while queued has no engine log
            print(f"  engine log: localwes logs {run_id}")
    return 0 if state == "COMPLETE" else 1


async def _print_task_changes(
    client: WesClient, run_id: str, seen: dict[str, str]
) -> dict[str, str]:
    now = dict(seen)
    for task in await _all_tasks(client, run_id):
        phase = "ended" if task.get("end_time") else "started"
        if seen.get(task["id"]) != phase:
            exit_code = task.get("exit_code")
            shown = (
                f" (exit code {exit_code})" if phase == "ended" and exit_code is not None else ""
            )
            print(f"  task {task.get('name') or task['id']} {phase}{shown}", flush=True)
            now[task["id"]] = phase
    return now


async def _all_tasks(client: WesClient, run_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        params: dict[str, str | int] = {"page_size": PAGE}
        if token:
            params["page_token"] = token
        page = await client.get(f"/runs/{run_id}/tasks", **params)
        found += page["task_logs"]
        token = page.get("next_page_token") or ""
        if not token:
            return found


async def tasks(client: WesClient, args: argparse.Namespace) -> int:
    found = await _all_tasks(client, _id(args.run_id))
    if args.json:
        print_json(found)
        return 0
    rows = [
        [
            t["id"],
            t.get("name") or "",
            t.get("start_time") or "",
            t.get("end_time") or "",
            str(t.get("exit_code", "")),
        ]
        for t in found
    ]
    print_table(["TASK", "NAME", "STARTED", "ENDED", "EXIT"], rows)
    return 0


async def logs(client: WesClient, args: argparse.Namespace) -> int:
    if args.json:
        raise ClientError("logs: --json does not apply (a log is printed as it was written)")
    run_id = _id(args.run_id)
    if args.task:
        task_id = quote(await _find_task(client, run_id, args.task), safe="")
        path = f"/runs/{run_id}/tasks/{task_id}/logs/{args.stream or 'stdout'}"
        record = f"/runs/{run_id}/tasks/{task_id}"
    else:
        path = f"/runs/{run_id}/logs/{args.stream or 'stderr'}"
        record = f"/runs/{run_id}"
    if not args.follow:
        async for chunk in client.stream(path):
            _print_chunk(chunk)
        return 0
    # A followed log outlasts a restart of the daemon: it picks up where it was cut
    # off, until the run (or the task) has ended and its last bytes are out.
    client.patient = True
    printed, ended = 0, False
    while True:
        # The next look at the run waits for a daemon that went away to come back.
        with contextlib.suppress(DaemonUnreachable):
            async for chunk in client.stream(path, printed, **({} if ended else FOLLOW)):
                _print_chunk(chunk)
                printed += len(chunk)
        if ended:
            return 0
        ended = _has_ended(await client.get(record))


def _has_ended(run_or_task: dict[str, Any]) -> bool:
    return run_or_task.get("state") in TERMINAL_STATES or bool(run_or_task.get("end_time"))


def _print_chunk(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


async def _find_task(client: WesClient, run_id: str, given: str) -> str:
    """A task by its id, its name or its number, as `localwes tasks` shows them
    (`0002-upper_1`, `upper[1]`, `2`)."""
    found = await _all_tasks(client, run_id)
    for matches in (
        [t for t in found if t["id"] == given],
        [t for t in found if t.get("name") == given],
        [
            t
            for t in found
            if given.isdigit() and t["id"].split("-")[0].lstrip("0") == given.lstrip("0")
        ],
    ):
        if len(matches) == 1:
            return str(matches[0]["id"])
        if matches:
            ids = ", ".join(t["id"] for t in matches)
            raise ClientError(f"--task {given!r} names several tasks ({ids}): give its id")
    raise ClientError(
        f"run {run_id} has no task {given!r} (give an id, name or number from "
        f"`localwes tasks {run_id}`)"
    )


async def outputs(client: WesClient, args: argparse.Namespace) -> int:
    run_id = _id(args.run_id)
    if args.dest is not None and args.dest.exists() and not args.dest.is_dir():
        raise ClientError(f"DEST: {args.dest} is a file; give a folder (made if missing)")
    run = await client.get(f"/runs/{run_id}")
    if args.dest is not None and run["state"] not in TERMINAL_STATES:
        raise ClientError(
            f"run {run_id} is {run['state']}: its outputs are not final yet; "
            f"`localwes wait {run_id}` first"
        )
    listing = (await client.get(f"/runs/{run_id}/outputs"))["files"]
    files = output_files(run, listing)
    if args.dest is None:
        if args.json:
            print_json({"outputs": run.get("outputs"), "files": sorted(files)})
        else:
            print_json(run.get("outputs") or {})
            for name in sorted(files):
                print(name)
        return 0
    for name, target in sorted(files.items()):
        await _download(client, run_id, name, args.dest, target)
    if args.json:
        print_json({"copied": sorted(files.values()), "dest": str(args.dest)})
    else:
        print(f"{len(files)} file(s) copied into {args.dest}")
    return 0


def output_files(run: dict[str, Any], listing: list[str]) -> dict[str, str]:
    """The files the run's output object names (a Directory: every file in it), from
    the server's listing of outputs/, each with its name under DEST. Only these:
    for WDL, outputs/ also holds miniwdl's own files (logs, call folders)."""
    marker = f"/runs/{run['run_id']}/outputs/"
    named = [text.split(marker, 1)[1] for text in _strings(run.get("outputs")) if marker in text]
    # miniwdl links the final outputs under out/<output name>/.
    is_wdl = (run.get("request") or {}).get("workflow_type") == "WDL"
    files = {}
    for name in listing:
        if any(name == n.rstrip("/") or name.startswith(n.rstrip("/") + "/") for n in named):
            files[name] = name.removeprefix("out/") if is_wdl else name
    return files


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, URL-decoded (CWL's location is a file:// URL)."""
    if isinstance(value, str):
        return [unquote(value)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


async def _download(client: WesClient, run_id: str, name: str, dest: Path, relative: str) -> None:
    target = dest / relative
    if dest.resolve() not in target.resolve().parents:
        raise ClientError(f"the server listed an output outside DEST: {name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        async for chunk in client.stream(f"/runs/{run_id}/outputs/{quote(name)}"):
            out.write(chunk)


async def cancel(client: WesClient, args: argparse.Namespace) -> int:
    """Each run in turn, then says what became of it: a run that had already ended
    is left as it was (the cancel is a no-op, as WES says)."""
    results = []
    for run_id in map(_id, args.run_ids):
        await client.post(f"/runs/{run_id}/cancel")
        state = (await client.get(f"/runs/{run_id}/status"))["state"]
        results.append({"run_id": run_id, "state": state})
        if not args.json:
            print(f"{run_id} {CANCEL_OUTCOME.get(state, f'already {state}: nothing to cancel')}")
    if args.json:
        print_json(results)
    return 0


def _id(run_id: str) -> str:
    return quote(run_id.strip(), safe="")
