"""Every error leaves as a WES ErrorResponse: {"msg": ..., "status_code": ...}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from localwes.api.reply import json_reply
from localwes.errors import WesError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, msg: str, headers: dict[str, str] | None = None) -> web.Response:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="localwes"'
    return json_reply({"msg": msg, "status_code": status}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WesError as exc:
        return error_response(exc.status_code, exc.msg)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Keep what the status needs, such as Allow on a 405 (RFC 9110).
        kept = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(exc.status, _describe(request, exc), kept)
    except Exception:
        log.exception("request_failed method=%s path=%s", request.method, request.path)
        return error_response(500, "localwes failed on this request; the daemon log says why")


def _describe(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no such endpoint or run: {request.method} {request.path}"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    return exc.text or exc.reason
