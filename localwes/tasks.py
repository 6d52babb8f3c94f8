"""Task records: one JSON file per task in the run folder's tasks/, written by the
engine process as each task starts and ends.

Engines record from inside (a cwltool hook, localwes's miniwdl backends), never
by parsing log text. File names give the order tasks started (see
store.task_order), which is the order ListTasks gives. The stdout/stderr fields
hold paths relative to the run folder; the API turns them into URLs.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from pathlib import Path
from typing import Any

from localwes.durable import read_json, write_json_durably
from localwes.models import utc_now

# The supervisor tells the engine where its run folder is.
RUN_DIR_ENV = "LOCALWES_RUN_DIR"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TaskRecorder:
    """Writes the task records of one run; safe to use from several threads."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.tasks_dir = run_dir / "tasks"
        self.tasks_dir.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._sequence = itertools.count(1 + len(list(self.tasks_dir.glob("*.json"))))

    def start(
        self, name: str, cmd: list[str], stdout: str | None, stderr: str | None
    ) -> dict[str, Any]:
        """Record a task that has just started; returns the record to pass to `end`."""
        with self._lock:
            task_id = f"{next(self._sequence):04d}-{_UNSAFE.sub('_', name).strip('_')[:80]}"
        record: dict[str, Any] = {
            "id": task_id,
            "name": name,
            "cmd": cmd,
            "start_time": utc_now(),
            "stdout_file": self.relative(stdout),
            "stderr_file": self.relative(stderr),
            "system_logs": [],
        }
        self._write(record)
        return record

    def update(self, record: dict[str, Any]) -> None:
        self._write(record)

    def end(self, record: dict[str, Any], exit_code: int | None, *notes: str) -> None:
        record.update(end_time=utc_now(), exit_code=exit_code)
        record["system_logs"].extend(notes)
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        write_json_durably(self.tasks_dir / f"{record['id']}.json", record)

    def relative(self, path: str | None) -> str | None:
        """A path inside the run folder as relative to it; others stay absolute."""
        if path is None:
            return None
        absolute = Path(os.path.abspath(path))
        if absolute.is_relative_to(self.run_dir):
            return str(absolute.relative_to(self.run_dir))
        return str(absolute)


def close_open_tasks(tasks_dir: Path, note: str) -> None:
    """End every record the engine left open: its process group is gone, so each
    of those tasks ended with it. Without this a killed engine's tasks would show
    as running for ever."""
    if not tasks_dir.is_dir():
        return
    for path in sorted(tasks_dir.glob("*.json")):
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue  # not a record localwes can read; the API skips it too
        if isinstance(record, dict) and "end_time" not in record:
            record.update(end_time=utc_now(), exit_code=None)
            record.setdefault("system_logs", []).append(note)
            write_json_durably(path, record)


_recorders: dict[Path, TaskRecorder] = {}
_recorders_lock = threading.Lock()


def recorder_for_this_run() -> TaskRecorder | None:
    """The recorder of the run this engine process belongs to, if localwes started it."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        return None
    path = Path(run_dir)
    with _recorders_lock:
        if path not in _recorders:
            _recorders[path] = TaskRecorder(path)
        return _recorders[path]
