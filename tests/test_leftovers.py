"""What a dead supervisor left running is killed, and nothing else is."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localwes.leftovers import kill_leftovers
from localwes.store import RunPaths
from localwes.tasks import RUN_DIR_ENV


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def sleeper(
    started: list[subprocess.Popen[bytes]], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["sleep", "300"], cwd=cwd, env={**os.environ, **(env or {})}, process_group=0
    )
    started.append(proc)
    return proc


def record_engine(paths: RunPaths, pid: int, started_at: float) -> None:
    paths.supervisor.write_text(json.dumps({"engine_pid": pid, "engine_started_at": started_at}))


def alive(proc: subprocess.Popen[bytes]) -> bool:
    time.sleep(0.1)
    return proc.poll() is None


def test_the_engine_group_and_marked_processes_are_killed(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    paths = RunPaths(tmp_path / "run")
    paths.root.mkdir()
    engine = sleeper(started, paths.root)
    record_engine(paths, engine.pid, time.time())
    task = sleeper(started, tmp_path, {RUN_DIR_ENV: str(paths.root)})  # its own group, elsewhere
    assert kill_leftovers(paths) == sorted([engine.pid, task.pid])
    assert engine.wait(5) == -9 and task.wait(5) == -9


def test_processes_of_other_runs_and_reused_pids_are_left_alone(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    paths, other = RunPaths(tmp_path / "run"), RunPaths(tmp_path / "other")
    paths.root.mkdir()
    other.root.mkdir()
    of_another_run = sleeper(started, other.root, {RUN_DIR_ENV: str(other.root)})
    # The recorded engine pid now names a process that started long after the engine.
    record_engine(paths, sleeper(started, paths.root).pid, time.time() - 3600)
    assert kill_leftovers(paths) == []
    # ... or one that started at that time but works elsewhere.
    elsewhere = sleeper(started, tmp_path)
    record_engine(paths, elsewhere.pid, time.time())
    assert kill_leftovers(paths) == []
    assert all(alive(proc) for proc in started) and alive(of_another_run)
