"""Each defence, tested as the attack it stops."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from localwes.api import guard
from localwes.cli import build_parser
from tests.conftest import DATA, make_settings, serving
from tests.helpers import Wes, start_serve
from tests.test_scheduler import submit_fake

ECHO = {"echo.cwl": DATA / "cwl" / "echo.cwl"}
NOBODY = "65534"


async def raw_get(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers, skip_auto_headers=["Host"]) as response,
    ):
        return response.status, dict(response.headers), await response.text()


def token_of(state_dir: Path) -> str:
    return (state_dir / "token").read_text().strip()


def as_other_user(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command as uid/gid 65534 (needs root and setpriv)."""
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*setpriv, *argv], capture_output=True, text=True, timeout=60, check=False
    )


can_switch_user = os.geteuid() == 0 and shutil.which("setpriv") and shutil.which("curl")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "", "127.0.0.1:1"])
async def test_forged_or_empty_host_is_refused(wes: Wes, host: str) -> None:
    status, _, text = await raw_get(f"{wes.base}/service-info", Host=host)
    assert status == 403 and "Host" in json.loads(text)["msg"]


async def test_loopback_hosts_are_accepted(wes: Wes) -> None:
    port = wes.base.split(":")[2].split("/")[0]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        assert (await raw_get(f"{wes.base}/service-info", Host=host))[0] == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_a_web_page_cannot_start_a_workflow(
    wes: Wes, state_dir: Path, headers: dict[str, str]
) -> None:
    form = aiohttp.FormData(
        {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
    )
    form.add_field("workflow_attachment", ECHO["echo.cwl"].read_bytes(), filename="echo.cwl")
    async with wes.session.post(f"{wes.base}/runs", data=form, headers=headers) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
    assert list((state_dir / "runs").iterdir()) == []


async def test_own_origin_and_configured_cors_origins_are_allowed(state_dir: Path) -> None:
    settings = make_settings(state_dir, cors_origins="https://lab.example")
    async with serving(settings) as wes:
        origin = wes.base.split("/ga4gh")[0]
        assert (await raw_get(f"{wes.base}/service-info", Origin=origin))[0] == 200
        status, headers, _ = await raw_get(f"{wes.base}/runs", Origin="https://lab.example")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://lab.example"
        async with wes.session.options(
            f"{wes.base}/runs",
            headers={"Origin": "https://lab.example", "Access-Control-Request-Method": "POST"},
        ) as preflight:
            assert preflight.status == 204
            assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


async def curl_as_other_user(*args: str) -> str:
    """The HTTP status another user's curl gets ("000": it could not connect)."""
    done = await asyncio.to_thread(
        as_other_user, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args
    )
    return done.stdout


@pytest.mark.skipif(not can_switch_user, reason="needs root, setpriv and curl")
async def test_another_local_user_is_refused(daemon_factory: Any, state_dir: Path) -> None:
    daemon = daemon_factory()
    done = await asyncio.to_thread(
        as_other_user, "curl", "-s", "-w", " %{http_code}", f"{daemon.base}/service-info"
    )
    assert done.stdout.endswith(" 403") and "other users" in done.stdout
    # ... and a token in the query string does not help.
    token = token_of(state_dir)
    query = f"{daemon.base}/service-info?token={token}&access_token={token}"
    assert await curl_as_other_user(query) == "403"
    # With the token in the Authorization header, another user may come in.
    bearer = f"Authorization: Bearer {token}"
    assert await curl_as_other_user("-H", bearer, f"{daemon.base}/service-info") == "200"


async def test_an_unidentifiable_peer_needs_the_token(
    wes: Wes, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "tcp_peer_uid", lambda peer, local: None)
    guard._peer_uids.clear()
    async with aiohttp.ClientSession() as session:
        anonymous = Wes(session, wes.base)
        error = await anonymous.get("/service-info", status=401)
        assert "token" in error["msg"]
    token = token_of(state_dir)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        assert (await Wes(session, wes.base).get("/service-info"))["type"]["artifact"] == "wes"
    basic = base64.b64encode(f"anyone:{token}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"}) as session:
        await Wes(session, wes.base).get("/runs")
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer wrong"}) as session:
        assert "wrong" in (await Wes(session, wes.base).get("/runs", status=401))["msg"]
    async with aiohttp.ClientSession(cookies={"token": token}) as session:
        await Wes(session, wes.base).get("/runs", status=401, token=token)


