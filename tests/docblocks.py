"""Shell blocks of the docs, run as written: shared by the README tour and examples/ tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path


def sh_blocks(markdown: str) -> list[tuple[str, str]]:
    """Each ```sh block with the prose before it: [(prose, code), ...]."""
    # re.split with one group alternates: prose, code, prose, code, ..., prose.
    parts = re.split(r"^```sh\n(.*?)^```$", markdown, flags=re.M | re.S)
    return list(zip(parts[0::2], parts[1::2], strict=False))


def run_bash(
    script: str, cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`script` under `set -euo pipefail`, as a user would paste it."""
    # Its own session, so a timeout takes down the clients it started, not only bash.
    proc = subprocess.Popen(
        ["bash", "-c", f"set -euo pipefail\n{script}"],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stderr += f"\n(killed after {timeout} s)"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
