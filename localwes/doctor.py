"""`localwes doctor`: is this machine ready to run workflows, and is the daemon up?

One line per check, marked ok, warn or FAIL, with what to do about it. Each
check is a small function of the settings returning a Check; none changes
anything (no folder is created, no lock is taken for more than a probe).
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from localwes import __version__
from localwes.config import Settings, is_loopback
from localwes.containers import ContainerRuntimeError, choose_runtime
from localwes.daemon_record import DaemonRecord, find_daemon
from localwes.engines.base import Engine
from localwes.engines.cwltool import CwltoolEngine
from localwes.engines.miniwdl import MiniwdlEngine
from localwes.token import TOKEN_ENV

OK, WARN, FAIL = "ok", "warn", "FAIL"
GIB = 1024**3
LOW_SPACE = GIB  # below this, disk space is warned about


@dataclass(frozen=True)
class Check:
    level: str  # OK, WARN or FAIL
    name: str
    detail: str
    hint: str = ""

    def line(self) -> str:
        return f"{self.level:<4}  {self.name}: {self.detail}" + (
            f" -> {self.hint}" if self.hint else ""
        )


def doctor(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Print one line per check; 0 when nothing FAILed, else 1."""
    checks = [_guarded(check, settings) for check in CHECKS]
    for check in checks:
        out.write(check.line() + "\n")
    counts = {level: sum(c.level == level for c in checks) for level in (FAIL, WARN, OK)}
    out.write(", ".join(f"{n} {level}" for level, n in counts.items()) + "\n")
    return 1 if counts[FAIL] else 0


def _guarded(check: Callable[[Settings], Check], settings: Settings) -> Check:
    """A check that breaks is reported, not raised: the rest of the report still helps."""
    try:
        return check(settings)
    except Exception as exc:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        return Check(FAIL, name, f"the check itself failed: {exc!r}", "please report this")


def check_localwes(settings: Settings) -> Check:
    python = ".".join(map(str, sys.version_info[:3]))
    return Check(OK, "localwes", f"{__version__} on Python {python} ({sys.executable})")


def check_cwltool(settings: Settings) -> Check:
    return engine_check(CwltoolEngine(), "cwltool.main")


def check_miniwdl(settings: Settings) -> Check:
    return engine_check(MiniwdlEngine(), "WDL.runtime")


def engine_check(engine: Engine, module: str) -> Check:
    """Runs use this same interpreter (`python -m ...`), so importing the engine here
    tells whether it will start there; the version is the one service-info reports."""
    try:
        importlib.import_module(module)
        version = engine.version()
    except Exception as exc:
        return Check(
            FAIL,
            engine.name,
            f"cannot be imported: {exc!r}",
            f"reinstall localwes in {sys.prefix} (pip install --force-reinstall localwes)",
        )
    runs = f"runs {engine.workflow_type} {', '.join(engine.type_versions())}"
    return Check(OK, engine.name, f"{version}, {runs}")


def check_node(settings: Settings) -> Check:
    """cwltool evaluates CWL JavaScript expressions with node (as cwl-utils looks for it)."""
    for name in ("nodejs", "node"):
        path = shutil.which(name)
        if path:
            return Check(OK, "node", f"{_version_of([path, '--version'])} ({path})")
    return Check(
        WARN,
        "node",
        "not found on PATH: CWL workflows with JavaScript expressions need it",
        "install Node.js (e.g. apt install nodejs); without it cwltool tries a "
        "node:alpine container, which is slow and needs docker or podman",
    )


