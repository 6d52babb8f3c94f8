"""The seam every engine adapter fulfils, and what all adapters share.

An engine says which workflow type and versions it runs, checks a request's
engine parameters against its allow-list, turns the request's inputs into the
file it reads, builds the command the supervisor starts, and reads the
outputs back from the run folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from localwes.errors import BadRequest
from localwes.store import RunPaths

# Variables an engine may see from the daemon's environment. Everything else
# (tokens, NOTIFY_SOCKET, cloud credentials) stays out of workflows.
PASSED_ENVIRONMENT = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "XDG_RUNTIME_DIR",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "CONTAINER_HOST",
)
PASSED_PREFIXES = ("LC_", "SINGULARITY_", "APPTAINER_")


# Where File inputs may come from, as service-info's supported_filesystem_protocols
# says: both engines read local paths and download http(s) URLs themselves.
FILESYSTEM_PROTOCOLS = ("file", "http", "https")


@dataclass(frozen=True)
class EngineCommand:
    """What the supervisor starts: argv, extra environment, and the working
    directory relative to the run folder (paths in argv are relative to it)."""

    engine: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "."

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "argv": self.argv, "env": self.env, "cwd": self.cwd}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EngineCommand:
        return cls(
            engine=data["engine"],
            argv=list(data["argv"]),
            env=dict(data.get("env", {})),
            cwd=str(data.get("cwd", ".")),
        )


@dataclass(frozen=True)
class EngineParameter:
    """One allow-listed engine flag, as service-info advertises it."""

    name: str
    type: str  # "bool" for a bare flag, otherwise the value's type
    default_value: str
    choices: tuple[str, ...] = ()
    # A flag of localwes's own that the engine reads from its environment:
    # when set, each of these variables is set to "true" instead of an argv entry.
    env: tuple[str, ...] = ()

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "default_value": self.default_value}


@dataclass
class CheckedParameters:
    """Engine parameters after the allow-list: extra argv and environment, and notes
    for system_logs."""

    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Engine(Protocol):
    name: str
    workflow_type: str

    def version(self) -> str: ...

    def type_versions(self) -> list[str]: ...

    def default_parameters(self) -> list[EngineParameter]: ...

    def check_type_version(self, version: str, document: Path | None) -> tuple[str, list[str]]:
        """The workflow_type_version to record, and notes; 400 if it cannot run.
        `document` is the local workflow file, when there is one to read."""
        ...

    def check_parameters(self, params: dict[str, str]) -> CheckedParameters: ...

    def prepare_inputs(self, params: dict[str, Any], staged: RunPaths) -> dict[str, Any]: ...

    def command(self, workflow: str, parameters: CheckedParameters) -> EngineCommand:
        """`workflow` is relative to the run folder (`workflow/...`) or absolute."""
        ...

    def collect_outputs(self, paths: RunPaths) -> dict[str, Any]: ...

    def failure_notes(self, paths: RunPaths) -> list[str]:
        """What went wrong, for system_logs, when the engine failed."""
        ...


def read_output_object(path: Path) -> dict[str, Any]:
    """An engine's JSON output object from a file, or {} if there is none."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# The level words that begin a record in the engines' logs; other lines continue one.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RECORD_MAX_CHARS = 2000


def last_records_matching(log: Path, markers: tuple[str, ...], most: int = 5) -> list[str]:
    """The last few records of an engine's log that carry one of `markers`, each with
    its continuation lines joined: cwltool puts the reason for an error on the lines
    after the ERROR line."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    records: list[list[str]] = []
    for line in lines:
        if not records or line.startswith(LOG_LEVELS):
            records.append([])
        if line.strip():
            records[-1].append(line.strip())
    joined = [" ".join(r)[:RECORD_MAX_CHARS] for r in records if r]
    return [r for r in joined if any(m in r for m in markers)][-most:]


def engine_environment() -> dict[str, str]:
    """The trimmed environment every engine starts with."""
    return {
        key: value
        for key, value in os.environ.items()
        if key in PASSED_ENVIRONMENT or key.startswith(PASSED_PREFIXES)
    }


def check_allow_listed(
    params: dict[str, str],
    allowed: dict[str, EngineParameter],
    daemon_owned: frozenset[str],
    engine: str,
) -> CheckedParameters:
    """Turn `workflow_engine_parameters` into argv: allowed flags pass, flags the
    daemon owns are dropped with a note, anything else is a 400."""
    checked = CheckedParameters()
    for key, value in params.items():
        flag = key if key.startswith("-") else f"--{key}"
        flag, _, inline = flag.partition("=")
        if inline and not value:
            value = inline
        if flag in daemon_owned:
            checked.notes.append(f"engine parameter {key} dropped: localwes sets it itself")
            continue
        spec = allowed.get(flag)
        if spec is None:
            raise BadRequest(
                f"workflow_engine_parameters: {key!r} is not allowed for {engine}; "
                f"allowed: {', '.join(sorted(allowed))} (see GET /service-info)"
            )
        argv = _flag_argv(spec, value, key)
        if spec.env:
            checked.env.update(dict.fromkeys(spec.env, "true" if argv else "false"))
        else:
            checked.argv.extend(argv)
    return checked


def _flag_argv(spec: EngineParameter, value: str, key: str) -> list[str]:
    text = value.strip()
    if spec.type == "bool":
        if text.lower() in ("", "true", "1", "yes"):
            return [spec.name]
        if text.lower() in ("false", "0", "no"):
            return []
        raise BadRequest(f"workflow_engine_parameters: {key!r} is a flag; give true, false or ''")
    if not text:
        raise BadRequest(f"workflow_engine_parameters: {key!r} needs a value ({spec.type})")
    if spec.choices and text not in spec.choices:
        raise BadRequest(
            f"workflow_engine_parameters: {key!r} must be one of {', '.join(spec.choices)}"
        )
    if spec.type in ("int", "float"):
        try:
            float(text) if spec.type == "float" else int(text)
        except ValueError:
            raise BadRequest(f"workflow_engine_parameters: {key!r} must be {spec.type}") from None
    return [f"{spec.name}={text}"]
