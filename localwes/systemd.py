"""systemd readiness (Type=notify): a datagram to $NOTIFY_SOCKET, as sd_notify(3)
sends it, so no library is needed."""

from __future__ import annotations

import contextlib
import os
import socket


def notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1") to systemd if it is listening; True if sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock,
    ):
        sock.connect(address)
        sock.sendall(message.encode())
        return True
    return False
