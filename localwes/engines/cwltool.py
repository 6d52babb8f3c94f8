"""CWL via cwltool, run as its own process by the supervisor."""

from __future__ import annotations

import os
import re
import sys
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from localwes.engines.base import (
    FILESYSTEM_PROTOCOLS,
    CheckedParameters,
    EngineCommand,
    EngineParameter,
    check_allow_listed,
    engine_environment,
    last_records_matching,
    read_output_object,
)
from localwes.errors import BadRequest
from localwes.names import contained_path, safe_relative_path
from localwes.store import RunPaths

CWL_VERSIONS = ["v1.0", "v1.1", "v1.2"]

_FLAGS = (
    "--parallel",
    "--debug",
    "--verbose",
    "--no-warnings",
    "--timestamps",
    "--strict",
    "--non-strict",
    "--enable-ext",
    "--enable-dev",
    "--relax-path-checks",
    "--skip-schemas",
    "--compute-checksum",
    "--no-compute-checksum",
    "--strict-memory-limit",
    "--strict-cpu-limit",
    "--enable-pull",
    "--disable-pull",
    "--force-docker-pull",
    "--no-read-only",
    "--no-match-user",
    "--rm-container",
    "--leave-container",
    "--js-console",
    "--disable-js-validation",
    "--rm-tmpdir",
    "--leave-tmpdir",
    "--move-outputs",
    "--copy-outputs",
)
# Flags whose effect is cwltool's default (each has an opposite in _FLAGS): their
# default_value is "true", so service-info says what a run does when not given them.
_ON_BY_DEFAULT = frozenset(
    {"--strict", "--compute-checksum", "--enable-pull", "--rm-container", "--rm-tmpdir",
     "--move-outputs"}
)  # fmt: skip
ALLOWED: dict[str, EngineParameter] = {
    **{
        flag: EngineParameter(flag, "bool", "true" if flag in _ON_BY_DEFAULT else "false")
        for flag in _FLAGS
    },
    "--on-error": EngineParameter("--on-error", "string", "stop", ("stop", "continue")),
    "--default-container": EngineParameter("--default-container", "string", ""),
    "--eval-timeout": EngineParameter("--eval-timeout", "float", "60"),
    "--parallel-max": EngineParameter("--parallel-max", "int", "0"),
    "--custom-net": EngineParameter("--custom-net", "string", ""),
}
# Flags that decide where files go, how the daemon reads the output, or which
# container runtime runs: localwes sets these itself (cwltest sends some of them).
DAEMON_OWNED = frozenset(
    {
        "--outdir",
        "--quiet",
        "--tmpdir-prefix",
        "--tmp-outdir-prefix",
        "--basedir",
        "--no-container",
        "--podman",
        "--singularity",
        "--udocker",
        "--user-space-docker-cmd",
        "--enable-color",
        "--disable-color",
        "--log-dir",
        "--leave-outputs",
    }
)
_CONTAINER_FLAGS = {
    "docker": [],
    "podman": ["--podman"],
    "singularity": ["--singularity"],
    "none": ["--no-container"],
}


