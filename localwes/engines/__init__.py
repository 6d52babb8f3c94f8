"""Engine adapters, and the choice of one for a request."""

from __future__ import annotations

from collections.abc import Sequence

from localwes.engines.base import Engine
from localwes.engines.cwltool import CwltoolEngine
from localwes.engines.miniwdl import MiniwdlEngine
from localwes.errors import BadRequest


def default_engines(container_runtime: str) -> list[Engine]:
    return [CwltoolEngine(container_runtime), MiniwdlEngine(container_runtime)]


def select_engine(
    engines: Sequence[Engine], workflow_type: str, name: str | None, version: str | None
) -> Engine:
    """The engine for a request's workflow_type (any case) and optional engine fields."""
    wanted = workflow_type.strip().upper()
    candidates = [e for e in engines if e.workflow_type == wanted]
    if not candidates:
        known = ", ".join(sorted({e.workflow_type for e in engines}))
        raise BadRequest(f"workflow_type: {workflow_type!r} is not supported; use one of {known}")
    if version and not name:
        raise BadRequest("workflow_engine: required when workflow_engine_version is given")
    if name:
        candidates = [e for e in candidates if e.name.lower() == name.strip().lower()]
        if not candidates:
            raise BadRequest(f"workflow_engine: {name!r} does not run {wanted} here")
    engine = candidates[0]
    if version and version.strip() != engine.version():
        raise BadRequest(
            f"workflow_engine_version: {engine.name} {version!r} is not installed; "
            f"this service has {engine.version()}"
        )
    return engine
