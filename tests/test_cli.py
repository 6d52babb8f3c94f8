"""The client subcommands, run as a user would (`localwes ...` in a shell) against a
real daemon."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from tests.conftest import DATA

CWL = DATA / "cwl"
WDL = DATA / "wdl"


def localwes(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "localwes", *args],
        input=stdin,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def read_until(stream: IO[str], wanted: str) -> str:
    """Lines from `stream` up to the first that contains `wanted` (fails at its end)."""
    seen = ""
    while wanted not in seen:
        line = stream.readline()
        assert line, f"the stream ended before {wanted!r}: {seen!r}"
        seen += line
    return seen


def at(daemon: Any) -> dict[str, str]:
    return {"LOCALWES_URL": daemon.base}


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_submit_attaches_what_a_cwl_workflow_needs(
    daemon_factory: Any, tmp_path: Path
) -> None:
    env = at(daemon_factory())
    # scatter.cwl runs tools/*.cwl; its inputs name data/*.txt relative to the job file.
    done = localwes(
        "submit", str(CWL / "scatter.cwl"), str(CWL / "scatter-job.json"),
        "--tag", "project=cli", "--wait", env=env,
    )  # fmt: skip
    assert "COMPLETE" in ok(done)
    lines = done.stdout.splitlines()
    # Every task, then the run's end.
    assert lines[-2:] == ["  task count ended (exit code 0)", lines[-1]]
    assert lines[-1].split()[-1] == "COMPLETE"
    assert "  task upper[2] ended (exit code 0)" in lines
    runs = json.loads(ok(localwes("ls", "--tag", "project=cli", "--json", env=env)))
    assert [r["state"] for r in runs] == ["COMPLETE"]
    run_id = runs[0]["run_id"]
    assert json.loads(ok(localwes("ls", "--tag", "project=other", "--json", env=env))) == []
    table = ok(localwes("ls", env=env)).splitlines()
    assert table[0].split() == ["RUN", "STATE", "STARTED", "TAGS"]
    assert run_id in table[1] and "project=cli" in table[1]
    assert "state      COMPLETE" in ok(localwes("status", run_id, env=env))
    # Cancel of a finished run changes nothing, and says so; several runs at once.
    assert (
        ok(localwes("cancel", run_id, env=env)) == f"{run_id} already COMPLETE: nothing to cancel\n"
    )
    both = json.loads(ok(localwes("cancel", "--json", run_id, run_id, env=env)))
    assert both == [{"run_id": run_id, "state": "COMPLETE"}] * 2
    assert len(json.loads(ok(localwes("tasks", run_id, "--json", env=env)))) == 4
    assert "Final process status is success" in ok(localwes("logs", run_id, env=env))
    # A task by its id, name or number; upper[1] upper-cases b.txt.
    for task in ("0002-upper_1", "upper[1]", "2"):
        assert ok(localwes("logs", run_id, "--task", task, env=env)) == "BETA\n"
    gone = localwes("status", "01M85ZWG779Q4MM6MSRPW7PFJ8", env=env)
    assert gone.returncode == 2 and "`localwes ls` lists them" in gone.stderr
    unknown = localwes("logs", run_id, "--task", "upper[9]", env=env)
    assert unknown.returncode == 2 and f"localwes tasks {run_id}" in unknown.stderr
    dest = tmp_path / "copied"
    ok(localwes("outputs", run_id, str(dest), env=env))
    assert sorted(p.name for p in dest.iterdir())[0] == "count.txt"
    assert "ALPHA" in (dest / "upper.txt").read_text()


async def test_submit_a_wdl_workflow_with_imports_and_relative_inputs(
    daemon_factory: Any, tmp_path: Path
) -> None:
    env = at(daemon_factory())
    done = localwes("submit", str(WDL / "main.wdl"), "-", "--wait", "--json", env=env,
                    stdin=json.dumps({"main.name": "cli"}))  # fmt: skip
    run = json.loads(ok(done))  # main.wdl imports lib/tasks.wdl: attached by submit
    assert run["state"] == "COMPLETE", run["run_log"]["system_logs"]
    assert run["request"]["workflow_url"] == "main.wdl"
    # A File input named relative to the inputs file, as with `miniwdl run`.
    (tmp_path / "greeting.txt").write_text("Hi there\n")
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"hello.who": "cli", "hello.greeting": "greeting.txt"}))
    done = localwes("submit", str(WDL / "hello.wdl"), str(inputs), "--wait", "--json", env=env)
    run = json.loads(ok(done))
    assert run["state"] == "COMPLETE", run["run_log"]["system_logs"]
    assert "Hi there" in run["outputs"]["hello.line"]
    # The output files only (not miniwdl's logs and call folders), by output name
    # (hello.wdl's File output is called `out`).
    dest = tmp_path / "results"
    assert ok(localwes("outputs", run["run_id"], str(dest), env=env)) == (
        f"1 file(s) copied into {dest}\n"
    )
    assert [p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()] == [
        "out/out.txt"
    ]
    assert (dest / "out" / "out.txt").read_text() == "Hi there cli\n"


async def test_wait_fails_with_the_run_and_says_why(daemon_factory: Any) -> None:
    env = at(daemon_factory())
    done = localwes("submit", str(CWL / "fail.cwl"), "--wait", env=env)
    assert done.returncode == 1
    assert "EXECUTOR_ERROR" in done.stdout
    assert "localwes logs" in done.stdout


async def test_cancel_and_follow_a_log(daemon_factory: Any, tmp_path: Path) -> None:
    env = at(daemon_factory())
    run_id = ok(localwes("submit", str(CWL / "sleep.cwl"), "-", env=env, stdin='{"seconds": 60}'))
    run_id = run_id.strip()
    follower = subprocess.Popen(
        [sys.executable, "-m", "localwes", "logs", "-f", run_id],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Live: cwltool's line about the job arrives while the run is still running.
        assert follower.stdout is not None
        seen = await asyncio.to_thread(read_until, follower.stdout, "[job sleep.cwl]")
        early = localwes("outputs", run_id, str(tmp_path / "early"), env=env)
        assert early.returncode == 2 and "not final yet" in early.stderr
        assert not (tmp_path / "early").exists()
        said = ok(localwes("cancel", run_id, env=env))
        assert said in (f"{run_id} canceling\n", f"{run_id} canceled\n")
        done = localwes("wait", run_id, env=env)
        assert done.returncode == 1 and "CANCELED" in done.stdout
        # ... and the follower stops by itself at the end of the run.
        rest, _ = follower.communicate(timeout=30)
        assert follower.returncode == 0, seen + rest
    finally:
        follower.kill()
        follower.wait()


def start_localwes(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "localwes", *args],
        env={**os.environ, "XDG_CONFIG_HOME": "/nonexistent", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_wait_and_follow_outlast_a_restart_of_the_daemon(
    daemon_factory: Any, state_dir: Path
) -> None:
    daemon = daemon_factory()
    env = {"LOCALWES_STATE_DIR": str(state_dir)}  # found through daemon.json
    run_id = ok(localwes("submit", str(CWL / "sleep.cwl"), "-", env=env, stdin='{"seconds": 5}'))
    run_id = run_id.strip()
    waiter = start_localwes("wait", run_id, env=env)
    follower = start_localwes("logs", "-f", run_id, env=env)
    try:
        assert follower.stdout is not None
        seen = await asyncio.to_thread(read_until, follower.stdout, "[job sleep.cwl]")
        daemon.stop()  # SIGTERM: the run goes on under its supervisor
        daemon_factory()  # back, on another ephemeral port
        waited, _ = await asyncio.to_thread(waiter.communicate, timeout=60)
        assert waiter.returncode == 0 and waited.splitlines()[-1].endswith("COMPLETE")
        rest, _ = await asyncio.to_thread(follower.communicate, timeout=60)
        assert follower.returncode == 0
        log = seen + rest  # all of it, once: picked up where it was cut off
        assert log.count("[job sleep.cwl] completed success") == 1
        assert log.count("Resolved ") == 1 and log.endswith("Final process status is success\n")
    finally:
        for proc in (waiter, follower):
            proc.kill()
            proc.wait()


async def test_the_local_daemon_is_found_without_a_url(
    daemon_factory: Any, state_dir: Path
) -> None:
    daemon_factory("--auth", "token")
    env = {"LOCALWES_STATE_DIR": str(state_dir)}
    # daemon.json names the daemon; its token file is this user's to send.
    assert json.loads(ok(localwes("ls", "--json", env=env))) == []
    denied = localwes("ls", "--url", f"http://127.0.0.1:{_port(state_dir)}", env=env)
    assert denied.returncode == 2
    assert "401" in denied.stderr and "LOCALWES_TOKEN" in denied.stderr


def _port(state_dir: Path) -> str:
    url = json.loads((state_dir / "daemon.json").read_text())["url"]
    return str(url.rsplit(":", 1)[1])


async def test_a_unix_socket_daemon(daemon_factory: Any, state_dir: Path) -> None:
    socket_path = state_dir.parent / "wes.sock"
    daemon_factory("--unix-socket", str(socket_path))
    done = localwes("ls", "--unix-socket", str(socket_path), "--json")
    assert json.loads(ok(done)) == []
    by_state_dir = localwes("ls", "--json", env={"LOCALWES_STATE_DIR": str(state_dir)})
    assert json.loads(ok(by_state_dir)) == []


def test_no_daemon_is_a_clear_error(tmp_path: Path) -> None:
    done = localwes("ls", env={"LOCALWES_STATE_DIR": str(tmp_path), "LOCALWES_PORT": "1"})
    assert done.returncode == 2
    assert "no localwes daemon answers at http://127.0.0.1:1/ga4gh/wes/v1" in done.stderr
    assert f"none serves the state dir {tmp_path}" in done.stderr
    assert "localwes serve" in done.stderr


def test_bad_submissions_say_what_is_wrong(tmp_path: Path) -> None:
    env = {"LOCALWES_URL": "http://127.0.0.1:1"}
    missing = localwes("submit", str(tmp_path / "nope.cwl"), env=env)
    assert missing.returncode == 2 and "WORKFLOW: no file at" in missing.stderr
    odd = tmp_path / "flow.txt"
    odd.write_text("x")
    assert "--type CWL or WDL" in localwes("submit", str(odd), env=env).stderr
    into_file = localwes("outputs", "01M85ZWG779Q4MM6MSRPW7PFJ8", str(odd), env=env)
    assert into_file.returncode == 2 and f"DEST: {odd} is a file" in into_file.stderr
    broken = tmp_path / "broken.cwl"
    broken.write_text("cwlVersion: v1.2\nsteps:\n  a:\n    run: missing-tool.cwl\n")
    done = localwes("submit", str(broken), env=env)
    assert done.returncode == 2 and "missing-tool.cwl" in done.stderr
    tag = localwes("submit", str(CWL / "echo.cwl"), "--tag", "novalue", env=env)
    assert "--tag: 'novalue' is not KEY=VALUE" in tag.stderr
    swapped = localwes("submit", str(CWL / "echo-job.json"), str(CWL / "echo.cwl"), env=env)
    assert swapped.returncode == 2 and "echo-job.json has no cwlVersion" in swapped.stderr
    folder = localwes("submit", str(CWL), "--type", "CWL", env=env)
    assert folder.returncode == 2 and f"WORKFLOW: {CWL} is a folder" in folder.stderr
    twice = localwes("submit", str(CWL / "echo.cwl"), "--tag", "a=1", "--tag", "a=2", env=env)
    assert "--tag: 'a' is given twice" in twice.stderr
    state = localwes("ls", "--state", "RUNING", env=env)
    assert state.returncode == 2 and "invalid choice: 'RUNING'" in state.stderr
    as_json = localwes("logs", "--json", "01M85ZWG779Q4MM6MSRPW7PFJ8", env=env)
    assert as_json.returncode == 2 and "--json does not apply" in as_json.stderr
