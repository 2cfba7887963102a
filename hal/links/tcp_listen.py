"""``TcpListenLink``: the server end of a TCP byte link, ``tcp-listen://host:port``.

Opening binds and listens (port 0 picks a free port; read it back from :attr:`address`). The link
serves exactly one connection: it is accepted by :meth:`TcpListenLink.accept`, or lazily by the
first ``read`` (within the read's timeout) or ``write`` (within ``write_timeout``). Emulated boards
are served this way over TCP, and tests use it as the far end of a ``socket://`` SerialLink.

A peer that closes or resets its connection ends the link: ``LinkClosed(reason="peer_closed")``,
and the link is broken (see ``hal.links.base``); a new connection needs a new open.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from hal.errors import LinkClosed, LinkOpenError, LinkTimeout
from hal.links.base import Link

__all__ = ["TcpListenLink"]

_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


class TcpListenLink(Link):
    """Listen on a TCP address and carry bytes over the one connection accepted there.

    Args:
        url: ``tcp-listen://host:port``; ``host`` may be a name, an IPv4 address or a
            bracketed IPv6 address; port 0 asks for an ephemeral port.
        **kwargs: the :class:`~hal.links.base.Link` options (capture, timestamp, write_timeout).

    Raises:
        LinkOpenError: from the constructor, a malformed URL; from ``open``, an unknown host
            or an address that cannot be bound.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise LinkOpenError(f"link {url!r}: bad port: {exc}") from exc
        if parts.scheme != "tcp-listen" or not parts.hostname or port is None:
            raise LinkOpenError(f"link {url!r}: expected 'tcp-listen://host:port'")
        self._host: str = parts.hostname
        self._port: int = port
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self.peer_address: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the link listens on, with the real port when 0 was asked.

        Raises:
            LinkClosed: the link is not open.
        """
        if self._listener is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def connected(self) -> bool:
        """True once a peer connection was accepted (and the link is open)."""
        return self._conn is not None

    def fileno(self) -> int:
        """The connection's descriptor, or the listener's before a peer connected."""
        sock = self._conn or self._listener
        if sock is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        return sock.fileno()

    def accept(self, timeout: float | None = None) -> None:
        """Wait for the peer to connect; return at once if it already has.

        Args:
            timeout: seconds to wait (``None``: no limit, ``0``: only take a pending one).

        Raises:
            LinkTimeout: nobody connected within ``timeout`` (reason ``accept_timeout``).
            LinkClosed: the link is closed.
        """
        self._check_usable()
        if not self._guard(self._accept_within, timeout):
            raise LinkTimeout(
                f"link {self.url!r}: no connection within {timeout} s", reason="accept_timeout"
            )

    def _open(self) -> None:
        try:
            infos = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, _, _, _, sockaddr = infos[0]
            self._listener = socket.create_server(sockaddr, family=family, backlog=1)
        except OSError as exc:
            raise LinkOpenError(f"cannot open link {self.url!r}: {exc}") from exc
        self._listener.setblocking(False)

    def _close(self) -> None:
        for sock in (self._conn, self._listener):
            if sock is not None:
                sock.close()
        self._conn = self._listener = None
        self.peer_address = None

    def _accept_within(self, timeout: float | None) -> bool:
        if self._conn is not None:
            return True
        listener = self._listener
        if listener is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        if not self._wait_fd(listener.fileno(), write=False, timeout=timeout):
            return False
        try:
            conn, peer = listener.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return False  # the pending connection went away before we took it
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn, self.peer_address = conn, peer[:2]
        return True

    def _read(self, size: int, timeout: float | None) -> bytes:
        if self._conn is None:
            # Accepting is not data: report "nothing yet" and let the base call again with the
            # time that is left.
            self._accept_within(timeout)
            return b""
        conn = self._conn
        if not self._wait_fd(conn.fileno(), write=False, timeout=timeout):
            return b""
        try:
            data = conn.recv(size)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            raise LinkClosed(f"link {self.url!r}: peer lost: {exc}", reason="peer_closed") from exc
        if not data:
            raise LinkClosed(f"link {self.url!r}: peer closed the connection", reason="peer_closed")
        return data

    def _write(self, data: bytes) -> int | None:
        if self._conn is None and not self._accept_within(self.write_timeout):
            raise LinkTimeout(
                f"link {self.url!r}: no peer connected within {self.write_timeout} s",
                reason="write_timeout",
            )
        conn = self._conn
        if conn is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        if not self._wait_fd(conn.fileno(), write=True, timeout=self.write_timeout):
            raise LinkTimeout(
                f"link {self.url!r}: peer drained nothing for {self.write_timeout} s",
                reason="write_timeout",
            )
        try:
            return conn.send(data, _SEND_FLAGS)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            raise LinkClosed(f"link {self.url!r}: peer lost: {exc}", reason="peer_closed") from exc
