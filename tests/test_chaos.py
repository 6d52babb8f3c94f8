"""Chaos: SIGKILL the daemon at random moments while runs come and go.

Every accepted run must end COMPLETE with its own output, none lost, none run
twice, and no process of any run left behind. Run it alone, many times:
    for i in $(seq 10); do .venv/bin/pytest -q -m chaos || break; done
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import DATA
from tests.helpers import Wes, wait_no_processes

LEDGER_TOOL = {"ledger.cwl": DATA / "cwl" / "ledger.cwl"}


async def submit_some(base: str, count: int, ledger: Path, accepted: dict[str, str]) -> None:
    """Submit runs; a POST cut off by a kill is not an accepted run (and not retried
    with the same message, so a run that did land unseen cannot look like a twin)."""
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, base)
        for _ in range(count):
            message = f"m{len(accepted)}-{random.randrange(10**9)}"
            try:
                run_id = await wes.submit(
                    "ledger.cwl", {"message": message, "ledger": str(ledger)}, LEDGER_TOOL
                )
            except (aiohttp.ClientError, AssertionError):
                return
            accepted[run_id] = message


@pytest.mark.chaos
async def test_sigkill_the_daemon_again_and_again(
    daemon_factory: Any, state_dir: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    accepted: dict[str, str] = {}
    rng = random.Random()
    for round_ in range(5):
        daemon = daemon_factory()
        if round_ == 0:
            # Kill while submissions are in flight.
            submitting = asyncio.create_task(submit_some(daemon.base, 40, ledger, accepted))
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            daemon.stop(kill=True)
            await submitting
            continue
        if round_ < 3:
            await submit_some(daemon.base, 10, ledger, accepted)
        await asyncio.sleep(rng.uniform(0.2, 2.5))
        if round_ < 4:
            daemon.stop(kill=True)  # SIGKILL: no chance to clean up
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        for run_id, message in accepted.items():
            assert await wes.wait(run_id, timeout=300) == "COMPLETE", run_id
            out = (await wes.get(f"/runs/{run_id}"))["outputs"]["out"]
            assert Path(out["path"]).read_text() == f"{message}\n"
        listed = {r["run_id"] for r in (await wes.get("/runs", page_size=1000))["runs"]}
    assert len(accepted) >= 20
    assert set(accepted) <= listed
    runs = Counter(ledger.read_text().split())
    assert all(runs[message] == 1 for message in accepted.values()), runs
    assert await wait_no_processes(state_dir / "runs") == []
