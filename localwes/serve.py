"""`localwes serve`: the daemon in the foreground, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
from typing import Any

from aiohttp import web

from localwes import __version__, systemd
from localwes.api.app import BASE_PATH, create_app
from localwes.config import Settings
from localwes.daemon_record import record_daemon_url
from localwes.errors import CommandError

log = logging.getLogger("localwes")


async def serve(settings: Settings) -> int:
    """Serve until SIGINT or SIGTERM. Runs keep going in their supervisors."""
    app = create_app(settings)
    # Followed logs end on shutdown; nothing else keeps a response open for long.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    try:
        url = await _listen(runner, settings)
        record_daemon_url(settings.state_dir, url)
        log.info(
            "localwes %s listening on %s%s (state dir %s)",
            __version__,
            url,
            BASE_PATH,
            settings.state_dir,
        )
        # Only now, with the socket bound, is the service ready for systemd.
        systemd.notify(f"READY=1\nSTATUS=listening on {url}{BASE_PATH}")
        await _until_stopped()
        systemd.notify("STOPPING=1")
        log.info("localwes stopping (on_stop=%s)", settings.on_stop)
    finally:
        await runner.cleanup()
    return 0


class CannotListen(CommandError):
    """The daemon's address could not be bound."""


async def _listen(runner: web.AppRunner, settings: Settings) -> str:
    try:
        return await _bind(runner, settings)
    except OSError as exc:
        raise CannotListen(_listen_problem(settings, exc)) from None


def _listen_problem(settings: Settings, exc: OSError) -> str:
    if settings.unix_socket is not None:
        where = f"the Unix socket {settings.unix_socket}"
        fix = "check that its folder exists and is yours, or choose another --unix-socket"
    else:
        where = f"{settings.host}:{settings.port}"
        fix = "choose another with --port (or LOCALWES_PORT); --port 0 takes any free one"
    if exc.errno == errno.EADDRINUSE:
        if settings.unix_socket is None:
            fix = (
                f"another program has it (`ss -ltnp 'sport = :{settings.port}'` says which); {fix}"
            )
        return f"cannot listen on {where}: the address is in use; {fix}"
    return f"cannot listen on {where}: {exc.strerror or exc}; {fix}"


async def _bind(runner: web.AppRunner, settings: Settings) -> str:
    if settings.unix_socket is None:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        return _bound_url(site, settings.host)
    unix_site = web.UnixSite(runner, str(settings.unix_socket))
    previous = os.umask(0o177)  # the socket is born 0600: only its owner can connect
    try:
        await unix_site.start()
    finally:
        os.umask(previous)
    os.chmod(settings.unix_socket, 0o600)
    return f"http+unix://{settings.unix_socket}"


def _bound_url(site: web.TCPSite, host: str) -> str:
    server: Any = site._server
    port = server.sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
