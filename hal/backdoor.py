"""The client of the simulator's back door (fault injection and inspection): one JSON request per
line over TCP on the loopback interface, one reply per line, after the run's token
(:mod:`hal.control`, decision 0027). The server and the requests it takes are in
``sim_hardware.backdoor``; tests and ``msr fault`` use this client.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Final

from hal.control import MAX_LINE, ControlError, hello

__all__ = ["MAX_LINE", "BackdoorError", "request"]

MAX_REPLY: Final = 16 << 20
"""The longest reply this client reads (a reply longer than this is an error)."""


class BackdoorError(Exception):
    """A request the back door refused; the message is its one-line error."""


def request(
    address: tuple[str, int], message: dict[str, Any], timeout: float = 5.0, *, token: str
) -> dict[str, Any]:
    """Send one request to a back door and return its reply (a client for tests and tools).

    Args:
        address: the back door's ``(host, port)`` (the run folder's ``ports.json``).
        message: the request.
        timeout: wall seconds for each socket operation.
        token: the run's control token (:func:`hal.control.read_token`).

    Raises:
        BackdoorError: the reply says ``ok: false`` (its error as the message), or the back
            door refused the token.
        OSError: the simulator cannot be reached.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            hello(sock, token)
        except ControlError as exc:
            raise BackdoorError(str(exc)) from None
        sock.sendall((json.dumps(message) + "\n").encode())
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = sock.recv(MAX_LINE)
            if not chunk:
                raise BackdoorError("the simulator closed the connection without an answer")
            buf += chunk
            if len(buf) > MAX_REPLY:
                raise BackdoorError(f"the back door's reply is longer than {MAX_REPLY} octets")
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise BackdoorError(str(reply.get("error")))
    return dict(reply)