class CwltoolEngine:
    """Runs CWL v1.0-v1.2 documents with the installed cwltool."""

    name = "cwltool"
    workflow_type = "CWL"

    def __init__(self, container_runtime: str = "none") -> None:
        self.container_runtime = container_runtime

    def version(self) -> str:
        return package_version("cwltool")

    def type_versions(self) -> list[str]:
        return list(CWL_VERSIONS)

    def default_parameters(self) -> list[EngineParameter]:
        return list(ALLOWED.values())

    def check_type_version(self, version: str, document: Path | None) -> tuple[str, list[str]]:
        wanted = version.strip()
        if not wanted.startswith("v"):
            wanted = f"v{wanted}"
        if wanted not in CWL_VERSIONS:
            raise BadRequest(
                f"workflow_type_version: CWL {version!r} is not supported; "
                f"use one of {', '.join(CWL_VERSIONS)}"
            )
        # cwltool reads every supported version itself, whatever the request says:
        # say so when the two differ, rather than let the request look obeyed.
        declared = _declared_version(document) if document else None
        if declared and declared != wanted:
            return wanted, [
                f"workflow_type_version {wanted} was requested, but the document declares "
                f"cwlVersion {declared}; cwltool runs it as {declared}"
            ]
        return wanted, []

    def check_parameters(self, params: dict[str, str]) -> CheckedParameters:
        return check_allow_listed(params, ALLOWED, DAEMON_OWNED, self.name)

    def prepare_inputs(self, params: dict[str, Any], staged: RunPaths) -> dict[str, Any]:
        """Point relative File/Directory locations at the staged attachments.

        inputs.json sits at the top of the run folder, so `workflow/<name>` is
        what cwltool resolves a relative attachment name against.
        """
        resolved: dict[str, Any] = _resolve_locations(params, staged.workflow, "workflow_params")
        return resolved

    def command(self, workflow: str, parameters: CheckedParameters) -> EngineCommand:
        argv = [
            sys.executable,
            "-m",
            "localwes.engines.cwltool_runner",
            "--outdir",
            "outputs",
            "--tmpdir-prefix",
            "work/tmp/",
            "--tmp-outdir-prefix",
            "work/out/",
            "--disable-color",
            *_CONTAINER_FLAGS[self.container_runtime],
            *parameters.argv,
            workflow,
            "inputs.json",
        ]
        return EngineCommand(self.name, argv, {**engine_environment(), **parameters.env})

    def collect_outputs(self, paths: RunPaths) -> dict[str, Any]:
        """cwltool prints its output object, and nothing else, on stdout."""
        return read_output_object(paths.stdout)

    def failure_notes(self, paths: RunPaths) -> list[str]:
        """cwltool's last word on the failure, from its log."""
        return last_records_matching(paths.stderr, ("ERROR", "Final process status"))


def _resolve_locations(value: Any, attachments: Path, where: str) -> Any:
    if isinstance(value, list):
        return [_resolve_locations(v, attachments, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    resolved = {k: _resolve_locations(v, attachments, f"{where}.{k}") for k, v in value.items()}
    if value.get("class") in ("File", "Directory"):
        for key in ("location", "path"):
            if isinstance(resolved.get(key), str):
                resolved[key] = _resolve_location(resolved[key], attachments, f"{where}.{key}")
    return resolved


def _resolve_location(location: str, attachments: Path, where: str) -> str:
    local = _local_path(location)
    if local is not None and not os.path.exists(local):
        # Found now, not as a traceback from cwltool once the run has started.
        raise BadRequest(
            f"{where}: no file or folder at {local}; give a path that exists on this "
            "machine, or attach the file"
        )
    scheme = urlparse(location).scheme
    if scheme not in ("", *FILESYSTEM_PROTOCOLS):
        raise BadRequest(
            f"{where}: {scheme}:// is not a filesystem protocol this service reads "
            f"(it reads {', '.join(FILESYSTEM_PROTOCOLS)}); give a local path or an http(s) URL"
        )
    if scheme or location.startswith("/"):
        return location  # absolute: a local path or a URL cwltool fetches itself
    relative = safe_relative_path(location, where)
    target = contained_path(attachments, relative, where)
    if not target.exists():
        raise BadRequest(
            f"{where}: {location!r} is not among the attached files; attach it as "
            "workflow_attachment or give an absolute path"
        )
    return f"workflow/{relative}"


def _local_path(location: str) -> str | None:
    """The local path an absolute location names (a path or a file:// URL)."""
    if location.startswith("/"):
        return location
    parsed = urlparse(location)
    return unquote(parsed.path) if parsed.scheme == "file" else None


_CWL_VERSION = re.compile(r"""^\s*["']?cwlVersion["']?\s*:\s*["']?(v[\w.-]+)""", re.MULTILINE)


def _declared_version(document: Path) -> str | None:
    """The cwlVersion a YAML or JSON CWL document declares (its first one)."""
    try:
        with document.open(errors="replace") as text:
            found = _CWL_VERSION.search(text.read(1 << 20))
    except OSError:
        return None
    return found.group(1) if found else None
