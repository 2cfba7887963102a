"""ICD of the timing link: lockstep between the simulator (time master) and each participant.

architecture.md §4. One timing link joins the simulator to each participant (a flight node, or
the ground session); it is a device link like any other: PUS-C packets with packet error control,
each framed as the ``1ACFFC1D`` attached sync marker + the packet (:mod:`hal.protocol.framing`).
Every packet on it, in both directions, has APID :data:`APID` (0x7E0) and the private service
:data:`SERVICE` (130, *lockstep*). Telecommands ask for no verification reports (ack flags 0000):
the cycle-done report is the answer.

=====================  ==========  =========================================================
message                direction   application / source data (big-endian)
=====================  ==========  =========================================================
TC[130,1] tick         sim -> p    tick uint32 | time_us uint64 | sent uint32    (16 octets)
TM[130,2] cycle done   p -> sim    tick uint32 | next_due_us uint64 | written uint32  (16 octets)
TC[130,3] stop         sim -> p    reason uint8                                   (1 octet)
TM[130,4] hello        p -> sim    version uint8 = 3 | name 16 octets            (17 octets)
TM[130,5] holding      p -> sim    tick uint32                                    (4 octets)
TC[130,6] unanswered   sim -> p    board 16 octets | request_id 4 octets         (20 octets)
=====================  ==========  =========================================================

Fields:

``tick``
    The round number, 0..2^32-1; the simulator numbers its rounds from 1, +1 each round. A cycle
    done echoes the number of the tick it answers.
``time_us``
    The simulated time at which the participant may run its cycle, in whole microseconds since
    the mission epoch, 0..:data:`MAX_TIME_US`. Microseconds, not CUC 4+2: a decimal tick period
    (0.1 s) is exact in microseconds and not in 2^-16 s, and the master's time grid must be exact
    for runs to repeat bit for bit. The TM secondary header carries the same instant as CUC.
``sent``
    The octets the simulator queued, since the previous tick, for this participant on the
    links it reads from the simulator besides this one (its emulated radio; the ground's
    station ends), 0..2^32-1. The simulator puts frames on those links only before a tick,
    never during a round, and the participant reads them all before it runs the cycle: so a
    frame relayed in round ``n`` is taken in cycle ``n + 1`` by every participant, whatever
    the load and however the kernel hands the octets over (the mirror of ``written``).
    Board replies are not counted: the flight software waits for them within its cycle.
``next_due_us``
    The simulated time of the next thing the participant needs (a rate group, a time-tagged
    command, a timeout), in microseconds: the participant has nothing to do before it, so the
    simulator may jump over the ticks before it. Two values are reserved:
    :data:`NEXT_TICK` (all ones: "none", just the next regular tick, which forbids a jump) and
    :data:`NOTHING_DUE` (all ones but the last bit: nothing scheduled at all, any jump is fine).
``written``
    The octets the participant wrote during this cycle (from receiving the tick to this report)
    on the links it shares with the simulator other than this one (its emulated boards, its
    emulated radio or the ground's station ends), 0..2^32-1. The simulator closes the round
    only once it has read as many from those links since it sent the tick, so a frame written
    without waiting for an answer (a telecommand frame, a downlink frame) is taken in within
    the cycle it was written in, however late the kernel hands it over. 0 when the participant
    wrote nothing (or counts nothing).
``tick`` (holding)
    The tick the participant holds on purpose: the ground session does not answer a tick
    while an operator procedure computes between two requests (the procedure is a lockstep
    participant too: simulated time does not move meanwhile). Sent every few wall seconds
    while it holds; each one gives it the whole round timeout again from then, so a held
    round is not taken for a dead participant, and a dead one is still found.
``board``, ``request_id`` (unanswered)
    A request the participant sent to an emulated board that gets no reply in this cycle (the
    board is silent, the line dropped or damaged it, or holds the reply for later simulated
    time): the board's name as in the bench (like ``name``) and the request's id, the first
    four octets of its primary header (:class:`~hal.protocol.pus.RequestId`). In lockstep a
    driver waits for a reply or for this, never for the wall clock: a timeout is a fact of
    the simulation, the same in every run, and costs no wall time (decision 0034).
``reason``
    Why the run stops: :data:`STOP_END` (0, end of the run) or :data:`STOP_ABORT` (1, aborted:
    a participant failed). Other values are kept for later and decode as they are.
``version``
    The timing ICD version the participant speaks, :data:`VERSION` (3; version 2 had no
    ``sent`` in the tick, version 1 no ``written`` in the cycle done).
``name``
    The participant's name: 1..16 visible ASCII characters (0x21..0x7E), NUL-padded on the right
    to 16 octets. It is how the simulator knows who is on each link.

A participant sends its hello when it opens the link (and again whenever it reopens it); the
simulator sends the first tick only once every participant said hello, so nothing is sent into a
port nobody has opened yet.

Decoding untrusted bytes raises only :class:`~hal.errors.ProtocolError` subclasses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import construct as cs

from hal.errors import EncodeError, HeaderError, LengthError
from hal.protocol.cuc import CucTime
from hal.protocol.layout import compile_fixed
from hal.protocol.pus import ACK_NONE, MIN_TM_SIZE, PusPacket, PusTc, PusTm

__all__ = [
    "APID",
    "APID_MAX",
    "MAX_PACKET_LENGTH",
    "MAX_TIME_US",
    "MAX_WRITTEN",
    "NAME_SIZE",
    "NEXT_TICK",
    "NOTHING_DUE",
    "SERVICE",
    "STOP_ABORT",
    "STOP_END",
    "VERSION",
    "CycleDone",
    "CycleDoneData",
    "Hello",
    "HelloData",
    "Holding",
    "HoldingData",
    "Stop",
    "StopData",
    "Tick",
    "TickData",
    "TimingMessage",
    "Unanswered",
    "UnansweredData",
    "decode",
    "decode_raw",
    "seconds_to_us",
    "us_to_seconds",
]

APID: Final = 0x7E0
SERVICE: Final = 130
SUBTYPE_TICK: Final = 1
SUBTYPE_CYCLE_DONE: Final = 2
SUBTYPE_STOP: Final = 3
SUBTYPE_HELLO: Final = 4
SUBTYPE_HOLDING: Final = 5
SUBTYPE_UNANSWERED: Final = 6
REQUEST_ID_SIZE: Final = 4
VERSION: Final = 3
NAME_SIZE: Final = 16
US_PER_SECOND: Final = 1_000_000
NEXT_TICK: Final = 0xFFFF_FFFF_FFFF_FFFF
NOTHING_DUE: Final = 0xFFFF_FFFF_FFFF_FFFE
MAX_TIME_US: Final = 0xFFFF_FFFF_FFFF_FFFD
MAX_TICK: Final = 0xFFFF_FFFF
MAX_WRITTEN: Final = 0xFFFF_FFFF
STOP_END: Final = 0
STOP_ABORT: Final = 1

TickData = cs.Struct(
    "tick" / cs.Int32ub * "round number, 0..2^32-1 (the simulator starts at 1)",
    "time_us" / cs.Int64ub * "simulated time of the cycle, us since the mission epoch, 0..2^64-3",
    "sent" / cs.Int32ub * "octets queued for the participant on its simulated links since "
    "the previous tick, 0..2^32-1",
)
"""Application data of TC[130,1] tick, 16 octets."""

CycleDoneData = cs.Struct(
    "tick" / cs.Int32ub * "the number of the tick this cycle ran for, echoed",
    "next_due_us" / cs.Int64ub * "simulated time of the next need, us; all ones: the next "
    "regular tick; all ones but bit 0: nothing due",
    "written" / cs.Int32ub * "octets written on the participant's simulated links during "
    "the cycle, 0..2^32-1",
)
"""Source data of TM[130,2] cycle done, 16 octets."""

StopData = cs.Struct(
    "reason" / cs.Int8ub * "0 end of the run, 1 aborted (a participant failed)",
)
"""Application data of TC[130,3] stop, 1 octet."""

HelloData = cs.Struct(
    "version" / cs.Const(VERSION, cs.Int8ub) * "timing ICD version, 3",
    "name" / cs.Bytes(NAME_SIZE) * "participant name, 1..16 visible ASCII, NUL-padded right",
)
"""Source data of TM[130,4] hello, 17 octets."""

_TICK = compile_fixed(TickData)
_DONE = compile_fixed(CycleDoneData)
_STOP = compile_fixed(StopData)
HoldingData = cs.Struct(
    "tick" / cs.Int32ub * "the number of the tick the participant holds on purpose",
)
"""Source data of TM[130,5] holding, 4 octets."""

UnansweredData = cs.Struct(
    "board" / cs.Bytes(NAME_SIZE) * "board name, 1..16 visible ASCII, NUL-padded right",
    "request_id" / cs.Bytes(REQUEST_ID_SIZE) * "the request's packet id and sequence control",
)
"""Application data of TC[130,6] unanswered, 20 octets."""

_HELLO = compile_fixed(HelloData)
_UNANSWERED = compile_fixed(UnansweredData)
_HOLDING = compile_fixed(HoldingData)

MAX_PACKET_LENGTH: Final = MIN_TM_SIZE + max(_DONE.size, _HELLO.size)
"""The longest packet on the timing link (a hello, 38 octets), for the deframer."""
APID_MAX: Final = {APID: MAX_PACKET_LENGTH}
"""Per-APID packet limit of the timing link (``Deframer(max_length=None, apid_max=APID_MAX)``)."""


def seconds_to_us(seconds: float) -> int:
    """Simulated seconds to whole microseconds (rounded to the nearest).

    Raises:
        EncodeError: negative, not finite, or beyond :data:`MAX_TIME_US`.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise EncodeError(f"time {seconds!r} s is not a finite time >= 0", reason="out_of_range")
    value = round(seconds * US_PER_SECOND)
    if value > MAX_TIME_US:
        raise EncodeError(f"time {seconds!r} s is beyond the timing range", reason="out_of_range")
    return value


