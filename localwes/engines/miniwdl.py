"""WDL via miniwdl, run as its own process by the supervisor.

miniwdl runs with the workflow/ folder as its working directory, so relative
File inputs name attachments; its run folder is outputs/ (final outputs in
outputs/out/, each call in outputs/call-*). Without a working container
runtime, tasks run on the host through localwes's own backend.
"""

from __future__ import annotations

import functools
import re
import sys
from importlib.metadata import version as package_version
from pathlib import Path, PurePosixPath
from typing import Any

from localwes.engines.base import (
    CheckedParameters,
    EngineCommand,
    EngineParameter,
    check_allow_listed,
    engine_environment,
    read_output_object,
)
from localwes.errors import BadRequest
from localwes.store import RunPaths

ALLOWED: dict[str, EngineParameter] = {
    "--verbose": EngineParameter("--verbose", "bool", "false"),
    "--debug": EngineParameter("--debug", "bool", "false"),
    "--no-cache": EngineParameter("--no-cache", "bool", "false"),
    "--copy-input-files": EngineParameter("--copy-input-files", "bool", "false"),
    "--copy-input-files-for": EngineParameter("--copy-input-files-for", "string", ""),
    "--no-quant-check": EngineParameter("--no-quant-check", "bool", "false"),
    "--as-me": EngineParameter("--as-me", "bool", "false"),
    "--runtime-defaults": EngineParameter("--runtime-defaults", "json", "{}"),
    # Call cache lookups and stores ([call_cache] get/put in miniwdl's configuration).
    "--call-cache": EngineParameter(
        "--call-cache",
        "bool",
        "false",
        env=("MINIWDL__CALL_CACHE__GET", "MINIWDL__CALL_CACHE__PUT"),
    ),
}
# Where files go, how output and errors are reported, and what is read as input
# belong to localwes.
DAEMON_OWNED = frozenset(
    {
        "-d",
        "--dir",
        "-i",
        "--input",
        "-o",
        "--error-json",
        "--no-color",
        "--log-json",
        "--cfg",
        "-p",
        "--path",
        "-j",
        "--json",
        "--task",
        "--no-outside-imports",
    }
)
# localwes's miniwdl backend for each runtime: miniwdl's own with task records,
# and for "none" localwes's host backend.
_BACKENDS = {
    "docker": "localwes_docker_swarm",
    "podman": "localwes_podman",
    "singularity": "localwes_singularity",
    "none": "localwes_host",
}
_VERSION_LINE = re.compile(r"^\s*version\s+(\S+)")


@functools.cache
def parsed_versions() -> tuple[str, ...]:
    """The WDL versions the installed miniwdl parses ("development" left out)."""
    from WDL import _grammar  # delayed: importing miniwdl costs a few hundred ms

    return tuple(v for v in _grammar.versions if v != "development")


def document_version(document: Path) -> str | None:
    """The version a WDL document declares: its `version` line, else draft-2."""
    try:
        text = document.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _VERSION_LINE.match(stripped)
        return match.group(1) if match else "draft-2"
    return "draft-2"


class MiniwdlEngine:
    """Runs WDL documents with the installed miniwdl."""

    name = "miniwdl"
    workflow_type = "WDL"

    def __init__(self, container_runtime: str = "none") -> None:
        self.container_runtime = container_runtime

    def version(self) -> str:
        return package_version("miniwdl")

    def type_versions(self) -> list[str]:
        return list(parsed_versions())

    def default_parameters(self) -> list[EngineParameter]:
        return list(ALLOWED.values())

    def check_type_version(self, version: str, document: Path | None) -> tuple[str, list[str]]:
        wanted = version.strip().lower().removeprefix("v")
        if wanted not in parsed_versions():
            raise BadRequest(
                f"workflow_type_version: WDL {version!r} is not supported; "
                f"use one of {', '.join(parsed_versions())}"
            )
        declared = document_version(document) if document else None
        if declared and declared != wanted:
            # Some clients (wes-client) always send draft-2: the document knows better.
            return wanted, [
                f"workflow_type_version {wanted} was requested, but the document declares "
                f"version {declared}; miniwdl runs it as {declared}"
            ]
        return wanted, []

    def check_parameters(self, params: dict[str, str]) -> CheckedParameters:
        return check_allow_listed(params, ALLOWED, DAEMON_OWNED, self.name)

    def prepare_inputs(self, params: dict[str, Any], staged: RunPaths) -> dict[str, Any]:
        # miniwdl resolves relative File paths against its working directory,
        # workflow/, and checks that each one exists before it runs anything; a
        # relative path may not climb out of the attachments.
        _refuse_climbing_paths(params, "workflow_params")
        return params

    def command(self, workflow: str, parameters: CheckedParameters) -> EngineCommand:
        document, _, task = workflow.partition("#")
        if not Path(document).is_absolute():
            document = f"../{document}"  # relative to workflow/, the working directory
        argv = [
            sys.executable,
            "-m",
            "WDL",
            "run",
            document,
            "--input",
            "../inputs.json",
            "--dir",
            "../outputs/.",
            "--error-json",
            "--no-color",
            *(["--task", task] if task else []),
            *parameters.argv,
        ]
        env = {
            **engine_environment(),
            "MINIWDL__SCHEDULER__CONTAINER_BACKEND": _BACKENDS[self.container_runtime],
            **parameters.env,
        }
        return EngineCommand(self.name, argv, env, cwd="workflow")

    def collect_outputs(self, paths: RunPaths) -> dict[str, Any]:
        """miniwdl prints {"dir": ..., "outputs": {...}} on stdout; the outputs are kept."""
        outputs = read_output_object(paths.stdout).get("outputs")
        return outputs if isinstance(outputs, dict) else {}

    def failure_notes(self, paths: RunPaths) -> list[str]:
        """miniwdl's error JSON (--error-json): which call failed, how, and where its
        stderr is."""
        error = read_output_object(paths.stdout)
        if not error.get("error"):
            return []
        notes = [_describe_error("miniwdl", error)]
        cause = error.get("cause")
        if isinstance(cause, dict):
            notes.append(_describe_error("failed call", cause))
            if cause.get("stderr_file"):
                notes.append(f"its stderr: {cause['stderr_file']}")
        return notes


def _refuse_climbing_paths(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_climbing_paths(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_climbing_paths(item, f"{where}[{index}]")
    elif isinstance(value, str) and _climbs(value):
        raise BadRequest(
            f"{where}: {value!r} climbs out of the attachments with '..'; name an "
            "attached file or give an absolute path"
        )


def _climbs(text: str) -> bool:
    relative = not text.startswith("/") and "://" not in text
    return relative and ".." in PurePosixPath(text).parts


def _describe_error(label: str, error: dict[str, Any]) -> str:
    text = f"{label} {error.get('run', '')}: {error.get('error')}"
    if error.get("exit_status") is not None:
        text += f", exit status {error['exit_status']}"
    if error.get("message"):
        text += f": {error['message']}"
    return text
