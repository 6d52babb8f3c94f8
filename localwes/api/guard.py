"""The security middleware: who may call the API, from where.

Whoever can POST /runs can run any command as this user, so every request must
pass three checks (see README, "Security"):
1. Host: a loopback name or address (with our port), or a configured name.
   Anything else, an empty Host included, is refused: this stops DNS rebinding.
2. Not cross-site: `Sec-Fetch-Site: cross-site|same-site`, or an `Origin` that
   is not ours nor configured (`null` included), is refused. A multipart POST
   needs no CORS preflight, so this is what stops a web page from starting a
   workflow. No CORS headers are sent unless origins are configured.
3. Identity: the token (Bearer, or the password of HTTP Basic, compared in
   constant time; never from a query string, form field or cookie), or else a
   connection whose socket belongs to our own uid (loopback TCP or Unix
   socket). Another uid is refused; a peer we cannot identify needs the token.
The model follows jupyter_server's local-server defaults and datasette's csrf.py.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import os
import socket
import weakref
from collections.abc import Awaitable, Callable

from aiohttp import web

from localwes.api import keys
from localwes.errors import Forbidden, Unauthorized
from localwes.peers import tcp_peer_uid, unix_peer_uid

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

# The peer uid of each connection, looked up once per connection.
_peer_uids: weakref.WeakKeyDictionary[object, int | None] = weakref.WeakKeyDictionary()


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    check_host(request)
    origin = check_cross_site(request)
    if request.method == "OPTIONS" and origin:
        return _preflight(origin)
    check_identity(request)
    response = await handler(request)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def check_host(request: web.Request) -> None:
    if _is_unix_socket(request):
        return  # no browser reaches a Unix socket: there is nothing to rebind
    host = request.headers.get("Host", "")
    if not host:
        raise Forbidden("the Host header is missing; send the address you connected to")
    name, port = _split_host(host)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    our_port = sockname[1] if sockname else None
    if port is not None and port != our_port:
        raise Forbidden(f"Host {host!r} names another port; use this daemon's address")
    allowed = request.app[keys.ALLOWED_HOSTS]
    if not (_is_loopback_name(name) or name in allowed):
        raise Forbidden(
            f"Host {host!r} is not allowed; connect by a loopback address, or add the name "
            "to the allowed_hosts setting"
        )


def check_cross_site(request: web.Request) -> str | None:
    """Refuse cross-site requests; return a configured CORS origin to echo, if any."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    origin = request.headers.get("Origin")
    cors = request.app[keys.CORS_ORIGINS]
    if origin is not None and origin in cors:
        return origin
    if fetch_site in ("cross-site", "same-site"):
        raise Forbidden(f"cross-site requests are refused (Sec-Fetch-Site: {fetch_site})")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise Forbidden(
            f"requests from web origin {origin!r} are refused; add it to cors_origins to allow it"
        )
    return None


def check_identity(request: web.Request) -> None:
    token = request.app[keys.TOKEN]
    presented = presented_token(request)
    if presented is not None:
        if hmac.compare_digest(presented.encode(), token.encode()):
            return
        raise Unauthorized("the token is wrong")
    if request.app[keys.SETTINGS].auth == "token":
        raise Unauthorized("a token is required: send Authorization: Bearer <token>")
    uid = _peer_uid(request)
    if uid is None:
        raise Unauthorized(
            "localwes cannot tell which user this connection belongs to; send the token "
            "(Authorization: Bearer <token>)"
        )
    if uid != os.getuid():
        raise Forbidden(f"connections from other users (uid {uid}) are refused")


def presented_token(request: web.Request) -> str | None:
    """The token from the Authorization header: Bearer, or Basic's password."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are malformed") from None
        return decoded.partition(":")[2]
    return None


def _peer_uid(request: web.Request) -> int | None:
    connection = request.transport  # one transport per connection, and weakly referable
    if connection is None:
        return None
    if connection in _peer_uids:
        return _peer_uids[connection]
    uid = _lookup_peer_uid(request)
    _peer_uids[connection] = uid
    return uid


def _lookup_peer_uid(request: web.Request) -> int | None:
    transport = request.transport
    if transport is None:
        return None
    sock = transport.get_extra_info("socket")
    if _is_unix_socket(request):
        return unix_peer_uid(sock)
    peer = transport.get_extra_info("peername")
    local = transport.get_extra_info("sockname")
    if not peer or not local or not ipaddress.ip_address(peer[0].split("%")[0]).is_loopback:
        return None  # only a loopback peer's socket is on this machine's tables
    return tcp_peer_uid(peer[:2], local[:2])


def _is_unix_socket(request: web.Request) -> bool:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    return sock is not None and sock.family == socket.AF_UNIX


def _split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    try:
        return name.lower(), int(port) if port else None
    except ValueError:
        raise Forbidden(f"Host {host!r} is malformed") from None


def _is_loopback_name(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _preflight(origin: str) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )
