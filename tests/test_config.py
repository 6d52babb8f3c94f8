"""Settings: declared once, layered, and checked."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from localwes.cli import build_parser
from localwes.config import Settings, SettingsError, example_config, load_settings


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
        ({"cancel_grace": -1.0}, "cancel_grace"),
        ({"max_attachments": 0}, "max_attachments"),
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


def test_every_setting_has_a_serve_and_doctor_flag() -> None:
    declared = {f.name for f in fields(Settings)}
    for command in ("serve", "doctor"):
        assert declared <= set(vars(build_parser().parse_args([command]))), command


def test_config_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('port = 9100\nmax-concurrent = 5\ncontainer = "none"\nstate_dir = "~/x"\n')
    env = {"LOCALWES_PORT": "9200"}
    settings = load_settings({"container": "docker"}, env, config)
    assert settings.port == 9200  # the environment beats the file
    assert settings.container == "docker"  # a flag beats both
    assert settings.max_concurrent == 5 and settings.state_dir == Path.home() / "x"
    # The default file is $XDG_CONFIG_HOME/localwes/config.toml, read when it exists.
    (tmp_path / "localwes").mkdir()
    (tmp_path / "localwes" / "config.toml").write_text("port = 9300\n")
    assert load_settings({}, {"XDG_CONFIG_HOME": str(tmp_path)}).port == 9300
    assert load_settings({}, {"LOCALWES_CONFIG": str(config)}).port == 9100
    assert load_settings({}, {"XDG_CONFIG_HOME": str(tmp_path / "none")}).port == 7878


def test_config_file_mistakes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "config.toml"
    config.write_text('port = 9100\ncolour = "blue"\n')
    assert load_settings({}, {}, config).port == 9100
    assert "unknown setting 'colour' ignored" in caplog.text
    config.write_text('port = "eighty"\n')
    with pytest.raises(SettingsError, match=r"port = 'eighty' is not a whole number"):
        load_settings({}, {}, config)
    config.write_text("port = \n")
    with pytest.raises(SettingsError, match=r"config\.toml"):
        load_settings({}, {}, config)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({}, {}, tmp_path / "missing.toml")


def test_the_example_config_documents_every_setting_at_its_default() -> None:
    text = example_config()
    lines = [line.removeprefix("# ") for line in text.splitlines() if " = " in line]
    values = tomllib.loads("\n".join(line.split("  # default")[0] for line in lines))
    declared = {f.name: f for f in fields(Settings)}
    assert set(values) == set(declared)
    for name, f in declared.items():
        assert f.metadata["help"], f"{name} has no help text"
        if f.default is not None:
            assert values[name] == f.default, name
    assert "--config FILE" in build_parser().format_help()


def test_a_refused_value_names_where_it_was_set(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('max_concurrent = 0\nstate_dir = "$SOMEWHERE/wes"\n')
    with pytest.raises(SettingsError, match=rf"at least 1 \(set by config file {config}\)"):
        load_settings({}, {}, config)
    with pytest.raises(SettingsError, match=r"\(set by LOCALWES_CANCEL_GRACE\)"):
        load_settings({}, {"LOCALWES_CANCEL_GRACE": "-1"})
    with pytest.raises(SettingsError, match=r"\(set by --max-concurrent\)"):
        load_settings({"max_concurrent": 0}, {}, config)
    # Paths in the file may name environment variables, as the documented defaults do.
    config.write_text('state_dir = "$SOMEWHERE/wes"\n')
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOMEWHERE", str(tmp_path))
        assert load_settings({}, {}, config).state_dir == tmp_path / "wes"


def test_localwes_config_prints_a_config_file_that_reads_back(tmp_path: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "localwes", "config"],
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "LOCALWES_PORT": "9123"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    config = tmp_path / "shown.toml"
    config.write_text(shown)
    assert tomllib.loads(shown)["port"] == 9123
    assert load_settings({}, {}, config) == load_settings({"port": 9123}, {})
