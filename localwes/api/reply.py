"""JSON responses, each ending in a newline so `curl` leaves the prompt on a line of its own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def _dumps(data: Any) -> str:
    return json.dumps(data) + "\n"


def json_reply(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)
