"""Benchmark: POST /runs latency, and a trivial CWL tool and WDL task through the
API against cwltool and `miniwdl run` run directly, side by side in one run.

    .venv/bin/python -m bench.roundtrip [--repeats 5] [--posts 100]

It starts its own `localwes serve` on an ephemeral port over a temporary state
dir and prints medians (the machine is shared and noisy: compare ratios).
Without a container runtime both sides run tasks on the host: cwltool with
--no-container, miniwdl with localwes's host backend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import start_serve

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Trivial:
    """A one-step workflow, and how to run it without localwes."""

    label: str
    document: Path
    workflow_type: str
    version: str
    params: dict[str, Any]

    def direct_argv(self, workdir: Path) -> list[str]:
        inputs = workdir / "inputs.json"
        inputs.write_text(json.dumps(self.params))
        if self.workflow_type == "CWL":
            return [
                str(BIN / "cwltool"),
                "--no-container",
                "--outdir",
                str(workdir / "out"),
                str(self.document),
                str(inputs),
            ]
        return [
            str(BIN / "miniwdl"),
            "run",
            str(self.document),
            "-i",
            str(inputs),
            "-d",
            f"{workdir / 'run'}/.",
        ]


ECHO_CWL = Trivial("CWL tool", DATA / "cwl" / "echo.cwl", "CWL", "v1.2", {"message": "hi"})
SAY_WDL = Trivial("WDL task", DATA / "wdl" / "lib" / "tasks.wdl", "WDL", "1.0", {"name": "hi"})
SLEEP_CWL = Trivial("sleep", DATA / "cwl" / "sleep.cwl", "CWL", "v1.2", {"seconds": 600})


def form(workflow: Trivial) -> aiohttp.FormData:
    data = aiohttp.FormData()
    fields = {
        "workflow_type": workflow.workflow_type,
        "workflow_type_version": workflow.version,
        "workflow_url": workflow.document.name,
        "workflow_params": json.dumps(workflow.params),
    }
    for key, value in fields.items():
        data.add_field(key, value)
    data.add_field(
        "workflow_attachment", workflow.document.read_bytes(), filename=workflow.document.name
    )
    return data


async def submit(session: aiohttp.ClientSession, base: str, workflow: Trivial) -> str:
    async with session.post(f"{base}/runs", data=form(workflow)) as response:
        body = await response.json()
        assert response.status == 200, body
        return str(body["run_id"])


async def wait(session: aiohttp.ClientSession, base: str, run_id: str) -> str:
    while True:
        async with session.get(f"{base}/runs/{run_id}/status") as response:
            state = str((await response.json())["state"])
        if state in TERMINAL:
            return state
        await asyncio.sleep(0.01)


async def post_latencies(base: str, count: int) -> list[float]:
    """POSTs queued behind a blocking run, so no engine competes with the daemon."""
    async with aiohttp.ClientSession() as session:
        blocker = await submit(session, base, SLEEP_CWL)
        latencies, run_ids = [], []
        for _ in range(count):
            started = time.perf_counter()
            run_ids.append(await submit(session, base, ECHO_CWL))
            latencies.append(time.perf_counter() - started)
        for run_id in [*run_ids, blocker]:
            await session.post(f"{base}/runs/{run_id}/cancel")
        await wait(session, base, blocker)
    return latencies


async def concurrent_submissions(base: str, clients: int, per_client: int) -> float:
    """Submissions per second with `clients` clients posting at once (all queued
    behind a blocking run, then canceled)."""
    async with aiohttp.ClientSession() as session:
        blocker = await submit(session, base, SLEEP_CWL)

        async def client() -> list[str]:
            return [await submit(session, base, ECHO_CWL) for _ in range(per_client)]

        started = time.perf_counter()
        batches = await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        for run_id in [r for batch in batches for r in batch] + [blocker]:
            await session.post(f"{base}/runs/{run_id}/cancel")
        await wait(session, base, blocker)
    return clients * per_client / elapsed


async def api_round_trip(base: str, workflow: Trivial) -> float:
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        state = await wait(session, base, await submit(session, base, workflow))
        elapsed = time.perf_counter() - started
    assert state == "COMPLETE", state
    return elapsed


def direct_round_trip(workflow: Trivial, workdir: Path) -> float:
    env = {**os.environ, "MINIWDL__SCHEDULER__CONTAINER_BACKEND": "localwes_host"}
    argv = workflow.direct_argv(workdir)
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def describe(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms   n={len(ms)}"


async def until_warm(base: str) -> str:
    """Wait (a few seconds at most) for warm engine starts to be ready."""
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(f"{base}/service-info") as response:
                warm = str((await response.json())["tags"].get("warm_engines", "off"))
            if warm != "starting":
                return warm
            await asyncio.sleep(0.05)
    return "starting"


async def compare(base: str, workflow: Trivial, repeats: int, root: Path) -> None:
    api, direct = [], []
    for i in range(repeats):  # interleaved, so both sides see the same noise
        api.append(await api_round_trip(base, workflow))
        workdir = Path(tempfile.mkdtemp(dir=root, prefix=f"direct{i}-"))
        direct.append(direct_round_trip(workflow, workdir))
    engine = "cwltool" if workflow.workflow_type == "CWL" else "miniwdl run"
    print(f"trivial {workflow.label} via localwes API      {describe(api)}")
    print(f"trivial {workflow.label} via {engine:<12}     {describe(direct)}")
    ratio = statistics.median(api) / statistics.median(direct)
    print(f"ratio API / direct (medians)          {ratio:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--cold", action="store_true", help="start engines cold (no zygote)")
    args = parser.parse_args()
    flags = ["--no-warm-engines"] if args.cold else []
    python = platform.python_version()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {python}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        daemon, base = start_serve(
            root / "post-state", root / "post.log", "--max-concurrent", "1", *flags
        )
        try:
            await until_warm(base)  # the zygote's imports would compete with the POSTs
            posts = await post_latencies(base, args.posts)
            print(f"POST /runs (small attachment, durable)   {describe(posts)}")
            rate = await concurrent_submissions(base, clients=8, per_client=50)
            print(f"POST /runs with 8 concurrent clients      {rate:.0f} submissions/s")
        finally:
            daemon.terminate()
            daemon.wait()
        daemon, base = start_serve(
            root / "rt-state", root / "rt.log", "--max-concurrent", "2", *flags
        )
        try:
            print(f"warm engine starts: {await until_warm(base)}")
            for workflow in (ECHO_CWL, SAY_WDL):
                await compare(base, workflow, args.repeats, root)
        finally:
            daemon.terminate()
            daemon.wait()


if __name__ == "__main__":
    asyncio.run(main())
