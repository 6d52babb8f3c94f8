"""Benchmark: a long queue of trivial runs, max-concurrent 2.

    .venv/bin/python -m bench.drain [--runs 1000]

Queues trivial CWL runs all at once, waits for all of them, and reports the
drain rate and how long each freed slot stayed idle: from a supervisor's end
(exit.json `ended_at`) to the start of the next queued run's supervisor
(supervisor.json `supervisor_began_at`) and engine (`engine_started_at`).
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
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.roundtrip import ECHO_CWL, submit, until_warm, wait
from tests.helpers import start_serve


@dataclass(frozen=True)
class Handover:
    """One freed slot: from a run's end (exit.json `ended_at`) to the start of the
    next run's supervisor, and on to its engine."""

    to_supervisor: float
    to_engine: float


def handovers(runs_dir: Path, max_concurrent: int) -> list[Handover]:
    starts, ends = [], []
    for folder in runs_dir.iterdir():
        supervisor = json.loads((folder / "supervisor.json").read_text())
        starts.append((supervisor["engine_started_at"], supervisor["supervisor_began_at"]))
        ends.append(json.loads((folder / "exit.json").read_text())["ended_at"])
    starts.sort()
    ends.sort()
    # With the queue full, the i-th start (after the first max_concurrent) takes the
    # slot freed by the (i - max_concurrent)-th end.
    return [
        Handover(began - ends[i - max_concurrent], engine - ends[i - max_concurrent])
        for i, (engine, began) in enumerate(starts)
        if i >= max_concurrent
    ]


def describe(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90, p99 = ms[int(len(ms) * 0.9)], ms[int(len(ms) * 0.99)]
    over = sum(1 for m in ms if m > 50) / len(ms)
    return (
        f"{label}: median {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, "
        f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms, over 50 ms {over:.1%}"
    )


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
            slots = handovers(state_dir / "runs", 2)
            print(f"{args.runs} runs drained in {elapsed:.1f} s: {args.runs / elapsed:.1f} runs/s")
            print(describe("run end -> next engine start", [h.to_engine for h in slots]))
            print(describe("run end -> next supervisor", [h.to_supervisor for h in slots]))
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
