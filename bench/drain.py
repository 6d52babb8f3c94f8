"""Benchmark: a long queue of trivial runs, max-concurrent 2.

    .venv/bin/python -m bench.drain [--runs 1000]

Queues trivial CWL runs all at once, waits for all of them, and reports the
drain rate and how long each freed slot stayed idle: from a supervisor's end
(exit.json `ended_at`) to the start of the next queued run's engine
(supervisor.json `engine_started_at`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.roundtrip import ECHO_CWL, submit, until_warm, wait
from tests.helpers import start_serve


def idle_gaps(runs_dir: Path, max_concurrent: int) -> list[float]:
    starts, ends = [], []
    for folder in runs_dir.iterdir():
        starts.append(json.loads((folder / "supervisor.json").read_text())["engine_started_at"])
        ends.append(json.loads((folder / "exit.json").read_text())["ended_at"])
    starts.sort()
    ends.sort()
    # With the queue full, the i-th start (after the first max_concurrent) takes the
    # slot freed by the (i - max_concurrent)-th end.
    return [
        start - ends[i - max_concurrent] for i, start in enumerate(starts) if i >= max_concurrent
    ]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        proc, base = start_serve(state_dir, Path(tmp) / "d.log", "--max-concurrent", "2")
        try:
            print(f"warm engine starts: {await until_warm(base)}")
            async with aiohttp.ClientSession() as session:
                started = time.perf_counter()
                run_ids = [await submit(session, base, ECHO_CWL) for _ in range(args.runs)]
                states = [await wait(session, base, run_id) for run_id in run_ids]
                elapsed = time.perf_counter() - started
            assert set(states) == {"COMPLETE"}, set(states)
            gaps = sorted(gap * 1000 for gap in idle_gaps(state_dir / "runs", 2))
            print(f"{args.runs} runs drained in {elapsed:.1f} s: {args.runs / elapsed:.1f} runs/s")
            print(
                f"slot idle from a run's end to the next engine start: median "
                f"{statistics.median(gaps):.1f} ms, p90 {gaps[int(len(gaps) * 0.9)]:.1f} ms, "
                f"max {gaps[-1]:.1f} ms"
            )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
