"""Settings, declared once: name, type, default and help live in one place.

Precedence: defaults < LOCALWES_* environment < command-line flags. The CLI's
flags and the README's settings table are generated from these declarations.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from localwes import containers

DEFAULT_PORT = 7878


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
        "127.0.0.1", "Address to listen on: a loopback address (127.0.0.1, ::1, localhost)."
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
        check_settings(self)


class SettingsError(ValueError):
    """A setting has a value localwes cannot use."""


def check_settings(settings: Settings) -> None:
    for f in fields(settings):
        choices = f.metadata.get("choices")
        value = getattr(settings, f.name)
        if choices and value not in choices:
            raise SettingsError(f"{f.name}: {value!r} is not one of {', '.join(choices)}")
    if settings.max_concurrent < 1:
        raise SettingsError("max_concurrent: must be at least 1")
    if not 0 <= settings.port <= 65535:
        raise SettingsError("port: must be between 0 and 65535")
    if not is_loopback(settings.host):
        # Whoever can POST /runs can run any command as this user, and localwes has
        # no authentication yet: it does not listen where others can reach it.
        raise SettingsError(
            f"host: {settings.host!r} is not a loopback address; localwes only listens on "
            "loopback (127.0.0.1, ::1, localhost)"
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


def setting_type(name: str) -> type:
    annotation = {f.name: f.type for f in fields(Settings)}[name]
    return {"int": int, "float": float, "Path": Path}.get(str(annotation), str)


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
                    f"LOCALWES_{f.name.upper()}: {raw!r} is not a valid "
                    f"{setting_type(f.name).__name__}"
                ) from None
    return values


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    values = from_environment(os.environ if environ is None else environ)
    values.update({k: v for k, v in flags.items() if v is not None})
    return Settings(**values)
