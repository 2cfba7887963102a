"""``PtyLink``: a virtual serial pair, the port an emulated board is served on.

URL: ``pty://`` or ``pty://?name=<capture name>``. Opening makes a pseudo-terminal pair with
``os.openpty()``: the link reads and writes the master side; the slave side is a real tty device
(:attr:`PtyLink.peer_path`, e.g. ``/dev/pts/7``) that the flight software, pyserial, minicom or
socat open exactly as they would open a USB-serial adapter. With ``symlink=`` a stable name (in
the style of ``/dev/serial/by-id/...``) is made to point at it, as socat's ``link=`` does.

The link keeps its own slave descriptor open for its whole life (decision record
``docs/decisions/0002-pty-pair-holds-slave.md``): the pair then survives the peer opening,
closing and re-opening the port, as a real board's port does, and the master never sees the
EIO hang-up that Linux reports while no slave is open. The slave is put in raw mode (no echo, no
line editing, no CR/LF translation) so bytes pass unchanged.

Timeouts: the master is non-blocking and every wait is a ``select`` with the caller's timeout.
A write the peer does not drain fills the kernel's pty buffer; the link then waits up to
``write_timeout`` and raises ``LinkTimeout`` rather than block. An EIO (or EOF) on the master
means the pair is gone: ``LinkClosed(reason="device_lost")``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import termios
import tty
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hal.errors import LinkClosed, LinkOpenError, LinkTimeout
from hal.links.base import Link

__all__ = ["PtyLink"]


class PtyLink(Link):
    """The master end of a pseudo-terminal pair.

    Args:
        url: ``pty://`` or ``pty://?name=foo`` (``name`` becomes the default capture name).
        symlink: path of a symbolic link to create to :attr:`peer_path` on open and remove on
            close; an existing symlink there is replaced, any other file is an open error.
        **kwargs: the :class:`~hal.links.base.Link` options (capture, timestamp, write_timeout).

    Raises:
        LinkOpenError: from the constructor, a malformed URL; from ``open``, no
            pseudo-terminals left or the symlink cannot be made.
    """

    def __init__(self, url: str = "pty://", *, symlink: str | None = None, **kwargs: Any) -> None:
        parts = urlsplit(url)
        if parts.scheme != "pty" or parts.netloc or parts.path not in ("", "/"):
            raise LinkOpenError(f"link {url!r}: expected 'pty://' or 'pty://?name=...'")
        try:
            options = parse_qs(
                parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)
            )
        except ValueError as exc:
            raise LinkOpenError(f"link {url!r}: bad options: {exc}") from exc
        unknown = set(options) - {"name"}
        if unknown:
            raise LinkOpenError(f"link {url!r}: unknown option(s) {sorted(unknown)}; known: name")
        name = options.get("name", [""])[0]
        if name and "capture_name" not in kwargs:
            kwargs["capture_name"] = name
        super().__init__(url, **kwargs)
        self.name = name or None
        self.symlink = symlink
        self._master: int | None = None
        self._slave: int | None = None
        self._peer_path: str | None = None
        self._made_symlink = False

    @property
    def peer_path(self) -> str:
        """The slave tty path for the other side to open (``/dev/pts/N``).

        Raises:
            LinkClosed: the link is not open.
        """
        if self._peer_path is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        return self._peer_path

    @property
    def unread_by_peer(self) -> int:
        """Octets written to the link that the other side has not read yet (0 when closed)."""
        if self._slave is None:
            return 0
        try:
            raw = fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])

    def fileno(self) -> int:
        """The master descriptor: readable when :meth:`read` has data."""
        if self._master is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        return self._master

    def _open(self) -> None:
        try:
            master, slave = os.openpty()
        except OSError as exc:
            raise LinkOpenError(f"cannot open link {self.url!r}: openpty failed: {exc}") from exc
        try:
            tty.setraw(slave)
            os.set_blocking(master, False)
            peer = os.ttyname(slave)
            if self.symlink is not None:
                self._make_symlink(peer)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave, self._peer_path = master, slave, peer

    def _make_symlink(self, target: str) -> None:
        link = self.symlink
        if link is None:
            return
        if os.path.lexists(link):
            if not os.path.islink(link):
                raise LinkOpenError(
                    f"cannot open link {self.url!r}: {link!r} exists and is not a symlink"
                )
            os.unlink(link)
        parent = os.path.dirname(link)
        if parent:
            os.makedirs(parent, exist_ok=True)
        os.symlink(target, link)
        self._made_symlink = True

    def _close(self) -> None:
        if self._made_symlink and self.symlink is not None:
            try:
                if os.path.islink(self.symlink) and os.readlink(self.symlink) == self._peer_path:
                    os.unlink(self.symlink)
            except OSError:
                pass  # already gone, or replaced by someone else: leave it
            self._made_symlink = False
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = self._peer_path = None

    def _read(self, size: int, timeout: float | None) -> bytes:
        master = self._master
        if master is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        if not self._wait_fd(master, write=False, timeout=timeout):
            return b""
        try:
            data = os.read(master, size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return b""
            raise LinkClosed(f"link {self.url!r}: pty lost: {exc}", reason="device_lost") from exc
        if not data:
            raise LinkClosed(f"link {self.url!r}: pty master at EOF", reason="device_lost")
        return data

    def _write(self, data: bytes) -> int | None:
        master = self._master
        if master is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        if not self._wait_fd(master, write=True, timeout=self.write_timeout):
            raise LinkTimeout(
                f"link {self.url!r}: peer drained nothing for {self.write_timeout} s "
                "(pty buffer full)",
                reason="write_timeout",
            )
        try:
            return os.write(master, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return 0
            raise LinkClosed(f"link {self.url!r}: pty lost: {exc}", reason="device_lost") from exc
