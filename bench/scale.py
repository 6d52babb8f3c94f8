"""Benchmark: a daemon over many runs (100,000 by default).

    .venv/bin/python -m bench.scale [--runs 100000] [--requests 2000]

Writes finished run folders straight in the documented layout (request.json,
state.json and the empty folders), then measures the daemon's start until ready,
its RSS, GET /runs/{id}/status, GET /runs?page_size=100, and a full walk of
all pages (checked for consistency), each as a median of many requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from ulid import ULID

from tests.helpers import start_serve


def write_runs(runs_dir: Path, count: int) -> list[str]:
    runs_dir.mkdir(parents=True, exist_ok=True)
    request = json.dumps(
        {
            "workflow_type": "CWL",
            "workflow_type_version": "v1.2",
            "workflow_url": "echo.cwl",
            "workflow_params": {"message": "hi"},
            "tags": {"bench": "scale"},
        }
    )
    base = int(ULID())
    ids = []
    for i in range(count):
        run_id = str(ULID.from_int(base + i))
        folder = runs_dir / run_id
        for sub in ("workflow", "work", "outputs", "tasks"):
            (folder / sub).mkdir(parents=True)
        (folder / "request.json").write_text(request)
        state = {
            "state": "COMPLETE",
            "submitted_time": "2026-11-24T00:00:00Z",
            "start_time": "2026-11-24T00:00:01Z",
            "end_time": "2026-11-24T00:00:02Z",
            "exit_code": 0,
            "system_logs": [],
            "attempt": 1,
        }
        (folder / "state.json").write_text(json.dumps(state))
        ids.append(run_id)
    return ids


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed_gets(session: aiohttp.ClientSession, urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            assert response.status == 200, url
        times.append(time.perf_counter() - started)
    return times


async def walk(session: aiohttp.ClientSession, base: str) -> list[str]:
    seen, token = [], ""
    while True:
        async with session.get(
            f"{base}/runs", params={"page_size": "1000", "page_token": token}
        ) as response:
            page = await response.json()
        seen += [r["run_id"] for r in page["runs"]]
        token = page["next_page_token"]
        if not token:
            return seen


def ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:.2f} ms (n={len(values)})"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--state-dir", type=Path, help="reuse (or keep) the run folders here")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = args.state_dir or Path(tmp) / "state"
        runs = state_dir / "runs"
        if runs.is_dir() and any(runs.iterdir()):
            ids = sorted(p.name for p in runs.iterdir())
        else:
            started = time.perf_counter()
            ids = write_runs(runs, args.runs)
            print(f"wrote {len(ids)} run folders in {time.perf_counter() - started:.1f} s")
        os.system("sync")
        for attempt in ("first start", "second start"):
            started = time.perf_counter()
            proc, base = start_serve(
                state_dir, Path(tmp) / "daemon.log", "--no-warm-engines", "--container", "none"
            )
            index = (state_dir / "finished-index.json").exists()
            print(
                f"{attempt}: ready after {time.perf_counter() - started:.2f} s "
                f"(finished-index.json: {'yes' if index else 'not yet'})"
            )
            if attempt == "first start":
                proc.terminate()
                proc.wait()
        try:
            async with aiohttp.ClientSession() as session:
                status_urls = [
                    f"{base}/runs/{random.choice(ids)}/status" for _ in range(args.requests)
                ]
                print(f"GET /runs/{{id}}/status: {ms(await timed_gets(session, status_urls))}")
                list_urls = [f"{base}/runs?page_size=100"] * (args.requests // 4)
                print(f"GET /runs?page_size=100: {ms(await timed_gets(session, list_urls))}")
                started = time.perf_counter()
                seen = await walk(session, base)
                consistent = seen == sorted(ids, reverse=True)
                print(
                    f"full walk: {len(seen)} runs in {time.perf_counter() - started:.2f} s, "
                    f"consistent={consistent}"
                )
            print(f"daemon RSS: {rss_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
