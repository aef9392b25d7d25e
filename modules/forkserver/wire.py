"""Messages between the fork server and its clients: one JSON object per packet of a SOCK_SEQPACKET Unix
socket, with file descriptors passed alongside (SCM_RIGHTS) where a request hands some over.

Packets keep their boundaries, so no framing is needed; an empty packet is the peer hanging up.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from typing import Any

MAX_PACKET = 1 << 20  # a spawn request carries an environment: a few KB, far below this
MAX_FDS = 8


class WireError(OSError):
    """A packet that is not a message of this protocol."""


def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_PACKET:
        raise WireError(f"a message of {len(data)} bytes is larger than {MAX_PACKET}")
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the descriptors that came with it (the caller owns them); None: hung up."""
    data, fds, flags, _ = socket.recv_fds(sock, MAX_PACKET, MAX_FDS)
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise WireError("a message or its descriptors were cut short")
        if not data:
            return None, fds
        try:
            message = json.loads(data)
        except ValueError:
            raise WireError("a message is not JSON") from None
        if not isinstance(message, dict):
            raise WireError("a message is not a JSON object")
    except WireError:
        close_all(fds)
        raise
    return message, fds


def close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def abstract_address(name: str) -> str:
    """An address in Linux's abstract socket namespace: no file to leave behind or to outgrow a path limit.

    The address is written with a leading "@" (as `ss` shows it) wherever it is passed as text."""
    return "@" + name


def bindable(address: str) -> str | bytes:
    return b"\0" + address[1:].encode() if address.startswith("@") else address
