"""`localwes doctor`: one line per check, and exit 1 only when something FAILed."""

from __future__ import annotations

import io
import socket
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from localwes.config import Settings
from localwes.doctor import CHECKS, doctor
from tests.conftest import make_settings


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALWES_TOKEN", raising=False)


def report(settings: Settings) -> tuple[int, str]:
    out = io.StringIO()
    code = doctor(settings, out)
    return code, out.getvalue()


def line_of(text: str, name: str) -> str:
    """The report line of the check called `name`."""
    [line] = [line for line in text.splitlines() if line[6:].startswith(f"{name}:")]
    return line


def test_a_healthy_state_dir_passes_and_names_the_engine_versions(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    (state_dir / "runs" / "01JRUN").mkdir(parents=True)
    code, text = report(make_settings(state_dir))
    assert code == 0, text
    lines = text.splitlines()
    assert len(lines) == len(CHECKS) + 1  # one line each, and a summary
    assert not [line for line in lines if line.startswith("FAIL")]
    assert lines[-1].startswith("0 FAIL, ")
    assert line_of(text, "cwltool").startswith(f"ok    cwltool: {version('cwltool')}, runs CWL")
    assert line_of(text, "miniwdl").startswith(f"ok    miniwdl: {version('miniwdl')}, runs WDL")
    assert line_of(text, "state dir") == f"ok    state dir: {state_dir} (mode 0700)"
    assert "1 run folders" in line_of(text, "runs")
    assert "none serves" in line_of(text, "daemon")
    assert "without containers" in line_of(text, "container runtime")


def test_a_state_dir_not_made_yet_is_fine(state_dir: Path) -> None:
    code, text = report(make_settings(state_dir))
    assert code == 0, text
    assert "does not exist yet" in line_of(text, "state dir")


def test_a_state_dir_that_is_a_file_fails_with_a_hint(state_dir: Path) -> None:
    state_dir.write_text("")
    code, text = report(make_settings(state_dir))
    assert code == 1
    line = line_of(text, "state dir")
    assert line.startswith("FAIL  ") and "is not a directory" in line and "--state-dir" in line


@pytest.mark.parametrize(("mode", "level", "code"), [(0o777, "FAIL", 1), (0o770, "warn", 0)])
def test_a_state_dir_others_can_write_is_reported(
    state_dir: Path, mode: int, level: str, code: int
) -> None:
    state_dir.mkdir()
    state_dir.chmod(mode)
    got, text = report(make_settings(state_dir))
    assert got == code, text
    line = line_of(text, "state dir")
    assert line.startswith(f"{level:<4}  ") and f"chmod 700 {state_dir}" in line


def test_a_token_file_others_can_read_is_warned_about(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    token = state_dir / "token"
    token.write_text("secret-token-value\n")
    token.chmod(0o644)
    code, text = report(make_settings(state_dir))
    assert code == 0
    line = line_of(text, "token")
    assert line.startswith("warn  ") and "mode 0644" in line and f"chmod 600 {token}" in line
    assert "secret-token-value" not in text


def test_a_running_daemon_is_reported_with_its_url(daemon_factory: Any, state_dir: Path) -> None:
    daemon = daemon_factory()
    code, text = report(make_settings(state_dir))
    assert code == 0, text
    assert (
        line_of(text, "daemon") == f"ok    daemon: pid {daemon.proc.pid}, {daemon.url}, answering"
    )
    port = int(daemon.url.rsplit(":", 1)[1])
    _, text = report(make_settings(state_dir, port=port))
    assert "served by this state dir's daemon" in line_of(text, "address")
    # Started with other settings (--port 0, say): clients still find it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    line = line_of(report(make_settings(state_dir, port=free))[1], "address")
    assert line.startswith("ok    ") and f"listens at {daemon.url}" in line
    daemon.stop()
    _, text = report(make_settings(state_dir))
    assert "none serves" in line_of(text, "daemon")


def test_a_port_taken_by_another_program_fails(state_dir: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, text = report(make_settings(state_dir, port=port))
    assert code == 1
    line = line_of(text, "address")
    assert line.startswith("FAIL  ") and f"127.0.0.1:{port} is taken" in line and "--port" in line


def test_container_runtimes_that_do_not_work_are_reported(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no docker, podman, singularity nor node
    code, text = report(make_settings(state_dir, container="auto"))
    assert code == 0
    assert line_of(text, "container runtime").startswith("warn  container runtime: auto found no")
    assert line_of(text, "node").startswith("warn  node: not found")
    code, text = report(make_settings(state_dir, container="podman"))
    assert code == 1
    assert "'podman' was requested but does not work" in line_of(text, "container runtime")


def test_cors_origins_are_warned_about_and_null_fails(state_dir: Path) -> None:
    code, text = report(make_settings(state_dir, cors_origins="https://app.example"))
    assert code == 0
    assert line_of(text, "browsers").startswith("warn  browsers: cors_origins lets https://app")
    code, text = report(make_settings(state_dir, cors_origins="null"))
    assert code == 1
    assert "any web page" in line_of(text, "browsers")


def test_a_remote_host_is_warned_about(state_dir: Path) -> None:
    code, text = report(make_settings(state_dir, host="0.0.0.0", allow_remote=True))
    assert code == 0
    assert line_of(text, "network").startswith("warn  network: host 0.0.0.0 exposes")
