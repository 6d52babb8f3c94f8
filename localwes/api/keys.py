"""The application's shared objects, as typed aiohttp AppKeys."""

from __future__ import annotations

import asyncio

from aiohttp import web

from localwes.config import Settings
from localwes.engines.base import Engine
from localwes.scheduler import Scheduler
from localwes.store import RunStore
from localwes.submission import Intake

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", RunStore)
SCHEDULER = web.AppKey("scheduler", Scheduler)
INTAKE = web.AppKey("intake", Intake)
ENGINES: web.AppKey[list[Engine]] = web.AppKey("engines")
CONTAINER_RUNTIME = web.AppKey("container_runtime", str)
STOPPING = web.AppKey("stopping", asyncio.Event)
TOKEN = web.AppKey("token", str)
ALLOWED_HOSTS: web.AppKey[frozenset[str]] = web.AppKey("allowed_hosts")
CORS_ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("cors_origins")
