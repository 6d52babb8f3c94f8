"""What `localwes submit` sends: the workflow, every file it refers to, and its inputs.

CWL documents are read as YAML and walked for `run:`, `$import`, `$include` and
File/Directory defaults; WDL documents for `import "..."` lines; each local
reference is followed in turn. This reads only the documents (no engine is
loaded), so a submit takes milliseconds; a reference the walk misses can be
added with --attach. Attachments keep their paths relative to the folder that
holds them all, so the engine finds them where the documents say.

Relative File and Directory paths in the inputs are made absolute against the
inputs file's folder, as cwltool and miniwdl do on the command line: the
daemon runs on this machine and reads them in place, nothing is copied.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from localwes.client.connection import ClientError
from localwes.references import DOCUMENT_SUFFIXES, load_cwl, references

_WDL_VERSION = re.compile(r"^\s*version\s+(\S+)", re.MULTILINE)


@dataclass
class Submission:
    workflow_type: str
    workflow_type_version: str
    workflow_url: str
    params: dict[str, Any]
    attachments: dict[str, Path] = field(default_factory=dict)  # name -> local file


def prepare(
    workflow: str, inputs: Path | None, extra: list[Path], workflow_type: str | None
) -> Submission:
    """Everything a POST /runs needs, from local files (or a workflow URL)."""
    if Path(workflow).is_dir():
        raise ClientError(f"WORKFLOW: {workflow} is a folder; give the workflow file in it")
    kind = workflow_type or _type_from_name(workflow)
    params = load_inputs(inputs, kind) if inputs else {}
    if "://" in workflow and not workflow.startswith("file://"):
        version = "v1.2" if kind == "CWL" else "1.0"
        return Submission(kind, version, workflow, params)
    main = Path(unquote(urlparse(workflow).path) if workflow.startswith("file://") else workflow)
    if not main.is_file():
        raise ClientError(f"WORKFLOW: no file at {workflow}")
    main = main.resolve()
    documents = [main, *_references(main, kind)]
    files = sorted({*documents, *(f for p in extra for f in _files_under(p))})
    root = Path(os.path.commonpath([f.parent for f in files]))
    attachments = {str(f.relative_to(root)): f for f in files}
    version = _version(main, kind)
    return Submission(kind, version, str(main.relative_to(root)), params, attachments)


def _type_from_name(name: str) -> str:
    suffix = Path(urlparse(name).path).suffix.lower()
    if suffix == ".wdl":
        return "WDL"
    if suffix in (".cwl", ".yml", ".yaml", ".json"):
        return "CWL"
    raise ClientError(f"WORKFLOW: cannot tell CWL from WDL by {name!r}; add --type CWL or WDL")


def _version(main: Path, kind: str) -> str:
    text = main.read_text(errors="replace")
    if kind == "WDL":
        found = _WDL_VERSION.search(text)
        return found.group(1) if found else "draft-2"
    document = _load_yaml(main)
    version = document.get("cwlVersion") if isinstance(document, dict) else None
    if not version:
        # cwltool would fail the run on it; the usual cause is swapped arguments.
        raise ClientError(
            f"WORKFLOW: {main.name} has no cwlVersion, so it is not a CWL workflow (an "
            "inputs file?); the workflow comes first: localwes submit WORKFLOW [INPUTS]"
        )
    return str(version)


def _references(main: Path, kind: str) -> list[Path]:
    """Local files `main` refers to, transitively."""
    seen: dict[Path, None] = {}
    pending = [main]
    while pending:
        document = pending.pop()
        for reference in _direct_references(document, kind):
            if reference not in seen and reference != main:
                seen[reference] = None
                if reference.suffix.lower() in DOCUMENT_SUFFIXES:
                    pending.append(reference)
    return list(seen)


def _direct_references(document: Path, kind: str) -> Iterator[Path]:
    try:
        names = references(document.read_text(errors="replace"), kind)
    except (OSError, ValueError) as exc:
        raise ClientError(f"{document}: not readable as CWL (YAML or JSON): {exc}") from None
    for name in names:
        local = _local_path(name, document.parent)
        if local is None:
            continue
        if not local.exists():
            raise ClientError(f"{document}: refers to {name!r}, which does not exist")
        yield from _files_under(local)


def _local_path(name: str, base: Path) -> Path | None:
    """A reference as a local file, or None for fragments and remote URLs."""
    name = name.split("#", 1)[0]
    if not name:
        return None
    parsed = urlparse(name)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).resolve()
    if parsed.scheme:
        return None
    return (base / unquote(name)).resolve()


def _files_under(path: Path) -> Iterator[Path]:
    path = path.resolve()
    if path.is_dir():
        yield from (p for p in sorted(path.rglob("*")) if p.is_file())
    elif path.is_file():
        yield path
    else:
        raise ClientError(f"--attach: no file or folder at {path}")


def _load_yaml(path: Path) -> Any:
    try:
        return load_cwl(path.read_text())
    except (OSError, ValueError) as exc:
        raise ClientError(f"{path}: not readable as CWL (YAML or JSON): {exc}") from None


def load_inputs(path: Path, kind: str) -> dict[str, Any]:
    """The inputs file (JSON or YAML), with relative local paths made absolute."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise ClientError(f"INPUTS: cannot read {path}: {exc.strerror}") from None
    params = _parse_inputs(text, path)
    if not isinstance(params, dict):
        raise ClientError(f"INPUTS: {path} must hold an object of input names and values")
    base = Path.cwd() if str(path) == "-" else path.resolve().parent
    absolute: dict[str, Any] = _absolute(params, base, kind == "WDL")
    return absolute


def _parse_inputs(text: str, path: Path) -> Any:
    """JSON is YAML too, but JSON errors read better from the JSON parser."""
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return YAML(typ="safe", pure=True).load(text)
    except (ValueError, YAMLError) as exc:
        raise ClientError(f"INPUTS: {path} is not JSON or YAML: {exc}") from None


def _absolute(node: Any, base: Path, strings_as_paths: bool) -> Any:
    """CWL File/Directory objects get absolute paths; for WDL, whose inputs are plain
    strings, a string is taken as a path when a file or folder of that name exists."""
    if isinstance(node, list):
        return [_absolute(item, base, strings_as_paths) for item in node]
    if isinstance(node, dict):
        if node.get("class") in ("File", "Directory"):
            return {**node, **_absolute_location(node, base)}
        return {key: _absolute(value, base, strings_as_paths) for key, value in node.items()}
    if strings_as_paths and isinstance(node, str) and node and not urlparse(node).scheme:
        candidate = base / node
        if not Path(node).is_absolute() and candidate.exists():
            return str(candidate.resolve())
    return node


def _absolute_location(node: dict[str, Any], base: Path) -> dict[str, Any]:
    changed = {}
    for key in ("location", "path"):
        value = node.get(key)
        if isinstance(value, str) and not urlparse(value).scheme and not value.startswith("/"):
            changed[key] = str((base / value).resolve())
    return changed
