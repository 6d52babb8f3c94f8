"""Validation of names that come from clients: attachment file names and run ids."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from localwes.errors import BadRequest

# Run ids are ULIDs: 26 Crockford base32 characters, sorting by creation time.
RUN_ID_PATTERN = "[0-9A-HJKMNP-TV-Z]{26}"
RUN_ID_RE = re.compile(RUN_ID_PATTERN)
# Task ids are chosen by engines; kept to a safe, file-name-friendly alphabet.
TASK_ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9._-]{0,199}"


def safe_relative_path(name: str, field: str) -> PurePosixPath:
    """Check a client-given relative POSIX path; refuse it (never rename it) when unsafe."""
    problem = _relative_path_problem(name)
    if problem:
        raise BadRequest(f"{field}: {name!r} {problem}; use a relative POSIX path inside the run")
    return PurePosixPath(name)


def _relative_path_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is absolute"
    parts = PurePosixPath(name).parts
    if ".." in parts:
        return "refers to a parent folder ('..')"
    if not parts or parts == (".",):
        return "names no file"
    return None


def contained_path(root: Path, relative: PurePosixPath, field: str) -> Path:
    """`root / relative`, checked after resolving links to stay inside `root`."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise BadRequest(f"{field}: {str(relative)!r} leads outside the run folder")
    return target
