"""The parts of README.md generated from the code, so they cannot drift.

    python -m localwes.docs README.md    (what `python3 dev.py docs` runs)

Each generated block sits between `<!-- generated: NAME -->` and
`<!-- end: NAME -->`; tests/test_docs.py fails when one is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localwes.cli import build_parser
from localwes.config import settings_table

HELP_WIDTH = 100


def _help(argv: list[str]) -> str:
    parser = build_parser()
    target = parser
    for name in argv:
        target = _subparsers(target)[name]
    target.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=HELP_WIDTH)
    return target.format_help()


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def blocks() -> dict[str, str]:
    commands = ["submit", "ls", "wait", "logs", "outputs"]
    cli = "\n".join(
        f"$ localwes {' '.join(a)} --help\n{_help(a)}" for a in [[], *[[c] for c in commands]]
    )
    return {"settings": settings_table(), "cli": f"```text\n{cli.rstrip()}\n```"}


def render(text: str) -> str:
    for name, body in blocks().items():
        start_mark, end_mark = f"<!-- generated: {name} -->", f"<!-- end: {name} -->"
        start = text.index(start_mark) + len(start_mark)
        end = text.index(end_mark)
        text = f"{text[:start]}\n{body}\n{text[end:]}"
    return text


if __name__ == "__main__":
    readme = Path(sys.argv[1])
    readme.write_text(render(readme.read_text()))
