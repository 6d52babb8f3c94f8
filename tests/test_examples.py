"""examples/README.md, run as written: every command block against a real daemon.

The convention the README follows: its first ```sh block sets the shell
variables (the daemon's address, once); every later ```sh block is one complete
example that submits one run and sees it to its end. Each block runs in bash
with `set -euo pipefail`, with the first block in front of it and the default
address in it replaced by this test daemon's, from a folder laid out like the
repository root (a copy of examples/). The test then checks that the block made
one run, that it ended COMPLETE, and that its outputs hold the right line counts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import aiohttp
import pytest

from tests.docblocks import run_bash, sh_blocks
from tests.helpers import Wes, kill_processes_under, start_serve

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
README = EXAMPLES / "README.md"
DEFAULT_HOST = "127.0.0.1:7878"
BIN = Path(sys.executable).parent
BLOCK_TIMEOUT_S = 90
CLIENTS = {"curl", "localwes", "wes-client", "toil-wes-cwl-runner"}


@dataclass(frozen=True)
class Block:
    section: str  # the `##` heading above it: which workflow
    client: str  # the `###` heading above it: which client
    text: str

    @property
    def workflow(self) -> str:
        """The file name of the workflow its section shows (its first `code` word)."""
        found = re.search(r"`([^`]+)`", self.section)
        return PurePosixPath(found.group(1)).name if found else ""

    @property
    def name(self) -> str:
        return f"{self.workflow}-{self.client}"


def readme_blocks() -> list[Block]:
    section = client = ""
    blocks = []
    for prose, code in sh_blocks(README.read_text()):
        section, client = _headings(prose, section, client)
        blocks.append(Block(section, client, code))
    return blocks


def _headings(prose: str, section: str, client: str) -> tuple[str, str]:
    for line in prose.splitlines():
        if line.startswith("## "):
            section, client = line[3:].strip(), ""
        elif line.startswith("### "):
            client = line[4:].strip()
    return section, client


def line_counts(folder: str, *names: str) -> list[int]:
    return [len((EXAMPLES / folder / "data" / n).read_text().splitlines()) for n in names]


# What each workflow's output files or values hold, by the workflow's file name.
EXPECTED = {
    "line-count.cwl": line_counts("cwl", "a.txt"),
    "count-all.cwl": line_counts("cwl", "a.txt", "b.txt", "c.txt"),
    "line_count.wdl": line_counts("wdl", "a.txt"),
    "count_all.wdl": line_counts("wdl", "a.txt", "b.txt", "c.txt"),
}
BLOCKS = readme_blocks()
SETTINGS, RUN_BLOCKS = BLOCKS[0], BLOCKS[1:]


@dataclass(frozen=True)
class Served:
    base: str  # the WES API's base URL
    host: str  # host:port, what replaces DEFAULT_HOST
    root: Path  # laid out like the repository root: it holds examples/
    tmp: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    top = tmp_path_factory.mktemp("examples")
    state = top / "state"
    proc, base = start_serve(state, top / "daemon.log")
    # A copy, so that nothing a block writes can land in the working tree.
    shutil.copytree(EXAMPLES, top / "root" / "examples")
    (top / "tmp").mkdir()
    host = base.removeprefix("http://").split("/")[0]
    try:
        yield Served(base, host, top / "root", top / "tmp")
    finally:
        proc.kill()
        proc.wait(timeout=30)
        kill_processes_under(state)
        kill_processes_under(top / "root")


def run_block(block: Block, served: Served) -> subprocess.CompletedProcess[str]:
    settings = SETTINGS.text.replace(DEFAULT_HOST, served.host)
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "TMPDIR": str(served.tmp),
    }
    return run_bash(f"{settings}\n{block.text}", served.root, env, BLOCK_TIMEOUT_S)


async def run_ids(wes: Wes) -> set[str]:
    return {run["run_id"] for run in (await wes.get("/runs", page_size=1000))["runs"]}


def output_counts(value: Any) -> list[int]:
    """The line counts in a run's outputs, in order: WDL gives Ints, CWL files holding them."""
    if isinstance(value, dict) and value.get("class") == "File":
        return [int(Path(value["path"]).read_text())]
    if isinstance(value, dict):
        return [n for item in value.values() for n in output_counts(item)]
    if isinstance(value, list):
        return [n for item in value for n in output_counts(item)]
    return [value] if isinstance(value, int) else []


def test_settings_block_holds_the_address_and_the_examples_use_it() -> None:
    # Were the address anywhere else, the test would reach past its own daemon.
    assert DEFAULT_HOST in SETTINGS.text
    assert all(DEFAULT_HOST not in block.text for block in RUN_BLOCKS)


def test_every_example_is_shown_with_every_client() -> None:
    for workflow in EXPECTED:
        shown = {block.client for block in RUN_BLOCKS if block.workflow == workflow}
        wanted = CLIENTS if workflow.endswith(".cwl") else CLIENTS - {"toil-wes-cwl-runner"}
        assert shown == wanted, workflow
    assert README.read_text().count("runs CWL workflows only") == 2


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[block.name for block in RUN_BLOCKS])
async def test_readme_block_runs_its_example_to_completion(block: Block, served: Served) -> None:
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, served.base)
        before = await run_ids(wes)
        done = run_block(block, served)
        assert done.returncode == 0, f"{block.text}\n--- stdout:\n{done.stdout}\n{done.stderr}"
        new = await run_ids(wes) - before
        assert len(new) == 1, f"expected one new run, got {new}"
        run_id = new.pop()
        assert await wes.wait(run_id, timeout=60) == "COMPLETE"
        log = await wes.get(f"/runs/{run_id}")
    assert PurePosixPath(log["request"]["workflow_url"]).name == block.workflow
    assert output_counts(log["outputs"]) == EXPECTED[block.workflow]
