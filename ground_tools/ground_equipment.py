"""External ground equipment on UDP: a node's TM frames out, its TC frames in (issue 20,
decision 0044), so a mission control system (Yamcs's UDP frame links) can command a node in
place of the station while the station goes on receiving, archiving and serving its telemetry.

The ground station holds the ground end of every node's space link, emulated radio or real
(decisions 0016, 0021), so the station serves the equipment (:mod:`ground_tools.station`):
one :class:`UdpGroundEquipment` per node whose bench table names a UDP port (:mod:`hal.bench`)::

    [nodes.lander]
    tm_udp = "127.0.0.1:10015"   # the station sends the node's TM frames there
    tc_udp = "127.0.0.1:10025"   # the station takes TC frames for the node there
    uplink = "external"          # the equipment commands the node (needs tc_udp)

What goes on each port, for whoever configures the equipment:

``tm_udp``: the equipment listens, the station sends
    One datagram per TM transfer frame received from the node's radio, every one of them (idle
    frames and frames damaged on the way included), unchanged, in the order received: the frame
    alone (no attached sync marker, no randomisation, no Reed-Solomon), exactly the node's
    ``space_link.tm_frame_length`` octets (1115 by default). TM frame layout (CCSDS 132.0-B-3,
    :mod:`hal.protocol.tm_frame`): a 6-octet primary header (version 0, the node's spacecraft
    id, virtual channel 0 real-time housekeeping, 1 events and verification, 2 playback, 7 idle
    data only; the OCF flag set; no secondary header; first header pointer), a data field of
    PUS-C space packets (which may span frames), a 4-octet operational control field holding
    the CLCW of the node's FARM-1 (COP-1 on TC virtual channel ``space_link.vcid``), and a
    2-octet FECF (CRC-16/CCITT-FALSE). Several nodes may name the same ``tm_udp``: their
    spacecraft ids tell their frames apart. The datagrams leave from an ephemeral port of the
    station's host; sending never waits (a datagram the kernel does not take is dropped and
    counted). For Yamcs: a ``UdpTmFrameLink`` listening on that port, ``frameType: TM``,
    ``spacecraftId`` the node's, ``frameLength`` the node's (1115), ``errorDetection: CRC16``,
    ``virtualChannels`` 0, 1 and 2 with ``ocfPresent: true`` and ``service: PACKET`` (the
    link's ``clcwStream`` feeds the TC link's COP-1); virtual channel 7 carries idle data only.

``tc_udp``: the station listens (binds it), the equipment sends
    One datagram per TC transfer frame: the frame alone (no attached sync marker, no CLTU: no
    start or tail sequence, no BCH code, no randomisation), from its 5-octet primary header to
    its 2-octet FECF (CRC-16/CCITT-FALSE), at most the node's ``space_link.tc_frame_max`` octets
    (1024 by default). TC frame layout (CCSDS 232.0-B-4, :mod:`hal.protocol.tc_frame`): version
    0, the node's spacecraft id, the node's TC virtual channel ``space_link.vcid`` (0 by
    default), the frame length field equal to the datagram's size minus one, a segment header
    on data frames (MAP id ``space_link.map_id``, 0 by default), and the security header and
    trailer of the node's SDLS suite (``nodes.<n>.sdls``, SPI ``nodes.<n>.spi``: decision
    0043). For Yamcs: a ``UdpTcFrameLink`` sending to ``tc_udp``, ``spacecraftId`` the node's,
    ``maxFrameLength`` at most the node's ``tc_frame_max``, ``errorDetection: CRC16``, no
    ``cltuEncoding``, one virtual channel (``vcId`` the node's, its ``mapId``) with COP-1.

The session (decisions 0023, 0043). A node accepts secured frames only in a session that a
resync frame over its challenge opened, and Yamcs knows nothing of challenges. So on an
``uplink = "external"`` node the station still answers the challenge when asked (``msr link
resync``, ``msr bench up``): the resync frame is the one frame it sends on that link. It then
hands the session over in ``ground/<node>.session.json`` in the run folder (mode 0600, written
whole, again after every resync; :func:`write_session`)::

    {"node": "lander", "spi": 1, "suite": "aes-gcm", "nonce": "<32 hex>",
     "key": "<64 hex: the session key>", "next_sn": 258}

``key`` secures every frame of the session (for Yamcs: the SA's key, 32 raw octets, ``PUT
/api/sdls/{instance}/{link}/{spi}/key``) and ``next_sn`` is the first anti-replay sequence
number (under GCM, the IV) the equipment may use (``PUT .../{spi}/seq``, or ``initialSeqNum``).

Every datagram on ``tc_udp`` is hostile input. It is parsed (:func:`parse_tc_datagram`) into a
:class:`~hal.protocol.tc_frame.TcFrame` before anything acts on it: size within
:data:`~hal.protocol.tc_frame.MIN_TC_FRAME_SIZE` .. ``tc_frame_max``, version 0, the frame
length field equal to the size, the FECF, not the invalid type-AC, the node's spacecraft id and
virtual channel. A datagram that fails is dropped, counted under its reason (:data:`REFUSALS`)
and logged (the 1st, 2nd, 4th, 8th... of each reason: a flood is counted in full without
filling the log). One that passes is forwarded unchanged: the station writes it up the node's
radio in its next cycle, as its own frames go, so the space-link emulator's light time,
blackouts and line rate apply, and the archive holds it as an uplink frame. Its MAC, its
anti-replay number and its place in COP-1 are the node's to judge, as for any frame.

Bounds: a datagram is read into room for ``tc_frame_max + 1`` octets (a longer one is refused
as ``too_long`` whatever its size); one call of :meth:`UdpGroundEquipment.take_tc` returns at
most :attr:`UdpGroundEquipment.budget` octets of frames (one cycle of the radio's line, and at
least one whole frame), the rest waits in the socket's receive buffer, which the kernel bounds.
Nothing here blocks, sleeps or reads a clock.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
from collections import Counter
from pathlib import Path
from typing import Any, Final

from hal.errors import CrcError, HalError, HeaderError, LengthError, TruncatedError
from hal.links.space_link import SpaceLinkConfig
from hal.protocol.tc_frame import MIN_TC_FRAME_SIZE, TcFrame

__all__ = [
    "REFUSALS",
    "SESSION_FILE",
    "GroundEquipmentError",
    "TcRefused",
    "UdpAddress",
    "UdpGroundEquipment",
    "parse_tc_datagram",
    "write_session",
]

UdpAddress = tuple[str, int]
"""A UDP address as the bench gives it: an IP address (text) and a port."""

REFUSALS: Final = (
    "too_short", "too_long", "bad_version", "bad_length", "bad_fecf", "type_ac",
    "wrong_scid", "wrong_vcid",
)  # fmt: skip
"""Why a datagram on ``tc_udp`` is refused, in the order of the checks."""
RECEIVE_BUFFER: Final = 1 << 20
"""The ``tc_udp`` socket's receive buffer asked of the kernel (it may grant less)."""
SESSION_FILE: Final = "{node}.session.json"
"""The session handed to the external equipment, in the run folder's ``ground/``."""

