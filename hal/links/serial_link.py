"""``SerialLink``: every URL pyserial's ``serial_for_url`` opens.

URLs: a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/usb-FTDI_...``, a ``/dev/pts/N`` made
by a :class:`~hal.links.pty_link.PtyLink`), ``loop://``, ``socket://host:port`` and
``rfc2217://host:port``. This is the only module of the project that imports pyserial.

Reads: where pyserial exposes a file descriptor (POSIX ports, ``socket://``) the link waits with
``select`` on it itself, then reads what is there without blocking (the port's pyserial timeout
stays 0). Other handlers (``loop://``, ``rfc2217://``) wait in pyserial's own ``read(1)`` with the
timeout, then take what ``in_waiting`` reports.

Device loss: pyserial reports an unplugged adapter, a closed pty master or a socket closed by its
peer as ``SerialException`` ("device reports readiness to read but returned no data",
"socket disconnected", "read failed: [Errno 5] ...") or as ``OSError`` / ``termios.error``; all
become ``LinkClosed(reason="device_lost")`` and the link is marked broken (see ``hal.links.base``).
"""

from __future__ import annotations

import queue
import socket
import termios
from typing import Any, Final

import serial

from hal.errors import LinkClosed, LinkOpenError, LinkTimeout
from hal.links.base import Link

__all__ = ["SerialLink"]

DEFAULT_BAUDRATE: Final = 115200
#: Largest chunk handed to pyserial in one write call (its write timeout covers a whole call).
_MAX_CHUNK: Final = 4096
_MIN_CHUNK: Final = 16

_LOST = (serial.SerialException, OSError, termios.error)


class SerialLink(Link):
    """A link over a pyserial port.

    Args:
        url: a device path or a pyserial URL (see the module docstring).
        baudrate: line speed (ignored by ``socket://``; ``loop://`` uses it to model write time).
        exclusive: ask pyserial for an exclusive ``flock`` on POSIX ports (``None``: leave as is).
        serial_options: further keyword arguments for ``serial_for_url`` (``bytesize``, ``parity``,
            ``rtscts``...).
        **kwargs: the :class:`~hal.links.base.Link` options (capture, timestamp, write_timeout).

    Raises (from ``open``):
        LinkOpenError: the URL is malformed, the device does not exist or is busy, the host
            refuses the connection; the message names the URL and pyserial's cause.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        exclusive: bool | None = None,
        serial_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(url, **kwargs)
        self.baudrate = baudrate
        self.exclusive = exclusive
        self._serial_options = dict(serial_options or {})
        self._ser: serial.SerialBase | None = None
        self._fd: int | None = None
        self._reader_timeout: float | None = 0.0
        # pyserial's write timeout bounds one whole call: keep each call short enough that the
        # device can take it well within the timeout at this baud rate (10 bits per byte).
        wt = self.write_timeout if self.write_timeout is not None else 2.0
        self._chunk = max(_MIN_CHUNK, min(_MAX_CHUNK, int(baudrate / 10 * wt / 4)))

    @property
    def serial(self) -> serial.SerialBase:
        """The open pyserial port (for modem lines, break, baud changes).

        Raises:
            LinkClosed: the link is not open.
        """
        if self._ser is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        return self._ser

    def _open(self) -> None:
        try:
            ser = serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                timeout=0,
                write_timeout=self.write_timeout,
                exclusive=self.exclusive,
                **self._serial_options,
            )
        except (*_LOST, ValueError) as exc:
            raise LinkOpenError(f"cannot open link {self.url!r}: {exc}") from exc
        self._reader_timeout = 0.0
        try:
            fd = ser.fileno()
        except (AttributeError, serial.SerialException, OSError):
            fd = None
        self._ser, self._fd = ser, fd

    def _close(self) -> None:
        ser, self._ser, self._fd = self._ser, None, None
        if ser is not None:
            try:
                _close_socket_port(ser)
                ser.close()
            except (*_LOST, ValueError):
                pass  # a lost device may fail its last flush: nothing left to release

    def fileno(self) -> int:
        """The port's file descriptor (POSIX ports and ``socket://`` only)."""
        if self._fd is None:
            return super().fileno()
        return self._fd

    def _read(self, size: int, timeout: float | None) -> bytes:
        ser = self._ser
        if ser is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        try:
            if self._fd is not None:
                if not self._wait_fd(self._fd, write=False, timeout=timeout):
                    return b""
                # Readable: pyserial's timeout is 0, so this takes what is there, and raises
                # SerialException when a readable port yields nothing (EOF: device gone).
                return ser.read(size)
            if self._reader_timeout != timeout:
                ser.timeout = timeout
                self._reader_timeout = timeout
            data = ser.read(1)
            if data and size > 1:
                waiting = ser.in_waiting
                if waiting:
                    data += ser.read(min(waiting, size - 1))
            if not data and not ser.is_open:
                raise LinkClosed(f"link {self.url!r}: port closed", reason="device_lost")
            return data
        except _LOST as exc:
            raise LinkClosed(
                f"link {self.url!r}: device lost: {exc}", reason="device_lost"
            ) from exc

    def _write(self, data: bytes) -> int | None:
        ser = self._ser
        if ser is None:
            raise LinkClosed(f"link {self.url!r} is not open")
        chunk = data[: self._chunk]
        try:
            n = ser.write(chunk)
        except (serial.SerialTimeoutException, queue.Full) as exc:  # queue.Full: loop://
            raise LinkTimeout(
                f"link {self.url!r}: device accepted no data for {self.write_timeout} s",
                reason="write_timeout",
            ) from exc
        except _LOST as exc:
            raise LinkClosed(
                f"link {self.url!r}: device lost: {exc}", reason="device_lost"
            ) from exc
        return len(chunk) if n is None else n


def _close_socket_port(ser: serial.SerialBase) -> None:
    """Close a ``socket://`` port without pyserial's close-time ``time.sleep(0.3)``.

    pyserial 3.5's socket handler sleeps 0.3 s in ``close()`` "to give the server some time";
    in a lockstep simulation that stalls every participant. Its socket is closed here and the
    port marked closed, so the ``close()`` that follows has nothing left to do. Other handlers,
    or a pyserial whose internals differ, are left to their own ``close()``.
    """
    if type(ser).__module__ != "serial.urlhandler.protocol_socket":
        return
    sock = getattr(ser, "_socket", None)
    if not isinstance(sock, socket.socket):
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already disconnected
    sock.close()
    ser._socket = None  # type: ignore[attr-defined]
    ser.is_open = False


def find_port_by_serial(serial_number: str) -> str | None:
    """The device path of the USB-serial adapter with this USB serial number, or None.

    Used to find a board again after it was unplugged and came back under another path. Reads
    pyserial's port listing (``serial.tools.list_ports``), which never opens a port.
    """
    from serial.tools import list_ports

    for port in list_ports.comports():
        if port.serial_number == serial_number:
            return str(port.device)
    return None
