"""create_app(settings) -> the aiohttp application: routes, middleware, life cycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from localwes.api import keys, runs, service_info
from localwes.api.errors import error_middleware
from localwes.api.guard import guard_middleware
from localwes.config import Settings
from localwes.containers import choose_runtime
from localwes.daemon_record import own_state_dir
from localwes.engines import default_engines
from localwes.engines.base import Engine
from localwes.names import RUN_ID_PATTERN, TASK_ID_PATTERN
from localwes.processes import Zygote
from localwes.scheduler import Scheduler
from localwes.store import RunStore
from localwes.submission import Intake
from localwes.token import load_token
from localwes.watch import watch_run_folders

log = logging.getLogger(__name__)

BASE_PATH = "/ga4gh/wes/v1"
MAX_JSON_BODY = 16 * 1024 * 1024
# Rewrite the finished-runs index when this many runs had to be read at start or
# have ended since; otherwise every few minutes while runs end.
FINISHED_INDEX_AFTER = 1000
FINISHED_INDEX_EVERY_S = 300
FINISHED_INDEX_CHECK_S = 5


def create_app(settings: Settings, engines: Sequence[Engine] | None = None) -> web.Application:
    # client_max_size bounds a JSON RunRequest; multipart bodies are streamed and
    # bounded by max_upload_bytes instead.
    app = web.Application(
        middlewares=[error_middleware, guard_middleware], client_max_size=MAX_JSON_BODY
    )
    app[keys.SETTINGS] = settings
    app[keys.TOKEN] = load_token(settings.token_file)
    app[keys.ALLOWED_HOSTS] = _names(settings.allowed_hosts, settings.host)
    app[keys.CORS_ORIGINS] = _names(settings.cors_origins)
    app[keys.STORE] = RunStore(settings.state_dir)
    if engines is None:
        runtime = choose_runtime(settings.container)
        engines = default_engines(runtime)
    else:
        runtime = settings.container
    app[keys.CONTAINER_RUNTIME] = runtime
    app[keys.ENGINES] = list(engines)
    app[keys.STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_followers)
    app.cleanup_ctx.append(_daemon_life)
    _add_routes(app)
    return app


def _names(text: str, *more: str) -> frozenset[str]:
    names = [n.strip().lower() for n in text.split(",")] + [m.lower() for m in more]
    return frozenset(n for n in names if n)


def _add_routes(app: web.Application) -> None:
    run = f"{BASE_PATH}/runs/{{run_id:{RUN_ID_PATTERN}}}"
    app.router.add_get(f"{BASE_PATH}/service-info", service_info.get_service_info)
    app.router.add_get(f"{BASE_PATH}/docs", service_info.get_docs)
    app.router.add_get(f"{BASE_PATH}/runs", runs.list_runs)
    app.router.add_post(f"{BASE_PATH}/runs", runs.post_run)
    app.router.add_get(run, runs.get_run_log)
    app.router.add_get(f"{run}/status", runs.get_run_status)
    app.router.add_post(f"{run}/cancel", runs.cancel_run)
    app.router.add_get(f"{run}/tasks", runs.list_tasks)
    app.router.add_get(f"{run}/tasks/{{task_id:{TASK_ID_PATTERN}}}", runs.get_task)
    app.router.add_get(f"{run}/logs/{{stream:stdout|stderr}}", runs.get_run_stream)
    task = f"{run}/tasks/{{task_id:{TASK_ID_PATTERN}}}"
    app.router.add_get(f"{task}/logs/{{stream:stdout|stderr}}", runs.get_task_stream)
    app.router.add_get(f"{run}/outputs", runs.list_outputs)
    app.router.add_get(f"{run}/outputs/{{path:.+}}", runs.get_output)


async def _stop_followers(app: web.Application) -> None:
    """Followed logs end when the daemon stops, so shutdown does not wait on them."""
    app[keys.STOPPING].set()


async def _daemon_life(app: web.Application) -> AsyncIterator[None]:
    """Own the state dir, rebuild the index, recover runs; on exit stop watching
    (supervisors keep their runs going)."""
    settings = app[keys.SETTINGS]
    store = app[keys.STORE]
    lock = own_state_dir(settings.state_dir)
    await asyncio.to_thread(store.open)
    if store.fresh_reads >= FINISHED_INDEX_AFTER:
        store.finished_unindexed = store.fresh_reads
    engines: list[Engine] = app[keys.ENGINES]
    zygote = None
    if settings.warm_engines:
        zygote = Zygote(settings.state_dir / "zygote.sock", settings.state_dir / "zygote.log")
        # Imports take a moment: runs start cold until the zygote is ready.
        zygote_start = asyncio.create_task(zygote.start())
    scheduler = Scheduler(
        store,
        engines,
        settings.max_concurrent,
        settings.cancel_grace,
        requeue_interrupted=settings.on_interrupted == "requeue",
        zygote=zygote,
    )
    app[keys.SCHEDULER] = scheduler
    app[keys.INTAKE] = Intake(store, engines, scheduler.enqueue)
    await scheduler.start()
    watcher = asyncio.create_task(watch_run_folders(store, scheduler, app[keys.STOPPING]))
    indexer = asyncio.create_task(_keep_finished_index(store, app[keys.STOPPING]))
    try:
        yield
    finally:
        app[keys.STOPPING].set()
        if settings.on_stop == "cancel":
            await scheduler.cancel_all(timeout=settings.cancel_grace + 5)
        await scheduler.stop()
        await watcher
        await indexer
        if zygote is not None:
            zygote_start.cancel()
            await zygote.stop()
        await asyncio.to_thread(store.write_finished_index, store.finished_snapshot())
        lock.release()


async def _keep_finished_index(store: RunStore, stopping: asyncio.Event) -> None:
    """Why: without finished-index.json a start reads every run folder (about a
    second per 10,000 runs). It is written at a clean stop; rewriting it while the
    daemon runs, once runs have ended, keeps the next start fast after a crash too."""
    written = time.monotonic()
    while not stopping.is_set():
        pending = store.finished_unindexed
        due = time.monotonic() - written > FINISHED_INDEX_EVERY_S
        if pending >= FINISHED_INDEX_AFTER or (pending and due):
            await asyncio.to_thread(store.write_finished_index, store.finished_snapshot())
            written = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), FINISHED_INDEX_CHECK_S)
