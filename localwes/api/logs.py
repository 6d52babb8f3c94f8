"""Serving log and output files: whole, by Range, or followed as they grow.

`?follow=true` keeps the response open and sends new bytes as they are written,
until the run or task ends (or the daemon stops), so `curl -N` can tail a
running workflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from localwes.api import keys
from localwes.errors import BadRequest, RangeNotSatisfiable

FOLLOW_POLL_S = 0.1
CHUNK = 256 * 1024
TEXT = "text/plain; charset=utf-8"


def wants_follow(request: web.Request) -> bool:
    return request.query.get("follow", "").lower() in ("true", "1", "yes")


async def serve_log(
    request: web.Request, path: Path | None, finished: Callable[[], bool]
) -> web.StreamResponse:
    """A log file as text; a log not written yet is empty."""
    if wants_follow(request):
        return await _follow(request, path, finished)
    if path is None or not path.is_file():
        return web.Response(text="", content_type="text/plain")
    return file_response(request, path, TEXT)


def file_response(
    request: web.Request, path: Path, content_type: str | None = None
) -> web.FileResponse:
    """A file, whole or by Range. A range that starts at or past the end is a 416
    ErrorResponse like every other error (aiohttp's own 416 is plain text)."""
    if "Range" in request.headers:
        try:
            start = request.http_range.start
        except ValueError:
            start = None
        size = path.stat().st_size
        if start is not None and start >= size:
            raise RangeNotSatisfiable(
                f"Range: {request.headers['Range']!r} starts at or past the end of the "
                f"file ({size} bytes)"
            )
    # No content type: aiohttp guesses one from the file name.
    return web.FileResponse(path, headers={"Content-Type": content_type} if content_type else None)


async def _follow(
    request: web.Request, path: Path | None, finished: Callable[[], bool]
) -> web.StreamResponse:
    offset = _range_start(request)
    response = web.StreamResponse(
        status=206 if offset else 200,
        headers={"Content-Type": TEXT, "Cache-Control": "no-store"},
    )
    await response.prepare(request)
    stopping = request.app[keys.STOPPING]
    while True:
        # Look at the end before reading, so the last read takes everything written.
        done = finished() or stopping.is_set()
        offset = await _send_from(response, path, offset)
        if done:
            break
        await asyncio.sleep(FOLLOW_POLL_S)
    await response.write_eof()
    return response


def _range_start(request: web.Request) -> int:
    """Where a followed log starts: `Range: bytes=N-` picks up after the N bytes a
    client already has (after a restart of the daemon, say)."""
    if "Range" not in request.headers:
        return 0
    try:
        wanted: slice | None = request.http_range
    except ValueError:
        wanted = None
    if wanted is None or wanted.start is None or wanted.start < 0 or wanted.stop is not None:
        raise BadRequest(
            f"Range: {request.headers['Range']!r}: a followed log takes only `bytes=N-`"
        )
    return int(wanted.start)


async def _send_from(response: web.StreamResponse, path: Path | None, offset: int) -> int:
    if path is None:
        return offset
    try:
        with path.open("rb") as log:
            log.seek(offset)
            while chunk := log.read(CHUNK):
                await response.write(chunk)
                offset += len(chunk)
    except FileNotFoundError:
        pass
    return offset
