"""Nothing lost: adoption, unreadable folders, graceful stop, full disks, hand
edits and systemd readiness."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from localwes.api import app as app_module
from localwes.config import Settings
from tests.conftest import DATA, make_settings, serving
from tests.helpers import Wes, kill_processes_under, start_serve, wait_no_processes
from tests.test_scheduler import submit_fake
from tests.test_tasks import fetch

CWL = DATA / "cwl"
UNIT = Path(__file__).resolve().parent.parent / "systemd" / "localwes.service"


async def test_an_adopted_run_keeps_its_logs_tasks_and_cancel(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    async with serving(settings) as wes:
        run_id = await submit_fake(wes, name="adopted", sleep=300)
        await wes.wait(run_id, {"RUNNING"})
    folder = state_dir / "runs" / run_id
    async with serving(settings) as wes:
        assert await wes.state(run_id) == "RUNNING"
        log = await wes.get(f"/runs/{run_id}")
        assert "starting adopted" in (await fetch(log["run_log"]["stderr"]))[1]
        await wes.get(f"/runs/{run_id}/tasks")
        await wes.post(f"/runs/{run_id}/cancel")
        assert await wes.wait(run_id, timeout=20) == "CANCELED"
    assert await wait_no_processes(folder) == []


async def finished_fake_runs(settings: Settings, *names: str) -> list[str]:
    """Runs that ran to the end under a daemon that has stopped again."""
    async with serving(settings) as wes:
        run_ids = [await submit_fake(wes, name=name) for name in names]
        for run_id in run_ids:
            await wes.wait(run_id)
    return run_ids


async def test_an_unreadable_run_folder_shows_as_unknown_and_hides_nothing(
    state_dir: Path,
) -> None:
    settings = make_settings(state_dir)
    good, bad = await finished_fake_runs(settings, "good", "bad")
    (state_dir / "runs" / bad / "state.json").write_text('{"state": "COMPLE')  # hand-edited
    async with serving(settings) as wes:
        listed = {r["run_id"]: r["state"] for r in (await wes.get("/runs"))["runs"]}
        assert listed == {good: "COMPLETE", bad: "UNKNOWN"}
        log = await wes.get(f"/runs/{bad}")
        assert log["state"] == "UNKNOWN"
        assert "cannot read" in log["run_log"]["system_logs"][0]
        assert (await wes.get("/service-info"))["system_state_counts"]["UNKNOWN"] == 1
        await wes.post(f"/runs/{bad}/cancel")  # changes nothing, breaks nothing
        assert await wes.state(good) == "COMPLETE"


async def test_a_state_dir_removed_under_the_daemon_says_to_restart(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    echo: dict[str, Path | bytes] = {"echo.cwl": CWL / "echo.cwl"}
    async with serving(settings) as wes:
        shutil.rmtree(state_dir)
        error = await wes.submit("echo.cwl", {"message": "x"}, echo, status=500)
        assert "is gone" in error["msg"] and "restart `localwes serve`" in error["msg"]
        assert not state_dir.exists()  # made nothing in its place
    async with serving(settings) as wes:  # the restart makes it again
        assert await wes.wait(await wes.submit("echo.cwl", {"message": "x"}, echo)) == "COMPLETE"


@pytest.mark.parametrize("on_stop", ["leave", "cancel"])
async def test_graceful_stop_leaves_or_cancels_running_runs(
    daemon_factory: Any, state_dir: Path, on_stop: str
) -> None:
    daemon = daemon_factory("--on-stop", on_stop)
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        run_id = await wes.submit("sleep.cwl", {"seconds": 3}, {"sleep.cwl": CWL / "sleep.cwl"})
        await wes.wait(run_id, {"RUNNING"})
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(daemon.proc.wait, 30) == 0
    assert time.monotonic() - started < 8
    daemon = daemon_factory()
    async with aiohttp.ClientSession() as session:
        wes = Wes(session, daemon.base)
        expected = "COMPLETE" if on_stop == "leave" else "CANCELED"
        assert await wes.wait(run_id, timeout=60) == expected
    assert await wait_no_processes(state_dir / "runs") == []


def in_own_mounts(script: str, *args: str) -> list[str]:
    """Run the daemon after `script` (sh, with `args` as $0...) in its own user and
    mount namespaces, where it may mount what the test needs."""
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, *args]


def tmpfs_wrapper(state_dir: Path, size: str) -> list[str]:
    """Run the daemon over a small tmpfs state dir."""
    mount = 'mount -t tmpfs -o size="$1" tmpfs "$0" && shift && exec "$@"'
    return in_own_mounts(mount, str(state_dir), size)


async def test_a_full_disk_gives_507_and_leaves_nothing_and_fails_runs_as_system_error(
    state_dir: Path, tmp_path: Path
) -> None:
    if shutil.which("unshare") is None:
        pytest.fail("this test needs unshare (util-linux) to make a small filesystem")
    proc, base = start_serve(
        state_dir,
        tmp_path / "daemon.log",
        "--container",
        "none",
        wrapper=tmpfs_wrapper(state_dir, "4m"),
    )
    try:
        async with aiohttp.ClientSession() as session:
            wes = Wes(session, base)
            echo: dict[str, Path | bytes] = {"echo.cwl": CWL / "echo.cwl"}
            too_big = {**echo, "big.bin": b"x" * 5 * 1024 * 1024}
            error = await wes.submit("echo.cwl", {"message": "x"}, too_big, status=507)
            assert error["status_code"] == 507 and "no space left" in error["msg"]
            assert (await wes.get("/runs"))["runs"] == []
            # The partial upload was removed: this one fits only if its space came back.
            fits = {**echo, "half.bin": b"x" * 3 * 1024 * 1024}
            run_id = await wes.submit("echo.cwl", {"message": "fits"}, fits)
            assert await wes.wait(run_id) == "COMPLETE"
            fill = await wes.submit("fill.cwl", {"megabytes": 64}, {"fill.cwl": CWL / "fill.cwl"})
            assert await wes.wait(fill) == "SYSTEM_ERROR"
            notes = " ".join((await wes.get(f"/runs/{fill}"))["run_log"]["system_logs"])
            assert "out of space" in notes
            assert len((await wes.get("/runs"))["runs"]) == 2  # still serving
    finally:
        proc.kill()
        proc.wait()
        kill_processes_under(state_dir)


async def test_a_run_folder_removed_by_hand_disappears(
    wes: Wes, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done = await submit_fake(wes, name="done")
    running = await submit_fake(wes, name="running", sleep=300)
    await wes.wait(done)
    await wes.wait(running, {"RUNNING"})
    for run_id in (done, running):
        shutil.rmtree(state_dir / "runs" / run_id)
    for _ in range(100):
        if (await wes.get("/runs"))["runs"] == []:
            break
        await asyncio.sleep(0.05)
    assert (await wes.get("/runs"))["runs"] == []
    assert sum((await wes.get("/service-info"))["system_state_counts"].values()) == 0
    await wes.get(f"/runs/{done}", status=404)
    assert await wait_no_processes(state_dir / "runs") == []
    after = await submit_fake(wes, name="after")
    assert await wes.wait(after) == "COMPLETE"
    # The user's to do: no error, no traceback in the daemon's log.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_ready_is_sent_to_systemd_after_the_socket_is_bound(
    state_dir: Path, tmp_path: Path
) -> None:
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(30)
    proc, base = start_serve(state_dir, tmp_path / "d.log", env={"NOTIFY_SOCKET": address})
    try:
        message = (await asyncio.to_thread(listener.recv, 4096)).decode()
        assert "READY=1" in message and base in message
        async with aiohttp.ClientSession() as session, session.get(f"{base}/service-info") as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in (await asyncio.to_thread(listener.recv, 4096)).decode()
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        proc.kill()
        listener.close()


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = tmp_path / "localwes.service"
    localwes = Path(sys.executable).parent / "localwes"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/localwes", str(localwes)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    text = UNIT.read_text()
    for line in ("Type=notify", "Restart=on-failure", "KillMode=process"):
        assert f"\n{line}\n" in text


async def test_a_read_only_state_dir_gives_a_clear_500(state_dir: Path, tmp_path: Path) -> None:
    staging = state_dir / ".staging"
    script = (
        'mount -t tmpfs tmpfs "$0" && mkdir "$0/.staging" && mount --bind "$0/.staging" '
        '"$0/.staging" && mount -o remount,bind,ro "$0/.staging" && exec "$@"'
    )
    wrapper = in_own_mounts(script, str(state_dir))
    proc, base = start_serve(state_dir, tmp_path / "ro.log", wrapper=wrapper)
    try:
        async with aiohttp.ClientSession() as session:
            wes = Wes(session, base)
            error = await wes.submit("echo.cwl", {}, {"echo.cwl": CWL / "echo.cwl"}, status=500)
            assert "could not create the run folder" in error["msg"]
            assert "Read-only file system" in error["msg"] and str(staging) in error["msg"]
            assert (await wes.get("/runs"))["runs"] == []
    finally:
        proc.kill()
        proc.wait()


async def test_the_finished_index_is_only_a_cache(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    kept, removed = await finished_fake_runs(settings, "kept", "removed")
    index = state_dir / "finished-index.json"
    assert set(json.loads(index.read_text())["runs"]) == {kept, removed}
    shutil.rmtree(state_dir / "runs" / removed)  # while the daemon is down
    async with serving(settings) as wes:
        listed = [r["run_id"] for r in (await wes.get("/runs"))["runs"]]
        assert listed == [kept]
    index.write_text("{not json")
    async with serving(settings) as wes:
        assert [r["state"] for r in (await wes.get("/runs"))["runs"]] == ["COMPLETE"]


async def test_the_finished_index_is_refreshed_while_the_daemon_runs(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "FINISHED_INDEX_EVERY_S", 0)
    monkeypatch.setattr(app_module, "FINISHED_INDEX_CHECK_S", 0.05)
    index = state_dir / "finished-index.json"
    async with serving(make_settings(state_dir)) as wes:
        run_id = await submit_fake(wes, name="indexed")
        await wes.wait(run_id)
        for _ in range(100):  # no stop, no restart: a crash now would keep it
            if index.exists() and run_id in json.loads(index.read_text())["runs"]:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("finished-index.json was not refreshed")
