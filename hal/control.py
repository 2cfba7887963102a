"""Local control ports: one JSON-line server core, its access token, and its client.

The ground station's control port and the simulator's back door are both served by
:class:`ControlServer` (decision 0027). Wire: TCP on 127.0.0.1, one JSON object per line each way.

Access. The first line a client sends is ``{"token": "<hex>"}``, the run's secret read from
``runs/<id>/control.token`` (mode 0600, :func:`create_token`). The server answers
``{"ok": true}`` and from then on takes requests; any other first line gets :data:`REFUSED`
(fixed: it says nothing about the bench) and the connection is closed. A client that presents
nothing within :data:`HELLO_TIMEOUT` wall seconds is closed the same way.

Bounds (a client cannot stall the server nor grow its memory):

* a request line is at most ``max_line`` octets: a longer one gets an error reply naming the
  limit and the rest of it is discarded as it arrives (the connection stays usable);
* JSON is nested at most ``max_depth`` deep (checked before parsing: no ``RecursionError``);
* replies wait in a per-client outbox of ``max_outbox`` octets, written without blocking: a
  client that does not read is disconnected when it is full, with a log line;
* at most ``max_clients`` connections: an extra one is accepted, told :data:`BUSY` and closed,
  so the descriptor budget holds whatever arrives;
* while a request is held (the station's ``step``), later lines of that client wait in its
  bounded input buffer, and the server stops reading from it when that is full.

The server is driven either by :meth:`ControlServer.serve` (its own ``selectors`` loop, with
other descriptors to watch) or from another process's loop with :attr:`ControlServer.readers`,
:attr:`ControlServer.writers` and :meth:`ControlServer.serve_ready`.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import selectors
import socket
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from hal.errors import StoreError
from hal.store import load_or_create_secret

__all__ = [
    "BUSY", "HELLO_TIMEOUT", "MAX_CLIENTS", "MAX_DEPTH", "MAX_LINE", "MAX_OUTBOX", "REFUSED",
    "TOKEN_FILE", "Connection", "ControlError", "ControlServer", "create_token", "hello",
    "parse_request", "read_token",
]  # fmt: skip

TOKEN_FILE: Final = "control.token"  # noqa: S105 - a file name, not a secret
"""The run's secret in the run folder (hex, mode 0600)."""
TOKEN_OCTETS: Final = 32
MAX_LINE: Final = 65536
"""The longest request line, in octets (newline excluded)."""
MAX_DEPTH: Final = 32
"""The deepest nesting of JSON arrays and objects in a request."""
MAX_OUTBOX: Final = 4 << 20
"""Reply octets a client may leave unread before it is disconnected."""
MAX_CLIENTS: Final = 64
HELLO_TIMEOUT: Final = 5.0
"""Wall seconds a new connection has to present the token."""
MAX_HELLO: Final = 512
"""The longest first line (the token's): a stranger cannot make the server buffer more."""
ACCEPTS_PER_CALL: Final = 256
REFUSED: Final = {"ok": False, "error": "access refused"}
"""The one reply a client without the token gets (then the connection closes)."""
BUSY: Final = {"ok": False, "error": "too many connections"}
WELCOME: Final = {"ok": True}

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


class ControlError(Exception):
    """No token in the run folder, or a control port that refused or went away."""


# ---------------------------------------------------------------------------- the token


def create_token(run_dir: str | Path) -> str:
    """The run's control token, made (from :mod:`secrets`, file mode 0600) if the run folder has
    none yet; several processes may call this at once and all get the same token.

    Raises:
        ControlError: the file cannot be made or read.
    """
    path = Path(run_dir) / TOKEN_FILE
    try:
        return load_or_create_secret(path, TOKEN_OCTETS, token_bytes=secrets.token_bytes).hex()
    except StoreError as exc:
        raise ControlError(str(exc).splitlines()[0]) from None


def read_token(run_dir: str | Path) -> str:
    """The run's control token from ``run_dir/control.token`` (never made here).

    Raises:
        ControlError: no token there (the bench is not up, or from before tokens).
    """
    path = Path(run_dir) / TOKEN_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
        bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise ControlError(f"{path}: no control token ({exc})") from None
    return text


