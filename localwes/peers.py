"""Who is on the other end of a connection: the owner uid of a loopback TCP peer
(from /proc/net/tcp and tcp6, by matching its address and port) or of a Unix
socket peer (SO_PEERCRED)."""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

PROC_NET = Path("/proc/net")


def unix_peer_uid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def tcp_peer_uid(peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The uid owning the client socket `peer` that is connected to our `local`."""
    wanted = (_proc_address(*peer), _proc_address(*local))
    for table in ("tcp6", "tcp") if ":" in peer[0] else ("tcp", "tcp6"):
        try:
            lines = (PROC_NET / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 7 and (fields[1].upper(), fields[2].upper()) == wanted:
                return int(fields[7])
    return None


def _proc_address(host: str, port: int) -> str:
    """An address as /proc/net/tcp{,6} writes it: the address in host byte order
    per 32-bit word, in hex, then the port in hex."""
    address = ipaddress.ip_address(host.split("%")[0])
    packed = address.packed
    words = [packed[i : i + 4] for i in range(0, len(packed), 4)]
    text = "".join(struct.pack("<I", struct.unpack(">I", w)[0]).hex() for w in words)
    return f"{text.upper()}:{port:04X}"
