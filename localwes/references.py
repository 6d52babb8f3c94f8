"""What a workflow document refers to: `run:`, `$import`, `$include` and
File/Directory defaults in CWL, `import "..."` lines in WDL.

`localwes submit` follows the local ones to attach every file a workflow needs;
the daemon follows the relative ones of a workflow given by URL to fetch its
parts. Only the documents are read (no engine is loaded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

_WDL_IMPORT = re.compile(r"""^\s*import\s+["']([^"']+)["']""", re.MULTILINE)
_CWL_REFERENCES = ("run", "$import", "$include")
# A referenced file that is itself a document, whose references are followed too.
DOCUMENT_SUFFIXES = (".cwl", ".wdl", ".yml", ".yaml")


def load_cwl(text: str) -> Any:
    """A CWL document (YAML or JSON); ValueError if it is neither."""
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ValueError(str(exc)) from None


def references(text: str, workflow_type: str) -> list[str]:
    """The references in a document, as written (fragments and URLs included)."""
    if workflow_type == "WDL":
        return _WDL_IMPORT.findall(text)
    return list(_cwl_references(load_cwl(text)))


def _cwl_references(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _cwl_references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _CWL_REFERENCES and isinstance(value, str):
                yield value
            elif key == "default" and isinstance(value, dict):
                yield from _file_locations(value)
            else:
                yield from _cwl_references(value)


def _file_locations(value: dict[str, Any]) -> Iterator[str]:
    if value.get("class") in ("File", "Directory"):
        location = value.get("location") or value.get("path")
        if isinstance(location, str):
            yield location
