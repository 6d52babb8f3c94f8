"""RunStore: the run folders on disk, and the in-memory index rebuilt from them.

The folders are the truth. The index (one RunSummary per run, ids sorted by
creation time) only makes ListRuns, GetRunStatus and service-info counts fast.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ulid import ULID

from localwes.durable import (
    fsync_dir,
    fsync_tree,
    read_json,
    write_json_durably,
    write_new_file_synced,
)
from localwes.errors import BadRequest, NotFound, WesError
from localwes.models import RunRecord, RunRequest, RunSummary, State
from localwes.names import RUN_ID_RE
from localwes.states import check_transition

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class RunPaths:
    """The documented layout of one run folder."""

    root: Path

    @property
    def request(self) -> Path:
        return self.root / "request.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def workflow(self) -> Path:
        return self.root / "workflow"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs.json"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def outputs_json(self) -> Path:
        return self.root / "outputs.json"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.log"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    @property
    def command(self) -> Path:
        return self.root / "command.json"

    @property
    def exit(self) -> Path:
        return self.root / "exit.json"

    @property
    def supervisor(self) -> Path:
        return self.root / "supervisor.json"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    def make_folders(self) -> None:
        """The folders an engine works in; made when the run starts, not when it
        is submitted (a POST costs three mkdirs and fsyncs less)."""
        for folder in (self.workflow, self.work, self.outputs, self.tasks):
            folder.mkdir(parents=True, exist_ok=True)


class RunStore:
    """Creates, reads and updates run folders under `<state_dir>/runs`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.runs_dir = state_dir / "runs"
        self.staging_dir = state_dir / ".staging"
        self._summaries: dict[str, RunSummary] = {}
        self._ids: list[str] = []  # ascending, i.e. oldest first
        self._last_id = ULID.from_int(0)
        self.fresh_reads = 0  # runs read from their folders by the last open()
        self.finished_unindexed = 0  # runs that ended since the last finished_snapshot()

    # -- start-up -----------------------------------------------------------

    def open(self) -> None:
        """Create the folders and rebuild the index from the run folders."""
        for folder in (self.state_dir, self.runs_dir, self.staging_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A run left in staging was never acknowledged to a client: drop it.
        for leftover in self.staging_dir.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
        self._summaries.clear()
        finished = self._read_finished_index()
        self.fresh_reads = 0
        for entry in os.scandir(self.runs_dir):
            if RUN_ID_RE.fullmatch(entry.name):
                known = finished.get(entry.name)
                if known is None or _state_mtime(entry.path) != known[1]:
                    self.fresh_reads += 1
                    self._summaries[entry.name] = self._load_summary(entry.name)
                else:
                    self._summaries[entry.name] = known[0]
        self._ids = sorted(self._summaries)
        if self._ids:
            self._last_id = ULID.from_str(self._ids[-1])

    # Why: reading two JSON files per run makes a start over 100,000 runs take many
    # seconds. Terminal states never change, so the summaries of finished runs are
    # kept in one file and trusted at the next start as long as their state.json
    # has the same mtime (one stat per run, which also catches hand edits); only
    # the other runs are read. The run folders stay the truth: the file is a cache.

    @property
    def finished_index(self) -> Path:
        return self.state_dir / "finished-index.json"

    def _read_finished_index(self) -> dict[str, tuple[RunSummary, int]]:
        try:
            data = read_json(self.finished_index)
            return {
                run_id: (RunSummary(run_id, State(state), start, end, dict(tags)), mtime)
                for run_id, (state, start, end, tags, mtime) in data["runs"].items()
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("finished_index_unreadable path=%s error=%r", self.finished_index, exc)
            return {}

    def finished_snapshot(self) -> list[RunSummary]:
        """The finished runs, to hand to `write_finished_index` (cheap: no I/O)."""
        self.finished_unindexed = 0
        return [s for s in self._summaries.values() if s.state.is_terminal]

    def write_finished_index(self, finished: list[RunSummary]) -> None:
        """Blocking (a stat per run): call it from a thread."""
        runs = {
            s.run_id: [
                str(s.state),
                s.start_time,
                s.end_time,
                s.tags,
                _state_mtime(str(self.runs_dir / s.run_id)),
            ]
            for s in finished
        }
        try:
            write_json_durably(self.finished_index, {"format": 2, "runs": runs})
        except OSError as exc:
            # Only a shortcut for the next start, which reads the run folders without it.
            log.warning("finished_index_not_written error=%r", exc)

    def _load_summary(self, run_id: str) -> RunSummary:
        paths = self.paths_unchecked(run_id)
        try:
            record = RunRecord.from_json(read_json(paths.state))
            tags = RunRequest.from_json(read_json(paths.request)).tags
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("run_unreadable run_id=%s error=%r", run_id, exc)
            return RunSummary(run_id, State.UNKNOWN, None, None, {})
        return RunSummary(run_id, record.state, record.start_time, record.end_time, tags)

    # -- creating a run -----------------------------------------------------

    def new_run_id(self) -> str:
        """A fresh id that sorts after every earlier one, even within one millisecond."""
        candidate = ULID()
        if candidate <= self._last_id:
            candidate = ULID.from_int(int(self._last_id) + 1)
        self._last_id = candidate
        return str(candidate)

    def stage(self, run_id: str) -> RunPaths:
        """A hidden folder where a new run is built before it is published."""
        paths = RunPaths(self.staging_dir / run_id)
        try:
            paths.root.mkdir(mode=0o700)
        except FileNotFoundError:
            if self.runs_dir.is_dir():
                raise
            # A 500, as WES defines no other status for a service that cannot work.
            raise WesError(
                f"the state dir {self.state_dir} is gone (removed while localwes was "
                "running); restart `localwes serve` to make it again"
            ) from None
        paths.workflow.mkdir()
        return paths

    def discard(self, staged: RunPaths) -> None:
        shutil.rmtree(staged.root, ignore_errors=True)

    def publish(
        self, staged: RunPaths, request: RunRequest, record: RunRecord, extra: dict[str, Any]
    ) -> RunPaths:
        """Write the run whole, fsync it, and rename it into `runs/`: only then does it
        exist. Blocking file work only: call `add` on the event loop afterwards."""
        files = {"request.json": request.to_json(), "state.json": record.to_json(), **extra}
        for name, content in files.items():
            data = (json.dumps(content, indent=2) + "\n").encode()
            write_new_file_synced(staged.root / name, data)
        # No temp file and rename per file: the rename of the whole folder below is
        # what makes the run visible. The attachments were streamed in unsynced.
        fsync_tree(staged.workflow)
        fsync_dir(staged.root)
        final = self.paths_unchecked(staged.root.name)
        staged.root.rename(final.root)
        fsync_dir(self.runs_dir)
        return final

    def add(self, run_id: str, request: RunRequest, record: RunRecord) -> None:
        """Put a published run into the index."""
        self._index(RunSummary(run_id, record.state, None, None, request.tags))

    def forget(self, run_id: str) -> None:
        """Drop a run whose folder was removed by hand."""
        if self._summaries.pop(run_id, None) is not None:
            index = bisect.bisect_left(self._ids, run_id)
            if index < len(self._ids) and self._ids[index] == run_id:
                del self._ids[index]

    def index_folder(self, run_id: str) -> None:
        """Index a run folder that appeared by hand (restored from a backup, say)."""
        if RUN_ID_RE.fullmatch(run_id) and run_id not in self._summaries:
            self._index(self._load_summary(run_id))

    def _index(self, summary: RunSummary) -> None:
        if summary.run_id not in self._summaries:
            bisect.insort(self._ids, summary.run_id)
        self._summaries[summary.run_id] = summary

    # -- reading ------------------------------------------------------------

    def paths_unchecked(self, run_id: str) -> RunPaths:
        return RunPaths(self.runs_dir / run_id)

    def paths(self, run_id: str) -> RunPaths:
        self.summary(run_id)
        return self.paths_unchecked(run_id)

    def summary(self, run_id: str) -> RunSummary:
        try:
            return self._summaries[run_id]
        except KeyError:
            raise NotFound(f"no run with id {run_id!r}; GET /runs lists the runs") from None

    def record(self, run_id: str) -> RunRecord:
        """state.json; a run whose state.json cannot be read shows as UNKNOWN, with why."""
        path = self.paths(run_id).state
        try:
            return RunRecord.from_json(read_json(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("run_unreadable run_id=%s file=state.json error=%r", run_id, exc)
            reason = f"localwes cannot read {path}: {exc}; fix or remove the run folder"
            return RunRecord(State.UNKNOWN, submitted_time="", system_logs=[reason])

    def request(self, run_id: str) -> RunRequest:
        """request.json; an unreadable one reads as an empty request."""
        try:
            return RunRequest.from_json(read_json(self.paths(run_id).request))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("run_unreadable run_id=%s file=request.json error=%r", run_id, exc)
            return RunRequest(workflow_type="", workflow_type_version="", workflow_url="")

    def engine_argv(self, run_id: str) -> list[str]:
        """The command the engine runs (command.json), for RunLog.run_log.cmd."""
        argv = _json_object_or_empty(self.paths(run_id).command).get("argv", [])
        return [str(arg) for arg in argv] if isinstance(argv, list) else []

    def outputs(self, run_id: str) -> dict[str, Any]:
        """The engine's output object, once the run has ended; {} before."""
        return _json_object_or_empty(self.paths(run_id).outputs_json)

    def log_file(self, run_id: str, stream: str) -> Path:
        """The engine's stdout.log or stderr.log."""
        paths = self.paths(run_id)
        return {"stdout": paths.stdout, "stderr": paths.stderr}[stream]

    def ids(self) -> list[str]:
        """Every run id, oldest first."""
        return list(self._ids)

    def list_runs(
        self, page_size: int | None, page_token: str | None
    ) -> tuple[list[RunSummary], str]:
        """Newest first. The page token is the last id of the previous page, so a
        walk through the pages is stable and survives restarts."""
        size = check_page_size(page_size)
        end = len(self._ids)
        if page_token:
            if not RUN_ID_RE.fullmatch(page_token):
                raise BadRequest(f"page_token: {page_token!r} is not a token this service gave out")
            end = bisect.bisect_left(self._ids, page_token)
        start = max(0, end - size)
        page = [self._summaries[i] for i in reversed(self._ids[start:end])]
        return page, (page[-1].run_id if start > 0 and page else "")

    def state_counts(self) -> dict[str, int]:
        counts = Counter(str(s.state) for s in self._summaries.values())
        return {str(state): counts.get(str(state), 0) for state in State}

    # -- changing a run -----------------------------------------------------

    def update(self, run_id: str, state: State | None = None, **changes: Any) -> RunRecord:
        """Change state.json atomically; a new state must be a legal transition."""
        record = self.record(run_id)
        if state is not None:
            check_transition(record.state, state)
            record.state = state
        for name, value in changes.items():
            if name == "system_logs":
                record.system_logs.extend(value)
            else:
                setattr(record, name, value)
        write_json_durably(self.paths(run_id).state, record.to_json())
        if record.state.is_terminal:
            self.finished_unindexed += 1
        old = self._summaries[run_id]
        self._summaries[run_id] = RunSummary(
            run_id, record.state, record.start_time, record.end_time, old.tags
        )
        return record

    # -- tasks --------------------------------------------------------------

    def list_tasks(
        self, run_id: str, page_size: int | None, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Task records in the order they started."""
        size = check_page_size(page_size, refuse_below_one=False)
        names = sorted((p.stem for p in self.paths(run_id).tasks.glob("*.json")), key=task_order)
        start = (
            bisect.bisect_right(names, task_order(page_token), key=task_order) if page_token else 0
        )
        chosen = names[start : start + size]
        tasks = [self.task(run_id, name) for name in chosen]
        more = start + size < len(names)
        return tasks, (chosen[-1] if more and chosen else "")

    def task(self, run_id: str, task_id: str) -> dict[str, Any]:
        path = self.paths(run_id).tasks / f"{task_id}.json"
        try:
            data: dict[str, Any] = read_json(path)
        except (FileNotFoundError, ValueError):
            raise NotFound(f"run {run_id} has no task {task_id!r}") from None
        return data

    def task_stream(self, run_id: str, task_id: str, stream: str) -> Path | None:
        """A task's stdout or stderr file, if the engine gave it one."""
        relative = self.task(run_id, task_id).get(f"{stream}_file")
        return self._inside(self.paths(run_id).root, str(relative)) if relative else None

    # -- output files -------------------------------------------------------

    def output_file(self, run_id: str, relative: str) -> Path:
        """A file under the run's outputs/, checked after resolving links."""
        path = self._inside(self.paths(run_id).outputs, relative)
        if path is None or not path.is_file():
            raise NotFound(f"run {run_id} has no output file {relative!r}")
        return path

    def output_listing(self, run_id: str) -> list[str]:
        """Every file under outputs/ that resolves inside it, as relative paths."""
        outputs = self.paths(run_id).outputs
        return sorted(
            str(path.relative_to(outputs))
            for path in outputs.rglob("*")
            if self._inside(outputs, str(path.relative_to(outputs))) and path.is_file()
        )

    @staticmethod
    def _inside(root: Path, relative: str) -> Path | None:
        """`root/relative` unless it leads (by `..`, an absolute path or a link) outside."""
        resolved_root = root.resolve()
        target = (root / relative).resolve()
        return target if target.is_relative_to(resolved_root) else None


def _state_mtime(run_folder: str) -> int:
    try:
        return os.stat(os.path.join(run_folder, "state.json")).st_mtime_ns
    except OSError:
        return -1


def _json_object_or_empty(path: Path) -> dict[str, Any]:
    try:
        value = read_json(path)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def check_page_size(page_size: int | None, *, refuse_below_one: bool = True) -> int:
    """The page size to use. Above the largest, pages are that large: WES lets a
    service return fewer items than asked for. Below one is a 400 where WES has
    one (ListRuns); ListTasks has no 400, so it gets the default size."""
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    if page_size < 1:
        if refuse_below_one:
            raise BadRequest(f"page_size: {page_size} is out of range; use 1 to {MAX_PAGE_SIZE}")
        return DEFAULT_PAGE_SIZE
    return min(page_size, MAX_PAGE_SIZE)


def task_order(task_id: str) -> tuple[int, str]:
    """Task ids sort in the order tasks started: the number before the dash is
    zero-padded to four digits, so from 10000 on a longer one comes later."""
    digits = len(task_id) - len(task_id.lstrip("0123456789"))
    return digits, task_id