async def test_token_file_is_private_and_not_a_flag(wes: Wes, state_dir: Path) -> None:
    assert stat.S_IMODE((state_dir / "token").stat().st_mode) == 0o600
    assert len(token_of(state_dir)) >= 32
    for flag in ("--token", "--auth-token", "--api-token"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", flag, "secret"])


async def test_token_mode_and_toil_basic_auth(daemon_factory: Any, state_dir: Path) -> None:
    daemon = daemon_factory("--auth", "token")
    async with aiohttp.ClientSession() as session:
        await Wes(session, daemon.base).get("/service-info", status=401)
    env = {**os.environ, "TOIL_WES_USER": "me", "TOIL_WES_PASSWORD": token_of(state_dir)}
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = await asyncio.to_thread(
        subprocess.run,
        [
            str(bin_dir / "toil-wes-cwl-runner"),
            "--wes_endpoint",
            daemon.url,
            "echo.cwl",
            "echo-job.json",
        ],
        cwd=DATA / "cwl",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["out"]["basename"] == "out.txt"


async def test_remote_binding_needs_the_flag_and_then_a_token(
    state_dir: Path, tmp_path: Path
) -> None:
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "localwes",
            "serve",
            "--host",
            "0.0.0.0",
            "--state-dir",
            str(state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0 and "--allow-remote" in refused.stderr
    proc, base = start_serve(
        state_dir, tmp_path / "remote.log", "--host", "0.0.0.0", "--allow-remote"
    )
    try:
        local_base = base.replace("0.0.0.0", "127.0.0.1")
        async with aiohttp.ClientSession() as session:
            await Wes(session, local_base).get("/service-info", status=401)  # even locally
        headers = {"Authorization": f"Bearer {token_of(state_dir)}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            await Wes(session, local_base).get("/service-info")
    finally:
        proc.terminate()
        proc.wait()


async def test_unix_socket_is_private_to_its_owner(state_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "wes.sock"
    proc, _ = start_serve(state_dir, tmp_path / "unix.log", "--unix-socket", str(path))
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        connector = aiohttp.UnixConnector(path=str(path))
        async with aiohttp.ClientSession(connector=connector) as session:
            info = await Wes(session, "http://localhost/ga4gh/wes/v1").get("/service-info")
            assert info["type"]["artifact"] == "wes"
        if can_switch_user:
            url = "http://localhost/ga4gh/wes/v1/service-info"
            assert await curl_as_other_user("--unix-socket", str(path), url) == "000"
    finally:
        proc.terminate()
        proc.wait()


async def test_a_huge_upload_is_cut_off_early_and_leaves_nothing(state_dir: Path) -> None:
    async with serving(
        make_settings(state_dir, max_upload_bytes=1_000_000, max_attachments=3)
    ) as wes:
        # Announced as 5 GB: refused before the body is read.
        reader, writer = await asyncio.open_connection(
            *wes.base.split("//")[1].split("/")[0].split(":")
        )
        port = wes.base.split(":")[2].split("/")[0]
        writer.write(
            f"POST /ga4gh/wes/v1/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {5 * 1024**3}\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert b" 413 " in status_line
        writer.close()

        # Streamed without a length: cut off once past the limit.
        async def endless() -> Any:
            for _ in range(100_000):
                yield b"x" * 65536

        form = aiohttp.FormData(
            {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
        )
        form.add_field("workflow_attachment", endless(), filename="big.bin")
        async with wes.session.post(f"{wes.base}/runs", data=form) as response:
            assert response.status == 413
        many = {f"f{i}.txt": b"x" for i in range(5)}
        error = await wes.submit("echo.cwl", {}, {**ECHO, **many}, status=413)
        assert "attachments" in error["msg"]
    assert list((state_dir / "runs").iterdir()) == []
    assert list((state_dir / ".staging").iterdir()) == []


async def test_deep_or_huge_json_is_refused(wes: Wes, state_dir: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    error = await wes.submit("echo.cwl", status=400, attachments=ECHO, workflow_params=deep)
    assert "nested" in error["msg"] or "JSON" in error["msg"]
    body = {
        "workflow_type": "CWL",
        "workflow_type_version": "v1.2",
        "workflow_url": "/x",
        "workflow_params": {"blob": "x" * (17 * 1024 * 1024)},
    }
    async with wes.session.post(f"{wes.base}/runs", json=body) as response:
        assert response.status == 413
        assert (await response.json())["status_code"] == 413
    assert list((state_dir / "runs").iterdir()) == []


async def test_relative_wdl_inputs_cannot_climb_out(wes: Wes) -> None:
    wdl = DATA / "wdl" / "hello.wdl"
    error = await wes.submit(
        "hello.wdl",
        {"who": "x", "greeting": "../../../etc/passwd"},
        {"hello.wdl": wdl},
        status=400,
        workflow_type="WDL",
        workflow_type_version="1.0",
    )
    assert "workflow_params.greeting" in error["msg"] and ".." in error["msg"]


async def test_engines_get_a_trimmed_environment(wes: Wes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET_API_KEY", "hunter2")
    monkeypatch.setenv("LOCALWES_TOKEN", "also-secret")
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/user/0/systemd/notify")
    script = "import json, os, sys; print(json.dumps({'env': dict(os.environ)}))"
    run_id = await wes.submit(
        "env.py", {}, {"env.py": script.encode()}, workflow_type="FAKE", workflow_type_version="1"
    )
    assert await wes.wait(run_id) == "COMPLETE"
    env = (await wes.get(f"/runs/{run_id}"))["outputs"]["env"]
    assert "PATH" in env
    assert not {"MY_SECRET_API_KEY", "LOCALWES_TOKEN", "NOTIFY_SOCKET"} & set(env)
    assert await submit_fake(wes, name="still fine")
