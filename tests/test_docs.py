"""The docs that can drift are checked against the code."""

from __future__ import annotations

from pathlib import Path

from localwes.docs import render

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_settings_table_and_cli_help_are_current() -> None:
    text = README.read_text()
    assert render(text) == text, "README.md is stale: run `python3 dev.py docs`"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python3 dev.py test" in README.read_text()
    assert "exec python3 dev.py test" in ci
