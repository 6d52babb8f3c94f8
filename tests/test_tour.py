"""README's two-minute tour, run as written against a real daemon.

The tour's first block starts the daemon (`python3 dev.py serve`); the test
starts its own on an ephemeral port instead and runs the second block from a
folder laid out like the repository root, with the default state dir in it
replaced by the test daemon's (which is how the client finds that daemon).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import DATA
from tests.docblocks import run_bash, sh_blocks
from tests.helpers import Wes, kill_processes_under, start_serve

README = Path(__file__).resolve().parent.parent / "README.md"
DEFAULT_STATE_DIR = "~/.local/state/localwes"


def tour_blocks() -> list[str]:
    text = README.read_text()
    tour = re.search(r"^## A two-minute tour\n(.*?)^## ", text, flags=re.M | re.S)
    assert tour, "README has no two-minute tour"
    return [code for _, code in sh_blocks(tour.group(1))]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """A repository root: tests/data, and .venv (this interpreter's)."""
    top = tmp_path / "root"
    shutil.copytree(DATA, top / "tests" / "data")
    (top / ".venv").symlink_to(Path(sys.executable).parent.parent)
    yield top
    kill_processes_under(top)


def test_the_tour_starts_the_daemon_the_readme_way() -> None:
    serve = tour_blocks()[0]
    assert serve.split("#")[0].strip() == "python3 dev.py serve"


async def test_the_tour_runs_as_written(root: Path, tmp_path: Path) -> None:
    tour = tour_blocks()[1]
    state = tmp_path / "state"
    proc, base = start_serve(state, tmp_path / "daemon.log")
    try:
        env = {**os.environ, "LOCALWES_STATE_DIR": str(state), "XDG_CONFIG_HOME": "/nonexistent"}
        env.pop("LOCALWES_URL", None)
        done = run_bash(tour.replace(DEFAULT_STATE_DIR, str(state)), root, env, timeout=120)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        async with aiohttp.ClientSession() as session:
            runs = (await Wes(session, base).get("/runs"))["runs"]
    finally:
        proc.kill()
        proc.wait(timeout=30)
        kill_processes_under(state)
    assert [(r["state"], r["tags"]) for r in runs] == [("COMPLETE", {"try": "1"})]
    run_id = runs[0]["run_id"]
    out = done.stdout
    assert f"{run_id}  COMPLETE" in out  # wait's last line
    assert "task upper[1] ended (exit code 0)" in out
    assert "\nBETA\n" in out  # upper[1]'s stdout
    assert "Final process status is success" in out
    assert (root / "results" / "count.txt").read_text() in out
    assert "request.json" in out.splitlines()  # the run folder's listing
