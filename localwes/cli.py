"""The `localwes` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from aiohttp import web

from localwes import __version__, systemd
from localwes.api.app import BASE_PATH, DaemonAlreadyRunning, create_app, record_daemon_url
from localwes.config import Settings, SettingsError, load_settings, setting_type
from localwes.containers import ContainerRuntimeError

log = logging.getLogger("localwes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localwes", description="A local GA4GH Workflow Execution Service (WES 1.1)."
    )
    parser.add_argument("--version", action="version", version=f"localwes {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the WES daemon in the foreground", allow_abbrev=False
    )
    for f in fields(Settings):
        default = f.metadata.get("shown") or f.default
        help_text = f"{f.metadata['help']} (default: {default}; env LOCALWES_{f.name.upper()})"
        flag = f"--{f.name.replace('_', '-')}"
        if f.type == "bool":
            serve.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
            continue
        serve.add_argument(
            flag,
            type=setting_type(f.name),
            choices=f.metadata.get("choices") or None,
            default=None,
            help=help_text,
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    flags = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = load_settings(flags)
        return asyncio.run(serve(settings))
    except (SettingsError, DaemonAlreadyRunning, ContainerRuntimeError) as exc:
        print(f"localwes: {exc}", file=sys.stderr)
        return 2


async def serve(settings: Settings) -> int:
    """Serve until SIGINT or SIGTERM. Runs keep going in their supervisors."""
    app = create_app(settings)
    # Followed logs end on shutdown; nothing else keeps a response open for long.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    try:
        url = await _listen(runner, settings)
        record_daemon_url(settings, url)
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


async def _listen(runner: web.AppRunner, settings: Settings) -> str:
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
