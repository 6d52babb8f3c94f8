"""Scheduling, cancel and restart, with a tiny fake engine where speed matters."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from localwes.supervisor import EXIT_STALE
from tests.conftest import make_settings, serving
from tests.fake_engine import SCRIPT
from tests.helpers import Wes, processes_under, wait_no_processes


async def submit_fake(wes: Wes, **params: Any) -> str:
    run_id: str = await wes.submit(
        "run.py",
        params,
        {"run.py": SCRIPT.encode()},
        workflow_type="FAKE",
        workflow_type_version="1",
    )
    return run_id


def events(log: Path) -> list[tuple[str, str, float]]:
    rows = [line.split() for line in log.read_text().splitlines()]
    return [(kind, name, float(when)) for kind, name, when, _pid in rows]


def max_overlap(log: Path) -> int:
    running = peak = 0
    for kind, _name, _when in sorted(events(log), key=lambda e: (e[2], e[0] == "start")):
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    return peak


async def test_fifo_with_at_most_max_concurrent_engines(wes: Wes, tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    run_ids = [await submit_fake(wes, name=f"r{i}", sleep=0.4, log=str(log)) for i in range(6)]
    for run_id in run_ids:
        assert await wes.wait(run_id) == "COMPLETE"
    started = {name: when for kind, name, when in events(log) if kind == "start"}
    # First in, first out: two runs that were not in the same pair of free slots
    # start in the order they were submitted.
    for i in range(6):
        for j in range(i + 2, 6):
            assert started[f"r{i}"] < started[f"r{j}"]
    assert max_overlap(log) == 2  # the limit is reached and never passed
    outputs = [(await wes.get(f"/runs/{r}"))["outputs"] for r in run_ids]
    assert outputs == [{"name": f"r{i}"} for i in range(6)]


async def test_exit_code_is_the_engines(wes: Wes) -> None:
    run_id = await submit_fake(wes, name="bad", exit=7)
    assert await wes.wait(run_id) == "EXECUTOR_ERROR"
    assert (await wes.get(f"/runs/{run_id}"))["run_log"]["exit_code"] == 7


async def test_cancel_queued_run_ends_at_once_and_never_starts(
    state_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    async with serving(make_settings(state_dir, max_concurrent=1)) as wes:
        first = await submit_fake(wes, name="first", sleep=1, log=str(log))
        queued = await submit_fake(wes, name="queued", log=str(log))
        assert await wes.state(queued) == "QUEUED"
        await wes.post(f"/runs/{queued}/cancel")
        assert await wes.state(queued) == "CANCELED"
        assert await wes.wait(first) == "COMPLETE"
        await asyncio.sleep(0.3)
        assert await wes.state(queued) == "CANCELED"
        assert [name for _kind, name, _ in events(log)] == ["first", "first"]
        # Nothing was executed for it: its RunLog shows no command line.
        assert (await wes.get(f"/runs/{queued}"))["run_log"]["cmd"] == []
        assert (await wes.get(f"/runs/{first}"))["run_log"]["cmd"][-1] == "inputs.json"


async def test_cancel_running_run_kills_its_process_group(wes: Wes, state_dir: Path) -> None:
    run_id = await submit_fake(wes, name="long", sleep=300)
    await wes.wait(run_id, {"RUNNING"})
    folder = state_dir / "runs" / run_id
    while "starting" not in (folder / "stderr.log").read_text():
        await asyncio.sleep(0.02)
    await wes.post(f"/runs/{run_id}/cancel")
    assert await wes.wait(run_id, timeout=20) == "CANCELED"
    assert await wait_no_processes(folder) == []
    log = await wes.get(f"/runs/{run_id}")
    assert log["run_log"]["end_time"] and log["state"] == "CANCELED"


async def test_list_runs_newest_first_and_pages_survive_restart(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    async with serving(settings) as wes:
        made = [await submit_fake(wes, name=str(i)) for i in range(7)]
        first = await wes.get("/runs", page_size=3)
        assert [r["run_id"] for r in first["runs"]] == made[::-1][:3]
        assert all(set(r) >= {"run_id", "state", "tags"} for r in first["runs"])
        for run_id in made:
            await wes.wait(run_id)
    async with serving(settings) as wes:  # a restarted daemon takes the same token
        second = await wes.get("/runs", page_size=3, page_token=first["next_page_token"])
        third = await wes.get("/runs", page_size=3, page_token=second["next_page_token"])
        assert [r["run_id"] for r in second["runs"] + third["runs"]] == made[::-1][3:]
        assert third["next_page_token"] == ""
        assert all(r["state"] == "COMPLETE" and r["end_time"] for r in third["runs"])


async def test_service_info_counts_match_the_runs(wes: Wes) -> None:
    done = await submit_fake(wes, name="done")
    await wes.wait(done)
    failed = await submit_fake(wes, name="failed", exit=1)
    await wes.wait(failed)
    info = await wes.get("/service-info")
    counts = info["system_state_counts"]
    assert counts["COMPLETE"] == 1 and counts["EXECUTOR_ERROR"] == 1
    assert sum(counts.values()) == 2
    assert info["workflow_engine_versions"]["cwltool"]["workflow_engine_version"][0][0].isdigit()
    assert info["workflow_type_versions"]["CWL"]["workflow_type_version"] == [
        "v1.0",
        "v1.1",
        "v1.2",
    ]


async def test_stop_and_start_again_picks_up_queued_and_running_runs(
    state_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    settings = make_settings(state_dir, max_concurrent=1)
    async with serving(settings) as wes:
        running = await submit_fake(wes, name="running", sleep=1.5, log=str(log))
        queued = [await submit_fake(wes, name=f"q{i}", log=str(log)) for i in range(2)]
        await wes.wait(running, {"RUNNING"})
    # The daemon is gone; the running run's supervisor is not.
    assert processes_under(state_dir / "runs" / running)
    async with serving(settings) as wes:
        assert await wes.state(running) == "RUNNING"
        for run_id in [running, *queued]:
            assert await wes.wait(run_id) == "COMPLETE"
    names = [name for kind, name, _ in events(log) if kind == "start"]
    assert names == ["running", "q0", "q1"]  # nothing ran twice


async def test_interrupted_run_is_queued_again_or_failed(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    async with serving(settings) as wes:
        requeued = await submit_fake(wes, name="a", sleep=300)
        await wes.wait(requeued, {"RUNNING"})
    # Kill the supervisor and the engine, as a crash or reboot would.
    for pid in processes_under(state_dir / "runs" / requeued):
        os.kill(pid, signal.SIGKILL)
    assert await wait_no_processes(state_dir / "runs" / requeued) == []
    folder = state_dir / "runs" / requeued
    (folder / "inputs.json").write_text(json.dumps({"name": "a"}))  # finish quickly this time
    async with serving(settings) as wes:
        assert await wes.wait(requeued) == "COMPLETE"
        log = await wes.get(f"/runs/{requeued}")
        assert "queued again" in " ".join(log["run_log"]["system_logs"])
        failed = await submit_fake(wes, name="b", sleep=300)
        await wes.wait(failed, {"RUNNING"})
    for pid in processes_under(state_dir / "runs" / failed):
        os.kill(pid, signal.SIGKILL)
    assert await wait_no_processes(state_dir / "runs" / failed) == []
    async with serving(make_settings(state_dir, on_interrupted="fail")) as wes:
        assert await wes.state(failed) == "SYSTEM_ERROR"
        log = await wes.get(f"/runs/{failed}")
        assert "supervisor is gone" in " ".join(log["run_log"]["system_logs"])


async def test_a_supervisor_that_dies_fails_its_run_with_its_last_words(
    wes: Wes, state_dir: Path
) -> None:
    run_id = await submit_fake(wes, name="doomed", sleep=300)
    await wes.wait(run_id, {"RUNNING"})
    folder = state_dir / "runs" / run_id
    supervisor = json.loads((folder / "supervisor.json").read_text())["pid"]
    with (folder / "supervisor.log").open("a") as said:  # as a crashing supervisor would
        said.write("Traceback (most recent call last):\nMemoryError: out of memory\n\n")
    os.kill(supervisor, signal.SIGKILL)
    assert await wes.wait(run_id) == "SYSTEM_ERROR"
    (note,) = (await wes.get(f"/runs/{run_id}"))["run_log"]["system_logs"]
    assert note.startswith("the run's supervisor ended without recording how the engine ended")
    assert note.endswith("supervisor.log in the run folder ends: MemoryError: out of memory")
    # Its engine ran on, orphaned: nothing of a run may outlive it.
    assert await wait_no_processes(folder) == []


async def test_a_run_requeued_after_its_supervisor_died_never_runs_twice_at_once(
    state_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    settings = make_settings(state_dir)
    async with serving(settings) as wes:
        run_id = await submit_fake(wes, name="once", sleep=300, log=str(log))
        await wes.wait(run_id, {"RUNNING"})
    folder = state_dir / "runs" / run_id
    engine = json.loads((folder / "supervisor.json").read_text())
    os.kill(engine["pid"], signal.SIGKILL)  # the supervisor only; its engine sleeps on
    await asyncio.sleep(0.2)
    assert engine["engine_pid"] in processes_under(folder)
    (folder / "inputs.json").write_text(json.dumps({"name": "once", "log": str(log)}))
    async with serving(settings) as wes:
        assert await wes.wait(run_id) == "COMPLETE"
    # Two starts, one end: the first attempt was killed when the run was queued again.
    assert [kind for kind, _name, _when in events(log)] == ["start", "start", "end"]
    assert await wait_no_processes(folder) == []


async def test_task_records_in_the_run_folder_are_listed_and_paged(
    wes: Wes, state_dir: Path
) -> None:
    run_id = await submit_fake(wes, name="t")
    await wes.wait(run_id)
    tasks_dir = state_dir / "runs" / run_id / "tasks"
    for i in range(5):
        record = {"id": f"{i:04d}", "name": f"step{i}", "cmd": ["true"], "exit_code": 0}
        (tasks_dir / f"{i:04d}.json").write_text(json.dumps(record))
    first = await wes.get(f"/runs/{run_id}/tasks", page_size=2)
    assert [t["name"] for t in first["task_logs"]] == ["step0", "step1"]
    second = await wes.get(
        f"/runs/{run_id}/tasks", page_size=2, page_token=first["next_page_token"]
    )
    third = await wes.get(
        f"/runs/{run_id}/tasks", page_size=2, page_token=second["next_page_token"]
    )
    assert [t["name"] for t in second["task_logs"] + third["task_logs"]] == [
        "step2",
        "step3",
        "step4",
    ]
    assert third["next_page_token"] == ""
    assert (await wes.get(f"/runs/{run_id}/tasks/0003"))["name"] == "step3"
    # From the 10,000th task on, ids are a digit longer and still come in order.
    for number in (9999, 10000, 10001):
        record = {"id": f"{number:04d}-big", "name": f"big{number}", "cmd": ["true"]}
        (tasks_dir / f"{number:04d}-big.json").write_text(json.dumps(record))
    page = await wes.get(f"/runs/{run_id}/tasks", page_size=3)
    names = [t["name"] for t in page["task_logs"]]
    while token := page["next_page_token"]:
        page = await wes.get(f"/runs/{run_id}/tasks", page_size=3, page_token=token)
        names += [t["name"] for t in page["task_logs"]]
    assert names == [f"step{i}" for i in range(5)] + ["big9999", "big10000", "big10001"]
    assert (await wes.get(f"/runs/{run_id}/tasks"))["next_page_token"] == ""


async def test_a_supervisor_of_an_old_attempt_stands_down(wes: Wes, state_dir: Path) -> None:
    run_id = await submit_fake(wes, name="fenced")
    assert await wes.wait(run_id) == "COMPLETE"
    folder = state_dir / "runs" / run_id
    (folder / "exit.json").unlink()
    state = json.loads((folder / "state.json").read_text())
    assert state["attempt"] == 1
    state["attempt"] = 3  # as after a restart that queued the run again
    (folder / "state.json").write_text(json.dumps(state))
    before = (folder / "stdout.log").read_text()

    def supervise(attempt: int) -> int:
        argv = [sys.executable, "-m", "localwes.supervisor", str(folder), str(attempt), "1"]
        return subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode

    assert await asyncio.to_thread(supervise, 2) == EXIT_STALE
    assert not (folder / "exit.json").exists()
    assert (folder / "stdout.log").read_text() == before  # the engine never started
    assert await asyncio.to_thread(supervise, 3) == 0
    assert json.loads((folder / "exit.json").read_text())["attempt"] == 3


async def test_tasks_the_engine_left_open_end_with_the_run(wes: Wes) -> None:
    done = await submit_fake(wes, open_task="left-open")
    canceled = await submit_fake(wes, open_task="canceled", sleep=300)
    assert await wes.wait(done) == "COMPLETE"
    await wes.started_tasks(canceled)
    await wes.post(f"/runs/{canceled}/cancel")
    assert await wes.wait(canceled) == "CANCELED"
    for run_id, why in ((done, "the engine ended (status 0)"), (canceled, "the run was canceled")):
        (task,) = (await wes.get(f"/runs/{run_id}/tasks"))["task_logs"]
        assert task["end_time"] and "exit_code" not in task
        assert task["system_logs"] == [f"still running when {why}; stopped with it"]


ESCAPING_SCRIPT = """\
import json, subprocess, sys
p = json.load(open(sys.argv[1]))
# A helper in a session of its own, left behind: it is not in the engine's group.
subprocess.Popen(["sleep", "300"], start_new_session=True, cwd=p["cwd"])
print(json.dumps({"left": "behind"}))
"""


async def test_a_process_that_left_the_engines_group_is_killed_too(
    wes: Wes, state_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "escapee"
    marker.mkdir()
    run_id: str = await wes.submit(
        "run.py",
        {"cwd": str(marker)},
        {"run.py": ESCAPING_SCRIPT.encode()},
        workflow_type="FAKE",
        workflow_type_version="1",
    )
    assert await wes.wait(run_id) == "COMPLETE"
    assert await wait_no_processes(marker) == []
