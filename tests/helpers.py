"""Helpers the tests share: a WES client over aiohttp, and process checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}


class Wes:
    """A small WES client for tests."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def get(self, path: str, status: int = 200, **params: Any) -> Any:
        async with self.session.get(self.base + path, params=params) as response:
            body = await response.json()
            assert response.status == status, body
            return body

    async def post(self, path: str, status: int = 200, **kwargs: Any) -> Any:
        async with self.session.post(self.base + path, **kwargs) as response:
            body = await response.json()
            assert response.status == status, body
            return body

    async def submit(
        self,
        workflow_url: str,
        params: dict[str, Any] | None = None,
        attachments: Mapping[str, Path | bytes] | None = None,
        status: int = 200,
        **fields: str,
    ) -> Any:
        form = aiohttp.FormData()
        values = {
            "workflow_type": "CWL",
            "workflow_type_version": "v1.2",
            "workflow_url": workflow_url,
            "workflow_params": json.dumps(params or {}),
            **fields,
        }
        for key, value in values.items():
            form.add_field(key, value)
        for name, content in (attachments or {}).items():
            data = content.read_bytes() if isinstance(content, Path) else content
            form.add_field("workflow_attachment", data, filename=name)
        body = await self.post("/runs", status=status, data=form)
        return body["run_id"] if status == 200 else body

    async def state(self, run_id: str) -> str:
        return str((await self.get(f"/runs/{run_id}/status"))["state"])

    async def wait(self, run_id: str, states: set[str] = TERMINAL, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while (state := await self.state(run_id)) not in states:
            assert time.monotonic() < deadline, f"run {run_id} stuck in {state}"
            await asyncio.sleep(0.05)
        return state

    async def started_tasks(self, run_id: str, timeout: float = 20) -> list[dict[str, Any]]:
        """The run's tasks, once at least one has started."""
        deadline = time.monotonic() + timeout
        while not (tasks := (await self.get(f"/runs/{run_id}/tasks"))["task_logs"]):
            assert time.monotonic() < deadline, f"run {run_id} started no task"
            await asyncio.sleep(0.05)
        return list(tasks)


def attach_tree(root: Path) -> dict[str, Path | bytes]:
    """Every file below `root`, by its relative POSIX name."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def processes_under(folder: Path) -> list[int]:
    """Pids of processes whose command line or working directory is inside `folder`."""
    found = []
    marker = str(folder)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            if (entry / "stat").read_text().split()[2] == "Z":
                continue
        except OSError:
            continue
        if marker in cmdline or cwd.startswith(marker):
            found.append(int(entry.name))
    return found


def kill_processes_under(folder: Path) -> None:
    for pid in processes_under(folder):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


async def wait_no_processes(folder: Path, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_under(folder)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return left


def serve_argv(state_dir: Path, *extra: str) -> list[str]:
    """`localwes serve` on an ephemeral port, without containers."""
    flags = ["--port", "0", "--state-dir", str(state_dir), "--container", "none"]
    return [sys.executable, "-m", "localwes", "serve", *flags, *extra]


def start_serve(
    state_dir: Path,
    log: Path,
    *extra: str,
    wrapper: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `localwes serve` as its own process (inside `wrapper`, if given); return
    it and its API base URL."""
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [*wrapper, *serve_argv(state_dir, *extra)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "listening on " in line:
                return proc, line.split("listening on ")[1].split()[0]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"localwes serve did not start: {log.read_text()}")


async def latest_run_log(base: str) -> Any:
    """The RunLog of the newest run."""
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, base)
        run = (await wes.get("/runs"))["runs"][0]
        return await wes.get(f"/runs/{run['run_id']}")
