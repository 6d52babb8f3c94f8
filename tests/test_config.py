"""Settings: declared once, layered, and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from localwes.cli import build_parser
from localwes.config import Settings, SettingsError, load_settings


def test_flags_override_environment_override_defaults(tmp_path: Path) -> None:
    env = {"LOCALWES_PORT": "9001", "LOCALWES_MAX_CONCURRENT": "3", "XDG_STATE_HOME": "/x"}
    settings = load_settings({"port": 9002, "state_dir": tmp_path}, env)
    assert settings.port == 9002 and settings.max_concurrent == 3
    assert settings.state_dir == tmp_path
    assert load_settings({}, {}).port == 7878


def test_default_state_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/somewhere/state")
    assert Settings().state_dir == Path("/somewhere/state/localwes")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert Settings().state_dir == Path.home() / ".local" / "state" / "localwes"


@pytest.mark.parametrize(
    ("values", "word"),
    [
        ({"host": "0.0.0.0"}, "loopback"),
        ({"host": "192.168.1.5"}, "loopback"),
        ({"container": "lxc"}, "container"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"port": 70000}, "port"),
    ],
)
def test_unusable_settings_are_refused(values: dict[str, object], word: str) -> None:
    with pytest.raises(SettingsError, match=word):
        Settings(**values)  # type: ignore[arg-type]


def test_loopback_hosts_are_accepted() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert Settings(host=host).host == host


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="LOCALWES_PORT"):
        load_settings({}, {"LOCALWES_PORT": "eighty"})


def test_every_setting_has_a_serve_flag() -> None:
    help_text = build_parser().parse_args(["serve"])
    assert {"host", "port", "state_dir", "max_concurrent", "container"} <= set(vars(help_text))
