"""Benchmark: how quickly the `localwes` client commands answer, and how quickly a
cancel ends a running CWL run, side by side in one run.

    .venv/bin/python -m bench.cli [--repeats 9]

It starts its own `localwes serve` on an ephemeral port over a temporary state
dir. Command times are wall-clock medians of whole processes, next to a bare
`python -c pass` and to `import aiohttp` (what every client command needs), so
that the figures can be read as ratios on a noisy machine. Cancel times are from
POST /cancel to CANCELED as the API reports it, for one tool and for a
three-way `--parallel` scatter (the default cancel_grace is 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp

from tests.helpers import start_serve

CWL = Path(__file__).resolve().parent.parent / "tests" / "data" / "cwl"
PYTHON = sys.executable


def median_ms(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def command(argv: list[str], env: dict[str, str]) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run(argv, env=env, capture_output=True, check=True)

    return run


async def cancel_seconds(
    base: str, files: dict[str, Path], params: Mapping[str, object], parallel: bool
) -> float:
    """Submit, wait for the first task to start, cancel, and time until CANCELED."""
    form = aiohttp.FormData()
    form.add_field("workflow_type", "CWL")
    form.add_field("workflow_type_version", "v1.2")
    form.add_field("workflow_url", next(iter(files)))
    form.add_field("workflow_params", json.dumps(params))
    if parallel:
        form.add_field("workflow_engine_parameters", json.dumps({"--parallel": ""}))
    for name, path in files.items():
        form.add_field("workflow_attachment", path.read_bytes(), filename=name)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/runs", data=form) as response:
            run_id = (await response.json())["run_id"]
        while not (await (await session.get(f"{base}/runs/{run_id}/tasks")).json())["task_logs"]:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let the jobs settle into their sleep
        began = time.perf_counter()
        await session.post(f"{base}/runs/{run_id}/cancel")
        while (await (await session.get(f"{base}/runs/{run_id}/status")).json())[
            "state"
        ] != "CANCELED":
            await asyncio.sleep(0.02)
        return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="localwes-bench-cli-") as tmp:
        state = Path(tmp) / "state"
        proc, base = start_serve(state, Path(tmp) / "daemon.log")
        try:
            env = {**os.environ, "LOCALWES_URL": base, "XDG_CONFIG_HOME": tmp}
            rows = {
                "python -c pass": [PYTHON, "-c", "pass"],
                "python -c 'import aiohttp'": [PYTHON, "-c", "import aiohttp"],
                "localwes --version": [PYTHON, "-m", "localwes", "--version"],
                "localwes ls": [PYTHON, "-m", "localwes", "ls"],
            }
            for label, argv in rows.items():
                print(f"{label:30} {median_ms(args.repeats, command(argv, env)):7.0f} ms")
            tool = {"sleep.cwl": CWL / "sleep.cwl"}
            scatter = {"sleep-scatter.cwl": CWL / "sleep-scatter.cwl", **tool}
            for label, files, params, parallel in (
                ("cancel a running tool", tool, {"seconds": 300}, False),
                ("cancel a --parallel scatter", scatter, {"seconds": [300, 300, 300]}, True),
            ):
                times = [await cancel_seconds(base, files, params, parallel) for _ in range(3)]
                print(f"{label:30} {statistics.median(times):7.2f} s (median of 3)")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
