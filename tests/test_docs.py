"""The docs that can drift are checked against the code."""

from __future__ import annotations

from pathlib import Path

from localwes.config import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_settings_table_is_current() -> None:
    assert settings_table() in README.read_text()


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python3 dev.py test" in README.read_text()
    assert "exec python3 dev.py test" in ci