def hello(sock: socket.socket, token: str) -> None:
    """Present ``token`` on a freshly connected control-port socket and read the welcome.

    Raises:
        ControlError: refused, or the connection closed.
        OSError: the socket failed (a timeout included).
    """
    sock.sendall(json.dumps({"token": token}).encode() + b"\n")
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)  # one octet at a time: what follows the welcome is not ours
        if not chunk:
            raise ControlError("the control port closed the connection")
        line += chunk
        if len(line) > MAX_HELLO:
            raise ControlError("the control port's welcome is too long")
    try:
        reply = json.loads(line)
    except ValueError:
        raise ControlError("the control port's welcome is not JSON") from None
    if not isinstance(reply, dict) or reply.get("ok") is not True:
        error = reply.get("error") if isinstance(reply, dict) else reply
        raise ControlError(f"the control port refused the connection: {error}")


# ---------------------------------------------------------------------------- parsing


def parse_request(line: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """One request line as a JSON object, nested no deeper than ``max_depth``.

    Raises:
        ValueError: not UTF-8, not JSON, not an object, or too deep (one line naming which).
    """
    if line.count(b"[") + line.count(b"{") > max_depth:  # only then can it be too deep
        depth = deepest = 0
        for bracket in _BRACKET.findall(_STRING.sub(b'""', line)):
            depth += 1 if bracket in b"[{" else -1
            deepest = max(deepest, depth)
            if deepest > max_depth:
                raise ValueError(f"request nested deeper than {max_depth} levels")
    try:
        request = json.loads(line)
    except UnicodeDecodeError:
        raise ValueError("request is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"request is not JSON: {exc}") from None
    except RecursionError:  # cannot pass the depth check above, kept as a second wall
        raise ValueError(f"request nested deeper than {max_depth} levels") from None
    if not isinstance(request, dict):
        raise ValueError("request is not a JSON object")
    return request


# ---------------------------------------------------------------------------- the server


class Connection:
    """One client of a :class:`ControlServer`. ``context`` is the owner's to use."""

    __slots__ = (
        "authorised", "closed", "context", "deadline", "discarding", "held", "inbuf", "number",
        "outbox", "sock",
    )  # fmt: skip

    def __init__(self, sock: socket.socket, number: int, deadline: float) -> None:
        self.sock = sock
        self.number = number
        self.deadline = deadline
        self.authorised = False
        self.closed = False
        self.held = False
        self.discarding = False
        self.inbuf = bytearray()
        self.outbox = bytearray()
        self.context: Any = None


Handler = Callable[[Connection, dict[str, Any]], "dict[str, Any] | None"]


class ControlServer:
    """A JSON-line control port on loopback (see the module docstring).

    Args:
        handler: called with the connection and each parsed request; returns the reply, or
            ``None`` when it answers later with :meth:`send` (after :meth:`hold`, the
            connection's next lines wait for :meth:`release`). An exception it raises is a
            bug: logged and answered ``internal error``, and the server goes on.
        token: the run's secret (hex) every client must present first.
        name: how log lines name this port (``station``, ``back door``).
        host, port: where to listen (port 0: a free one).
        max_clients, max_line, max_outbox, max_depth, hello_timeout: the bounds (module
            docstring).
        wall: monotonic wall seconds (the hello deadline).
        log: takes one line per dropped or refused client (standard error by default).
        on_close: called with a connection once it is closed.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        token: str,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_clients: int = MAX_CLIENTS,
        max_line: int = MAX_LINE,
        max_outbox: int = MAX_OUTBOX,
        max_depth: int = MAX_DEPTH,
        hello_timeout: float = HELLO_TIMEOUT,
        wall: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
        on_close: Callable[[Connection], None] | None = None,
    ) -> None:
        if max_clients < 1 or max_line < 1 or max_outbox < 1 or max_depth < 1:
            raise ValueError("control port bounds must be positive")
        self.handler = handler
        self.name = name
        self._token = token.encode("ascii")
        self.max_clients = max_clients
        self.max_line = max_line
        self.max_outbox = max_outbox
        self.max_depth = max_depth
        self.hello_timeout = hello_timeout
        self.wall = wall
        self.log = log or self._stderr
        self.on_close = on_close
        self.listener = socket.create_server((host, port), backlog=1024)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.connections: dict[int, Connection] = {}
        self._numbers = 0
        self._watched: set[int] = set()
        self.counts = {"accepted": 0, "busy": 0, "refused": 0, "dropped": 0, "errors": 0,
                       "requests": 0}  # fmt: skip

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` it listens on."""
        host, port = self.listener.getsockname()[:2]
        return str(host), int(port)

    # ------------------------------------------------------------------ driving

    def watch(self, fd: int) -> None:
        """Have :meth:`serve` return early when ``fd`` (not the server's) is readable."""
        self.selector.register(fd, selectors.EVENT_READ, "watched")
        self._watched.add(fd)

    def serve(self, timeout: float) -> None:
        """Wait up to ``timeout`` wall seconds for the listener, the connections or a watched
        descriptor, and serve what is ready."""
        readable: set[int] = set()
        writable: set[int] = set()
        for key, events in self.selector.select(max(0.0, timeout)):
            if events & selectors.EVENT_READ:
                readable.add(key.fd)
            if events & selectors.EVENT_WRITE:
                writable.add(key.fd)
        self.serve_ready(readable, writable)

    @property
    def readers(self) -> list[int]:
        """Descriptors to watch for reading (for a loop that is not :meth:`serve`)."""
        out = [self.listener.fileno()]
        for fd, key in self.selector.get_map().items():
            if isinstance(key.data, Connection) and key.events & selectors.EVENT_READ:
                out.append(fd)
        return out

    @property
    def writers(self) -> list[int]:
        """Connections with replies waiting to be written."""
        return [fd for fd, conn in self.connections.items() if conn.outbox]

    def serve_ready(self, readable: Iterable[int], writable: Iterable[int] = ()) -> None:
        """Serve what is ready among :attr:`readers` and :attr:`writers`."""
        ready = set(readable)
        for fd in set(writable):
            conn = self.connections.get(fd)
            if conn is not None:
                self._flush(conn)
        self._expire()
        if self.listener.fileno() in ready:
            self._accept()
        for fd in ready:
            conn = self.connections.get(fd)
            if conn is not None and not conn.closed:
                self._read(conn)

    def close(self) -> None:
        """Close every connection and the listener (idempotent)."""
        for conn in list(self.connections.values()):
            self._close(conn)
        if self.listener.fileno() >= 0:
            self.selector.unregister(self.listener)
            self.listener.close()
        self.selector.close()

    # ------------------------------------------------------------------ replies

    def send(self, conn: Connection, reply: dict[str, Any]) -> None:
        """Queue ``reply`` for ``conn`` and write what the socket takes without blocking. A
        client whose outbox would pass ``max_outbox`` is disconnected (logged)."""
        if conn.closed:
            return
        data = json.dumps(reply, default=str).encode() + b"\n"
        if conn.outbox and len(conn.outbox) + len(data) > self.max_outbox:
            self.counts["dropped"] += 1
            self.log(f"{self.name}: client {conn.number} does not read its replies "
                     f"({len(conn.outbox)} octets waiting): disconnected")  # fmt: skip
            self._close(conn)
            return
        conn.outbox += data
        self._flush(conn)

    def hold(self, conn: Connection) -> None:
        """Keep ``conn``'s next request lines until :meth:`release` (its reply comes later)."""
        conn.held = True

    def release(self, conn: Connection) -> None:
        """Answer ``conn``'s waiting lines again (no-op unless held)."""
        if conn.held and not conn.closed:
            conn.held = False
            self._lines(conn)
            self._interest(conn)

    def drop(self, conn: Connection) -> None:
        """Close ``conn`` now."""
        self._close(conn)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_CALL):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors: the rest wait in the backlog
                self.log(f"{self.name}: accept failed: {exc}")
                return
            sock.setblocking(False)
            # replies are small and each is awaited: no waiting for an ACK to coalesce them
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(self.connections) >= self.max_clients:
                self.counts["busy"] += 1
                self._turn_away(sock, BUSY)
                continue
            self._numbers += 1
            self.counts["accepted"] += 1
            conn = Connection(sock, self._numbers, self.wall() + self.hello_timeout)
            self.connections[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def _turn_away(self, sock: socket.socket, reply: dict[str, Any]) -> None:
        try:
            sock.send(json.dumps(reply).encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()

    def _expire(self) -> None:
        now = self.wall()
        for conn in [c for c in self.connections.values() if not c.authorised]:
            if now >= conn.deadline:
                self.counts["refused"] += 1
                self.log(f"{self.name}: client {conn.number} presented no token in time: closed")
                self._refuse(conn)

    def _refuse(self, conn: Connection) -> None:
        try:
            conn.sock.send(json.dumps(REFUSED).encode() + b"\n")
        except OSError:
            pass
        self._close(conn)

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if conn.discarding:  # the rest of an over-long line
            end = data.find(b"\n")
            if end < 0:
                return
            conn.discarding = False
            data = data[end + 1 :]
        conn.inbuf += data
        self._lines(conn)
        if not conn.closed:
            self._interest(conn)

    def _lines(self, conn: Connection) -> None:
        """Answer every whole line in ``conn``'s buffer (until held or closed), then bound
        what is left."""
        while not conn.held and not conn.closed:
            end = conn.inbuf.find(b"\n")
            if end < 0:
                break
            line = bytes(conn.inbuf[:end])
            del conn.inbuf[: end + 1]
            if not conn.authorised:
                if not self._authorise(line):
                    self.counts["refused"] += 1
                    self.log(f"{self.name}: client {conn.number} without the token: refused")
                    self._refuse(conn)
                    return
                conn.authorised = True
                self.send(conn, WELCOME)
                continue
            if len(line) > self.max_line:
                self._error(conn, f"request line longer than {self.max_line} octets")
                continue
            self._request(conn, line)
        if conn.closed or conn.held:
            return
        limit = self.max_line if conn.authorised else MAX_HELLO
        if len(conn.inbuf) > limit:
            if not conn.authorised:
                self.counts["refused"] += 1
                self._refuse(conn)
                return
            conn.inbuf.clear()
            conn.discarding = True
            self._error(conn, f"request line longer than {self.max_line} octets: discarded")

    def _authorise(self, line: bytes) -> bool:
        """Whether the first line is ``{"token": "<the token>"}`` (compared in constant time)."""
        try:
            first = json.loads(line) if len(line) <= MAX_HELLO else None
        except (ValueError, RecursionError):
            first = None
        if not isinstance(first, dict) or set(first) != {"token"}:
            return False
        token = first["token"]
        if not isinstance(token, str) or not token.isascii():
            return False
        return hmac.compare_digest(token.encode("ascii"), self._token)

    def _request(self, conn: Connection, line: bytes) -> None:
        self.counts["requests"] += 1
        try:
            request = parse_request(line, self.max_depth)
        except ValueError as exc:
            self._error(conn, str(exc).splitlines()[0])
            return
        try:
            reply = self.handler(conn, request)
        except Exception as exc:  # a handler's bug: logged, answered, and the port goes on
            detail = str(exc).splitlines()[0] if str(exc) else ""
            self.log(f"{self.name}: internal error on a {request.get('op')!r} request: "
                     f"{type(exc).__name__}: {detail}")  # fmt: skip
            reply = {"ok": False, "error": "internal error (logged by the server)"}
        if reply is not None:
            self.send(conn, reply)

    def _error(self, conn: Connection, message: str) -> None:
        self.counts["errors"] += 1
        self.send(conn, {"ok": False, "error": message})

    def _interest(self, conn: Connection) -> None:
        """Read while the buffer has room or nothing is held; write while replies wait."""
        if conn.closed:
            return
        events = 0
        if not conn.held or len(conn.inbuf) <= self.max_line:
            events |= selectors.EVENT_READ
        if conn.outbox:
            events |= selectors.EVENT_WRITE
        try:
            key: selectors.SelectorKey | None = self.selector.get_key(conn.sock)
        except KeyError:
            key = None
        if events == 0:
            if key is not None:
                self.selector.unregister(conn.sock)
        elif key is None:
            self.selector.register(conn.sock, events, conn)
        elif key.events != events:
            self.selector.modify(conn.sock, events, conn)

    def _flush(self, conn: Connection) -> None:
        if conn.closed:
            return
        if conn.outbox:
            try:
                sent = conn.sock.send(conn.outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            del conn.outbox[:sent]
        self._interest(conn)

    def _close(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        fd = conn.sock.fileno()
        self.connections.pop(fd, None)
        try:
            self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        conn.inbuf.clear()
        conn.outbox.clear()
        if self.on_close is not None:
            self.on_close(conn)
