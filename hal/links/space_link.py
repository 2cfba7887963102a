"""Space-link endpoints: the ground and the flight end of one node's space link over a
:class:`~hal.links.base.Link` (serial port, pty, socket).

Each end composes the pure protocol machines of :mod:`hal.protocol` and drives them from its
link and its injected clock::

    ground                                            flight
    send(packet) -> segment -> FOP-1 -> authenticate  deframe -> verify (SDLS) -> FARM-1
                   (ASM + TC frame) ----- uplink -------> -> desegment -> PUS-C TC -> receive()
    receive() <- PUS-C TM <- reassemble <- deframe    send_tm(packet, vc) -> TM framer
                 fop.on_clcw(OCF) <------ downlink -------- (ASM + TM frame, CLCW in the OCF)

* :class:`GroundSpaceLink` sends telecommands and tells their COP-1 fate (``queued``, ``sent``,
  ``delivered``, ``recovering``, ``failed:<reason>``), receives telemetry, and recovers from
  COP-1 alerts by itself (Unlock, then sends again exactly the frames known not to have been
  accepted; decision 0007).
* :class:`FlightSpaceLink` receives telecommands that passed every check, in order, and sends
  telemetry packets on a virtual channel. Every TC frame it drops is counted by a named reason
  and reported as an event. Its anti-replay sequence numbers, session nonces and FARM-1's V(R)
  are kept in a counter store (the node's NV store), each sequence number written before the
  frame that consumed it is accepted, so a restart neither reopens old sequence numbers nor
  loses the frame count.
* **Resynchronisation** (decision 0023). A flight end given a nonce source (``nonces``) accepts
  no authenticated frame while its store holds no session (first boot, a store lost or corrupt,
  or one loaded from its older copy): it presents a challenge (:meth:`FlightSpaceLink.
  challenge_due`, which its owner reports in telemetry), and only the ground's resync frame over
  that challenge (:meth:`GroundSpaceLink.resync`), signed with the key, opens a new session.

Both ends are single-threaded and never sleep: the owner calls :meth:`poll` (or a waiting call
with a timeout) from its loop. Frames are counted and captured by the link like any frame.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from hal.errors import EncodeError, HalError, ProtocolError, StoreError
from hal.links.base import Link
from hal.links.channel import FrameReader
from hal.protocol.clcw import COP_1, Clcw
from hal.protocol.farm1 import Farm1
from hal.protocol.fop1 import Fop1, FopState
from hal.protocol.framing import ASM, Deframer, FixedLengthRule, TcFrameRule
from hal.protocol.pus import PusPacket, PusTc, PusTm
from hal.protocol.sdls import (
    NONCE_SIZE,
    OVERHEAD,
    Challenge,
    SecurityAssociation,
    Suite,
    TcVerifier,
    authenticate,
    resync_frame,
    session_association,
    suite_of,
)
from hal.protocol.spacepacket import TYPE_TC, file_pdu
from hal.protocol.tc_frame import (
    FECF_SIZE,
    MAX_TC_FRAME_SIZE,
    SEGMENT_HEADER_SIZE,
    TC_HEADER_SIZE,
    TcFrame,
)
from hal.protocol.tc_segment import TcDesegmenter, segment
from hal.protocol.tm_frame import DEFAULT_FRAME_LENGTH, VC_REALTIME_HK, TmFramer, TmReassembler
from hal.store import CounterStore

__all__ = ["FlightSpaceLink", "GroundSpaceLink", "Refusal", "SpaceLinkConfig"]

SN_BLOCK: Final = 256
"""Sequence numbers the ground reserves in its store at a time (decision 0008)."""
POLL_SLICE: Final = 0.05
"""Longest a waiting call blocks in one read, so COP-1 timers are served on time."""
MAX_REFUSALS: Final = 64
"""Refused telecommands the flight end keeps until its owner takes them (the oldest go)."""
MAX_PDUS: Final = 256
"""CFDP PDUs from the ground a node's radio holds until its file sender takes them."""
_REFUSAL_CLASS: Final = {
    "truncated": "bad_length", "bad_length": "bad_length", "too_long": "bad_length",
    "interrupted": "bad_length", "orphan_segment": "bad_length", "empty": "bad_length",
    "crc": "bad_checksum",
}  # fmt: skip
"""Why a packet was dropped -> the PUS-1 class of the acceptance failure; others: bad_header."""
_RESYNC_WHY: Final = {
    "no_state": "no anti-replay session in the store (first boot, or the store was lost or "
                "corrupt)",
    "backup_copy": "the store was loaded from its older copy (it may be one write old)",
}  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    """A telecommand packet the flight end received in an accepted frame but could not decode.

    Attributes:
        request_id: its packet id and sequence control as received (the first 4 octets), for
            the PUS-1 acceptance failure; ``None`` when the packet is too short to have them
            or is not marked as a telecommand.
        reason: the class of the failure: ``bad_length``, ``bad_checksum`` or ``bad_header``.
        detail: what was wrong, in words.
    """

    request_id: bytes | None
    reason: str
    detail: str

    @classmethod
    def of(cls, cause: str, head: bytes, detail: str) -> Refusal:
        """The refusal of a packet dropped for ``cause`` whose first octets are ``head``."""
        known = len(head) >= 4 and head[0] & 0xF0 == 0x10  # version 0, type TC
        reason = _REFUSAL_CLASS.get(cause, "bad_header")
        return cls(bytes(head[:4]) if known else None, reason, detail)