def _version_of(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "version unknown"
    return done.stdout.strip() or "version unknown"


def check_container_runtime(settings: Settings) -> Check:
    name = "container runtime"
    try:
        runtime = choose_runtime(settings.container)
    except ContainerRuntimeError as exc:
        return Check(FAIL, name, str(exc), "start its service, or set container = auto or none")
    if runtime != "none":
        return Check(OK, name, f"{runtime} (container = {settings.container})")
    if settings.container == "none":
        return Check(OK, name, "none: workflow steps run on this machine, without containers")
    return Check(
        WARN,
        name,
        "auto found no working docker, podman or singularity: steps that ask for a "
        "container image run on this machine without it",
        "install and start one (e.g. docker, and add yourself to its group), "
        "or set container = none to say this is intended",
    )


def check_state_dir(settings: Settings) -> Check:
    path = settings.state_dir
    if not path.exists():
        return _state_dir_to_create(path)
    if not path.is_dir():
        return Check(
            FAIL,
            "state dir",
            f"{path} is not a directory",
            "move that file away, or set state_dir (--state-dir, LOCALWES_STATE_DIR) elsewhere",
        )
    return _state_dir_safety(path)


def _state_dir_to_create(path: Path) -> Check:
    parent = _nearest_existing(path)
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Check(OK, "state dir", f"{path} does not exist yet; created (0700) at first start")
    return Check(
        FAIL,
        "state dir",
        f"{path} cannot be created: {parent} is not a writable folder",
        f"create it yourself (mkdir -p -m 700 {path}) or set state_dir elsewhere",
    )


def _state_dir_safety(path: Path) -> Check:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    fix = f"chmod 700 {path}"
    if info.st_uid != os.getuid():
        return Check(
            FAIL,
            "state dir",
            f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()})",
            "use a state dir of your own (--state-dir, LOCALWES_STATE_DIR)",
        )
    if mode & stat.S_IWOTH:
        # Anyone could then swap run folders or the token file: runs act as you.
        return Check(FAIL, "state dir", f"{path} is writable by every user (mode {mode:04o})", fix)
    if mode & stat.S_IWGRP:
        return Check(WARN, "state dir", f"{path} is writable by its group (mode {mode:04o})", fix)
    if not os.access(path, os.W_OK | os.X_OK):
        return Check(
            FAIL,
            "state dir",
            f"{path} is not writable (mode {mode:04o}, or a read-only file system)",
            f"chmod u+rwx {path}, or set state_dir elsewhere",
        )
    return Check(OK, "state dir", f"{path} (mode {mode:04o})")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_free_space(settings: Settings) -> Check:
    where = _nearest_existing(settings.state_dir)
    free = shutil.disk_usage(where).free
    detail = f"{free / GIB:.1f} GiB free for {settings.state_dir}"
    if free < LOW_SPACE:
        return Check(
            WARN,
            "disk space",
            detail,
            "free some space (finished run folders can be deleted) or set state_dir elsewhere",
        )
    return Check(OK, "disk space", detail)


def check_runs(settings: Settings) -> Check:
    runs = settings.state_dir / "runs"
    if not runs.is_dir():
        return Check(OK, "runs", "none yet")
    with os.scandir(runs) as entries:
        count = sum(1 for e in entries if e.is_dir() and not e.name.startswith("."))
    return Check(OK, "runs", f"{count} run folders in {runs}")


def check_daemon(settings: Settings) -> Check:
    daemon = find_daemon(settings.state_dir)
    if not daemon.running:
        return Check(
            OK,
            "daemon",
            f"none serves {settings.state_dir}",
            "start one with `localwes serve`, or `localwes service install` for systemd",
        )
    if daemon.pid is None or not _pid_alive(daemon.pid):
        return Check(
            WARN,
            "daemon",
            f"daemon.lock is held, but pid {daemon.pid} from daemon.json is not running here",
            f"another machine or container may serve it: fuser {settings.state_dir}/daemon.lock",
        )
    if daemon.url is None:
        return Check(OK, "daemon", f"pid {daemon.pid} is starting (no address recorded yet)")
    return _daemon_answer(daemon.pid, daemon.url)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _daemon_answer(pid: int, url: str) -> Check:
    running = f"pid {pid}, {url}"
    try:
        version = running_version(url)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return Check(
            WARN,
            "daemon",
            f"{running}, does not answer: {exc}",
            "it may be busy or stuck: see its log (journalctl --user -u localwes)",
        )
    if version not in (None, __version__):
        return Check(
            WARN,
            "daemon",
            f"{running} runs localwes {version}, but {__version__} is installed",
            "restart it: systemctl --user restart localwes (or stop and start localwes serve)",
        )
    return Check(OK, "daemon", f"{running}, answering")


def running_version(url: str, timeout: float = 3.0) -> str | None:
    """The version GET /service-info reports, or None when it needs the token."""
    connection = _connection(url, timeout)
    try:
        connection.request("GET", "/ga4gh/wes/v1/service-info")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status in (401, 403):
        return None
    if response.status != 200:
        raise ValueError(f"GET /service-info answered {response.status}")
    version = json.loads(body).get("version")
    return str(version) if version is not None else None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    if url.startswith("http+unix://"):
        return _UnixConnection(url.removeprefix("http+unix://"), timeout)
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)


