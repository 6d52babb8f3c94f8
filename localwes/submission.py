"""RunWorkflow: turn the fields of a POST /runs into a published, queued run.

The HTTP layer streams attachments into a staged run folder and hands over
the other fields; everything a request means is decided here, before the run
exists, so a rejected request leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import posixpath
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import aiohttp

from localwes.engines import select_engine
from localwes.engines.base import Engine
from localwes.errors import BadRequest
from localwes.models import RunRecord, RunRequest, State, utc_now
from localwes.names import safe_relative_path
from localwes.references import DOCUMENT_SUFFIXES, references
from localwes.store import RunPaths, RunStore

FETCH_TIMEOUT_S = 60
FETCH_MAX_BYTES = 64 * 1024 * 1024
FETCH_MAX_DOCUMENTS = 200
# Fields a RunRequest may carry; others are ignored, as the spec allows extensions.
REQUIRED_FIELDS = ("workflow_type", "workflow_type_version", "workflow_url")


class Intake:
    """Accepts run requests: validates them, stages them, publishes them, queues them."""

    def __init__(
        self, store: RunStore, engines: Sequence[Engine], enqueue: Callable[[str], None]
    ) -> None:
        self.store = store
        self.engines = engines
        self.enqueue = enqueue

    def begin(self) -> RunPaths:
        """A staged folder for the attachments of a request being received."""
        return self.store.stage(self.store.new_run_id())

    def discard(self, staged: RunPaths) -> None:
        self.store.discard(staged)

    async def accept(self, staged: RunPaths, fields: Mapping[str, Any]) -> str:
        """Validate the request against the staged attachments and publish the run."""
        request = parse_run_request(fields)
        engine = select_engine(
            self.engines,
            request.workflow_type,
            request.workflow_engine,
            request.workflow_engine_version,
        )
        workflow = await resolve_workflow(request.workflow_url, staged, engine.workflow_type)
        version, version_notes = engine.check_type_version(
            request.workflow_type_version, local_document(workflow, staged)
        )
        request = dataclasses.replace(
            request, workflow_type=engine.workflow_type, workflow_type_version=version
        )
        checked = engine.check_parameters(request.workflow_engine_parameters)
        inputs = engine.prepare_inputs(request.workflow_params, staged)
        command = engine.command(workflow, checked)
        notes = version_notes + checked.notes
        record = RunRecord(State.QUEUED, submitted_time=utc_now(), system_logs=notes)
        extra = {"inputs.json": inputs, "command.json": command.to_json()}
        await asyncio.to_thread(self.store.publish, staged, request, record, extra)
        run_id = staged.root.name
        self.store.add(run_id, request, record)
        self.enqueue(run_id)
        return run_id


def parse_run_request(fields: Mapping[str, Any]) -> RunRequest:
    """Fields arrive as strings (multipart) or as JSON values (a JSON body)."""
    for name in REQUIRED_FIELDS:
        if not _text(fields, name):
            raise BadRequest(f"{name}: required field is missing or empty")
    return RunRequest(
        workflow_type=_text(fields, "workflow_type") or "",
        workflow_type_version=_text(fields, "workflow_type_version") or "",
        workflow_url=(_text(fields, "workflow_url") or "").strip(),
        workflow_params=_json_object(fields, "workflow_params"),
        tags=_string_map(fields, "tags"),
        workflow_engine=_text(fields, "workflow_engine"),
        workflow_engine_version=_text(fields, "workflow_engine_version"),
        workflow_engine_parameters=_string_map(fields, "workflow_engine_parameters"),
    )


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name}: must be a string, not {type(value).__name__}")
    return value.strip() or None


def _json_object(fields: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        value = loads_limited(value, name)
    if not isinstance(value, dict):
        raise BadRequest(f"{name}: must be a JSON object, not {type(value).__name__}")
    return value


MAX_JSON_DEPTH = 64


def loads_limited(text: str | bytes, name: str) -> Any:
    """json.loads, refusing malformed and too deeply nested documents with a 400."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"{name}: not valid JSON ({exc}); send a JSON object") from None
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(f"{name}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            break
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, level + 1) for child in children)
    return deepest


