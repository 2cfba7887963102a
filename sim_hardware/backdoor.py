"""The simulator's back door: fault injection and inspection from outside the flight software.

A TCP listener on the loopback interface (port chosen by the system, written into the run
folder's port map) takes one JSON object per line and answers one per line, in order. Several
clients may be connected at once (a test, ``msr fault``); each request is handled whole at the
simulated time it is read, once parsed into its schema (:mod:`sim_hardware.backdoor_messages`,
decision 0028: typed, finite, bounded; a refusal names the field). Requests (``op`` and its
fields)::

    {"op": "inject", "target": "sta_arm.gripper", "kind": "grasp_slip",
     "duration": 5.0, "at": 120.0, "params": {...}}      -> {"ok": true, "id": 3}
    {"op": "clear", "id": 3}                              -> {"ok": true}
    {"op": "clear_all", "target": "sta_arm"}              -> {"ok": true, "cleared": 2}
    {"op": "faults"}                                      -> {"ok": true, "faults": [...],
                                                              "history": [...], "report": [...]}
    {"op": "status"}                                      -> {"ok": true, "time": ..., ...}
    {"op": "world"}                                       -> {"ok": true, "world": {...}}
    {"op": "lose_tube", "serial": 266}                    -> {"ok": true, "serial": 266,
                                                              "from": "in_mav", "slot": 3}

``lose_tube`` is a fault of the world model: the tube falls out of the OS and is lost
(``World.lose_tube``); the reply names the tube location it was lost from and its slot. In
lockstep it takes effect between rounds, as an injection does (decision 0034). A tube that is
unknown or in no OS slot is refused naming why (``unknown_tube: ...``, ``tube_not_in_os: ...``).

Every refusal is ``{"ok": false, "error": "<one line naming the problem>"}`` and changes nothing;
a line that is not JSON, not an object, nested too deep or longer than :data:`MAX_LINE` octets is
refused the same way (the rest of an over-long line is discarded; the connection stays usable).
A client first presents the run's token (``{"token": "..."}``, decision 0027); without it, it
gets ``access refused`` and nothing else. Nothing a client sends can stop the simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from hal.backdoor import MAX_LINE, BackdoorError, request
from hal.control import Connection, ControlServer

__all__ = ["MAX_CLIENTS", "MAX_LINE", "Backdoor", "BackdoorError", "request"]

MAX_CLIENTS: Final = 16
"""Connections at once; more are told ``too many connections`` and closed (decision 0027)."""

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class Backdoor:
    """The listener and its connections (:class:`hal.control.ControlServer`: the run's token
    first, bounded lines, outboxes and connections); served from the simulator's ``select``
    loop through :attr:`fds`, :attr:`writers` and :meth:`serve_ready`.

    Args:
        handler: turns a request object into a reply object; raises :class:`BackdoorError`
            (or ``ValueError``) to refuse it.
        token: the run's control token (:func:`hal.control.create_token`).
        host: the interface to listen on (loopback by default).
        port: 0 for a free port.
        max_clients: connections at once.
    """

    def __init__(
        self, handler: Handler, *, token: str, host: str = "127.0.0.1", port: int = 0,
        max_clients: int = MAX_CLIENTS,
    ) -> None:  # fmt: skip
        self.handler = handler
        self.server = ControlServer(
            self._serve_request, token=token, name="back door", host=host, port=port,
            max_clients=max_clients, max_line=MAX_LINE,
        )  # fmt: skip
        self.requests = 0
        self.refused = 0

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` it listens on."""
        return self.server.address

    @property
    def fds(self) -> list[int]:
        """Descriptors to watch for reading: the listener and the connections."""
        return self.server.readers

    @property
    def writers(self) -> list[int]:
        """Connections with replies waiting to be written."""
        return self.server.writers

    def serve_ready(self, ready: set[int] | list[int], writable: set[int] | list[int] = ()) -> None:
        """Accept, answer and write whatever is ready among :attr:`fds` and :attr:`writers`."""
        self.server.serve_ready(ready, writable)

    def close(self) -> None:
        """Close every connection and the listener (idempotent)."""
        self.server.close()

    # ------------------------------------------------------------------ internals

    def _serve_request(self, conn: Connection, request: dict[str, Any]) -> dict[str, Any]:
        return self._handle(request)

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        try:
            reply = self.handler(request)
        except (BackdoorError, ValueError) as exc:
            return self._refuse(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return {"ok": True, **reply}

    def _refuse(self, error: str) -> dict[str, Any]:
        self.refused += 1
        return {"ok": False, "error": error}
