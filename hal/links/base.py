"""The ``Link`` interface: a byte stream opened from a URL, with timeouts, statistics and capture.

The base class owns the hard parts (as python-can's ``BusABC`` does): argument checks, the
read-timeout loop, complete writes with a stall timeout, statistics, pcap capture, device-loss
handling and idempotent close. A backend writes only four small methods:

``_open()``
    Acquire the device. Raise :class:`~hal.errors.LinkOpenError` (or let ``OSError`` /
    ``ValueError`` escape: the base wraps them) on failure.
``_close()``
    Release the device. Called once per successful ``_open()``; must not raise.
``_read(size, timeout)``
    Return 1..``size`` bytes that are available, waiting at most ``timeout`` seconds (``None``:
    no limit, ``0``: do not wait), or ``b""`` when nothing arrived in time. Returning ``b""``
    early is allowed but must not happen in a tight loop. Raise ``LinkClosed`` when the device is
    gone (EOF, hang-up, I/O error).
``_write(data)``
    Write some or all of ``data`` and return the count (``None`` means all), waiting at most
    :attr:`Link.write_timeout` seconds for the device to accept a first byte; raise
    ``LinkTimeout`` when it accepted none in that time, ``LinkClosed`` when the device is gone.

and optionally ``fileno()`` so callers can multiplex many links with ``select``.

Device loss: the first ``LinkClosed`` a backend raises (or an ``OSError`` escaping it) marks the
link *broken*: the backend is released, the loss is counted in ``stats.errors`` under its reason,
and every later ``read`` / ``write`` raises ``LinkClosed`` at once, without touching the device,
so a reader loop can never spin on a dead port. ``close()`` clears it; ``open()`` may then be
called again (for example when a USB adapter comes back).
"""

from __future__ import annotations

import abc
import errno
import io
import os
import re
import select
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from hal.errors import LinkClosed, LinkError, LinkOpenError, LinkTimeout
from hal.links.pcap import LINKTYPE_PACKET, LINKTYPES, CaptureError, PcapWriter

__all__ = ["DEFAULT_WRITE_TIMEOUT", "Link", "LinkStats", "capture_name_for"]

#: Seconds a write may wait for the device to accept a byte before ``LinkTimeout``.
DEFAULT_WRITE_TIMEOUT: Final = 2.0
#: Consecutive instant empty ``_read`` results, with time left, taken as a device that spins.
_SPIN_LIMIT: Final = 1000
_SPIN_SECONDS: Final = 0.0005
#: Most bytes handed to a backend in one ``_write`` call.
_WRITE_SLICE: Final = 65536


@dataclass
class LinkStats:
    """Traffic counters of one link.

    Attributes:
        bytes_in, bytes_out: bytes read from / written to the device.
        frames_in, frames_out: whole frames recorded with ``record_frame_in`` / ``write_frame``.
        errors: counts by reason (deframer rejections, ``device_lost``, ``write_timeout``...).
        last_activity: the link's timestamp clock at the last byte in or out, or ``None``.
    """

    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_activity: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready copy (``errors`` as a plain dict, sorted by reason)."""
        return {
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "errors": dict(sorted(self.errors.items())),
            "last_activity": self.last_activity,
        }


def capture_name_for(url: str) -> str:
    """Derive a file-name-safe capture name from a link URL.

    ``socket://127.0.0.1:5000`` -> ``socket_127.0.0.1_5000``; ``/dev/ttyUSB0`` -> ``dev_ttyUSB0``.
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", url).strip("._-")
    return name or "link"


