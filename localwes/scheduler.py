"""Scheduler: runs queued runs first-in first-out, at most `max_concurrent` at once.

Each started run gets a supervisor process (localwes.supervisor) in its own
session, so it survives the daemon. The scheduler marks INITIALIZING when it
spawns one, RUNNING when the supervisor reports the engine started, and the
final state from exit.json when the supervisor ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from localwes.durable import read_json, write_json_durably
from localwes.engines.base import Engine
from localwes.errors import NotFound
from localwes.leftovers import kill_leftovers
from localwes.locks import lock_is_held
from localwes.models import State, utc_now
from localwes.processes import ColdSupervisor, Supervisor, Zygote, wait_pidfd
from localwes.store import RunPaths, RunStore
from localwes.supervisor import STARTED_LINE
from localwes.tasks import close_open_tasks

log = logging.getLogger(__name__)

# Loop turns a finished run gives the next queued run to reach its spawn first.
HANDOVER_YIELDS = 4
# How often a run adopted after a restart is looked at while its engine starts.
ADOPTED_POLL_S = 0.1


class Scheduler:
    def __init__(
        self,
        store: RunStore,
        engines: Sequence[Engine],
        max_concurrent: int,
        cancel_grace: float,
        requeue_interrupted: bool = True,
        zygote: Zygote | None = None,
    ) -> None:
        self.store = store
        self.zygote = zygote
        self.engines = {engine.name: engine for engine in engines}
        self.max_concurrent = max_concurrent
        self.cancel_grace = cancel_grace
        self.requeue_interrupted = requeue_interrupted
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._active: dict[str, asyncio.Task[None]] = {}
        self._supervisors: dict[str, Supervisor] = {}
        self._slot_freed = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> None:
        """Pick up where the last daemon left off, then start dispatching."""
        for run_id in self.store.ids():
            await self._recover(run_id)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="dispatch")

    async def stop(self) -> None:
        """Stop watching. Supervisors keep running and are re-adopted on the next start."""
        tasks = [t for t in (self._dispatcher, *self._active.values()) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._active.clear()

    def enqueue(self, run_id: str) -> None:
        self._queue.put_nowait(run_id)

    @property
    def warm_state(self) -> str:
        """off, starting or ready: whether runs start warm (see localwes.engines.warm)."""
        if self.zygote is None:
            return "off"
        return "ready" if self.zygote.ready else "starting"

    # -- dispatching --------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            run_id = await self._queue.get()
            while len(self._active) >= self.max_concurrent:
                self._slot_freed.clear()
                await self._slot_freed.wait()
            if self._state_or_none(run_id) is State.QUEUED:
                self._track(run_id, self._execute(run_id))

    def _state_or_none(self, run_id: str) -> State | None:
        try:
            return self.store.summary(run_id).state
        except NotFound:
            return None  # its folder was removed by hand

    def _track(self, run_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(run_id, work), name=f"run-{run_id}")
        self._active[run_id] = task
        task.add_done_callback(lambda _t: self._release(run_id))

    async def _guarded(self, run_id: str, work: Coroutine[Any, Any, None]) -> None:
        """No accepted run is left stuck: a failure of localwes itself ends the run
        SYSTEM_ERROR with the reason, and never stops the scheduler."""
        try:
            await work
        except Exception as exc:
            if isinstance(exc, NotFound) and self._state_or_none(run_id) is None:
                # Its folder was removed by hand while it ran: nothing left to end.
                log.info("run_forgotten run_id=%s", run_id)
                return
            log.exception("run_failed run_id=%s", run_id)
            with contextlib.suppress(Exception):
                self._signal_supervisor(run_id)  # nothing of the run may outlive its end
                self._end(run_id, State.SYSTEM_ERROR, [f"localwes failed on this run: {exc!r}"])

    def _release(self, run_id: str) -> None:
        self._active.pop(run_id, None)
        self._supervisors.pop(run_id, None)
        self._slot_freed.set()

    async def _execute(self, run_id: str) -> None:
        paths = self.store.paths(run_id)
        attempt = self.store.record(run_id).attempt + 1
        self.store.update(run_id, State.INITIALIZING, start_time=utc_now(), attempt=attempt)
        supervisor = await self._spawn(paths, attempt)
        self._supervisors[run_id] = supervisor
        if self.store.summary(run_id).state is State.CANCELING:
            supervisor.terminate()
        if await supervisor.first_line() == STARTED_LINE:
            self._mark_running(run_id)
        await supervisor.wait()
        # The slot is free the moment the supervisor ends: let the next queued run
        # get to its spawn (which waits on the zygote) before this one is written up.
        self._release(run_id)
        for _ in range(HANDOVER_YIELDS):
            await asyncio.sleep(0)
        self._finish(run_id)

    async def _spawn(self, paths: RunPaths, attempt: int) -> Supervisor:
        """A warm supervisor from the zygote when it is ready, else a cold one."""
        if self.zygote is not None and self.zygote.ready:
            try:
                return await self.zygote.spawn(paths.root, attempt, self.cancel_grace)
            except OSError as exc:
                log.warning("zygote_spawn_failed error=%r; starting cold from now on", exc)
                self.zygote.ready = False
        return ColdSupervisor(paths.root, attempt, self.cancel_grace, paths.supervisor_log)

    def _mark_running(self, run_id: str) -> None:
        if self.store.summary(run_id).state is State.INITIALIZING:
            self.store.update(run_id, State.RUNNING)

    # -- ending a run -------------------------------------------------------

    def _finish(self, run_id: str, when: str = "") -> None:
        """Turn exit.json into the run's final state and outputs."""
        paths = self.store.paths(run_id)
        try:
            exit_record = read_json(paths.exit)
        except (OSError, ValueError):
            exit_record = None
        canceling = self.store.summary(run_id).state is State.CANCELING
        if exit_record is None:
            kill_leftovers(paths)
            reason = f"the run's supervisor ended{when} without recording how the engine ended"
            if said := _last_line(paths.supervisor_log):
                reason += f"; supervisor.log in the run folder ends: {said}"
            self._end(
                run_id,
                State.CANCELED if canceling else State.SYSTEM_ERROR,
                [] if canceling else [reason],
            )
            return
        engine = self._engine_of(run_id, paths)
        if engine is not None:
            write_json_durably(paths.outputs_json, engine.collect_outputs(paths))
        code = exit_record.get("exit_code")
        notes = [exit_record["error"]] if exit_record.get("error") else []
        if canceling or exit_record.get("canceled"):
            state = State.CANCELED
        elif code is None:
            state = State.SYSTEM_ERROR
        elif code == 0:
            state = State.COMPLETE
        elif full := out_of_space(paths):
            state = State.SYSTEM_ERROR  # the machine failed the workflow, not the workflow
            notes.append(full)
        else:
            state = State.EXECUTOR_ERROR
            notes += engine.failure_notes(paths) if engine else []
        self._end(run_id, state, notes, exit_code=code)

    def _engine_of(self, run_id: str, paths: RunPaths) -> Engine | None:
        try:
            return self.engines[read_json(paths.command)["engine"]]
        except (OSError, ValueError, KeyError) as exc:
            log.error("engine_unknown run_id=%s error=%r", run_id, exc)
            return None

    def _end(
        self, run_id: str, state: State, notes: list[str], exit_code: int | None = None
    ) -> None:
        current = self.store.summary(run_id).state
        if current.is_terminal:
            return
        if current is State.CANCELING and state is not State.SYSTEM_ERROR:
            state = State.CANCELED
        self.store.update(run_id, state, end_time=utc_now(), exit_code=exit_code, system_logs=notes)
        log.info("run_ended run_id=%s state=%s exit_code=%s", run_id, state, exit_code)

    # -- cancel -------------------------------------------------------------

    async def cancel(self, run_id: str) -> None:
        """QUEUED ends at once; a started run goes CANCELING and its supervisor gets
        SIGTERM (it escalates to SIGKILL itself). Finished runs do not change."""
        state = self.store.summary(run_id).state
        if state is State.QUEUED:
            self._end(run_id, State.CANCELED, [])
        elif state in (State.INITIALIZING, State.RUNNING):
            self.store.update(run_id, State.CANCELING)
            self._signal_supervisor(run_id)

    def _signal_supervisor(self, run_id: str) -> None:
        supervisor = self._supervisors.get(run_id)
        if supervisor is not None:
            supervisor.terminate()
            return
        paths = self.store.paths(run_id)
        pid = _supervisor_pid(paths) if lock_is_held(paths.lock) else None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)

    def forget(self, run_id: str) -> None:
        """A run whose folder was removed by hand: stop whatever still runs for it."""
        supervisor = self._supervisors.get(run_id)
        if supervisor is not None:
            supervisor.terminate()

    async def cancel_all(self, timeout: float) -> None:
        """Cancel every started run and wait (up to `timeout`) for them to end."""
        for run_id in list(self._active):
            with contextlib.suppress(Exception):
                await self.cancel(run_id)
        if self._active:
            await asyncio.wait(list(self._active.values()), timeout=timeout)

    # -- restart ------------------------------------------------------------

    async def _recover(self, run_id: str) -> None:
        state = self.store.summary(run_id).state
        if state is State.QUEUED:
            self.enqueue(run_id)
        elif state.is_active:
            paths = self.store.paths(run_id)
            lock = try_lock(paths.lock)
            if lock is None:
                log.info("run_adopted run_id=%s", run_id)
                self._track(run_id, self._watch_adopted(run_id, paths))
                return
            # Holding the lock, no supervisor can start the engine while we decide.
            try:
                if paths.exit.exists():
                    self._finish(run_id, " while localwes was down")
                else:
                    self._interrupted(run_id, paths)
            finally:
                lock.release()

    async def _watch_adopted(self, run_id: str, paths: RunPaths) -> None:
        if self.store.summary(run_id).state is State.INITIALIZING and paths.supervisor.exists():
            self._mark_running(run_id)
        await wait_for_supervisor(paths)
        self._finish(run_id)

    def _interrupted(self, run_id: str, paths: RunPaths) -> None:
        """A run that was started but whose supervisor vanished without a record."""
        why = "localwes stopped while this run was starting or running, and its supervisor is gone"
        kill_leftovers(paths)  # its engine may still run: never two attempts at once
        canceling = self.store.summary(run_id).state is State.CANCELING
        if canceling or not self.requeue_interrupted:
            close_open_tasks(paths.tasks, f"the run ended with it: {why}")
        if canceling:
            self._end(run_id, State.CANCELED, [why])
        elif self.requeue_interrupted:
            _clear_attempt(paths)
            self.store.update(
                run_id,
                State.QUEUED,
                start_time=None,
                # A supervisor of the old attempt still starting up will now stand down.
                attempt=self.store.record(run_id).attempt + 1,
                system_logs=[f"{why}; queued again at {utc_now()}"],
            )
            self.enqueue(run_id)
        else:
            self._end(run_id, State.SYSTEM_ERROR, [why])


