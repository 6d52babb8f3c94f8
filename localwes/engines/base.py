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


@dataclass(frozen=True)
class EngineCommand:
    """What the supervisor starts. Relative paths are relative to the run folder,
    which is the engine's working directory."""

    engine: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "argv": self.argv, "env": self.env}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EngineCommand:
        return cls(engine=data["engine"], argv=list(data["argv"]), env=dict(data.get("env", {})))


@dataclass(frozen=True)
class EngineParameter:
    """One allow-listed engine flag, as service-info advertises it."""

    name: str
    type: str  # "bool" for a bare flag, otherwise the value's type
    default_value: str
    choices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "default_value": self.default_value}


@dataclass
class CheckedParameters:
    """Engine parameters after the allow-list: the extra argv, and notes for system_logs."""

    argv: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Engine(Protocol):
    name: str
    workflow_type: str

    def version(self) -> str: ...

    def type_versions(self) -> list[str]: ...

    def default_parameters(self) -> list[EngineParameter]: ...

    def normalize_type_version(self, version: str) -> str: ...

    def check_parameters(self, params: dict[str, str]) -> CheckedParameters: ...

    def prepare_inputs(self, params: dict[str, Any], staged: RunPaths) -> dict[str, Any]: ...

    def command(self, workflow: str, engine_args: list[str]) -> EngineCommand: ...

    def collect_outputs(self, paths: RunPaths) -> dict[str, Any]: ...


def read_output_object(path: Path) -> dict[str, Any]:
    """An engine's JSON output object from a file, or {} if there is none."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


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
        checked.argv.extend(_flag_argv(spec, value, key))
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
