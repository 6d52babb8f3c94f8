"""Reading a POST /runs body: multipart/form-data (streamed) or a JSON RunRequest.

Attachments are streamed straight into the staged run folder under names
checked as relative POSIX paths; the other fields come back as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_DISPOSITION
from aiohttp.http_exceptions import HttpProcessingError

from localwes.errors import BadRequest, PayloadTooLarge
from localwes.names import contained_path, safe_relative_path
from localwes.submission import loads_limited

ATTACHMENT = "workflow_attachment"
MAX_FIELD_BYTES = 16 * 1024 * 1024
CHUNK = 256 * 1024


@dataclass
class UploadLimits:
    max_bytes: int
    max_files: int


async def read_run_fields(
    request: web.Request, attachments: Path, limits: UploadLimits
) -> dict[str, Any]:
    """The request's fields; attachments land under `attachments`."""
    if request.content_length and request.content_length > limits.max_bytes:
        raise PayloadTooLarge(f"the request is larger than the limit of {limits.max_bytes} bytes")
    if request.content_type == "application/json":
        return await _read_json_body(request)
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, attachments, limits)
    if request.content_type == "application/x-www-form-urlencoded":
        # What a form with no files becomes in many clients: fields, no attachments.
        return {key: str(value) for key, value in (await request.post()).items()}
    raise BadRequest(
        f"Content-Type {request.content_type!r} is not accepted; send multipart/form-data "
        "(with attachments), application/x-www-form-urlencoded or application/json"
    )


async def _read_json_body(request: web.Request) -> dict[str, Any]:
    body = loads_limited(await request.read(), "request body")
    if not isinstance(body, dict):
        raise BadRequest("request body: must be a JSON object (a RunRequest)")
    return body


async def _read_multipart(
    request: web.Request, attachments: Path, limits: UploadLimits
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    budget = _Budget(limits)
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not accepted")
            name = part.name  # parsed anew on every access: read it once
            if name == ATTACHMENT:
                await _save_attachment(part, attachments, budget)
            elif name:
                if name in fields:
                    raise BadRequest(f"{name}: given more than once")
                fields[name] = await _read_text(part, name, budget)
    except BadRequest:
        raise
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    return fields


class _Budget:
    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.bytes = 0
        self.files = 0

    def spend(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.limits.max_bytes:
            raise PayloadTooLarge(f"the upload exceeds the limit of {self.limits.max_bytes} bytes")

    def count_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise PayloadTooLarge(f"more than {self.limits.max_files} attachments")


async def _read_text(part: BodyPartReader, name: str, budget: _Budget) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        budget.spend(len(chunk))
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise PayloadTooLarge(f"{name}: larger than {MAX_FIELD_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{name}: not UTF-8 text") from None


def attachment_name(part: BodyPartReader) -> str:
    """The part's file name exactly as sent. aiohttp's own `part.filename` silently
    strips a leading "/", and an unsafe name must be refused, never renamed."""
    message = Message()
    message["content-disposition"] = part.headers.get(CONTENT_DISPOSITION, "")
    name = message.get_filename()
    if not name:
        raise BadRequest(f"{ATTACHMENT}: every part needs a filename in Content-Disposition")
    # Some clients (aiohttp's among them) percent-encode file names, "/" included,
    # as RFC 7578 section 4.2 allows; names are checked after decoding.
    return unquote(name)


async def _save_attachment(part: BodyPartReader, attachments: Path, budget: _Budget) -> None:
    name = attachment_name(part)
    relative = safe_relative_path(name, ATTACHMENT)
    target = contained_path(attachments, relative, ATTACHMENT)
    if target.exists():
        raise BadRequest(f"{ATTACHMENT}: {name!r} is attached more than once")
    budget.count_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as out:
        while chunk := await part.read_chunk(CHUNK):
            budget.spend(len(chunk))
            out.write(chunk)
