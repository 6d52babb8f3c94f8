"""`localwes service install|uninstall` against a fake systemctl that records its argv."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from localwes.service import (
    UNIT_TEMPLATE,
    install_service,
    quote_executable,
    render_unit,
    service_path,
    uninstall_service,
)

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "localwes.service"
EXEC_START = f"ExecStart={sys.executable} -P -m localwes serve"
BY_HAND = "systemctl --user daemon-reload && systemctl --user enable --now localwes"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def fake_systemctl(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    exit_code: int = 0,
    says: str = "",
    then: str = "",
) -> Path:
    """Put a `systemctl` first on PATH that appends its argv to a file, runs the shell
    line `then`, says `says` on stderr and exits `exit_code`; return that file."""
    calls = tmp_path / "systemctl-calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "systemctl"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\n{then}\n'
        f"echo {shlex.quote(says)} >&2\nexit {exit_code}\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake systemctl that succeeds; the file its calls are recorded in."""
    return fake_systemctl(tmp_path, monkeypatch)


def recorded(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def test_the_checked_in_unit_is_the_packaged_one() -> None:
    assert UNIT.read_text() == UNIT_TEMPLATE
    rendered = render_unit().splitlines()
    checked_in = UNIT.read_text().splitlines()
    differs = [(a, b) for a, b in zip(rendered, checked_in, strict=True) if a != b]
    assert differs == [
        (EXEC_START, "ExecStart=/usr/local/bin/localwes serve"),
        (f'Environment="PATH={service_path()}"', 'Environment="PATH=/usr/local/bin:/usr/bin:/bin"'),
    ]


def test_the_unit_keeps_the_installing_shells_absolute_path_entries() -> None:
    assert (
        service_path("/opt/conda/bin:.:bin:/usr/bin:/opt/conda/bin:") == "/opt/conda/bin:/usr/bin"
    )
    assert service_path("") == "/bin:/usr/bin"
    unit = render_unit(path="/opt/my env/bin:/opt/100%/bin:/usr/bin")
    assert 'Environment="PATH=/opt/my env/bin:/opt/100%%/bin:/usr/bin"' in unit.splitlines()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_reads_the_unit_without_a_complaint(tmp_path: Path) -> None:
    unit = tmp_path / "localwes.service"
    unit.write_text(render_unit(path='/opt/my env/bin:/opt/100%/bin:/x/"q":/y\\q:/usr/bin'))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_install_writes_the_unit_and_enables_and_starts_it(
    config_home: Path, capsys: pytest.CaptureFixture[str], calls: Path
) -> None:
    assert install_service() == 0
    unit = config_home / "systemd" / "user" / "localwes.service"
    assert unit.read_text() == render_unit()
    assert EXEC_START in unit.read_text().splitlines()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert os.listdir(unit.parent) == ["localwes.service"]  # no temp file left
    assert recorded(calls) == ["--user daemon-reload", "--user enable --now localwes"]
    out = capsys.readouterr().out
    assert f"wrote {unit}" in out
    assert "running: systemctl --user daemon-reload" in out
    assert "running: systemctl --user enable --now localwes" in out


def test_install_without_start_only_enables(calls: Path) -> None:
    assert install_service(start=False) == 0
    assert recorded(calls) == ["--user daemon-reload", "--user enable localwes"]


def test_a_second_install_says_the_unit_is_unchanged(
    capsys: pytest.CaptureFixture[str], calls: Path
) -> None:
    assert install_service() == 0
    assert install_service() == 0
    assert "unchanged " in capsys.readouterr().out


def test_print_only_prints_the_unit_and_changes_nothing(
    config_home: Path, capsys: pytest.CaptureFixture[str], calls: Path
) -> None:
    assert install_service(print_only=True) == 0
    assert capsys.readouterr().out == render_unit()
    assert not config_home.exists()
    assert recorded(calls) == []


def test_without_a_user_session_it_says_what_to_run_by_hand(
    config_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_systemctl(tmp_path, monkeypatch, 1, "Failed to connect to bus: No medium found")
    assert install_service() == 1
    err = capsys.readouterr().err
    assert "Failed to connect to bus" in err and "no systemd user session" in err
    assert "loginctl enable-linger" in err
    assert BY_HAND in err
    # The unit itself is whole, ready for the commands above.
    assert (config_home / "systemd/user/localwes.service").read_text() == render_unit()


def test_a_failed_enable_names_only_what_is_left_to_do(
    config_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fail_enable = '[ "$2" = enable ] && { echo "Job failed" >&2; exit 1; }'
    fake_systemctl(tmp_path, monkeypatch, then=fail_enable)
    assert install_service() == 1
    err = capsys.readouterr().err
    assert "systemctl --user enable --now localwes failed: Job failed" in err
    assert err.rstrip().endswith("\n  systemctl --user enable --now localwes")


def test_without_systemctl_it_says_how_to_run_the_daemon(
    config_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert install_service() == 1
    err = capsys.readouterr().err
    assert "systemctl was not found" in err
    assert f"{sys.executable} -m localwes serve" in err


def test_an_unwritable_unit_dir_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], calls: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert install_service(unit_dir=blocker / "user") == 1
    assert "could not write" in capsys.readouterr().err
    assert recorded(calls) == []


def test_uninstall_disables_and_removes_the_unit(config_home: Path, calls: Path) -> None:
    assert install_service() == 0
    assert uninstall_service() == 0
    assert not (config_home / "systemd/user/localwes.service").exists()
    assert recorded(calls)[2:] == ["--user disable --now localwes", "--user daemon-reload"]
    assert uninstall_service() == 0  # nothing left to remove


def test_exec_start_words_are_escaped_for_systemd() -> None:
    assert quote_executable("/usr/bin/python3") == "/usr/bin/python3"
    assert quote_executable("/opt/my env/bin/python") == '"/opt/my env/bin/python"'
    assert quote_executable("/opt/100%/$HOME/python") == "/opt/100%%/$HOME/python"


def test_the_exec_start_command_runs_localwes(tmp_path: Path) -> None:
    argv = [*shlex.split(EXEC_START.removeprefix("ExecStart=")), "--help"]
    # From a folder that is not the source tree, as systemd starts it (in $HOME).
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("python_name", ["python", "my py%thon $1"])
def test_the_installed_unit_verifies_with_systemd_analyze(
    python_name: str, config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    python = tmp_path / "venv" / "bin" / python_name
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(python))
    fake_systemctl(tmp_path, monkeypatch)
    assert install_service() == 0
    # --user verify needs a runtime dir, which a test machine may lack.
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    done = subprocess.run(
        [analyze, "--user", "verify", str(config_home / "systemd/user/localwes.service")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