_log = logging.getLogger(__name__)


class GroundEquipmentError(HalError):
    """A UDP port that cannot be opened; the message names the bench field and the cause."""

    default_reason = "ground_equipment"


class TcRefused(HalError):
    """A datagram on ``tc_udp`` that is not a TC frame for the node; ``reason`` is one of
    :data:`REFUSALS`."""

    default_reason = "refused"


def parse_tc_datagram(datagram: bytes, config: SpaceLinkConfig) -> TcFrame:
    """Parse one datagram as a TC transfer frame for the node whose space link is ``config``.

    Raises:
        TcRefused: naming the first check it fails (:data:`REFUSALS`) and what it saw.
    """
    size = len(datagram)
    if size < MIN_TC_FRAME_SIZE:
        raise TcRefused(f"{size} octets: a TC frame has at least {MIN_TC_FRAME_SIZE}",
                        reason="too_short")  # fmt: skip
    if size > config.tc_frame_max:
        raise TcRefused(f"more than the node's tc_frame_max, {config.tc_frame_max} octets",
                        reason="too_long")  # fmt: skip
    try:
        frame = TcFrame.from_raw(datagram)
    except HeaderError as exc:  # the version (checked first), or the type-AC combination
        reason = "bad_version" if exc.reason == "bad_version" else "type_ac"
        raise TcRefused(str(exc), reason=reason) from None
    except (LengthError, TruncatedError) as exc:
        raise TcRefused(str(exc), reason="bad_length") from None
    except CrcError as exc:
        raise TcRefused(str(exc), reason="bad_fecf") from None
    if frame.scid != config.scid:
        raise TcRefused(f"spacecraft id {frame.scid}: the node's is {config.scid}",
                        reason="wrong_scid")  # fmt: skip
    if frame.vcid != config.vcid:
        raise TcRefused(f"virtual channel {frame.vcid}: the node's is {config.vcid}",
                        reason="wrong_vcid")  # fmt: skip
    return frame


def _shown(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class UdpGroundEquipment:
    """The UDP ports of one node's external ground equipment (see the module docstring).

    Args:
        node: the node's name (for log lines and errors).
        config: the node's space-link parameters (spacecraft id, virtual channel, sizes).
        tm: where each TM frame is sent (``tm_udp``), or None.
        tc: the address bound to take TC frames (``tc_udp``), or None; port 0 takes a free
            port (tests): :attr:`tc_address` tells which.
        budget: octets of TC frames one :meth:`take_tc` returns, raised to at least one whole
            frame (the station gives one cycle of the node's radio: ``radio_baud / 10 * tick``).

    Raises:
        GroundEquipmentError: a socket cannot be made, or ``tc`` cannot be bound (in use, not
            an address of this host), naming the bench field.
    """

    def __init__(
        self,
        node: str,
        config: SpaceLinkConfig,
        *,
        tm: UdpAddress | None = None,
        tc: UdpAddress | None = None,
        budget: int = 0,
    ) -> None:
        self.node = node
        self.config = config
        self.tm = tm
        self.budget = max(budget, config.tc_frame_max)
        self.tm_sent = 0
        self.tm_dropped: Counter[str] = Counter()
        self.tc_forwarded = 0
        self.tc_refused: Counter[str] = Counter()
        self._held: bytes | None = None  # a frame that passed, first of the next call's budget
        self._tm_socket: socket.socket | None = None
        self._tc_socket: socket.socket | None = None
        self.tc_address: UdpAddress | None = None
        field, address = "tm_udp", tm
        try:
            if tm is not None:
                self._tm_socket = _udp_socket(tm[0])
            field, address = "tc_udp", tc
            if tc is not None:
                self._tc_socket = sock = _udp_socket(tc[0])
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                sock.bind(tc)
                bound = sock.getsockname()
                self.tc_address = (str(bound[0]), int(bound[1]))
        except OSError as exc:
            self.close()
            raise GroundEquipmentError(
                f"nodes.{node}.{field} {_shown(address or ('?', 0))}: cannot open the UDP "
                f"port: {exc.strerror or exc}"
            ) from None

    # ------------------------------------------------------------------ downlink

    def send_tm(self, frame: bytes) -> None:
        """Send one TM frame (the frame alone, no sync marker) as one datagram to ``tm``,
        without waiting: one the kernel does not take is dropped and counted by its error."""
        if self._tm_socket is None or self.tm is None:
            return
        try:
            self._tm_socket.sendto(frame, self.tm)
        except OSError as exc:
            name = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
            self.tm_dropped[name] += 1
            count = self.tm_dropped[name]
            if count & (count - 1) == 0:
                _log.warning("%s: tm_udp %s: TM frame not sent (%s, %d so far)", self.node,
                             _shown(self.tm), name, count)  # fmt: skip
            return
        self.tm_sent += 1

    # ------------------------------------------------------------------ uplink

    def fileno(self) -> int:
        """The ``tc_udp`` socket's descriptor, readable when a datagram waits (-1: no port)."""
        return -1 if self._tc_socket is None else self._tc_socket.fileno()

    @property
    def waiting(self) -> bool:
        """Something waits for :meth:`take_tc`: a datagram in the socket, or a frame kept from
        the last call (the station then asks for the next regular tick, not a jump)."""
        if self._held is not None:
            return True
        sock = self._tc_socket
        return sock is not None and bool(select.select([sock], [], [], 0)[0])

    def take_tc(self) -> list[bytes]:
        """The TC frames received on ``tc_udp`` since the last call that passed every check,
        unchanged and in the order received, at most :attr:`budget` octets of them (at least
        one frame); each datagram refused is counted and logged. Never waits."""
        sock = self._tc_socket
        if sock is None:
            return []
        out: list[bytes] = []
        used = 0
        if self._held is not None:
            out.append(self._held)
            used, self._held = len(self._held), None
        while True:
            try:
                datagram, peer = sock.recvfrom(self.config.tc_frame_max + 1)
            except OSError:  # nothing waiting (EAGAIN), or an error with no datagram behind it
                break
            try:
                parse_tc_datagram(datagram, self.config)
            except TcRefused as exc:
                self._refuse(exc.reason, str(exc), peer)
                continue
            if out and used + len(datagram) > self.budget:
                self._held = datagram
                break
            out.append(datagram)
            used += len(datagram)
        self.tc_forwarded += len(out)
        return out

    def _refuse(self, reason: str, detail: str, peer: Any) -> None:
        self.tc_refused[reason] += 1
        count = self.tc_refused[reason]
        if count & (count - 1) == 0:
            _log.warning("%s: tc_udp %s: datagram from %s refused (%s, %d so far): %s",
                         self.node, _shown(self.tc_address or ("?", 0)), _shown(peer), reason,
                         count, detail)  # fmt: skip

    # ------------------------------------------------------------------ the rest

    def stats(self) -> dict[str, Any]:
        """What the ports carried: TM frames sent and dropped (by error), TC frames forwarded
        and datagrams refused (by reason)."""
        return {
            "tm_udp": None if self.tm is None else _shown(self.tm),
            "tm_sent": self.tm_sent,
            "tm_dropped": dict(self.tm_dropped),
            "tc_udp": None if self.tc_address is None else _shown(self.tc_address),
            "tc_forwarded": self.tc_forwarded,
            "tc_refused": dict(self.tc_refused),
        }

    def close(self) -> None:
        """Close both sockets (idempotent)."""
        for sock in (self._tm_socket, self._tc_socket):
            if sock is not None:
                sock.close()
        self._tm_socket = self._tc_socket = None


def _udp_socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


def write_session(
    folder: Path, node: str, *, spi: int, suite: str, nonce: bytes, key: bytes, next_sn: int
) -> Path:
    """Hand a session of ``node``'s uplink to its external equipment: write
    :data:`SESSION_FILE` in ``folder`` (the run folder's ``ground/``) whole, mode 0600 (it holds
    a key), and return its path.

    Raises:
        OSError: the file cannot be written.
    """
    path = folder / SESSION_FILE.format(node=node)
    record = {"node": node, "spi": spi, "suite": suite, "nonce": nonce.hex(), "key": key.hex(),
              "next_sn": next_sn}  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
    return path
