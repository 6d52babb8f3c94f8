"""Watches `runs/` for run folders that appear or vanish by hand, so ListRuns and
the state counts follow without a restart. Only the top level is watched: the
engines' own writes inside run folders cost nothing here."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import Change, awatch

from localwes.scheduler import Scheduler
from localwes.store import RunStore

log = logging.getLogger(__name__)


async def watch_run_folders(store: RunStore, scheduler: Scheduler, stop: asyncio.Event) -> None:
    try:
        await _watch(store, scheduler, stop)
    except Exception:
        # Watching is a convenience: the daemon serves on without it.
        log.exception("run_folder_watch_failed runs_dir=%s", store.runs_dir)


async def _watch(store: RunStore, scheduler: Scheduler, stop: asyncio.Event) -> None:
    async for changes in awatch(
        store.runs_dir, recursive=False, debounce=50, step=20, stop_event=stop
    ):
        for change, path in changes:
            run_id = Path(path).name
            if Path(path) == store.runs_dir:
                # The runs folder itself went (the state dir was removed by hand):
                # nothing is left to index; POST /runs says to restart the daemon.
                log.error("state_dir_removed state_dir=%s", store.state_dir)
                return
            if change is Change.deleted and not Path(path).exists():
                log.info("run_folder_removed run_id=%s", run_id)  # the user's to do
                scheduler.forget(run_id)
                store.forget(run_id)
            elif change is Change.added and Path(path).is_dir():
                store.index_folder(run_id)