# Below this many free bytes, a failed engine is taken to have failed for want of space.
NEARLY_FULL_BYTES = 1024 * 1024
_NO_SPACE = b"No space left on device"


def out_of_space(paths: RunPaths) -> str | None:
    """Why a failed run is localwes's SYSTEM_ERROR rather than the workflow's: the
    filesystem of the run folder is full, or the engine or a task said it was."""
    free = shutil.disk_usage(paths.root).free
    said_so = any(_tail_says_no_space(log) for log in _stderr_logs(paths))
    if free >= NEARLY_FULL_BYTES and not said_so:
        return None
    return (
        f"the run folder's filesystem is out of space ({free} bytes free"
        f"{'; the engine reported No space left on device' if said_so else ''}); "
        "free some space and submit the run again"
    )


def _stderr_logs(paths: RunPaths) -> list[Path]:
    """The engine's stderr and every recorded task's."""
    logs = [paths.stderr]
    for record_file in paths.tasks.glob("*.json"):
        try:
            stderr = read_json(record_file).get("stderr_file")
        except (OSError, ValueError, AttributeError):
            continue
        if stderr:
            logs.append(paths.root / stderr)
    return logs


def _tail_says_no_space(log: Path) -> bool:
    try:
        with log.open("rb") as stream:
            stream.seek(max(0, log.stat().st_size - 65536))
            return _NO_SPACE in stream.read()
    except OSError:
        return False


