"""Reading a POST /runs body: multipart/form-data (streamed) or a JSON RunRequest.

Attachments are streamed straight into the staged run folder under names
checked as relative POSIX paths; the other fields come back as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_DISPOSITION, CONTENT_TYPE
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError

from localwes.errors import BadRequest, PayloadTooLarge
from localwes.names import safe_relative_path
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
    media_type = _media_type(request)
    if media_type == "application/json":
        return await _read_json_body(request)
    if media_type == "multipart/form-data":
        return await _read_multipart(request, attachments, limits)
    if media_type == "application/x-www-form-urlencoded":
        # What a form with no files becomes in many clients: fields, no attachments.
        form = await request.post()
        for key in form:
            if len(form.getall(key)) > 1:
                raise BadRequest(f"{key}: given more than once")
        return {key: str(value) for key, value in form.items()}
    raise BadRequest(
        f"Content-Type {media_type!r} is not accepted; send multipart/form-data "
        "(with attachments), application/x-www-form-urlencoded or application/json"
    )


def _media_type(request: web.Request) -> str:
    """Why not `request.content_type`: it parses the header with the email package,
    about 0.3 ms for a multipart body (its boundary defeats aiohttp's cache), a
    tenth of a submission's time on the event loop."""
    raw = request.headers.get(CONTENT_TYPE)
    if raw is None:
        return "application/octet-stream"
    mime = parse_mimetype(raw)
    return f"{mime.type}/{mime.subtype}" if mime.type else ""


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
            name, filename = disposition(part)
            if name == ATTACHMENT:
                await _save_attachment(part, filename, attachments, budget)
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


def disposition(part: BodyPartReader) -> tuple[str | None, str | None]:
    """The part's field name and file name, exactly as sent, from one parse of its
    Content-Disposition. aiohttp's `part.name` and `part.filename` parse the header
    anew on each access (40 us each), and `part.filename` silently strips a leading
    "/" where an unsafe name must be refused, never renamed."""
    message = Message()
    message["content-disposition"] = part.headers.get(CONTENT_DISPOSITION, "")
    name = message.get_param("name", header="content-disposition")
    return (collapse_rfc2231_value(name) if name else None), message.get_filename()


async def _save_attachment(
    part: BodyPartReader, filename: str | None, attachments: Path, budget: _Budget
) -> None:
    if not filename:
        raise BadRequest(f"{ATTACHMENT}: every part needs a filename in Content-Disposition")
    # Some clients (aiohttp's among them) percent-encode file names, "/" included,
    # as RFC 7578 section 4.2 allows; names are checked after decoding.
    name = unquote(filename)
    # The staged folder holds only what this code made (folders and regular files,
    # never a link), so a checked relative name cannot lead out of it; resolving
    # links here would cost a dozen lstat calls per attachment.
    relative = safe_relative_path(name, ATTACHMENT)
    budget.count_file()
    out = _create(attachments, relative, name)
    if out is None:  # the name was attached before: only the same bytes again will do
        await _check_same(part, attachments / relative, name, budget)
        return
    with out:
        while chunk := await part.read_chunk(CHUNK):
            budget.spend(len(chunk))
            out.write(chunk)


async def _check_same(part: BodyPartReader, saved: Path, name: str, budget: _Budget) -> None:
    """A name attached again must bring the same bytes. Why: wes-client sends the
    workflow file itself and again if the user lists it in --attachments (a glob
    such as '*.cwl' does), and that is no conflict."""
    same = True
    with saved.open("rb") as kept:
        while chunk := await part.read_chunk(CHUNK):
            budget.spend(len(chunk))
            same = same and kept.read(len(chunk)) == chunk
        same = same and kept.read(1) == b""
    if not same:
        raise BadRequest(
            f"{ATTACHMENT}: {name!r} is attached twice with different contents; "
            "attach each file once"
        )


def _create(attachments: Path, relative: PurePosixPath, name: str) -> BinaryIO | None:
    """A new file for an attachment, or None if an earlier one has this name. A name
    whose folder is a file (or the other way round) is the client's mistake, not a
    storage problem."""
    target = attachments / relative
    try:
        if len(relative.parts) > 1:
            target.parent.mkdir(parents=True, exist_ok=True)
        return target.open("xb")
    except (FileExistsError, NotADirectoryError):
        if target.is_file():
            return None
        raise BadRequest(
            f"{ATTACHMENT}: {name!r} collides with another attachment's folder (or is a "
            "folder of its own); give each file its own name"
        ) from None
