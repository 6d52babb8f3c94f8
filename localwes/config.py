"""Settings, declared once: name, type, default and help live in one place.

Precedence: defaults < config.toml < LOCALWES_* environment < command-line flags.
The CLI's flags, the README's settings table and the commented example config
are generated from these declarations.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from localwes import containers
from localwes.errors import CommandError

log = logging.getLogger(__name__)

DEFAULT_PORT = 7878
CONFIG_ENV = "LOCALWES_CONFIG"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "localwes"


def default_max_concurrent() -> int:
    return max(1, os.cpu_count() or 1)


def setting(default: Any, help: str, choices: tuple[str, ...] = (), shown: str = "") -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, "shown": shown})


@dataclass(frozen=True)
class Settings:
    host: str = setting(
        "127.0.0.1",
        "Address to listen on. Anything but loopback needs allow_remote, and then every "
        "request needs the token.",
    )
    port: int = setting(DEFAULT_PORT, "TCP port to listen on; 0 picks a free one.")
    state_dir: Path = setting(
        None, "Where run folders live.", shown="$XDG_STATE_HOME/localwes (~/.local/state/localwes)"
    )
    max_concurrent: int = setting(
        None, "How many workflow engines may run at once.", shown="the number of CPU cores"
    )
    container: str = setting(
        "auto",
        "Container runtime for workflow steps; auto takes the first that works, else none.",
        choices=containers.CHOICES,
    )
    cancel_grace: float = setting(
        10.0, "Seconds between SIGTERM and SIGKILL when a run is canceled."
    )
    on_interrupted: str = setting(
        "requeue",
        "What happens to a run whose supervisor vanished while localwes was down: "
        "queue it again, or end it SYSTEM_ERROR.",
        choices=("requeue", "fail"),
    )
    on_stop: str = setting(
        "leave",
        "What happens to running workflows when the daemon stops: leave them to their "
        "supervisors (a restarted daemon picks them up), or cancel them.",
        choices=("leave", "cancel"),
    )
    allow_remote: bool = setting(
        False,
        "Allow a non-loopback host. Exposes the daemon to the network: every request must "
        "then carry the token (use TLS in front of it; localwes itself speaks plain HTTP).",
    )
    auth: str = setting(
        "auto",
        "auto: on loopback, connections from this user need no token and other users are "
        "refused; whoever cannot be identified (and every remote client) needs the token. "
        "token: every request needs the token.",
        choices=("auto", "token"),
    )
    token_file: Path = setting(
        None,
        "File holding the API token (created 0600 with a random token if missing). "
        "LOCALWES_TOKEN overrides it; the token is never taken from the command line.",
        shown="<state_dir>/token",
    )
    allowed_hosts: str = setting(
        "",
        "Extra host names accepted in the Host header, comma-separated (loopback names "
        "always are). Others are refused, which stops DNS rebinding.",
    )
    cors_origins: str = setting(
        "",
        "Web origins allowed to call the API from a browser, comma-separated. Each one "
        "can start workflows as you: list only pages you trust.",
    )
    unix_socket: Path = setting(
        None,
        "Listen on this Unix socket (created 0600) instead of TCP; only its owner can connect.",
        shown="none",
    )
    warm_engines: bool = setting(
        True,
        "Start engines from a process that has already imported cwltool and miniwdl "
        "(fork), instead of a fresh Python each time: most of a second faster per run.",
    )
    max_upload_bytes: int = setting(
        10 * 1024**3, "Largest total size of one POST /runs (413 beyond it)."
    )
    max_attachments: int = setting(10_000, "Most workflow_attachment files in one POST /runs.")

    def __post_init__(self) -> None:
        if self.state_dir is None:
            object.__setattr__(self, "state_dir", default_state_dir())
        if self.max_concurrent is None:
            object.__setattr__(self, "max_concurrent", default_max_concurrent())
        object.__setattr__(self, "state_dir", Path(self.state_dir).expanduser())
        if self.token_file is None:
            object.__setattr__(self, "token_file", self.state_dir / "token")
        if self.unix_socket is not None:
            object.__setattr__(self, "unix_socket", Path(self.unix_socket).expanduser())
        if not is_loopback(self.host):
            # Beyond loopback nobody can be identified by their socket: token for all.
            object.__setattr__(self, "auth", "token")
        check_settings(self)


class SettingsError(CommandError, ValueError):
    """A setting has a value localwes cannot use."""


def check_settings(settings: Settings) -> None:
    for f in fields(settings):
        choices = f.metadata.get("choices")
        value = getattr(settings, f.name)
        if choices and value not in choices:
            raise SettingsError(f"{f.name}: {value!r} is not one of {', '.join(choices)}")
    for name in ("max_concurrent", "max_upload_bytes", "max_attachments"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"{name}: must be at least 1")
    if settings.cancel_grace < 0:
        raise SettingsError("cancel_grace: must be 0 or more seconds")
    if not 0 <= settings.port <= 65535:
        raise SettingsError("port: must be between 0 and 65535")
    if not is_loopback(settings.host) and not settings.allow_remote:
        # Whoever can POST /runs can run any command as this user.
        raise SettingsError(
            f"host: {settings.host!r} is not a loopback address; anyone who can reach it "
            "could run commands as you. Add --allow-remote to do it anyway (every request "
            "then needs the token)"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_table() -> str:
    """The README's settings table, generated from the declarations."""
    rows = ["| setting | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for f in fields(Settings):
        default = f.metadata.get("shown") or f.default
        choices = f.metadata.get("choices")
        meaning = f.metadata["help"] + (f" One of: {', '.join(choices)}." if choices else "")
        rows.append(
            f"| `{f.name}` | `--{f.name.replace('_', '-')}` | `LOCALWES_{f.name.upper()}` "
            f"| {default} | {meaning} |"
        )
    return "\n".join(rows)


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _kind(name: str) -> str:
    """A setting's declared type, as written: int, float, bool, str or Path."""
    return str({f.name: f.type for f in fields(Settings)}[name])


def setting_type(name: str) -> Any:
    types = {"int": int, "float": float, "Path": Path, "bool": parse_bool}
    return types.get(_kind(name), str)


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """LOCALWES_<NAME> for each setting."""
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(f"LOCALWES_{f.name.upper()}")
        if raw is not None:
            try:
                values[f.name] = setting_type(f.name)(raw)
            except ValueError:
                raise SettingsError(
                    f"LOCALWES_{f.name.upper()}: {raw!r} is not a valid {f.type}"
                ) from None
    return values


def default_config_file(environ: Mapping[str, str]) -> Path:
    """LOCALWES_CONFIG, else $XDG_CONFIG_HOME/localwes/config.toml."""
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser()
    return config_home(environ) / "localwes" / "config.toml"


def config_home(environ: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME, else ~/.config: where localwes's and systemd's user files live."""
    return Path(environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config"))


def from_config_file(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The settings in a config.toml; unknown keys are warned about, not fatal, so an
    older localwes can read a newer file."""
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise SettingsError(f"config file {path} does not exist") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            log.warning(
                "config file %s: unknown setting %r ignored (see `localwes config`)", path, key
            )
            continue
        values[name] = _config_value(path, name, value)
    return values


def _config_value(path: Path, name: str, value: Any) -> Any:
    kind = _kind(name)
    accepted = {"int": (int,), "float": (int, float), "bool": (bool,)}.get(kind, (str,))
    if (isinstance(value, bool) and kind != "bool") or not isinstance(value, accepted):
        raise SettingsError(
            f"config file {path}: {name} = {value!r} is not {_article(kind)}"
            + (" (write paths as quoted strings)" if kind == "Path" else "")
        )
    # A path may name $HOME or $XDG_STATE_HOME, as the documented defaults do.
    return Path(os.path.expandvars(str(value))).expanduser() if kind == "Path" else value


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Defaults < config file < environment < flags. `config_file` is one the user
    named (it must exist); otherwise the default one is read if it is there."""
    environ = os.environ if environ is None else environ
    path = default_config_file(environ) if config_file is None else config_file
    layers = {
        f"config file {path}": from_config_file(path, required=config_file is not None),
        "the environment": from_environment(environ),
        "the command line": {k: v for k, v in flags.items() if v is not None},
    }
    values = {name: value for layer in layers.values() for name, value in layer.items()}
    try:
        return Settings(**values)
    except SettingsError as exc:
        # Say where the bad value came from: the last layer that set it.
        name = str(exc).split(":", 1)[0]
        given = [where for where, layer in layers.items() if name in layer][-1:]
        where = (
            {
                "the environment": f"LOCALWES_{name.upper()}",
                "the command line": f"--{name.replace('_', '-')}",
            }.get(given[0], given[0])
            if given
            else ""
        )
        raise SettingsError(f"{exc} (set by {where})" if where else str(exc)) from None


def example_config() -> str:
    """A commented config.toml with every setting at its default."""
    lines = [
        "# localwes configuration: $XDG_CONFIG_HOME/localwes/config.toml",
        "# (~/.config/localwes/config.toml), or the file named by --config or LOCALWES_CONFIG.",
        "# Precedence: defaults < this file < LOCALWES_* environment < command-line flags.",
        "# Every line below is commented out: each shows a setting's default.",
    ]
    for f in fields(Settings):
        lines.append("")
        lines += [f"# {line}" for line in textwrap.wrap(f.metadata["help"], 86)]
        if f.metadata.get("choices"):
            lines.append(f"# One of: {', '.join(f.metadata['choices'])}.")
        lines.append(f"# {f.name} = {_toml_default(f.name, f.default, f.metadata.get('shown'))}")
    return "\n".join(lines) + "\n"


def _toml_default(name: str, default: Any, shown: str | None) -> str:
    if default is None:  # computed at start: show the type of value it takes
        kind = _kind(name)
        example = {"int": "4", "Path": '"/some/path"'}.get(kind, '""')
        return f"{example}  # default: {shown}"
    return toml_value(default)


def toml_value(value: Any) -> str:
    """A setting's value as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def settings_toml(settings: Settings) -> str:
    """The settings in force, as a config file would give them."""
    lines = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        lines.append(f"# {f.name}: not set" if value is None else f"{f.name} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def _article(kind: str) -> str:
    names = {"int": "whole number", "float": "number", "bool": "true or false", "Path": "path"}
    name = names.get(kind, "string")
    return name if kind == "bool" else f"a {name}"