def try_lock(path: Path) -> FileLock | None:
    """The run's lock, held, or None when a supervisor holds it."""
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


async def wait_for_supervisor(paths: RunPaths) -> None:
    """Until the supervisor holding the run's lock (not our child) has ended.

    supervisor.json names the lock holder once the engine has started; a pidfd
    opened while the lock is still held is the holder's (a pid cannot be reused
    while its process lives), so its end is seen at once, without polling.
    """
    while lock_is_held(paths.lock):
        pid = _supervisor_pid(paths)
        if pid is None:
            await asyncio.sleep(ADOPTED_POLL_S)  # still starting its engine
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if lock_is_held(paths.lock):
                await wait_pidfd(pidfd)
        finally:
            os.close(pidfd)


def _supervisor_pid(paths: RunPaths) -> int | None:
    """The pid supervisor.json names; trust it only while the run's lock is held."""
    try:
        return int(read_json(paths.supervisor)["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _clear_attempt(paths: RunPaths) -> None:
    """Remove what an interrupted attempt left, so the next one starts clean."""
    for folder in (paths.work, paths.outputs, paths.tasks):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    for leftover in (paths.stdout, paths.stderr, paths.supervisor, paths.outputs_json, paths.exit):
        leftover.unlink(missing_ok=True)


def _last_line(log: Path, most: int = 500) -> str:
    """The last non-blank line of a log (a supervisor that died says why there)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    said = [line.strip() for line in lines if line.strip()]
    return said[-1][:most] if said else ""