def _string_map(fields: Mapping[str, Any], name: str) -> dict[str, str]:
    """A JSON object of strings. A null value becomes "": toil-wes-cwl-runner sends
    flags without a value as null, and the spec wants strings."""
    result: dict[str, str] = {}
    for key, value in _json_object(fields, name).items():
        if value is None:
            result[key] = ""
        elif isinstance(value, bool):
            result[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            result[key] = str(value)
        else:
            raise BadRequest(f"{name}: the value of {key!r} must be a string")
    return result


def local_document(workflow: str, staged: RunPaths) -> Path | None:
    """The file behind a resolved workflow location (fragment dropped)."""
    path = Path(workflow.partition("#")[0])
    return path if path.is_absolute() else staged.root / path


async def resolve_workflow(workflow_url: str, staged: RunPaths, workflow_type: str) -> str:
    """Where the engine finds the workflow: `workflow/<name>` for an attachment or a
    fetched document (relative to the run folder), or an absolute local path."""
    url, fragment = urldefrag(workflow_url)
    suffix = f"#{fragment}" if fragment else ""
    scheme = urlparse(url).scheme.lower()
    if scheme in ("http", "https"):
        return await _fetch_workflow(url, staged, workflow_type) + suffix
    if scheme == "file" or url.startswith("/"):
        path = Path(unquote(urlparse(url).path) if scheme == "file" else url)
        if not path.is_file():
            raise BadRequest(f"workflow_url: no readable file at {str(path)!r} on this machine")
        return str(path) + suffix
    if scheme:
        raise BadRequest(
            f"workflow_url: scheme {scheme!r} is not supported; use a relative "
            "attachment name, a local path, file://, http:// or https://"
        )
    relative = safe_relative_path(unquote(url), "workflow_url")
    # No link check needed: the staged folder holds only files this request wrote.
    if not (staged.workflow / relative).is_file():
        raise BadRequest(
            f"workflow_url: {url!r} names no attached file; attach it as "
            "workflow_attachment or give an absolute URL"
        )
    return f"workflow/{relative}{suffix}"


async def _fetch_workflow(url: str, staged: RunPaths, workflow_type: str) -> str:
    """The document at `url` into workflow/, with every part it refers to by a
    relative URL (CWL `run:`, `$import`, `$include`, File defaults; WDL imports),
    each where the reference says, as `cwltool URL` or `miniwdl run URL` would
    read them. The run folder keeps the whole workflow as it was fetched."""
    name = posixpath.basename(urlparse(url).path) or "workflow"
    main = PurePosixPath(safe_relative_path(name, "workflow_url"))
    if (staged.workflow / main).exists():
        raise BadRequest(f"workflow_url: fetched document {name!r} collides with an attachment")
    pending, seen = [(url, main)], {url}
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while pending:
            document_url, relative = pending.pop()
            body = await _download(session, document_url)
            await asyncio.to_thread(_save, staged.workflow / relative, body)
            if relative.suffix.lower() not in DOCUMENT_SUFFIXES:
                continue  # a data file (a CWL File default)
            parts = await asyncio.to_thread(
                _relative_parts, document_url, relative, body, workflow_type
            )
            for part_url, part in parts:
                if part_url in seen or (staged.workflow / part).exists():
                    continue  # fetched already, or attached by the client
                if len(seen) >= FETCH_MAX_DOCUMENTS:
                    raise BadRequest(
                        f"workflow_url: {url} needs more than {FETCH_MAX_DOCUMENTS} documents; "
                        "attach them, or pack the workflow (cwltool --pack)"
                    )
                seen.add(part_url)
                pending.append((part_url, part))
    return f"workflow/{main}"


def _save(target: Path, body: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)


def _relative_parts(
    url: str, relative: PurePosixPath, body: bytes, workflow_type: str
) -> list[tuple[str, PurePosixPath]]:
    """The parts a fetched document names by relative URL: where to fetch each,
    and where it goes under workflow/. Absolute URLs are left to the engine."""
    try:
        named = references(body.decode(errors="replace"), workflow_type)
    except ValueError:
        return []  # not YAML: the engine will say what is wrong with it
    parts = []
    for reference in named:
        path = unquote(urldefrag(reference)[0])
        if not path or urlparse(path).scheme or path.startswith("/"):
            continue
        joined = posixpath.normpath(posixpath.join(str(relative.parent), path))
        if joined.split("/")[0] == "..":
            raise BadRequest(
                f"workflow_url: {url} refers to {reference!r}, above the folder of the "
                "workflow, which localwes does not fetch; attach it, or pack the workflow"
            )
        part = PurePosixPath(safe_relative_path(joined, "workflow_url"))
        parts.append((urljoin(url, urldefrag(reference)[0]), part))
    return parts


async def _download(session: aiohttp.ClientSession, url: str) -> bytes:
    try:
        async with session.get(url) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                body += chunk
                if len(body) > FETCH_MAX_BYTES:
                    raise ValueError(f"larger than {FETCH_MAX_BYTES} bytes")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise BadRequest(
            f"workflow_url: could not fetch {url}: {exc or type(exc).__name__}"
        ) from None
    return bytes(body)
