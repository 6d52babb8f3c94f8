"""Finding the daemon and talking WES to it: the client side of the CLI.

The URL comes from --url, else LOCALWES_URL, else the local daemon of the
configured state dir (the address it recorded in daemon.json, or its Unix
socket), else http://<host>:<port> from the settings. The token file is only
sent to that local daemon, while it holds its state dir's lock: a token is never
handed to a server the user named unless they give it (LOCALWES_TOKEN or
--token-file).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp

from localwes.config import Settings, is_loopback
from localwes.daemon_record import find_daemon
from localwes.errors import CommandError
from localwes.token import TOKEN_ENV

BASE_PATH = "/ga4gh/wes/v1"
URL_ENV = "LOCALWES_URL"
UNIX_SCHEME = "http+unix://"


# How long a command that follows a run (wait, logs -f) waits for a daemon that
# stopped answering: a restart (systemctl --user restart localwes) takes seconds.
RECONNECT_S = 60.0
RECONNECT_POLL_S = 0.5


class ClientError(CommandError):
    """Something the user must act on; the message says what."""


class DaemonUnreachable(ClientError):
    """Nothing answers at the daemon's address."""


@dataclass(frozen=True)
class Endpoint:
    base: str  # http(s)://host:port/ga4gh/wes/v1
    unix_socket: Path | None = None
    token: str | None = None
    guessed_for: Path | None = None  # no daemon serves this state dir: the address is a guess


def find_endpoint(
    settings: Settings, url: str | None, unix_socket: Path | None, token_file: Path | None
) -> Endpoint:
    named = url or os.environ.get(URL_ENV) or None
    explicit = _explicit_token(token_file)
    if unix_socket is not None:
        return Endpoint(f"http://localhost{BASE_PATH}", unix_socket, explicit)
    if named:
        return _endpoint_for(named, explicit)
    # The token file goes only to a daemon that holds this state dir's lock right
    # now: a stale daemon.json or a port taken over by another program gets nothing.
    daemon = find_daemon(settings.state_dir)
    local = explicit or (_local_token(settings) if daemon.running else None)
    if settings.unix_socket is not None:
        return Endpoint(f"http://localhost{BASE_PATH}", settings.unix_socket, local)
    if daemon.running and daemon.url:
        return _endpoint_for(daemon.url, local)
    host = settings.host if is_loopback(settings.host) else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return Endpoint(f"http://{shown}:{settings.port}{BASE_PATH}", None, local, settings.state_dir)


def _endpoint_for(url: str, token: str | None) -> Endpoint:
    if url.startswith(UNIX_SCHEME):
        return Endpoint(f"http://localhost{BASE_PATH}", Path(url[len(UNIX_SCHEME) :]), token)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ClientError(f"--url: {url!r} is not an http(s):// URL of a WES service")
    path = parsed.path.rstrip("/")
    if not path.endswith(BASE_PATH):
        path += BASE_PATH
    return Endpoint(f"{parsed.scheme}://{parsed.netloc}{path}", None, token)


def _explicit_token(token_file: Path | None) -> str | None:
    if os.environ.get(TOKEN_ENV, "").strip():
        return os.environ[TOKEN_ENV].strip()
    if token_file is None:
        return None
    try:
        return token_file.read_text().strip() or None
    except OSError as exc:
        raise ClientError(f"--token-file: cannot read {token_file}: {exc.strerror}") from None


def _local_token(settings: Settings) -> str | None:
    try:
        return settings.token_file.read_text().strip() or None
    except OSError:
        return None  # no token yet: the local daemon knows this user by its socket


class WesClient:
    """A WES 1.1 client session; every failure becomes a ClientError that says
    what to do."""

    def __init__(
        self, endpoint: Endpoint, find_again: Callable[[], Endpoint] | None = None
    ) -> None:
        self.endpoint = endpoint
        self.find_again = find_again
        # Set by commands that follow a run: they outlast a restart of the daemon.
        self.patient = False
        self._told_since: float | None = None
        self.session = _session(endpoint)

    async def __aenter__(self) -> WesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def until_reachable(self, failure: DaemonUnreachable, since: float) -> None:
        """After a failed connection: wait for the daemon to answer again (it may come
        back at another address, recorded in daemon.json), or re-raise the failure."""
        if not self.patient or time.monotonic() - since > RECONNECT_S:
            raise failure
        if self._told_since != since:
            self._told_since = since
            print(
                f"localwes: the daemon does not answer at {self.where}; waiting up to "
                f"{RECONNECT_S:.0f} s for it to come back",
                file=sys.stderr,
                flush=True,
            )
        await asyncio.sleep(RECONNECT_POLL_S)
        if self.find_again is not None:
            found = self.find_again()
            if found != self.endpoint:
                await self.session.close()
                self.endpoint, self.session = found, _session(found)

    @property
    def where(self) -> str:
        return str(self.endpoint.unix_socket or self.endpoint.base)

    async def get(self, path: str, **params: str | int) -> Any:
        return await self._json("GET", path, params=params)

    async def post(self, path: str, data: aiohttp.FormData | None = None) -> Any:
        return await self._json("POST", path, data=data)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        since = time.monotonic()
        while True:
            try:
                return await self._json_once(method, path, **kwargs)
            except DaemonUnreachable as unreachable:
                await self.until_reachable(unreachable, since)

    async def _json_once(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self.session.request(
                method, self.endpoint.base + path, **kwargs
            ) as response:
                body = await response.json(content_type=None)
                _raise_for_error(response.status, body)
                return body
        except aiohttp.ClientConnectionError as exc:
            raise self._unreachable(exc) from None
        except ValueError:
            raise ClientError(f"{self.where} did not answer like a WES service") from None

    async def stream(self, path: str, start: int = 0, **params: str) -> AsyncIterator[bytes]:
        """A log or file from byte `start`, chunk by chunk as the server sends it."""
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            async with self.session.get(
                self.endpoint.base + path, params=params, headers=headers
            ) as response:
                if response.status == 416:
                    return  # nothing after `start`
                if response.status not in (200, 206):
                    _raise_for_error(response.status, await _error_body(response))
                async for chunk in response.content.iter_any():
                    yield chunk
        except aiohttp.ClientConnectionError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> DaemonUnreachable:
        guessed = self.endpoint.guessed_for
        serves = f", and none serves the state dir {guessed}" if guessed else ""
        return DaemonUnreachable(
            f"no localwes daemon answers at {self.where} ({exc}){serves}; start one with "
            "`localwes serve`, or point --url or LOCALWES_URL at a running one"
        )


def _session(endpoint: Endpoint) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {endpoint.token}"} if endpoint.token else {}
    connector = (
        aiohttp.UnixConnector(path=str(endpoint.unix_socket)) if endpoint.unix_socket else None
    )
    return aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(sock_connect=10)
    )


async def _error_body(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return {"msg": (await response.text())[:200]}


def _raise_for_error(status: int, body: Any) -> None:
    if status < 400:
        return
    message = body.get("msg") if isinstance(body, dict) else None
    if isinstance(message, str):  # the server speaks HTTP; say it as this command does
        message = message.replace("GET /runs lists the runs", "`localwes ls` lists them")
    hint = "; set LOCALWES_TOKEN or --token-file to the daemon's token" if status == 401 else ""
    raise ClientError(f"the server said {status}: {message or body}{hint}")
