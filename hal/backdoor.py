"""The client of the simulator's back door (fault injection and inspection): one JSON request per
line over TCP on the loopback interface, one reply per line. The server and the requests it
takes are in ``sim_hardware.backdoor``; tests and ``msr fault`` use this client.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Final

__all__ = ["MAX_LINE", "BackdoorError", "request"]

MAX_LINE: Final = 65536
"""The longest request or reply line, in octets."""


class BackdoorError(Exception):
    """A request the back door refused; the message is its one-line error."""


def request(
    address: tuple[str, int], message: dict[str, Any], timeout: float = 5.0
) -> dict[str, Any]:
    """Send one request to a back door and return its reply (a client for tests and tools).

    Raises:
        BackdoorError: the reply says ``ok: false`` (its error as the message).
        OSError: the simulator cannot be reached.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall((json.dumps(message) + "\n").encode())
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = sock.recv(MAX_LINE)
            if not chunk:
                raise BackdoorError("the simulator closed the connection without an answer")
            buf += chunk
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise BackdoorError(str(reply.get("error")))
    return dict(reply)
