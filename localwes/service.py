"""`localwes service install|uninstall`: localwes as a systemd user service.

The unit is written to $XDG_CONFIG_HOME/systemd/user/localwes.service with
ExecStart naming the running interpreter (`python -P -m localwes serve`), so a
localwes installed in a virtualenv works without being on systemd's PATH.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from localwes.config import config_home
from localwes.durable import fsync_dir

SERVICE = "localwes"
UNIT_NAME = f"{SERVICE}.service"
SYSTEMCTL = ("systemctl", "--user")

# The unit, shipped inside the package: the checked-in systemd/localwes.service is
# this text, byte for byte (tests/test_service.py fails when they drift).
UNIT_TEMPLATE = """\
# localwes as a systemd user service.
#   localwes service install     (or: copy to ~/.config/systemd/user/, then
#                                 systemctl --user daemon-reload && systemctl --user enable --now localwes)
# ExecStart must be the absolute path of your localwes (`command -v localwes`);
# `localwes service install` writes it for you.
[Unit]
Description=localwes: a local GA4GH Workflow Execution Service (WES 1.1)
Documentation=https://ga4gh.github.io/workflow-execution-service-schemas/

[Service]
Type=notify
# READY=1 is sent once the socket is bound; NotifyAccess=main takes it only from localwes.
NotifyAccess=main
ExecStart=/usr/local/bin/localwes serve
# Workflow tasks find their programs on this PATH, not on your login shell's:
# `localwes service install` writes the PATH of the shell it was run from.
Environment="PATH=/usr/local/bin:/usr/bin:/bin"
Restart=on-failure
RestartSec=2
# Only the daemon is stopped: each running workflow has its own supervisor
# process, which keeps the workflow going and is picked up again by the next
# daemon (systemctl --user restart). Set LOCALWES_ON_STOP=cancel to cancel
# running workflows on stop instead.
KillMode=process
TimeoutStopSec=30

[Install]
WantedBy=default.target
"""  # noqa: E501 (the comment line on `enable --now` is longer than our code lines)
TEMPLATE_EXEC_START = "ExecStart=/usr/local/bin/localwes serve"
TEMPLATE_PATH = 'Environment="PATH=/usr/local/bin:/usr/bin:/bin"'


def default_unit_dir() -> Path:
    """Where systemd looks for a user's own units."""
    return config_home(os.environ) / "systemd" / "user"


def serve_command() -> str:
    """ExecStart's value. sys.executable is kept as is, not resolved: a virtualenv's
    python is a symlink, and only the venv path imports the venv's packages. -P: a
    user service starts in $HOME, which `-m` would otherwise put first on sys.path."""
    python = os.path.abspath(sys.executable)
    return f"{quote_executable(python)} -P -m localwes serve"


def quote_executable(word: str) -> str:
    """The executable of an ExecStart line: systemd expands % specifiers anywhere on
    the line, and whitespace would split the word ($ is left alone: systemd does not
    expand variables in the executable's path)."""
    escaped = word.replace("%", "%%")
    if any(c.isspace() or c in "\"'\\" for c in word):
        escaped = escaped.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return escaped


def render_unit(command: str | None = None, path: str | None = None) -> str:
    """The unit text, with ExecStart running `command` (default: this interpreter)
    and PATH set to `path` (default: this process's PATH)."""
    exec_start = f"ExecStart={command or serve_command()}"
    environment = f"Environment={quote_value('PATH=' + service_path(path))}"
    unit = UNIT_TEMPLATE.replace(TEMPLATE_EXEC_START, exec_start, 1)
    return unit.replace(TEMPLATE_PATH, environment, 1)


def service_path(path: str | None = None) -> str:
    """Why: systemd's user manager has a bare PATH of its own, so a task calling a
    program from conda, ~/.local/bin or a module would work under `localwes serve`
    in a terminal and fail under the service. The unit keeps the installing shell's
    absolute PATH entries (a relative one would depend on the working directory)."""
    entries = (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)
    kept = [e for e in dict.fromkeys(entries) if os.path.isabs(e)]
    return os.pathsep.join(kept) or os.defpath.lstrip(os.pathsep)