@dataclass(frozen=True)
class SpaceLinkConfig:
    """The space-link parameters of one node, shared by both ends (from the bench file).

    Attributes:
        scid: spacecraft id, 0..1023 (TC and TM frames).
        vcid: TC virtual channel, 0..63, served by FOP-1 and FARM-1.
        map_id: MAP id of the command packets, 0..63.
        tm_frame_length: the fixed TM frame length, 32..2048 octets.
        tc_frame_max: the longest TC frame sent or accepted, 64..1024 octets.
        fop_window: FOP-1 sliding window K (frames outstanding), below ``farm_window / 2``.
        farm_window: FARM-1 sliding window W, even, 2..254.
        t1: seconds FOP-1 waits for an acknowledgement before retransmitting.
        transmission_limit: transmissions of one frame before a COP-1 alert.
        clcw_interval: seconds between CLCW reports when the downlink is otherwise quiet.
        sn_window: largest accepted jump of the anti-replay sequence number, at least
            :data:`SN_BLOCK` (what a restarted ground skips).
        challenge_interval: seconds between the reports of a pending resync challenge.
        max_packet_length: longest telecommand or telemetry packet, octets.
        command_queue: telecommands the flight end holds for its owner before FARM-1 waits.
        idle_flush: seconds of silence after which a partial frame on the byte stream is
            abandoned (decision 0003).
    """

    scid: int = 42
    vcid: int = 0
    map_id: int = 0
    tm_frame_length: int = DEFAULT_FRAME_LENGTH
    tc_frame_max: int = MAX_TC_FRAME_SIZE
    fop_window: int = 4
    farm_window: int = 10
    t1: float = 2.0
    transmission_limit: int = 8
    clcw_interval: float = 1.0
    sn_window: int = 1 << 20
    challenge_interval: float = 2.0
    max_packet_length: int = 4096
    command_queue: int = 64
    idle_flush: float = 0.25

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.scid <= 1023, "scid must be within 0..1023"),
            (0 <= self.vcid <= 63, "vcid must be within 0..63"),
            (0 <= self.map_id <= 63, "map_id must be within 0..63"),
            (32 <= self.tm_frame_length <= 2048, "tm_frame_length must be within 32..2048"),
            (64 <= self.tc_frame_max <= MAX_TC_FRAME_SIZE, "tc_frame_max must be within 64..1024"),
            (self.farm_window % 2 == 0 and 2 <= self.farm_window <= 254,
             "farm_window must be even and within 2..254"),
            (1 <= self.fop_window < self.farm_window // 2,
             "fop_window must be at least 1 and below farm_window / 2"),
            (self.t1 > 0 and self.clcw_interval > 0 and self.idle_flush > 0,
             "t1, clcw_interval and idle_flush must be positive"),
            (self.transmission_limit >= 1, "transmission_limit must be at least 1"),
            (SN_BLOCK <= self.sn_window < 1 << 32, f"sn_window must be within {SN_BLOCK}..2^32-1"),
            (self.challenge_interval > 0, "challenge_interval must be positive"),
            (13 <= self.max_packet_length <= 65542, "max_packet_length must be within 13..65542"),
            (self.command_queue >= 1, "command_queue must be at least 1"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(f"space link: {message}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "space link") -> SpaceLinkConfig:
        """Build from a bench-file table; errors name ``source`` and the offending key."""
        known = {f.name: f.type for f in fields(cls)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"{source}: unknown key {key!r} (known: {', '.join(known)})")
            want = float if known[key] == "float" else int
            if type(value) is bool or not isinstance(value, int | float):
                raise ValueError(f"{source}: {key} must be a number, not {value!r}")
            if want is int and not isinstance(value, int):
                raise ValueError(f"{source}: {key} must be an integer, not {value!r}")
        try:
            return cls(**values)
        except ValueError as exc:
            raise ValueError(f"{source}: {str(exc).removeprefix('space link: ')}") from None

    @property
    def max_unit(self) -> int:
        """Octets of packets one TC data frame of the ``hmac`` suite carries (:meth:`unit_of`
        for another suite)."""
        return self.tc_frame_max - TC_HEADER_SIZE - SEGMENT_HEADER_SIZE - OVERHEAD - FECF_SIZE

    def unit_of(self, suite: str | Suite) -> int:
        """Octets of packets one TC data frame secured under ``suite`` carries."""
        overhead = suite_of(suite).overhead
        return self.tc_frame_max - TC_HEADER_SIZE - SEGMENT_HEADER_SIZE - overhead - FECF_SIZE


def _serve_until(
    done: Callable[[], bool],
    poll: Callable[[float | None], int],
    monotonic: Callable[[], float],
    timeout: float | None,
) -> bool:
    """Serve the link (``poll``) until ``done()``; False when ``timeout`` seconds pass first
    (``None``: no limit). Each read waits at most :data:`POLL_SLICE`, so COP-1 timers and CLCW
    reports are served on time."""
    deadline = None if timeout is None else monotonic() + timeout
    while not done():
        remaining = None if deadline is None else deadline - monotonic()
        if remaining is not None and remaining <= 0:
            return False
        poll(POLL_SLICE if remaining is None else min(remaining, POLL_SLICE))
    return True


_log = logging.getLogger(__name__)


def _count_reject(link: Link, counts: Counter[str], reason: str, detail: str = "") -> None:
    """Count one rejection under ``reason``; log the 1st, 2nd, 4th, 8th... of each reason (a
    flood of bad frames is counted in full but logged only logarithmically)."""
    counts[reason] += 1
    link.record_error(reason)
    seen = counts[reason]
    if seen & (seen - 1) == 0:
        _log.warning("space link %s: rejected (%s, %d so far): %s", link.url, reason, seen,
                     detail or reason)  # fmt: skip


class _Unit:
    """One frame data unit the ground sends: its place in FOP-1, and whether it bypasses."""

    __slots__ = ("bypass", "flags", "payload", "request")

    def __init__(self, payload: bytes, flags: int, bypass: bool) -> None:
        self.payload = payload
        self.flags = flags
        self.bypass = bypass
        self.request: int | None = None  # the FOP-1 request, once submitted


class GroundSpaceLink:
    """The ground end: telecommands up with COP-1, telemetry down.

    Args:
        link: the byte link to the node (the ground station's modem, a pty, a socket).
        sa: the security association (key id and key); after :meth:`resync` every frame is
            signed with the session key derived from it (decision 0023).
        config: the node's space-link parameters.
        store: keeps the anti-replay sequence number (``sn:<spi>``) and the session nonce
            (``session:<spi>``) across ground restarts; without one the count starts at 1 and a
            restarted ground is rejected as a replay.
        monotonic: the clock for COP-1 timers (injectable; seconds).
        auto_recover: on a COP-1 alert, initiate again with Unlock and resend what is known
            not to have been accepted (otherwise the alert's failures are final).
        max_queue: telemetry packets kept for :meth:`receive`; beyond it the oldest are dropped
            and counted (``queue_overflow``).
        suite: the SDLS cipher suite (:data:`hal.protocol.sdls.SUITES`; ``hmac`` unless given,
            the composition roots pass the bench's ``sdls``). Under the GCM suites COP-1's
            directives go in clear, as Yamcs sends them; under ``clear`` every frame does.

    Call :meth:`start` once, then :meth:`send`; :meth:`poll` (or any waiting call) serves the
    link. Fates: ``queued`` (not yet on the link), ``sent``, ``delivered`` (FARM-1 accepted
    every frame of it), ``recovering`` (after an alert, until Unlock tells what happened),
    ``failed:<reason>`` (only without ``auto_recover``). Bypass commands end at ``sent``.
    """

    def __init__(
        self,
        link: Link,
        sa: SecurityAssociation,
        config: SpaceLinkConfig | None = None,
        *,
        store: CounterStore | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        auto_recover: bool = True,
        max_queue: int = 10_000,
        suite: str | Suite = "hmac",
    ) -> None:
        self.link = link
        self.suite = suite_of(suite)
        if self.suite.gcm:
            self.suite.check_key(sa.key, sa.spi)
        self.master = sa
        self.sa = sa
        self.config = config = config or SpaceLinkConfig()
        self._max_unit = config.unit_of(self.suite)
        self.store = store
        self._session_key = f"session:{sa.spi}"
        session = store.get(self._session_key, 0) if store is not None else 0
        if session:  # a restarted ground goes on in the session it had opened
            self.sa = session_association(sa, session.to_bytes(NONCE_SIZE, "big"))
        self.monotonic = monotonic
        self.auto_recover = auto_recover
        self.fop = Fop1(
            config.scid, config.vcid, map_id=config.map_id, window=config.fop_window,
            t1=config.t1, transmission_limit=config.transmission_limit, max_waiting=1 << 30,
        )  # fmt: skip
        self.reassembler = TmReassembler(
            config.scid, frame_length=config.tm_frame_length,
            max_packet_length=config.max_packet_length, on_ocf=self._on_ocf,
        )  # fmt: skip
        rule = FixedLengthRule(config.tm_frame_length)
        self._reader = FrameReader(link, Deframer(rule=rule), config.idle_flush, monotonic)
        self._sn_key = f"sn:{sa.spi}"
        self._sn = store.get(self._sn_key, 0) if store is not None else 0
        self._sn_reserved = self._sn
        self._units: list[_Unit] = []
        self._commands: list[tuple[int, ...]] = []
        self._by_request: dict[int, int] = {}
        self._backlog: deque[int] = deque()
        self._bypass_out: list[int] = []
        self._recovering: set[int] = set()
        self._alerts_seen = 0
        self._started = False
        self._start_mode: tuple[str, int | None] | None = None
        self._queue: deque[PusTm | PusTc] = deque()
        self._max_queue = max_queue
        self._pdus: deque[bytes] = deque(maxlen=max_queue)
        self.last_clcw: Clcw | None = None
        self.rejects: Counter[str] = Counter()
        self._bad_seen: Counter[str] = Counter()  # the reassembler's bad frames, as last logged
        self.recoveries = 0
        self.resyncs = 0

    # ------------------------------------------------------------------ commanding

    def start(self, mode: str = "unlock", vr: int | None = None) -> None:
        """Initiate COP-1 (see :meth:`Fop1.initiate`; Unlock by default, which also
        resynchronises on the V(R) that FARM-1 reports).

        Except for ``no_clcw_check``, initiation waits for the first CLCW from the node: only
        against a known FARM-B counter can the acceptance of the Unlock or Set V(R) be seen.
        Commands sent meanwhile are ``queued``.
        """
        if mode == "set_vr" and (vr is None or not 0 <= vr <= 255):
            raise ValueError(f"set_vr needs V(R) in 0..255, got {vr!r}")
        self._start_mode = (mode, vr)
        self._started = True
        self._transmit()

    def send(self, packet: PusTc | bytes, *, bypass: bool = False) -> int:
        """Queue one telecommand; return its id for :meth:`fate`.

        A packet longer than a frame is segmented. ``bypass`` sends type-BD frames, outside
        COP-1 (still authenticated), for recovery.

        Raises:
            EncodeError: the packet does not encode, or is longer than ``max_packet_length``.
        """
        return self.send_many([packet], bypass=bypass)[0]

    def send_many(self, packets: Iterable[PusTc | bytes], *, bypass: bool = False) -> list[int]:
        """Queue several telecommands, short ones blocked together into shared frames."""
        raws = [p if isinstance(p, bytes | bytearray) else p.pack() for p in packets]
        for raw in raws:
            if len(raw) > self.config.max_packet_length:
                raise EncodeError(
                    f"telecommand of {len(raw)} octets exceeds max_packet_length "
                    f"{self.config.max_packet_length}", reason="too_long",
                )  # fmt: skip
        first_command = len(self._commands)
        units_of: list[list[int]] = [[] for _ in raws]
        pending = 0  # the packet that the next first or continuing segment belongs to
        for seg in segment(raws, self._max_unit):
            unit = len(self._units)
            self._units.append(_Unit(seg.data, seg.flags, bypass))
            (self._bypass_out if bypass else self._backlog).append(unit)
            for index in seg.completes or (pending,):
                units_of[index].append(unit)
            if seg.completes:
                pending = seg.completes[-1] + 1
        self._commands.extend(tuple(u) for u in units_of)
        self._transmit()
        return list(range(first_command, len(self._commands)))

    def resync(self, nonce: bytes, last_sn: int = 0) -> int:
        """Answer a node's resync challenge (decision 0023): send the resync frame over
        ``nonce``, signed with the key, with a sequence number above both ours and the node's
        ``last_sn``; sign everything after it with the new session's key; and, with nothing
        outstanding, initiate COP-1 again with Unlock (the node's FARM-1 may have lost its
        V(R) with its store). Return the sequence number the node takes as its base.

        Raises:
            EncodeError: a nonce of the wrong size, sequence numbers exhausted, or a ``clear``
                link (nothing to resynchronise).
            StoreError: the session could not be kept (nothing was sent).
        """
        if self.suite.clear:
            raise EncodeError("a clear uplink has no anti-replay to resynchronise")
        if len(nonce) != NONCE_SIZE:
            raise EncodeError(f"a challenge nonce has {NONCE_SIZE} octets, not {len(nonce)}")
        self._sn = max(self._sn, last_sn)
        sn = self._next_sn()
        raw = resync_frame(self.config.scid, self.config.vcid, self.master, nonce, sn, self.suite)
        if self.store is not None:  # a ground restarted after sending goes on in the session
            self.store.set(self._session_key, int.from_bytes(nonce, "big"))
        self.link.write_frames([ASM + raw])
        self.sa = session_association(self.master, nonce)
        self.resyncs += 1
        if self._started and not self.fop.outstanding:
            self._start_mode = ("unlock", None)
        self._transmit()
        return sn

    @property
    def idle(self) -> bool:
        """Nothing to send and nothing to wait for: no command queued, unacknowledged or
        recovering, and no COP-1 timer running (a lockstep ground can let time jump)."""
        if not self._started or self.fop.outstanding or self.fop.timer_running:
            return False
        return not (self._backlog or self._recovering or self._bypass_out)

    def fate(self, command: int) -> str:
        """What became of a command: ``queued``, ``sent``, ``delivered``, ``recovering`` or
        ``failed:<reason>``. Raises KeyError for an unknown id."""
        if not 0 <= command < len(self._commands):
            raise KeyError(command)
        states = [self._unit_fate(unit) for unit in self._commands[command]]
        for state in ("recovering", "queued", "sent"):
            if state in states:
                return state
        failed = [s for s in states if s.startswith("failed")]
        return failed[0] if failed else "delivered"

    def _unit_fate(self, index: int) -> str:
        unit = self._units[index]
        if index in self._recovering:
            return "recovering"
        if unit.request is None:
            return "queued"
        if unit.bypass:
            return "sent"
        return self.fop.fate(unit.request)

    def wait_for(self, commands: Iterable[int], timeout: float) -> bool:
        """Serve the link until every command is settled: delivered, failed, or (bypass) sent.

        Returns False when ``timeout`` seconds pass first; :meth:`fate` tells each one's state.
        """
        wanted = list(commands)
        return _serve_until(lambda: all(self._settled(c) for c in wanted), self.poll,
                            self.monotonic, timeout)  # fmt: skip

    def _settled(self, command: int) -> bool:
        state = self.fate(command)
        if state == "delivered" or state.startswith("failed"):
            return True
        return state == "sent" and all(self._units[u].bypass for u in self._commands[command])

    # ------------------------------------------------------------------ telemetry

    def poll(self, timeout: float | None = 0) -> int:
        """Read the downlink (waiting at most ``timeout`` for the first byte), take every
        frame it completes, serve COP-1; return the telemetry packets queued."""
        queued = 0
        for raw in self._reader.read(timeout):
            for packet in self._take_frame(raw):
                try:
                    pdu = file_pdu(packet)
                    if pdu is not None:  # a CFDP PDU: for the station's file receiver
                        self._pdus.append(pdu)
                        continue
                    decoded = PusPacket.from_raw(packet)
                except ProtocolError as exc:
                    _count_reject(self.link, self.rejects, f"decode_{exc.reason}")
                    continue
                if len(self._queue) >= self._max_queue:
                    self._queue.popleft()
                    _count_reject(self.link, self.rejects, "queue_overflow")
                self._queue.append(decoded)
                queued += 1
        self._transmit()
        return queued

    def _take_frame(self, raw: bytes) -> list[bytes]:
        """The packets one downlink frame completes. A frame whose CLCW or header does not
        decode, or that the COP-1 machine cannot take, is counted under a named reason and
        dropped (decision 0029): nothing a frame says ends the ground end."""
        bad = self.reassembler.stats.bad_frames
        before = bad.total()
        try:
            packets = self.reassembler.feed(raw)
            if bad.total() != before:  # counted by the reassembler (header, CRC): log it here
                for reason, count in bad.items():
                    if count != self._bad_seen[reason]:
                        self._bad_seen[reason] = count
                        if count & (count - 1) == 0:
                            _log.warning("space link %s: TM frame rejected (%s, %d so far)",
                                         self.link.url, reason, count)  # fmt: skip
            return packets
        except HalError as exc:
            _count_reject(self.link, self.rejects, f"frame_{exc.reason}", str(exc))
        except (ArithmeticError, LookupError, ValueError) as exc:  # a defect, not a frame: keep on
            _count_reject(self.link, self.rejects, "frame_undecodable", repr(exc))
        return []

    def receive(self, timeout: float | None = None) -> PusTm | PusTc | None:
        """The next telemetry packet, or None when ``timeout`` passes without one."""
        if not _serve_until(lambda: bool(self._queue), self.poll, self.monotonic, timeout):
            return None
        return self._queue.popleft()

    def receive_pdus(self) -> list[bytes]:
        """The CFDP PDUs received since the last call (:mod:`hal.protocol.cfdp`), oldest
        first."""
        out = list(self._pdus)
        self._pdus.clear()
        return out

    def receive_all(self, timeout: float = 0) -> list[PusTm | PusTc]:
        """Everything received within ``timeout`` (at least what is already queued)."""
        self.poll(0)
        _serve_until(lambda: False, self.poll, self.monotonic, timeout)
        out = list(self._queue)
        self._queue.clear()
        return out

    @property
    def frames_missing(self) -> int:
        """TM frames known lost so far: the gaps in the master channel frame count (a frame
        the bit errors spoiled is missing from it once the next frame of any virtual channel
        comes; idle frames come at least every ``clcw_interval``)."""
        return self.reassembler.stats.mc_lost_frames

    def stats(self) -> dict[str, Any]:
        """Link statistics: frames, bytes, rejects by reason, retransmissions, lockouts, gaps."""
        link = self.link.stats
        fop = self.fop.counts
        reassembly = self.reassembler.stats
        return {
            "tc_frames_out": link.frames_out,
            "tm_frames_in": link.frames_in,
            "bytes_out": link.bytes_out,
            "bytes_in": link.bytes_in,
            "rejects": dict(
                self._reader.deframer.stats.rejects + reassembly.bad_frames + self.rejects
            ),
            "transmitted": fop["transmitted"],
            "retransmissions": fop["retransmitted"],
            "delivered": fop["delivered"] + fop["delivered_late"],
            "alerts": {
                k.removeprefix("alert_"): v for k, v in fop.items() if k.startswith("alert_")
            },
            "lockouts": fop["alert_lockout"],
            "recoveries": self.recoveries,
            "frame_gaps": sum(reassembly.gaps.values()),
            "frames_lost": sum(reassembly.lost_frames.values()),
            "packets_in": reassembly.packets,
            "sequence_number": self._sn,
            "resyncs": self.resyncs,
        }

    def close(self) -> None:
        """Close the link (idempotent)."""
        self.link.close()

    # ------------------------------------------------------------------ internals

    def _on_ocf(self, value: int) -> None:
        try:
            clcw = Clcw.from_int(value)
        except ProtocolError as exc:  # not a version-0 CLCW (type, version, spare bits)
            _count_reject(
                self.link, self.rejects, f"clcw_{exc.reason}", f"OCF {value:#010x}: {exc}"
            )
            return
        if clcw.cop != COP_1:
            _count_reject(self.link, self.rejects, "clcw_not_cop1",
                          f"OCF {value:#010x}: COP in effect is {clcw.cop}, not COP-1")  # fmt: skip
            return
        if clcw.vcid != self.config.vcid:
            _count_reject(self.link, self.rejects, "clcw_wrong_vcid",
                          f"OCF {value:#010x}: reports TC virtual channel {clcw.vcid}, "
                          f"not {self.config.vcid}")  # fmt: skip
            return
        self.last_clcw = clcw
        self.fop.on_clcw(clcw, self.monotonic())

    def _next_sn(self) -> int:
        self._sn += 1
        if self.store is not None and self._sn > self._sn_reserved:
            self._sn_reserved = self._sn + SN_BLOCK - 1
            self.store.set(self._sn_key, self._sn_reserved)
        return self._sn

    def _recover(self) -> None:
        fop = self.fop
        if self._start_mode is not None:
            mode, vr = self._start_mode
            if mode != "no_clcw_check" and self.last_clcw is None:
                return
            self._start_mode = None
            fop.initiate(self.monotonic(), mode, vr)
        if len(fop.alerts) > self._alerts_seen:
            self._alerts_seen = len(fop.alerts)
            if not self.auto_recover:
                return
            for index, unit in enumerate(self._units):
                if unit.request is not None and not unit.bypass:
                    if fop.fate(unit.request).startswith("failed"):
                        self._recovering.add(index)
            self.recoveries += 1
        if self.auto_recover and self._started and fop.state is FopState.INITIAL:
            fop.initiate(self.monotonic(), "unlock")
        if fop.state is FopState.ACTIVE and self._recovering:
            again = [self._by_request.pop(request) for request, _, _ in fop.resubmittable()]
            for index in again:
                self._units[index].request = None
            self._backlog = deque([*again, *self._backlog])
            self._recovering.clear()

    def _transmit(self) -> None:
        fop = self.fop
        now = self.monotonic()
        fop.tick(now)
        self._recover()
        if fop.state is FopState.ACTIVE and not self._recovering:
            while self._backlog:
                index = self._backlog.popleft()
                unit = self._units[index]
                unit.request = fop.submit(unit.payload, now, unit.flags)
                self._by_request[unit.request] = index
        frames = fop.take_transmissions()
        for index in self._bypass_out:
            unit = self._units[index]
            unit.request = -1
            frames.append(TcFrame(self.config.scid, self.config.vcid, unit.payload, bypass=1,
                                  map_id=self.config.map_id, seg_flags=unit.flags))  # fmt: skip
        self._bypass_out.clear()
        if frames:
            self.link.write_frames([ASM + self._secure(frame) for frame in frames])

    def _secure(self, frame: TcFrame) -> bytes:
        """One transmission of ``frame``, secured anew (decision 0006); in clear under
        ``clear``, and a COP-1 directive in clear under the GCM suites (as Yamcs sends it)."""
        suite = self.suite
        if suite.clear or (suite.gcm and frame.control):
            return frame.pack()
        return authenticate(frame, self.sa, self._next_sn(), suite)


class FlightSpaceLink:
    """The flight end: telecommands in, through every check; telemetry out in TM frames.

    Args:
        link: the byte link to the ground (the transponder's serial port, a pty).
        keys: SPI -> key, from the key file named in the bench file.
        config: the node's space-link parameters.
        store: anti-replay sequence numbers (``sn:<spi>``), session nonces (``session:<spi>``,
            the nonce as a number, 0 for none) and FARM-1's V(R) (``vr:<vcid>``); without one a
            restart forgets them (tests only).
        monotonic: the clock for CLCW reporting and challenges (injectable; seconds).
        on_event: called ``(name, detail)`` for every rejected frame (``tc_rejected``),
            every COP-1 control command (``cop_unlock``, ``cop_set_vr``), a lockout
            (``cop_lockout``), a failed store write (``store_failed``), the first challenge
            presented (``resync_needed``) and a resync taken (``resynced``).
        nonces: the source of challenge nonces (16 octets each, never repeating). Given, the
            link requires a session: while its store holds none it accepts no authenticated
            frame but the ground's resync over its challenge (decision 0023). Without it (tests
            of the link alone) frames are signed with the key itself until a resync.
        trusted: False when the store was loaded from its older copy (it may be one write old):
            its sessions are dropped, on the disk first, and the ground must resynchronise.
        suite: the SDLS cipher suite (``hmac`` unless given; the composition root passes the
            bench's ``sdls``). A ``clear`` link takes frames as they come: no key, no
            anti-replay, no session, no challenge.

    :meth:`poll` serves the link; :meth:`receive` returns the next accepted telecommand;
    :meth:`refusals` the packets that arrived in accepted frames but did not decode;
    :meth:`send_tm` queues a telemetry packet and :meth:`flush` puts everything queued on the
    link (the executive calls it at the end of each cycle). A CLCW goes down after every burst of
    TC frames and every ``clcw_interval`` seconds, in an idle frame if no telemetry is waiting.
    """

    def __init__(
        self,
        link: Link,
        keys: Mapping[int, bytes],
        config: SpaceLinkConfig | None = None,
        *,
        store: CounterStore | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        on_event: Callable[[str, str], None] | None = None,
        nonces: Callable[[], bytes] | None = None,
        trusted: bool = True,
        suite: str | Suite = "hmac",
    ) -> None:
        self.link = link
        suite = suite_of(suite)
        if suite.clear:
            nonces = None  # nothing to resynchronise
        self.config = config = config or SpaceLinkConfig()
        self.store = store
        self.monotonic = monotonic
        self.on_event = on_event
        self._nonces = nonces
        last_sn: dict[int, int] = {}
        sessions: dict[int, bytes] = {}
        vr = 0
        self.resync_reason = "no_state"
        if store is not None:
            last_sn = {int(k[3:]): v for k, v in store.items("sn:").items() if k[3:].isdigit()}
            for name, value in store.items("session:").items():
                spi = name.removeprefix("session:")
                if spi.isdigit() and 0 < value < 1 << (8 * NONCE_SIZE):
                    sessions[int(spi)] = value.to_bytes(NONCE_SIZE, "big")
            vr = store.get(f"vr:{config.vcid}", 0) or 0
        self._pending_events: list[tuple[str, str]] = []
        if not trusted and sessions:
            self.resync_reason = "backup_copy"
            drop = {f"session:{spi}": 0 for spi in sessions}
            sessions = {}
            try:
                if store is not None:
                    store.update(drop)  # a later restart must not trust them either
            except StoreError as exc:
                self._pending_events.append(("store_failed", str(exc)))
        self.verifier = TcVerifier(
            keys, scid=config.scid, last_sn=last_sn, window=config.sn_window,
            persist=self._persist_sn if store is not None else None,
            sessions=sessions, require_session=nonces is not None,
            persist_resync=self._persist_resync if store is not None else None, suite=suite,
        )  # fmt: skip
        self._next_challenge = monotonic()
        self.farm = Farm1(config.vcid, window=config.farm_window, vr=vr & 0xFF)
        self.desegmenter = TcDesegmenter(config.max_packet_length)
        self.framer = TmFramer(
            config.scid, frame_length=config.tm_frame_length,
            clcw=lambda: self.farm.clcw.to_int(),
        )  # fmt: skip
        rule = TcFrameRule(config.tc_frame_max)
        self._reader = FrameReader(
            link, Deframer(rule=rule), config.idle_flush, monotonic, self._deframe_reject
        )
        self._queue: deque[PusTc] = deque()
        self._pdus: deque[bytes] = deque(maxlen=MAX_PDUS)
        self._refusals: deque[Refusal] = deque(maxlen=MAX_REFUSALS)
        self._challenged = False
        self._clcw_due = True
        self._next_clcw = monotonic()
        self.rejects: Counter[str] = Counter()
        self.accepted_frames = 0

    # ------------------------------------------------------------------ telecommands

    def poll(self, timeout: float | None = 0, *, report: bool = True) -> int:
        """Read the uplink (waiting at most ``timeout`` for the first byte), check every frame
        it completes, report the CLCW when due (``report``: a cycle that calls :meth:`flush`
        at its end says False, so the CLCW acknowledging its telecommands goes down in one
        burst with the telemetry they caused, never before it); return the telecommands
        queued."""
        queued = len(self._queue)
        while self._pending_events:
            self._event(*self._pending_events.pop(0))
        for raw in self._reader.read(timeout):
            self._frame_in(raw)
        if report:
            self._report(self.monotonic())
        return len(self._queue) - queued

    def receive(self, timeout: float | None = 0) -> PusTc | None:
        """The next accepted telecommand, or None when ``timeout`` passes without one."""
        if not _serve_until(lambda: bool(self._queue), self.poll, self.monotonic, timeout):
            return None
        packet = self._queue.popleft()
        if self.farm.wait and len(self._queue) < self.config.command_queue:
            self.farm.buffer_released()
            self._clcw_due = True
        return packet

    def receive_pdu(self) -> bytes | None:
        """The next CFDP PDU the ground sent (:mod:`hal.protocol.cfdp`), or None. At most
        :data:`MAX_PDUS` wait; more are dropped, and CFDP asks for them again."""
        return self._pdus.popleft() if self._pdus else None

    @property
    def needs_resync(self) -> bool:
        """True while the link accepts no authenticated frame: no session for any key."""
        return not self.verifier.synchronised

    def challenge_due(self, now: float | None = None) -> Challenge | None:
        """The pending resync challenge when it is due to be reported (at once, then every
        ``challenge_interval`` s while the link needs a resync), else None. The first one
        issued is also reported as the event ``resync_needed``. The nonce stays the same until
        a resync uses it (or the process ends)."""
        if self._nonces is None or not self.needs_resync:
            return None
        now = self.monotonic() if now is None else now
        verifier = self.verifier
        if verifier.challenge is None:
            first = verifier.resyncs == 0 and not self._challenged
            verifier.issue_challenge(self._nonces())
            self._challenged = True
            if first:
                why = _RESYNC_WHY[self.resync_reason]
                self._event("resync_needed", f"{why}: no authenticated frame is accepted until "
                                             "the ground resynchronises")  # fmt: skip
        if now < self._next_challenge:
            return None
        self._next_challenge = now + self.config.challenge_interval
        last = max(verifier.last_sn.values(), default=0)
        return Challenge(verifier.challenge, last, self.resync_reason)

    @property
    def next_challenge(self) -> float:
        """When the next challenge report is due (``inf`` when none is needed)."""
        if self._nonces is None or not self.needs_resync:
            return float("inf")
        return self._next_challenge

    def refusals(self) -> list[Refusal]:
        """Take the refused telecommand packets received since the last call (at most
        :data:`MAX_REFUSALS`; each was also counted and reported as ``tc_rejected``)."""
        out = list(self._refusals)
        self._refusals.clear()
        return out

    # ------------------------------------------------------------------ telemetry

    def send_tm(self, packet: PusTm | bytes, vcid: int = VC_REALTIME_HK) -> bool:
        """Queue a telemetry packet on a virtual channel (0 housekeeping, 1 events, 2 playback);
        False when that channel's queue is full (counted by the framer). Complete frames go on
        the link at once; the rest with :meth:`flush`."""
        raw = packet if isinstance(packet, bytes | bytearray) else packet.pack()
        ok = self.framer.add_packet(vcid, raw)
        self._write(self.framer.frames())
        return ok

    def flush(self) -> int:
        """Put every queued telemetry packet on the link, completing partial frames with idle
        data, and the CLCW when due (in an idle frame if nothing else went); return the
        frames written."""
        self.framer.flush()
        written = self._write(self.framer.frames())
        self._report(self.monotonic())
        return written

    def stats(self) -> dict[str, Any]:
        """Link statistics: frames, bytes, rejects by reason, lockouts, COP-1 counts."""
        link = self.link.stats
        return {
            "tc_frames_in": link.frames_in,
            "tm_frames_out": link.frames_out,
            "bytes_in": link.bytes_in,
            "bytes_out": link.bytes_out,
            "accepted_frames": self.accepted_frames,
            "rejects": dict(self._reader.deframer.stats.rejects + self.rejects),
            "farm": dict(self.farm.counts),
            "lockouts": self.farm.counts["lockout"],
            "v_r": self.farm.vr,
            "resyncs": self.verifier.resyncs,
            "needs_resync": self.needs_resync,
            "commands": self.desegmenter.packets,
            "tm": self.framer.stats.as_dict(),
        }

    def close(self) -> None:
        """Close the link (idempotent)."""
        self.link.close()

    # ------------------------------------------------------------------ internals

    def _event(self, name: str, detail: str) -> None:
        if self.on_event is not None:
            self.on_event(name, detail)

    def _reject(self, reason: str, detail: str) -> None:
        self.rejects[reason] += 1
        self.link.record_error(reason)
        self._event("tc_rejected", f"{reason}: {detail}")

    def _deframe_reject(self, reason: str) -> None:
        self.link.record_error(reason)
        self._event("tc_rejected", f"{reason}: frame dropped by the deframer")

    def _persist_sn(self, spi: int, sn: int) -> None:
        if self.store is not None:
            self.store.set(f"sn:{spi}", sn)

    def _persist_resync(self, spi: int, sn: int, nonce: bytes) -> None:
        if self.store is not None:
            session = int.from_bytes(nonce, "big")
            self.store.update({f"sn:{spi}": sn, f"session:{spi}": session})

    def _persist_vr(self) -> None:
        if self.store is None:
            return
        try:
            self.store.set(f"vr:{self.config.vcid}", self.farm.vr)
        except StoreError as exc:
            self._event("store_failed", str(exc))

    def _frame_in(self, raw: bytes) -> None:
        self._clcw_due = True
        try:
            verified = self.verifier.verify(raw)
        except HalError as exc:
            self._reject(exc.reason, str(exc))
            return
        frame = verified.frame
        if verified.resync:  # the link layer's own: not for FARM-1
            self._event("resynced", f"key id {verified.spi}: a new session, anti-replay from "
                                    f"sequence number {verified.sn}")  # fmt: skip
            return
        if frame.vcid != self.config.vcid:
            self._reject("wrong_vcid", f"TC frame on virtual channel {frame.vcid}")
            return
        if frame.bypass and not frame.control and len(self._queue) >= self.config.command_queue:
            self._reject("queue_full", "type-BD frame while the command queue is full")
            return
        was_locked = self.farm.lockout
        result = self.farm.receive(frame, len(self._queue) < self.config.command_queue)
        if not result.accepted:
            if self.farm.lockout and not was_locked:
                self._event("cop_lockout", f"frame N(S)={frame.seq} with V(R)={self.farm.vr}")
            return
        self.accepted_frames += 1
        if frame.control:
            self._event(f"cop_{result.reason}", f"V(R)={self.farm.vr}")
            self._persist_vr()
            return
        if not frame.bypass:
            self._persist_vr()
        packets = self.desegmenter.feed(frame.map_id, frame.seg_flags, frame.data)
        while self.desegmenter.dropped:
            reason, head = self.desegmenter.dropped.popleft()
            detail = f"packet dropped by the desegmenter ({reason.replace('_', ' ')})"
            self._reject(f"segment_{reason}", detail)
            self._refusals.append(Refusal.of(reason, head, detail))
        for packet in packets:
            try:
                pdu = file_pdu(packet)
                if pdu is not None:  # a CFDP PDU from the ground: for the node's file sender
                    self._pdus.append(pdu)
                    continue
                decoded = PusPacket.from_raw(packet)
            except ProtocolError as exc:
                self._reject(f"decode_{exc.reason}", str(exc))
                self._refusals.append(Refusal.of(exc.reason, packet[:4], str(exc)))
                continue
            if decoded.packet_type != TYPE_TC:
                self._reject("not_a_telecommand", repr(decoded))
                continue
            self._queue.append(decoded)

    def _report(self, now: float) -> None:
        if not (self._clcw_due or now >= self._next_clcw):
            return
        frames = self.framer.frames()
        if not frames:
            frames = [self.framer.idle_frame()]
        self._write(frames)

    def _write(self, frames: list[bytes]) -> int:
        if frames:
            self.link.write_frames([ASM + raw for raw in frames])
            self._clcw_due = False
            self._next_clcw = self.monotonic() + self.config.clcw_interval
        return len(frames)
