"""The participant end of a timing link (ICD: :mod:`hal.protocol.timing`), architecture.md §4.

A flight node or the ground session runs in lockstep with the simulator::

    client = TimingClient(timing_channel(open_link(path)), "lander")
    for link in board_links + [radio_link]:  # the links the simulator serves
        client.watch(link)
    client.register()                        # TM[130,4] hello
    while (tick := client.wait_tick(timeout=5.0)) is not None:
        executive.run_cycle(client.now())    # the client is the node's injected Clock
        client.done(executive.next_due())    # TM[130,2] cycle done, with the octets written
    # TC[130,3] stop received: client.stopped is True

**Octets written.** Each cycle-done report carries the octets written on the *watched* links
(:meth:`TimingClient.watch`) during the cycle, from the tick to the report: the simulator does
not move time before it has read them, so a frame written without waiting for an answer is
taken in within its cycle. Write on those links only within cycles: what is written outside one
is not counted, and so not waited for. Watch exactly what the simulator serves (emulated boards,
an emulated radio or the ground's station ends): a link to real hardware must not be watched,
since the simulator would wait for octets it never sees. Anything with a ``bytes_out`` count can
be watched: a :class:`~hal.links.base.Link`, or a board client
(:class:`~hal.devices.base.BoardClient`), which counts across the reopens of its link.

**Octets sent.** Each tick carries the octets the simulator queued for this participant on its
other links since the previous tick (its emulated radio, the ground's station ends): frames it
relays go out only before a tick, never during a round. Before it hands the tick over,
:meth:`TimingClient.wait_tick` reads until everything announced so far has arrived on the links
given to :meth:`TimingClient.receive_on` (at most :data:`CATCH_UP` wall seconds; a shortfall is
counted on the timing link as ``octets_late``), so the participant takes a relayed frame in
the same cycle in every run, however late the kernel hands it over.

**Unanswered requests.** In lockstep a board's emulator answers at once, or not this cycle at
all; the simulator then says so on the timing link (TC[130,6] *unanswered*, board and request
id). A driver asks :meth:`TimingClient.unanswered` while it waits for a reply, so a silent
board is a fact of the simulation, found the same way in every run and at no wall-clock cost
(decision 0034).

The client never sleeps: it waits on the link, with the caller's timeout. Packets on the link
that are not timing telecommands (damaged, another APID, a repeated tick) are counted on the link
under ``timing_<reason>`` and ignored, as a device driver ignores stray replies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, Protocol

from hal.errors import LinkTimeout, ProtocolError
from hal.links.base import Link
from hal.links.channel import Packet, PacketChannel
from hal.protocol.framing import Deframer
from hal.protocol.pus import PusTc
from hal.protocol.timing import (
    APID_MAX,
    MAX_WRITTEN,
    SUBTYPE_UNANSWERED,
    CycleDone,
    Hello,
    Holding,
    Stop,
    Tick,
    Unanswered,
    decode,
)

__all__ = ["CATCH_UP", "OctetSource", "TimingClient", "timing_channel"]

CATCH_UP: Final = 2.0
"""Wall seconds a participant waits, after a tick, for the octets the tick says were sent."""


class OctetSource(Protocol):
    """Something that writes to the simulator and counts it: a link, a board client."""

    @property
    def bytes_out(self) -> int:
        """Octets written so far; never decreases."""
        ...


def _is_unanswered(packet: Packet) -> bool:
    return isinstance(packet, PusTc) and packet.subtype == SUBTYPE_UNANSWERED


def timing_channel(link: Link) -> PacketChannel:
    """A packet channel whose deframer knows the timing link's one APID and packet limit."""
    return PacketChannel(link, Deframer(max_length=None, apid_max=APID_MAX))