def quote_value(value: str) -> str:
    """One double-quoted Environment= assignment: systemd unescapes backslashes and
    quotes inside it and expands % specifiers (it does not expand $)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def install_service(
    *,
    start: bool = True,
    print_only: bool = False,
    unit_dir: Path | None = None,
    systemctl: Sequence[str] = SYSTEMCTL,
) -> int:
    """Write the user unit, reload systemd and enable (and start) localwes.
    Returns 0 on success; otherwise says what to run by hand and returns 1."""
    unit = render_unit()
    if print_only:
        print(unit, end="")
        return 0
    path = (unit_dir or default_unit_dir()) / UNIT_NAME
    previous = _read_unit(path)
    try:
        write_unit(path, unit)
    except OSError as exc:
        _say_error(f"could not write {path}: {exc}", "check that its folder is yours and writable")
        return 1
    print(f"{'unchanged' if previous == unit else 'wrote'} {path}")
    print(f"tasks will run with this shell's PATH={service_path()}")
    enable = [*systemctl, "enable", *(["--now"] if start else []), SERVICE]
    if not _run_all([[*systemctl, "daemon-reload"], enable]):
        return 1
    _report_installed(start, changed=previous is not None and previous != unit)
    return 0


def uninstall_service(
    *,
    stop: bool = True,
    unit_dir: Path | None = None,
    systemctl: Sequence[str] = SYSTEMCTL,
) -> int:
    """Disable (and stop) localwes, remove the user unit and reload systemd.
    Running workflows keep going under their supervisors (KillMode=process)."""
    path = (unit_dir or default_unit_dir()) / UNIT_NAME
    if not path.exists():
        print(f"no unit at {path}: nothing to remove")
        return 0
    disable = [*systemctl, "disable", *(["--now"] if stop else []), SERVICE]
    remove = [f"rm {shlex.quote(str(path))}", shlex.join([*systemctl, "daemon-reload"])]
    if not _run_all([disable], then=remove):
        return 1
    path.unlink()
    print(f"removed {path}")
    return 0 if _run_all([[*systemctl, "daemon-reload"]]) else 1


def write_unit(path: Path, text: str) -> None:
    """Write the unit whole or not at all: systemd may read it at any moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _read_unit(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _run_all(commands: list[list[str]], then: Sequence[str] = ()) -> bool:
    """Run each command in turn; at the first failure, say why and what to run by
    hand (the failed command, the rest, and `then`), and return False."""
    for i, argv in enumerate(commands):
        print(f"running: {shlex.join(argv)}")
        problem = _run(argv)
        if problem:
            by_hand = [shlex.join(c) for c in commands[i:]] + list(then)
            _say_error(problem, "once that is fixed, run by hand:\n  " + " && ".join(by_hand))
            return False
    return True


def _run(argv: list[str]) -> str:
    """What went wrong running `argv`, or "" if it succeeded."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        return (
            f"{argv[0]} was not found: this machine does not seem to run systemd. "
            "Without systemd, start the daemon yourself: "
            f"{shlex.join([os.path.abspath(sys.executable), '-m', 'localwes', 'serve'])}"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{shlex.join(argv)} could not run: {exc}"
    if done.returncode == 0:
        return ""
    said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
    if "Failed to connect to bus" in said or "XDG_RUNTIME_DIR" in said:
        return (
            f"{shlex.join(argv)}: {said}\nThere is no systemd user session here (usual "
            "under su/sudo, in containers, and on servers you reach without a login "
            "session). Log in as this user directly (e.g. over ssh) with "
            "XDG_RUNTIME_DIR=/run/user/$(id -u) set, or have root run "
            f"`loginctl enable-linger {_user_name()}`"
        )
    return f"{shlex.join(argv)} failed: {said}"


def _say_error(problem: str, hint: str) -> None:
    print(f"error: {problem}\n{hint}", file=sys.stderr)


def _report_installed(started: bool, changed: bool) -> None:
    if started:
        print("localwes is enabled and started: systemctl --user status localwes")
        print("its log: journalctl --user -u localwes")
    else:
        print("localwes is enabled: it starts with your next session")
        print("to start it now: systemctl --user start localwes")
    if changed and started:
        # enable --now leaves an already running daemon on the old unit.
        print("the unit changed: if localwes was running, systemctl --user restart localwes")
    if not Path("/var/lib/systemd/linger", _user_name()).exists():
        print(
            "note: user services stop when your last session ends; "
            "`loginctl enable-linger` keeps localwes running when you are logged out"
        )


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry, as in some containers
        return str(os.getuid())