def us_to_seconds(us: int) -> float:
    """Whole microseconds to seconds."""
    return us / US_PER_SECOND


def _cuc(us: int) -> CucTime:
    coarse, rest = divmod(us, US_PER_SECOND)
    return CucTime(coarse & 0xFFFF_FFFF, (rest << 16) // US_PER_SECOND)


@dataclass(frozen=True)
class Tick:
    """TC[130,1]: run one cycle at simulated time ``time_us``.

    Attributes:
        number: round number, 0..2^32-1.
        time_us: simulated time in microseconds, 0..:data:`MAX_TIME_US`.
        sent: octets queued for the participant since the previous tick (module docstring).
    """

    number: int
    time_us: int
    sent: int = 0

    @property
    def time(self) -> float:
        """The simulated time in seconds."""
        return us_to_seconds(self.time_us)

    def to_packet(self, seq_count: int = 0) -> PusTc:
        """The telecommand; ``pack()`` it to send (ranges checked here, EncodeError)."""
        if not 0 <= self.time_us <= MAX_TIME_US:
            raise EncodeError(f"tick time {self.time_us} us is out of range", reason="bad_time")
        if not 0 <= self.sent <= MAX_WRITTEN:
            raise EncodeError(f"tick sent {self.sent} is out of range", reason="out_of_range")
        data = _TICK.pack(self.number, self.time_us, self.sent)
        return PusTc(
            APID, SERVICE, SUBTYPE_TICK, data, seq_count=seq_count & 0x3FFF, ack_flags=ACK_NONE
        )


@dataclass(frozen=True)
class Stop:
    """TC[130,3]: the run is over; the participant should end.

    Attributes:
        reason: :data:`STOP_END` or :data:`STOP_ABORT` (0..255).
    """

    reason: int = STOP_END

    def to_packet(self, seq_count: int = 0) -> PusTc:
        """The telecommand (EncodeError when ``reason`` is out of range)."""
        data = _STOP.pack(self.reason)
        return PusTc(
            APID, SERVICE, SUBTYPE_STOP, data, seq_count=seq_count & 0x3FFF, ack_flags=ACK_NONE
        )


@dataclass(frozen=True)
class CycleDone:
    """TM[130,2]: the cycle of tick ``number`` is done.

    Attributes:
        number: the tick answered.
        next_due_us: microseconds of the next need, or :data:`NEXT_TICK` / :data:`NOTHING_DUE`.
        written: octets written on the participant's simulated links during the cycle.
    """

    number: int
    next_due_us: int = NEXT_TICK
    written: int = 0

    @classmethod
    def due(cls, number: int, next_due: float | None, written: int = 0) -> CycleDone:
        """From a due time in seconds: ``None`` is the next tick, ``math.inf`` nothing due.

        Raises:
            EncodeError: ``next_due`` is negative, NaN or beyond the timing range.
        """
        if next_due is None:
            return cls(number, NEXT_TICK, written)
        if next_due == math.inf:
            return cls(number, NOTHING_DUE, written)
        return cls(number, seconds_to_us(next_due), written)

    @property
    def next_due(self) -> float | None:
        """Seconds; ``None`` for the next regular tick, ``math.inf`` for nothing due."""
        if self.next_due_us == NEXT_TICK:
            return None
        if self.next_due_us == NOTHING_DUE:
            return math.inf
        return us_to_seconds(self.next_due_us)

    def to_packet(self, seq_count: int = 0, msg_counter: int = 0, now_us: int = 0) -> PusTm:
        """The report, stamped with ``now_us`` (the tick's time) as CUC (EncodeError when a
        field is out of range)."""
        if not 0 <= self.written <= MAX_WRITTEN:
            raise EncodeError(f"written {self.written} is out of range", reason="out_of_range")
        data = _DONE.pack(self.number, self.next_due_us, self.written)
        return _tm(SUBTYPE_CYCLE_DONE, data, seq_count, msg_counter, now_us)


@dataclass(frozen=True)
class Hello:
    """TM[130,4]: the participant on this link is ``name``.

    Attributes:
        name: 1..16 visible ASCII characters.
    """

    name: str

    def to_packet(self, seq_count: int = 0, msg_counter: int = 0, now_us: int = 0) -> PusTm:
        """The report (EncodeError when the name is not 1..16 visible ASCII characters)."""
        raw = self.name.encode("ascii") if self.name.isascii() else b""
        if not _valid_name(raw):
            raise EncodeError(
                f"participant name {self.name!r} is not 1..{NAME_SIZE} visible ASCII characters",
                reason="bad_name",
            )
        data = _HELLO.pack(raw.ljust(NAME_SIZE, b"\0"))
        return _tm(SUBTYPE_HELLO, data, seq_count, msg_counter, now_us)


@dataclass(frozen=True)
class Holding:
    """TM[130,5]: the participant holds tick ``number`` on purpose (module docstring).

    Attributes:
        number: the tick held.
    """

    number: int

    def to_packet(self, seq_count: int = 0, msg_counter: int = 0, now_us: int = 0) -> PusTm:
        """The report (EncodeError when ``number`` is out of range)."""
        return _tm(SUBTYPE_HOLDING, _HOLDING.pack(self.number), seq_count, msg_counter, now_us)


@dataclass(frozen=True)
class Unanswered:
    """TC[130,6]: the request ``request_id`` to ``board`` gets no reply this cycle.

    Attributes:
        board: the board's name, 1..16 visible ASCII characters.
        request_id: the request's 4-octet id (:class:`~hal.protocol.pus.RequestId`).
    """

    board: str
    request_id: bytes

    def to_packet(self, seq_count: int = 0) -> PusTc:
        """The telecommand (EncodeError for a bad name or an id that is not 4 octets)."""
        raw = self.board.encode("ascii") if self.board.isascii() else b""
        if not _valid_name(raw):
            raise EncodeError(f"board name {self.board!r} is not 1..{NAME_SIZE} visible ASCII "
                              "characters", reason="bad_name")  # fmt: skip
        if len(self.request_id) != REQUEST_ID_SIZE:
            raise EncodeError(f"request id {self.request_id!r} is not {REQUEST_ID_SIZE} octets",
                              reason="bad_length")  # fmt: skip
        data = _UNANSWERED.pack(raw.ljust(NAME_SIZE, b"\0"), bytes(self.request_id))
        return PusTc(APID, SERVICE, SUBTYPE_UNANSWERED, data, seq_count=seq_count & 0x3FFF,
                     ack_flags=ACK_NONE)  # fmt: skip


TimingMessage = Tick | CycleDone | Stop | Hello | Holding | Unanswered


def _tm(subtype: int, data: bytes, seq_count: int, msg_counter: int, now_us: int) -> PusTm:
    return PusTm(
        APID,
        SERVICE,
        subtype,
        data,
        seq_count=seq_count & 0x3FFF,
        msg_counter=msg_counter & 0xFFFF,
        time=_cuc(now_us),
    )


def _valid_name(raw: bytes) -> bool:
    return 1 <= len(raw) <= NAME_SIZE and all(0x21 <= octet <= 0x7E for octet in raw)


def decode(packet: PusTc | PusTm) -> TimingMessage:
    """The timing message carried by a decoded PUS-C packet.

    Raises:
        HeaderError: not the timing APID (``wrong_apid``), service (``unknown_service``) or a
            known subtype in that direction (``unknown_subtype``); a tick time in the reserved
            range (``bad_time``); a hello of another version (``bad_version``) or a bad name
            (``bad_name``).
        LengthError: the data is not the message's size.
    """
    if packet.apid != APID:
        raise HeaderError(f"APID 0x{packet.apid:03X} is not the timing link's", reason="wrong_apid")
    if packet.service != SERVICE:
        raise HeaderError(
            f"service {packet.service} is not the lockstep service {SERVICE}",
            reason="unknown_service",
        )
    if isinstance(packet, PusTc):
        if packet.subtype == SUBTYPE_TICK:
            data = _sized(packet.app_data, _TICK.size, "tick")
            number, time_us, sent = _TICK.unpack_from(data)
            if time_us > MAX_TIME_US:
                raise HeaderError(f"tick time {time_us:#x} is reserved", reason="bad_time")
            return Tick(number, time_us, sent)
        if packet.subtype == SUBTYPE_UNANSWERED:
            data = _sized(packet.app_data, _UNANSWERED.size, "unanswered")
            raw, request_id = _UNANSWERED.unpack_from(data)
            name = raw.rstrip(b"\0")
            if not _valid_name(name):
                raise HeaderError(f"board name {raw!r} is not visible ASCII", reason="bad_name")
            return Unanswered(name.decode("ascii"), bytes(request_id))
        if packet.subtype == SUBTYPE_STOP:
            (reason,) = _STOP.unpack_from(_sized(packet.app_data, _STOP.size, "stop"))
            return Stop(reason)
    else:
        if packet.subtype == SUBTYPE_CYCLE_DONE:
            data = _sized(packet.source_data, _DONE.size, "cycle done")
            return CycleDone(*_DONE.unpack_from(data))
        if packet.subtype == SUBTYPE_HELLO:
            _, raw = _HELLO.unpack_from(_sized(packet.source_data, _HELLO.size, "hello"))
            name = raw.rstrip(b"\0")
            if not _valid_name(name):
                raise HeaderError(f"hello name {raw!r} is not visible ASCII", reason="bad_name")
            return Hello(name.decode("ascii"))
        if packet.subtype == SUBTYPE_HOLDING:
            (number,) = _HOLDING.unpack_from(_sized(packet.source_data, _HOLDING.size, "holding"))
            return Holding(number)
    kind = "TC" if isinstance(packet, PusTc) else "TM"
    raise HeaderError(
        f"{kind}[{SERVICE},{packet.subtype}] is not a timing message", reason="unknown_subtype"
    )


def decode_raw(raw: bytes | bytearray | memoryview) -> TimingMessage:
    """Decode one whole packet (as deframed) to its timing message.

    Raises:
        ProtocolError: any subclass: from :meth:`PusPacket.from_raw` or :func:`decode`.
    """
    return decode(PusPacket.from_raw(raw))


def _sized(data: bytes, size: int, what: str) -> bytes:
    if len(data) != size:
        raise LengthError(f"{what} data is {len(data)} octets, expected {size}")
    return data