class Link(abc.ABC):
    """A byte link opened from a URL: serial port, pseudo-terminal, TCP socket or loopback.

    Args:
        url: what to open; each backend documents the URLs it takes.
        capture_dir: when given, every frame written with :meth:`write_frame` and every frame
            reported with :meth:`record_frame_in` is recorded in
            ``<capture_dir>/<capture_name>.tx.pcap`` / ``.rx.pcap`` (classic pcap, one linktype
            per file: see ``capture_linktypes``). The directory is created if needed. Raw
            :meth:`write` bytes are not captured: a capture holds frames, one record per frame.
        capture_name: base name of the capture files; by default derived from ``url``.
        capture_linktypes: the linktype of the tx and of the rx capture: what their frames are
            (:data:`~hal.links.pcap.LINKTYPES`: 147 packets, 148 TC frames, 149 TM frames;
            decision 0042). Packets both ways by default.
        capture_epoch: POSIX seconds added to ``timestamp`` in the capture records: the mission
            epoch (the bench's ``epoch``), so the records carry the mission's UTC.
        timestamp: the clock (POSIX seconds) stamping capture records and
            ``stats.last_activity``; inject the simulation clock here. It is never used for
            timeouts, which always run on ``time.monotonic``.
        write_timeout: seconds :meth:`write` may wait for the device to accept a byte before
            raising ``LinkTimeout`` (a stall timeout: a long write that keeps moving never times
            out). ``None`` waits forever.

    Thread use: one reader thread and one writer thread may use a link at once; ``close()`` may
    be called from any thread and wakes a read blocked in an fd-based backend.
    """

    def __init__(
        self,
        url: str,
        *,
        capture_dir: str | os.PathLike[str] | None = None,
        capture_name: str | None = None,
        capture_linktypes: tuple[int, int] = (LINKTYPE_PACKET, LINKTYPE_PACKET),
        capture_epoch: float = 0.0,
        timestamp: Callable[[], float] = time.time,
        write_timeout: float | None = DEFAULT_WRITE_TIMEOUT,
    ) -> None:
        if write_timeout is not None and write_timeout < 0:
            raise ValueError(f"write_timeout must be >= 0 or None, not {write_timeout!r}")
        self.url = url
        self.write_timeout = write_timeout
        self._timestamp = timestamp
        self._capture_dir = os.fspath(capture_dir) if capture_dir is not None else None
        self._capture_name = capture_name or capture_name_for(url)
        if any(linktype not in LINKTYPES for linktype in capture_linktypes):
            raise ValueError(f"capture_linktypes must be two of {sorted(LINKTYPES)}")
        self._capture_linktypes = (capture_linktypes[0], capture_linktypes[1])
        self._capture_epoch = capture_epoch
        self._captures: tuple[PcapWriter, PcapWriter] | None = None
        self._capture_started = False
        self._opened = False
        self._broken: LinkClosed | None = None
        self._stats = LinkStats()
        self._stats_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self.on_frame: Callable[[str, bytes], None] | None = None
        """Called ``("in" | "out", frame)`` for every whole frame counted (an archive's tap)."""

    # ------------------------------------------------------------------ backend interface

    @abc.abstractmethod
    def _open(self) -> None:
        """Acquire the device (see the module docstring)."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the device; must not raise."""

    @abc.abstractmethod
    def _read(self, size: int, timeout: float | None) -> bytes:
        """Return 1..size available bytes, or b"" after ``timeout`` seconds with nothing."""

    @abc.abstractmethod
    def _write(self, data: bytes) -> int | None:
        """Write some of ``data``; return the count written (None: all)."""

    def fileno(self) -> int:
        """Return a file descriptor that is readable when :meth:`read` has data.

        Raises:
            io.UnsupportedOperation: the backend has no such descriptor (``loop://``).
        """
        raise io.UnsupportedOperation(f"{type(self).__name__} has no file descriptor")

    # ------------------------------------------------------------------ life cycle

    @property
    def is_open(self) -> bool:
        """True between a successful :meth:`open` and :meth:`close`, unless the device was lost."""
        return self._opened and self._broken is None

    @property
    def broken(self) -> LinkClosed | None:
        """The ``LinkClosed`` that marked the device lost, or ``None``."""
        return self._broken

    def open(self) -> None:
        """Open the device and, if capturing, the capture files.

        Opening an open link does nothing. Opening a link whose device was lost, or that was
        closed, opens it again (captures are appended to).

        Raises:
            LinkOpenError: the device cannot be opened (unknown host, missing device path, busy
                port, bad URL option) or the capture files cannot be created; the message names
                the URL and the cause.
        """
        with self._state_lock:
            if self.is_open:
                return
            if self._opened:  # broken: release what is left before trying again
                self.close()
            try:
                self._open_captures()
                try:
                    self._wake_r, self._wake_w = os.pipe()
                    os.set_blocking(self._wake_r, False)
                    os.set_blocking(self._wake_w, False)
                    self._open_backend()
                except BaseException:
                    self._close_wake_pipe()
                    raise
            except BaseException:
                self._close_captures()
                raise
            self._broken = None
            self._opened = True

    def _open_backend(self) -> None:
        try:
            self._open()
        except LinkOpenError:
            raise
        except (LinkError, OSError, ValueError) as exc:
            raise LinkOpenError(f"cannot open link {self.url!r}: {exc}") from exc

    def close(self) -> None:
        """Close the device and the capture files. Idempotent; never raises for a lost device."""
        with self._state_lock:
            if self._opened:
                self._opened = False
                self._wake()
                if self._broken is None:
                    self._close()
                self._close_wake_pipe()
            self._broken = None
            self._close_captures()

    def __enter__(self) -> Link:
        if not self.is_open:
            self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self.is_open else ("broken" if self._broken else "closed")
        return f"<{type(self).__name__} {self.url!r} {state}>"

    # ------------------------------------------------------------------ I/O

    def read(self, size: int = 4096, timeout: float | None = None) -> bytes:
        """Return between 1 and ``size`` bytes that are available.

        Args:
            size: the most bytes to return (>= 1).
            timeout: seconds to wait for the first byte; ``None`` waits until data arrives,
                ``0`` polls.

        Returns:
            The bytes read, or ``b""`` when ``timeout`` passed with nothing received.

        Raises:
            LinkClosed: the link is closed, or the device disappeared now or earlier (reason
                ``device_lost`` or ``peer_closed``); it never blocks on a lost device.
            ValueError: ``size`` < 1 or ``timeout`` < 0.
        """
        if size < 1:
            raise ValueError(f"read size must be >= 1, not {size!r}")
        if timeout is not None and timeout < 0:
            raise ValueError(f"read timeout must be >= 0 or None, not {timeout!r}")
        self._check_usable()
        deadline = None if timeout is None else time.monotonic() + timeout
        remaining = timeout
        spins = 0
        while True:
            started = time.monotonic()
            data = self._guard(self._read, size, remaining)
            if data:
                with self._stats_lock:
                    self._stats.bytes_in += len(data)
                    self._stats.last_activity = self._timestamp()
                return bytes(data)
            now = time.monotonic()
            if deadline is not None:
                remaining = deadline - now
                if remaining <= 0:
                    return b""
            # An empty result with time left: tolerate a few (EAGAIN, a wake-up), but a backend
            # returning instantly over and over is a dead device that would make us spin.
            spins = spins + 1 if now - started < _SPIN_SECONDS else 0
            if spins >= _SPIN_LIMIT:
                raise self._mark_broken(
                    LinkClosed(
                        f"link {self.url!r}: device returns no data without waiting",
                        reason="device_lost",
                    )
                )

    def write(self, data: bytes) -> None:
        """Write all of ``data``.

        Raises:
            LinkClosed: the link is closed or the device disappeared (now or earlier).
            LinkTimeout: the device accepted no byte for :attr:`write_timeout` seconds (reason
                ``write_timeout``); some leading part of ``data`` may have been sent.
        """
        self._check_usable()
        view = memoryview(bytes(data))
        stalled_since: float | None = None
        try:
            while view:
                n = self._guard(self._write, bytes(view[:_WRITE_SLICE]))
                sent = min(len(view), _WRITE_SLICE) if n is None else n
                if sent:
                    stalled_since = None
                    self._count_out(sent)
                    view = view[sent:]
                    continue
                # A backend that took nothing (EAGAIN after a ready select) gets retried, but
                # never past the stall timeout.
                now = time.monotonic()
                if stalled_since is None:
                    stalled_since = now
                elif self.write_timeout is not None and now - stalled_since >= self.write_timeout:
                    raise LinkTimeout(
                        f"link {self.url!r}: device accepted no data for {self.write_timeout} s",
                        reason="write_timeout",
                    )
        except LinkTimeout:
            self.record_error("write_timeout")
            raise

    def write_frame(self, frame: bytes) -> None:
        """Write one whole frame, count it in ``stats.frames_out`` and record it in the tx capture.

        The frame is captured only once it was written completely.

        Raises:
            LinkClosed, LinkTimeout: as :meth:`write`.
        """
        frame = bytes(frame)
        self.write(frame)
        self.record_frame_out(frame)

    def write_frames(self, frames: Iterable[bytes]) -> None:
        """Write several whole frames with one :meth:`write`; each is counted and captured.

        The frames are captured (one record each, in order) only once all were written.

        Raises:
            LinkClosed, LinkTimeout: as :meth:`write`.
        """
        batch = [bytes(frame) for frame in frames]
        if not batch:
            return
        self.write(b"".join(batch))
        for frame in batch:
            self.record_frame_out(frame)

    def write_ready(self, data: bytes) -> int:
        """Write as much of ``data`` as the device takes now, without waiting; return how
        many octets (0 when it takes none). For a writer that must never block (a relay that
        buffers what its peer has not yet taken); it needs :meth:`fileno`.

        Raises:
            LinkClosed: the link is closed or the device disappeared.
        """
        self._check_usable()
        fd = self.fileno()
        done = 0
        while done < len(data) and self._guard(lambda: self._wait_fd(fd, write=True, timeout=0)):
            n = self._guard(self._write, bytes(data[done : done + _WRITE_SLICE]))
            sent = min(len(data) - done, _WRITE_SLICE) if n is None else n
            if not sent:
                break
            done += sent
            self._count_out(sent)
        return done

    def _count_out(self, sent: int) -> None:
        with self._stats_lock:
            self._stats.bytes_out += sent
            self._stats.last_activity = self._timestamp()

    def record_frame_out(self, frame: bytes) -> None:
        """Report a whole frame written (by :meth:`write_frame`, or by a caller of
        :meth:`write_ready` once its last octet went): counts it in ``stats.frames_out`` and
        records it in the tx capture."""
        with self._stats_lock:
            self._stats.frames_out += 1
        if self._captures is not None:
            self._captures[0].write(bytes(frame), self._timestamp())
        if self.on_frame is not None:
            self.on_frame("out", bytes(frame))

    def record_frame_in(self, frame: bytes) -> None:
        """Report a whole good frame received (called by the deframer above the link).

        Counts it in ``stats.frames_in`` and records it in the rx capture.
        """
        with self._stats_lock:
            self._stats.frames_in += 1
        if self._captures is not None:
            self._captures[1].write(bytes(frame), self._timestamp())
        if self.on_frame is not None:
            self.on_frame("in", bytes(frame))

    def record_error(self, reason: str, count: int = 1) -> None:
        """Count ``count`` errors under ``reason`` (e.g. a deframer rejection)."""
        with self._stats_lock:
            self._stats.errors[reason] += count

    @property
    def stats(self) -> LinkStats:
        """The live statistics of this link (counted across re-opens)."""
        return self._stats

    @property
    def bytes_out(self) -> int:
        """Octets written so far (:attr:`stats`), as the lockstep's octet count reads them."""
        return self._stats.bytes_out

    @property
    def capture_paths(self) -> tuple[str, str] | None:
        """``(tx_path, rx_path)`` of the capture files, or ``None`` when not capturing."""
        if self._capture_dir is None:
            return None
        base = os.path.join(self._capture_dir, self._capture_name)
        return base + ".tx.pcap", base + ".rx.pcap"

    # ------------------------------------------------------------------ helpers for backends

    def _wait_fd(self, fd: int, *, write: bool, timeout: float | None) -> bool:
        """Wait until ``fd`` is readable (or writable); False on timeout.

        Also watches the link's wake-up pipe, so ``close()`` from another thread ends the wait
        with ``LinkClosed``. ``select`` errors on ``fd`` (device gone) raise ``LinkClosed``.
        """
        wake = self._wake_r
        rlist = [] if write else [fd]
        if wake is not None:
            rlist.append(wake)
        wlist = [fd] if write else []
        try:
            readable, writable, _ = select.select(rlist, wlist, [], timeout)
        except (OSError, ValueError) as exc:
            if not self._opened:
                raise LinkClosed(f"link {self.url!r} is closed") from exc
            raise LinkClosed(
                f"link {self.url!r}: device lost: {exc}", reason="device_lost"
            ) from exc
        if wake is not None and wake in readable:
            raise LinkClosed(f"link {self.url!r} was closed", reason="closed")
        return bool(writable if write else readable)

    # ------------------------------------------------------------------ internals

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise LinkClosed(
                f"link {self.url!r}: device lost earlier: {self._broken}",
                reason=self._broken.reason,
            )
        if not self._opened:
            raise LinkClosed(f"link {self.url!r} is not open", reason="closed")

    def _guard(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a backend call, turning device loss into a broken link."""
        try:
            return call(*args)
        except LinkClosed as exc:
            if not self._opened:  # closed under our feet by close(): not a device loss
                raise LinkClosed(f"link {self.url!r} was closed", reason="closed") from exc
            raise self._mark_broken(exc) from exc
        except OSError as exc:
            if not self._opened:
                raise LinkClosed(f"link {self.url!r} was closed", reason="closed") from exc
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return b"" if call == self._read else 0
            lost = LinkClosed(f"link {self.url!r}: device lost: {exc}", reason="device_lost")
            raise self._mark_broken(lost) from exc

    def _mark_broken(self, exc: LinkClosed) -> LinkClosed:
        with self._state_lock:
            if self._broken is None and self._opened:
                self._broken = exc
                self.record_error(exc.reason)
                try:
                    self._close()
                finally:
                    self._close_wake_pipe()
        return exc

    def _wake(self) -> None:
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass  # pipe full: a wake-up is already pending

    def _close_wake_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_r = self._wake_w = None

    def _open_captures(self) -> None:
        paths = self.capture_paths
        if paths is None or self._captures is not None:
            return
        try:
            os.makedirs(self._capture_dir or ".", exist_ok=True)
            tx_type, rx_type = self._capture_linktypes
            epoch = self._capture_epoch
            tx = PcapWriter(paths[0], tx_type, append=self._capture_started, epoch=epoch)
            try:
                rx = PcapWriter(paths[1], rx_type, append=self._capture_started, epoch=epoch)
            except BaseException:
                tx.close()
                raise
        except (OSError, CaptureError) as exc:
            raise LinkOpenError(f"link {self.url!r}: cannot open captures: {exc}") from exc
        self._captures = (tx, rx)
        self._capture_started = True

    def _close_captures(self) -> None:
        if self._captures is not None:
            for writer in self._captures:
                writer.close()
            self._captures = None
