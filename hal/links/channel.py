"""A packet channel: a :class:`~hal.links.base.Link`, a :class:`~hal.protocol.framing.Deframer`
and the PUS-C codec, with a request/response helper that has a timeout.

This is what a HAL driver or a device emulator's host talks through::

    with PacketChannel(open_link("/dev/ttyUSB0")) as channel:
        reply = channel.request(PusTc(0x101, 17, 1), timeout=0.5)

Framing is a strategy separate from the byte driver (as in F Prime): the deframer never touches
the port, and the link never looks inside a frame. Every good frame received is reported to the
link (statistics and capture); every deframer rejection and every packet that deframes but does
not decode is counted on the link under a named reason. Nothing already received is lost: replies
that do not match a pending request stay queued for :meth:`PacketChannel.receive`, up to
``max_queue`` packets, beyond which the oldest are dropped and counted (``queue_overflow``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Final

from hal.errors import LinkTimeout, ProtocolError
from hal.links.base import Link
from hal.protocol.framing import ASM, Deframer
from hal.protocol.pus import PusPacket, PusTc, PusTm

__all__ = ["FrameReader", "Packet", "PacketChannel"]

Packet = PusTc | PusTm
DEFAULT_IDLE_FLUSH: Final = 0.25
DEFAULT_MAX_QUEUE: Final = 10_000
READ_SIZE: Final = 65536


def _reply_to(request: Packet) -> Callable[[Packet], bool]:
    """Default match: a packet of the other type from the same APID."""
    apid, ptype = request.apid, request.packet_type
    return lambda reply: reply.apid == apid and reply.packet_type != ptype


class FrameReader:
    """The receiving half every framed link shares: read the link, deframe, abandon a partial
    frame after ``idle_flush`` seconds of silence (decision 0003), and record every good frame on
    the link (statistics and capture).

    Args:
        link: the link to read.
        deframer: the framing strategy; its rejections go to ``on_reject`` (by default the link's
            error counts).
        idle_flush: seconds of silence after which a partial frame is abandoned.
        monotonic: the clock for the silence.
        on_reject: called with each deframer rejection's reason.
    """

    def __init__(
        self,
        link: Link,
        deframer: Deframer,
        idle_flush: float = DEFAULT_IDLE_FLUSH,
        monotonic: Callable[[], float] = time.monotonic,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.link = link
        self.deframer = deframer
        deframer.on_reject = on_reject or link.record_error
        self.idle_flush = idle_flush
        self.monotonic = monotonic
        self._last_byte = monotonic()

    def read(self, timeout: float | None) -> list[bytes]:
        """Wait at most ``timeout`` for bytes; return the frames (marker removed) they complete."""
        data = self.link.read(READ_SIZE, timeout)
        now = self.monotonic()
        if data:
            self._last_byte = now
            frames = self.deframer.feed(data)
        elif self.deframer.buffered and now - self._last_byte >= self.idle_flush:
            frames = self.deframer.flush()
        else:
            return []
        record = self.link.record_frame_in
        for raw in frames:
            record(ASM + raw)
        return frames


class PacketChannel:
    """Send and receive PUS-C packets over a link.

    Args:
        link: an open (or openable) link; the channel does not own its URL.
        deframer: the framing strategy; by default a :class:`Deframer` with its default limits.
        decode: turns a deframed packet into an object; raises ``ProtocolError`` on bad content.
        idle_flush: seconds of silence after which a partial frame is abandoned
            (:meth:`Deframer.flush`), so good frames behind a damaged length arrive.
        max_queue: received packets kept for :meth:`receive` before the oldest are dropped.
        monotonic: the clock for deadlines (injectable for tests).

    Timeouts: every receiving call takes ``timeout`` in seconds; ``None`` waits without limit,
    ``0`` only collects what has already arrived. A lost device raises
    :class:`~hal.errors.LinkClosed` from the link; nothing here retries (that is the driver's
    policy, with its own counts).
    """

    def __init__(
        self,
        link: Link,
        deframer: Deframer | None = None,
        *,
        decode: Callable[[bytes], Packet] = PusPacket.from_raw,
        idle_flush: float = DEFAULT_IDLE_FLUSH,
        max_queue: int = DEFAULT_MAX_QUEUE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, not {max_queue}")
        self.link = link
        self.deframer = deframer or Deframer()
        self._reader = FrameReader(link, self.deframer, idle_flush, monotonic)
        self._decode = decode
        self._idle_flush = idle_flush
        self._queue: deque[Packet] = deque()
        self._max_queue = max_queue
        self._monotonic = monotonic
        self.decode_errors = 0
        self.dropped = 0

    # ------------------------------------------------------------------ context management

    def __enter__(self) -> PacketChannel:
        if not self.link.is_open:
            self.link.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the link (idempotent)."""
        self.link.close()

    # ------------------------------------------------------------------ sending

    def send(self, packet: Packet | bytes) -> None:
        """Encode (if needed), frame and write one packet.

        Raises:
            EncodeError: a field of ``packet`` is out of range.
            LinkClosed, LinkTimeout: from the link.
        """
        raw = packet if isinstance(packet, bytes | bytearray) else packet.pack()
        self.link.write_frame(ASM + raw)

    def send_many(self, packets: Iterable[Packet | bytes]) -> None:
        """Send several packets with one write (each still counted and captured as a frame)."""
        frames = [ASM + (p if isinstance(p, bytes | bytearray) else p.pack()) for p in packets]
        self.link.write_frames(frames)

    # ------------------------------------------------------------------ receiving

    @property
    def pending(self) -> int:
        """Packets received and not yet taken."""
        return len(self._queue)

    def poll(self, timeout: float | None = 0) -> int:
        """Read what the link has (waiting at most ``timeout`` for the first byte) and queue
        every packet it completes; return how many were queued."""
        return self._accept(self._reader.read(timeout))

    def receive(
        self, timeout: float | None = None, match: Callable[[Packet], bool] | None = None
    ) -> Packet | None:
        """The next received packet (that ``match`` accepts, the others staying queued in
        order), or ``None`` when ``timeout`` passes without one."""
        return self._wait(match or (lambda _packet: True), timeout)

    def receive_all(self, timeout: float = 0) -> list[Packet]:
        """Everything received within ``timeout`` (at least what is already queued)."""
        self._wait(lambda _packet: False, timeout)  # collect until the deadline, take nothing
        out = list(self._queue)
        self._queue.clear()
        return out

    def request(
        self,
        packet: Packet,
        timeout: float,
        match: Callable[[Packet], bool] | None = None,
    ) -> Packet:
        """Send ``packet`` and return the first received packet that ``match`` accepts.

        Packets that do not match stay queued for :meth:`receive`, in order.

        Args:
            packet: the request.
            timeout: seconds to wait for the reply.
            match: reply predicate; by default a packet of the other type from the same APID.

        Raises:
            LinkTimeout: no matching reply within ``timeout`` (reason ``no_reply``).
            LinkClosed: the link is closed or its device was lost.
        """
        self.send(packet)
        reply = self._wait(match or _reply_to(packet), timeout)
        if reply is None:
            self.link.record_error("no_reply")
            raise LinkTimeout(
                f"no reply to {packet!r} within {timeout} s on {self.link.url!r}",
                reason="no_reply",
            )
        return reply

    # ------------------------------------------------------------------ internals

    def _accept(self, raws: list[bytes]) -> int:
        accepted = 0
        for raw in raws:
            try:
                packet = self._decode(raw)
            except ProtocolError as exc:
                self.decode_errors += 1
                self.link.record_error(f"decode_{exc.reason}")
                continue
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.dropped += 1
                self.link.record_error("queue_overflow")
            self._queue.append(packet)
            accepted += 1
        return accepted

    def _take(self, match: Callable[[Packet], bool]) -> Packet | None:
        for index, packet in enumerate(self._queue):
            if match(packet):
                del self._queue[index]
                return packet
        return None

    def _wait(self, match: Callable[[Packet], bool], timeout: float | None) -> Packet | None:
        found = self._take(match)
        if found is not None:
            return found
        deadline = None if timeout is None else self._monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - self._monotonic()
            if remaining is not None and remaining <= 0:
                self.poll(0)
                return self._take(match)
            wait = self._idle_flush if remaining is None else min(remaining, self._idle_flush)
            if self.poll(wait):
                found = self._take(match)
                if found is not None:
                    return found
