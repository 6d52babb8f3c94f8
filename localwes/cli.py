"""The `localwes` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from localwes import __version__
from localwes.client.commands import add_client_commands
from localwes.client.connection import Endpoint, WesClient, find_endpoint
from localwes.config import (
    Settings,
    example_config,
    load_settings,
    setting_type,
    settings_toml,
)
from localwes.errors import CommandError

log = logging.getLogger("localwes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localwes",
        description="A local GA4GH Workflow Execution Service (WES 1.1): the daemon, and a "
        "client for it.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"localwes {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file (default: $LOCALWES_CONFIG, else "
        "$XDG_CONFIG_HOME/localwes/config.toml, if it exists)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = _command(commands, "serve", "run the WES daemon in the foreground")
    _add_setting_flags(serve)
    add_client_commands(commands, _client_options())
    config = _command(
        commands, "config", "show the settings in effect (as TOML), or an example config file"
    )
    config.add_argument("--example", action="store_true", help="a commented config.toml")
    doctor = _command(commands, "doctor", "check engines, containers, the state dir and the daemon")
    _add_setting_flags(doctor)
    service = _command(commands, "service", "install the systemd user service")
    service.add_argument("action", choices=("install", "uninstall"))
    service.add_argument("--no-start", action="store_true", help="enable it, do not start it")
    service.add_argument("--print", action="store_true", help="print the unit, change nothing")
    return parser


def _command(commands: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=text, description=text, allow_abbrev=False
    )
    return parser


def _add_setting_flags(serve: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        default = f.metadata.get("shown") or f.default
        if default == "":
            default = "none"
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


def _client_options() -> argparse.ArgumentParser:
    """What every client command takes: where the daemon is, how to prove who you are."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help="the WES service (default: $LOCALWES_URL, else the local daemon)"
    )
    common.add_argument("--unix-socket", type=Path, metavar="PATH", help="connect through it")
    common.add_argument(
        "--token-file", type=Path, metavar="FILE", help="send this token ($LOCALWES_TOKEN wins)"
    )
    common.add_argument("--json", action="store_true", help="print JSON, for scripts")
    return common


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The daemon logs what it does; every other command speaks for itself and
    # only passes on warnings (an unknown config key, say).
    level = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        # Each command imports only what it needs: the client commands stay quick
        # because they never load the daemon, the engines or their checks.
        if args.command in ("serve", "doctor"):
            flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
            settings = load_settings(flags, config_file=args.config)
            if args.command == "serve":
                from localwes.serve import serve

                return asyncio.run(serve(settings))
            from localwes.doctor import doctor

            return doctor(settings)
        if args.command == "service":
            from localwes.service import install_service, uninstall_service

            if args.action == "uninstall":
                return uninstall_service()
            return install_service(start=not args.no_start, print_only=args.print)
        settings = load_settings({}, config_file=args.config)
        if args.command == "config":
            return show_config(settings, args.example)
        return asyncio.run(run_client(settings, args))
    except CommandError as exc:
        print(f"localwes: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`localwes ls | head`): stop quietly, as other tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


async def run_client(settings: Settings, args: argparse.Namespace) -> int:
    def find() -> Endpoint:
        return find_endpoint(settings, args.url, args.unix_socket, args.token_file)

    async with WesClient(find(), find_again=find) as client:
        code: int = await args.client_handler(client, args)
        return code


def show_config(settings: Settings, example: bool) -> int:
    if example:
        print(example_config(), end="")
        return 0
    print(settings_toml(settings), end="")
    return 0
