"""The simulator's back door: fault injection and inspection from outside the flight software.

A TCP listener on the loopback interface (port chosen by the system, written into the run
folder's port map) takes one JSON object per line and answers one per line, in order. Several
clients may be connected at once (a test, ``msr fault``); each request is handled whole at the
simulated time it is read. Requests (``op`` and its fields)::

    {"op": "inject", "target": "sta_arm.gripper", "kind": "grasp_slip",
     "duration": 5.0, "at": 120.0, "params": {...}}      -> {"ok": true, "id": 3}
    {"op": "clear", "id": 3}                              -> {"ok": true}
    {"op": "clear_all", "target": "sta_arm"}              -> {"ok": true, "cleared": 2}
    {"op": "faults"}                                      -> {"ok": true, "faults": [...]}
    {"op": "status"}                                      -> {"ok": true, "time": ..., ...}
    {"op": "world"}                                       -> {"ok": true, "world": {...}}

Every refusal is ``{"ok": false, "error": "<one line naming the problem>"}`` and changes nothing;
a line that is not JSON, not an object, or longer than :data:`MAX_LINE` octets is refused the same
way (an over-long line also closes that connection, having lost its framing). Nothing a client
sends can stop the simulator.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any, Final

from hal.backdoor import MAX_LINE, BackdoorError, request

__all__ = ["MAX_LINE", "Backdoor", "BackdoorError", "request"]

MAX_CLIENTS: Final = 16

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()


class Backdoor:
    """The listener and its connections; served from the simulator's ``select`` loop.

    Args:
        handler: turns a request object into a reply object; raises :class:`BackdoorError`
            (or ``ValueError``) to refuse it.
        host: the interface to listen on (loopback by default).
        port: 0 for a free port.
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(MAX_CLIENTS)
        self._listener.setblocking(False)
        self._clients: dict[int, _Client] = {}
        self.requests = 0
        self.refused = 0

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` it listens on."""
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def fds(self) -> list[int]:
        """Descriptors to watch: the listener and every connection."""
        return [self._listener.fileno(), *self._clients]

    def serve_ready(self, ready: set[int] | list[int]) -> None:
        """Accept and answer whatever is ready among :attr:`fds`."""
        wanted = set(ready)
        if self._listener.fileno() in wanted:
            self._accept()
        for fd in [fd for fd in list(self._clients) if fd in wanted]:
            self._read(self._clients[fd])

    def close(self) -> None:
        """Close every connection and the listener (idempotent)."""
        for client in list(self._clients.values()):
            self._drop(client)
        self._listener.close()

    # ------------------------------------------------------------------ internals

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if len(self._clients) >= MAX_CLIENTS:
            sock.close()
            return
        sock.setblocking(False)
        self._clients[sock.fileno()] = _Client(sock)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(MAX_LINE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(client)
            return
        if not data:
            self._drop(client)
            return
        client.buf += data
        while (end := client.buf.find(b"\n")) >= 0:
            line = bytes(client.buf[:end])
            del client.buf[: end + 1]
            self._answer(client, self._handle(line))
        if len(client.buf) > MAX_LINE:
            self._answer(client, self._refuse(f"request longer than {MAX_LINE} octets"))
            self._drop(client)

    def _handle(self, line: bytes) -> dict[str, Any]:
        self.requests += 1
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._refuse(f"request is not JSON: {exc}")
        if not isinstance(request, dict):
            return self._refuse("request is not a JSON object")
        try:
            reply = self.handler(request)
        except (BackdoorError, ValueError) as exc:
            return self._refuse(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return {"ok": True, **reply}

    def _refuse(self, error: str) -> dict[str, Any]:
        self.refused += 1
        return {"ok": False, "error": error}

    def _answer(self, client: _Client, reply: dict[str, Any]) -> None:
        data = (json.dumps(reply, default=str) + "\n").encode()
        try:
            client.sock.setblocking(True)
            client.sock.settimeout(1.0)
            client.sock.sendall(data)
            client.sock.setblocking(False)
        except OSError:
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        self._clients.pop(client.sock.fileno(), None)
        try:
            client.sock.close()
        except OSError:
            pass
