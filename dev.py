#!/usr/bin/env python3
"""Set up localwes in ./.venv (only python3 is needed), then serve or test.

    python3 dev.py serve [localwes serve flags...]
    python3 dev.py test  [pytest args...]
    python3 dev.py docs  (rewrite README's settings table and CLI help from the code)

The virtual environment is (re)installed whenever pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".localwes-installed"


def ensure_installed(extras: str) -> None:
    """Create the venv and install localwes (editable) with `extras`, once per pyproject."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split(":") if STAMP.exists() else []
    if installed[:1] == [digest] and (not extras or extras in installed[1:]):
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    print(f"dev.py: installing {target} into .venv", file=sys.stderr, flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--editable", target], cwd=ROOT, check=True)
    STAMP.write_text(f"{digest}:{extras}")


def run(argv: list[str]) -> int:
    print("$", " ".join(argv), file=sys.stderr, flush=True)
    return subprocess.run(argv, cwd=ROOT, check=False).returncode


def test(args: list[str]) -> int:
    """Lint, type-check, then the whole test suite."""
    ensure_installed("test")
    for check in (
        [str(BIN / "ruff"), "check", "localwes", "tests", "bench", "dev.py"],
        [str(BIN / "ruff"), "format", "--check", "localwes", "tests", "bench", "dev.py"],
        [str(BIN / "mypy")],
    ):
        if code := run(check):
            return code
    return run([str(BIN / "python"), "-m", "pytest", *args])


def serve(args: list[str]) -> int:
    ensure_installed("")
    os.execv(str(BIN / "localwes"), [str(BIN / "localwes"), "serve", *args])
    return 1  # not reached


def docs() -> int:
    """Rewrite README's generated parts; tests/test_docs.py checks they are current."""
    ensure_installed("")
    return run([str(BIN / "python"), "-m", "localwes.docs", str(ROOT / "README.md")])


def main() -> int:
    commands = {"serve": serve, "test": test, "docs": lambda _args: docs()}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