class TimingClient:
    """One participant's side of the lockstep.

    Args:
        channel: the timing link (see :func:`timing_channel`); opened by the caller.
        name: the participant's name, 1..16 visible ASCII characters, as in the bench file.

    Attributes:
        tick: the tick being run (the last one received), or ``None`` before the first.
        stopped: a stop telecommand arrived; :attr:`stop_reason` says why.
        ignored: packets received that were not a new tick or a stop.

    Raises (every method): :class:`~hal.errors.LinkClosed` when the link is closed or lost.
    """

    def __init__(self, channel: PacketChannel, name: str) -> None:
        self.channel = channel
        self.name = name
        Hello(name).to_packet()  # check the name now: EncodeError names it
        self.tick: Tick | None = None
        self.stopped = False
        self.stop_reason: int | None = None
        self.ignored = 0
        self._watched: dict[int, OctetSource] = {}
        self._cycle_mark = 0
        self._answered = True
        self._seq = 0
        self._counter = 0
        self._inbound: list[tuple[Callable[[], int], Callable[[float], object]]] = []
        self._announced = 0  # octets the ticks said were sent, since receive_on
        self._in_mark = 0  # what the inbound links had read when the count started
        self.late = 0
        self._unanswered: list[tuple[str, bytes]] = []  # notices not yet asked for
        """Ticks whose announced octets did not all arrive within :data:`CATCH_UP`."""

    def now(self) -> float:
        """The simulated time of the current tick in seconds (0.0 before the first tick).

        This makes the client the participant's :class:`~hal.clock.Clock`: time stands still
        during a cycle and moves only when the simulator says so.
        """
        return 0.0 if self.tick is None else self.tick.time

    def watch(self, source: OctetSource) -> None:
        """Count what ``source`` writes from now on in the cycle-done reports.

        Only for what the simulator serves (see the module docstring). Watching twice changes
        nothing.
        """
        if id(source) not in self._watched:
            self._watched[id(source)] = source
            self._cycle_mark += source.bytes_out  # what it wrote before is not this cycle's

    def receive_on(self, received: Callable[[], int], pump: Callable[[float], object]) -> None:
        """Wait, after each tick, for the octets it announces on a link the simulator writes
        (module docstring).

        Args:
            received: octets read so far from the link(s) (never decreases), e.g. a link's
                ``stats.bytes_in``.
            pump: ``pump(timeout)`` reads what arrives within ``timeout`` wall seconds into
                its owner (a space link's ``poll``), raising nothing for a quiet link.
        """
        self._inbound.append((received, pump))
        self._in_mark += received()

    @property
    def written(self) -> int:
        """Octets written so far by every watched source together."""
        return sum(source.bytes_out for source in self._watched.values())

    def register(self) -> None:
        """Send the hello (TM[130,4]) telling the simulator who is on this link.

        Send it after opening the link, and again after reopening it.
        """
        self._send_tm(Hello(self.name))

    def wait_tick(self, timeout: float | None) -> Tick | None:
        """Wait for the next tick and make it current.

        Args:
            timeout: seconds to wait; ``None`` waits without limit.

        Returns:
            The tick (number and simulated time), or ``None`` when a stop arrived (then
            :attr:`stopped` is True, and later calls return ``None`` at once).

        Raises:
            LinkTimeout: no tick nor stop within ``timeout`` (reason ``no_tick``).
            LinkClosed: the link is closed or lost.
        """
        if self.stopped:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            packet = self.channel.receive(remaining)
            if packet is None:
                self.channel.link.record_error("no_tick")
                raise LinkTimeout(
                    f"timing link {self.channel.link.url!r}: no tick within {timeout} s "
                    f"(participant {self.name!r}, last tick {self._last_number()})",
                    reason="no_tick",
                )
            message = self._decode(packet)
            if isinstance(message, Stop):
                self.stopped = True
                self.stop_reason = message.reason
                return None
            if isinstance(message, Tick):
                if self.tick is not None and message.number <= self.tick.number:
                    self._ignore("stale_tick")
                    continue
                self.tick = message
                self._answered = False
                self._unanswered.clear()  # notices are about the cycle that ended
                self._cycle_mark = self.written  # what the catch-up writes is the cycle's
                self._catch_up(message.sent)
                return message

    def done(self, next_due: float | None = None) -> None:
        """Report the current tick's cycle done (TM[130,2]), with the octets written on the
        watched links during the cycle.

        Args:
            next_due: simulated time (s) of the next thing this participant needs; ``None``:
                the next regular tick; ``math.inf``: nothing scheduled at all.

        Raises:
            RuntimeError: no tick to answer (none received yet, or already answered).
            EncodeError: ``next_due`` is negative, NaN or out of range.
        """
        if self.tick is None or self._answered:
            raise RuntimeError(f"participant {self.name!r}: no tick awaits a cycle-done report")
        written = min(self.written - self._cycle_mark, MAX_WRITTEN)
        report = CycleDone.due(self.tick.number, next_due, written)
        self._send_tm(report)
        self._answered = True

    def unanswered(self, board: str, request_id: bytes) -> bool:
        """Whether the simulator said that request ``request_id`` to ``board`` gets no reply
        (takes the notice: a request sent again needs a notice of its own). Never waits; the
        other packets on the link stay queued for :meth:`wait_tick`."""
        while (packet := self.channel.receive(0, match=_is_unanswered)) is not None:
            try:
                notice = decode(packet)  # type: ignore[arg-type] - the match took TCs only
            except ProtocolError as exc:
                self._ignore(exc.reason)
                continue
            if isinstance(notice, Unanswered):
                self._unanswered.append((notice.board, notice.request_id))
        key = (board, bytes(request_id))
        if key in self._unanswered:
            self._unanswered.remove(key)
            return True
        return False

    def hold(self) -> None:
        """Say that the current tick is held on purpose (TM[130,5]); send it every few wall
        seconds while holding, so the simulator does not take the hold for a dead participant.

        Raises:
            RuntimeError: no tick to hold (none received yet, or already answered).
        """
        if self.tick is None or self._answered:
            raise RuntimeError(f"participant {self.name!r}: no tick to hold")
        now_us = self.tick.time_us  # counts of its own (0): the reports around it do not move
        self.channel.send(Holding(self.tick.number).to_packet(0, 0, now_us))

    def _catch_up(self, sent: int) -> None:
        """Read until the octets announced so far are in (module docstring)."""
        if not self._inbound:
            return
        self._announced += sent
        target = self._in_mark + self._announced
        deadline = time.monotonic() + CATCH_UP
        while (got := sum(received() for received, _ in self._inbound)) < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.late += 1
                self.channel.link.record_error("octets_late")
                self._announced = got - self._in_mark  # start afresh from what is here
                return
            for _, pump in self._inbound:
                pump(min(remaining, 0.05) / len(self._inbound))

    def _send_tm(self, message: CycleDone | Hello) -> None:
        now_us = 0 if self.tick is None else self.tick.time_us
        self.channel.send(message.to_packet(self._seq, self._counter, now_us))
        self._seq = (self._seq + 1) & 0x3FFF
        self._counter = (self._counter + 1) & 0xFFFF

    def _decode(self, packet: Packet) -> Tick | Stop | None:
        if not isinstance(packet, PusTc):
            self._ignore("not_tc")
            return None
        try:
            message = decode(packet)
        except ProtocolError as exc:
            self._ignore(exc.reason)
            return None
        if isinstance(message, Unanswered):
            self._unanswered.append((message.board, message.request_id))
            return None  # kept for a driver that still waits (unanswered)
        if not isinstance(message, Tick | Stop):  # pragma: no cover - decode gives TC types
            self._ignore("unknown_subtype")
            return None
        return message

    def _ignore(self, reason: str) -> None:
        self.ignored += 1
        self.channel.link.record_error(f"timing_{reason}")

    def _last_number(self) -> str:
        return "none" if self.tick is None else str(self.tick.number)
