"""GET /service-info: the GA4GH service-info base fields plus WES 1.1's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from localwes import __version__
from localwes.api import keys
from localwes.api.reply import json_reply
from localwes.engines.base import FILESYSTEM_PROTOCOLS, Engine

WES_VERSION = "1.1.0"


async def get_service_info(request: web.Request) -> web.Response:
    return json_reply(service_info(request.app, base_url(request)))


def base_url(request: web.Request) -> str:
    return f"{request.url.origin()}/ga4gh/wes/v1"


def service_info(app: web.Application, base: str) -> dict[str, Any]:
    engines = app[keys.ENGINES]
    settings = app[keys.SETTINGS]
    return {
        "id": "localwes",
        "name": "localwes",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": WES_VERSION},
        "description": "A local, single-user GA4GH Workflow Execution Service.",
        "organization": {"name": "localwes", "url": base},
        "documentationUrl": f"{base}/docs",
        "environment": "local",
        "version": __version__,
        "workflow_type_versions": {
            e.workflow_type: {"workflow_type_version": e.type_versions()} for e in engines
        },
        "supported_wes_versions": [WES_VERSION],
        "supported_filesystem_protocols": list(FILESYSTEM_PROTOCOLS),
        "workflow_engine_versions": {
            e.name: {"workflow_engine_version": [e.version()]} for e in engines
        },
        "default_workflow_engine_parameters": engine_parameters(engines),
        "system_state_counts": app[keys.STORE].state_counts(),
        "auth_instructions_url": f"{base}/docs",
        "tags": {
            "container_runtime": app[keys.CONTAINER_RUNTIME],
            "max_concurrent": str(settings.max_concurrent),
            "workflow_engines": ",".join(e.name for e in engines),
            "warm_engines": app[keys.SCHEDULER].warm_state,
        },
    }


def engine_parameters(engines: Sequence[Engine]) -> list[dict[str, str]]:
    """Each allowed flag once: a flag both engines take alike (--verbose, --debug)
    is one entry, as a client sends it the same way to either."""
    listed: list[dict[str, str]] = []
    for parameter in (p.to_json() for e in engines for p in e.default_parameters()):
        if parameter not in listed:
            listed.append(parameter)
    return listed


DOCS = """localwes {version}: a local, single-user GA4GH WES 1.1 service.

API base: {base}
Authentication: none is needed from this machine's own user on loopback.
Run logs:    GET {base}/runs/RUN_ID/logs/stdout  (or stderr)
Run folders: {state_dir}/runs/RUN_ID
"""


async def get_docs(request: web.Request) -> web.Response:
    text = DOCS.format(
        version=__version__, base=base_url(request), state_dir=request.app[keys.SETTINGS].state_dir
    )
    return web.Response(text=text, content_type="text/plain")