def check_address(settings: Settings) -> Check:
    """Can `localwes serve` listen where the settings say? Connect only, never bind."""
    daemon = find_daemon(settings.state_dir)
    if settings.unix_socket is not None:
        return _unix_socket_address(settings.unix_socket, daemon)
    where = f"{settings.host}:{settings.port}"
    if settings.port == 0:
        return Check(OK, "address", f"{where}: a free port is picked at each start")
    if daemon.url and urlsplit(daemon.url).port == settings.port:
        return Check(OK, "address", f"{where} is served by this state dir's daemon")
    if not _accepts_connections(settings.host, settings.port):
        return _free_address(where, daemon)
    return Check(
        FAIL,
        "address",
        f"{where} is taken by another program",
        f"stop it (ss -ltnp 'sport = :{settings.port}' shows it) or set another port (--port)",
    )


def _free_address(where: str, daemon: DaemonRecord) -> Check:
    if daemon.url:
        # The daemon was started with another address (--port 0, say): no problem,
        # as clients find it through daemon.json.
        return Check(
            OK,
            "address",
            f"this state dir's daemon listens at {daemon.url} (these settings say {where}; "
            "clients find the daemon through its state dir)",
        )
    return Check(OK, "address", f"{where} is free")


def _unix_socket_address(path: Path, daemon: DaemonRecord) -> Check:
    if daemon.url == f"http+unix://{path}":
        return Check(OK, "address", f"{path} is served by this state dir's daemon")
    if not path.exists():
        return Check(OK, "address", f"{path} is free")
    if not stat.S_ISSOCK(path.stat().st_mode):
        return Check(FAIL, "address", f"{path} exists and is not a socket", "move it away")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(path))
        except OSError:
            return Check(OK, "address", f"{path} is a stale socket, replaced at start")
    return Check(FAIL, "address", f"{path} is in use by another program", "stop it")


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def check_token_file(settings: Settings) -> Check:
    path = settings.token_file
    if os.environ.get(TOKEN_ENV, "").strip():
        return Check(OK, "token", f"taken from {TOKEN_ENV}; {path} is not used")
    if not path.exists():
        return Check(OK, "token", f"{path} does not exist yet; created 0600 at first start")
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return Check(FAIL, "token", f"{path} is not a file of yours", "move it away")
    if mode & 0o077:
        return Check(
            WARN,
            "token",
            f"{path} is readable by others (mode {mode:04o})",
            f"chmod 600 {path}; if others may have read it, delete it for a new token",
        )
    if info.st_size == 0:
        return Check(FAIL, "token", f"{path} is empty", "delete it: a new one is made at start")
    return Check(OK, "token", f"{path} (mode {mode:04o})")


def check_network(settings: Settings) -> Check:
    if settings.unix_socket is not None:
        return Check(OK, "network", f"Unix socket {settings.unix_socket} only (owner only)")
    if not is_loopback(settings.host):
        return Check(
            WARN,
            "network",
            f"host {settings.host} exposes the API to the network over plain HTTP "
            "(every request needs the token)",
            "put TLS in front of it, or keep host = 127.0.0.1 and use an SSH tunnel",
        )
    extra = "; allow_remote has no effect on loopback" if settings.allow_remote else ""
    return Check(OK, "network", f"loopback only ({settings.host}, auth = {settings.auth}){extra}")


def check_browsers(settings: Settings) -> Check:
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if "null" in origins:
        # Sandboxed iframes and file:// pages of any site send Origin: null.
        return Check(
            FAIL,
            "browsers",
            "cors_origins lists null: any web page can start workflows as you",
            "remove null from cors_origins",
        )
    if origins:
        return Check(
            WARN,
            "browsers",
            f"cors_origins lets {', '.join(origins)} start workflows as you",
            "list only pages you trust, and only https ones",
        )
    return Check(OK, "browsers", "cross-site requests are refused (no cors_origins)")


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_localwes,
    check_cwltool,
    check_miniwdl,
    check_node,
    check_container_runtime,
    check_state_dir,
    check_free_space,
    check_runs,
    check_daemon,
    check_address,
    check_token_file,
    check_network,
    check_browsers,
)
