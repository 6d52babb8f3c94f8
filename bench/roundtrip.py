"""Benchmark: POST /runs latency, and a trivial CWL tool through the API against
cwltool run directly, measured side by side in one run.

    .venv/bin/python -m bench.roundtrip [--repeats 5] [--posts 100]

It starts its own `localwes serve` on an ephemeral port over a temporary state
dir and prints medians (the machine is shared and noisy: compare ratios).
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
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import start_serve

ECHO = Path(__file__).resolve().parent.parent / "tests" / "data" / "cwl" / "echo.cwl"
SLEEP = ECHO.with_name("sleep.cwl")
TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}


def form(workflow: Path, params: dict[str, Any]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in {
        "workflow_type": "CWL",
        "workflow_type_version": "v1.2",
        "workflow_url": workflow.name,
        "workflow_params": json.dumps(params),
    }.items():
        data.add_field(key, value)
    data.add_field("workflow_attachment", workflow.read_bytes(), filename=workflow.name)
    return data


async def submit(
    session: aiohttp.ClientSession, base: str, workflow: Path, params: dict[str, Any]
) -> str:
    async with session.post(f"{base}/runs", data=form(workflow, params)) as response:
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
        blocker = await submit(session, base, SLEEP, {"seconds": 600})
        latencies, run_ids = [], []
        for _ in range(count):
            started = time.perf_counter()
            run_ids.append(await submit(session, base, ECHO, {"message": "hi"}))
            latencies.append(time.perf_counter() - started)
        for run_id in [*run_ids, blocker]:
            await session.post(f"{base}/runs/{run_id}/cancel")
        await wait(session, base, blocker)
    return latencies


async def api_round_trip(base: str) -> float:
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        run_id = await submit(session, base, ECHO, {"message": "hi"})
        state = await wait(session, base, run_id)
        elapsed = time.perf_counter() - started
    assert state == "COMPLETE", state
    return elapsed


def direct_round_trip(workdir: Path) -> float:
    (workdir / "job.json").write_text('{"message": "hi"}')
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "cwltool"),
            "--no-container",
            "--outdir",
            str(workdir / "out"),
            str(ECHO),
            str(workdir / "job.json"),
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def describe(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms   n={len(ms)}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--posts", type=int, default=100)
    args = parser.parse_args()
    python = platform.python_version()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {python}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        daemon, base = start_serve(root / "post-state", root / "post.log", "--max-concurrent", "1")
        try:
            posts = await post_latencies(base, args.posts)
            print(f"POST /runs (small attachment, durable)   {describe(posts)}")
        finally:
            daemon.terminate()
            daemon.wait()
        daemon, base = start_serve(root / "rt-state", root / "rt.log", "--max-concurrent", "2")
        api, direct = [], []
        try:
            for i in range(args.repeats):  # interleaved, so both see the same noise
                api.append(await api_round_trip(base))
                direct.append(direct_round_trip(Path(tempfile.mkdtemp(dir=root, prefix=f"d{i}"))))
        finally:
            daemon.terminate()
            daemon.wait()
    print(f"trivial CWL tool via localwes API        {describe(api)}")
    print(f"trivial CWL tool via cwltool directly    {describe(direct)}")
    ratio = statistics.median(api) / statistics.median(direct)
    print(f"ratio API / direct (medians)             {ratio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
