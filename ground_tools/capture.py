"""Decode the bench's pcap captures: ``msr capture decode FILE.pcap``.

Every link of the bench records classic pcap files (one record per frame exactly as it crossed
the wire; :mod:`hal.links.pcap`), one linktype per file saying what its records hold (decision
0042)::

    147 DLT_USER0  board link    1ACFFC1D | PUS-C packet to or from a device (hal.protocol.devices)
                   timing link   1ACFFC1D | PUS-C packet of the timing ICD   (hal.protocol.timing)
    148 DLT_USER1  uplink        1ACFFC1D | TC transfer frame, SDLS header/MAC (tc_frame, sdls)
    149 DLT_USER2  downlink      1ACFFC1D | fixed-length TM transfer frame      (tm_frame)

A file of linktype 148 or 149 is decoded as that kind only. In a file of linktype 147 (the bench's
captures before decision 0042 recorded every link so) :func:`decode_capture` works out the kind of
each record by itself: the three layouts end with the same CRC-16 but differ in how their length
is declared (a packet's data length field, a TC frame's 10-bit frame length, a TM frame's fixed
length with no length field). The file name (``sim-<board>``, ``timing-<name>``,
``fsw-<node>-radio.rx``, ``space-<node>-ground.tx``...) only says which kind to try first, and
the kind that decoded the previous record is tried next.

Times: the bench stamps a record with the mission epoch plus its mission time (the UTC of the
mission). The decoder reads the epoch from the run folder's ``bench.toml`` (the capture's folder
``captures/`` is in the run folder), else takes :data:`hal.bench.DEFAULT_EPOCH`, and gives each
record its mission time; a stamp before the epoch (a capture from before decision 0042, stamped
with mission time itself) is its own mission time.

State kept across the records of one file, as the receiving end keeps it:

* TM frames: one :class:`~hal.protocol.tm_frame.TmReassembler`; a packet spanning frames is
  reported once, whole, with the record that completes it. Frame-count gaps and discarded
  partial packets are noted on the frame that revealed them; a packet still incomplete at the
  end of the file is noted at the end.
* TC frames: one :class:`~hal.protocol.tc_segment.TcDesegmenter` (blocked and segmented
  packets, per MAP). A type-AD frame carrying the same N(S) and payload as an earlier one is a
  COP-1 retransmission: it is said so, and its packets are not reported a second time.

With ``keys`` (SPI -> key, see :func:`load_keys`) the MAC of each TC frame is verified ("MAC ok"
or "MAC BAD"); without, the frame line says "MAC not checked". A resync frame (decision 0023) is
checked with the key itself and opens the session whose key checks the frames after it ("MAC ok
(session)"). Anti-replay is not judged: that needs the flight end's stored sequence numbers.

Packets are named from the flight dictionary (:mod:`fsw.dictionary`: node APIDs, commands) and
from the board ICDs (:mod:`hal.protocol.devices`); a node's telemetry is decoded by
:func:`ground_tools.telemetry.decode_source`, as the ground station decodes it, and only worded
here. A record that does not decode carries ``error`` and never stops the decoding of the
records after it. Bad input that prevents decoding at all (a missing file, a file that is not a
pcap file, unusable keys) raises :class:`CaptureError` with one line naming the file and the
problem.
"""

from __future__ import annotations

import hmac
import importlib
import json
import math
import pkgutil
import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import hal.protocol.devices as device_icds
from fsw.dictionary import NodeDictionary, dictionary
from fsw.dictionary.verification import FAILURE_CODES
from ground_tools.telemetry import decode_source
from hal.bench import DEFAULT_EPOCH, BenchError, load_bench
from hal.errors import EncodeError, HalError, ProtocolError
from hal.links.pcap import LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME, LINKTYPES, PcapReader
from hal.links.pcap import CaptureError as PcapCaptureError
from hal.protocol import timing
from hal.protocol.clcw import Clcw
from hal.protocol.devices import test_board
from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Field
from hal.protocol.framing import ASM
from hal.protocol.pus import DEVICE_FAILURE_SIZE, DeviceFailure, PusPacket, PusTc, PusTm
from hal.protocol.sdls import (
    IV_SIZE,
    MAC_SIZE,
    RESYNC_CODE,
    RESYNC_SIZE,
    KeyFileError,
    SecurityAssociation,
    parse_key_file,
    resync_key,
    session_association,
    suite_of,
)
from hal.protocol.spacepacket import PRIMARY_HEADER_SIZE, SEQ_UNSEGMENTED
from hal.protocol.tc_frame import (
    FECF_SIZE,
    SEGMENT_HEADER_SIZE,
    SET_VR_PREFIX,
    TC_HEADER_SIZE,
    UNLOCK,
    TcFrame,
)
from hal.protocol.tc_segment import TcDesegmenter
from hal.protocol.tm_frame import (
    FHP_IDLE_ONLY,
    FHP_NO_PACKET_START,
    MAX_FRAME_LENGTH,
    MIN_FRAME_LENGTH,
    TmFrame,
    TmReassembler,
)

__all__ = [
    "CaptureError",
    "DecodedPacket",
    "DecodedRecord",
    "capture_epoch",
    "decode_capture",
    "decode_packet",
    "decode_to_text",
    "format_record",
    "load_keys",
]

KIND_TC_FRAME: Final = "tc_frame"
KIND_TM_FRAME: Final = "tm_frame"
KIND_PACKET: Final = "packet"
KIND_TIMING: Final = "timing"
KIND_UNKNOWN: Final = "unknown"
KIND_NOTE: Final = "note"

SEC_HEADER_SIZE: Final = 6
"""SDLS security header: SPI uint16 | anti-replay sequence number uint32 (hal.protocol.sdls)."""
SECURITY_OVERHEAD: Final = SEC_HEADER_SIZE + MAC_SIZE
RETRANSMISSION_MEMORY: Final = 1024
"""Type-AD frames remembered per file to recognise COP-1 retransmissions."""
SEG_FLAG_NAMES: Final = {0b11: "unsegmented", 0b01: "first", 0b00: "continuing", 0b10: "last"}
STOP_REASONS: Final = {timing.STOP_END: "end", timing.STOP_ABORT: "abort"}
TEST_BOARD_FAILURES: Final = {
    test_board.FAIL_UNKNOWN: "unknown_command",
    test_board.FAIL_TOO_LONG: "too_long",
}


class CaptureError(PcapCaptureError):
    """A capture that cannot be decoded at all: missing, not a pcap file, another linktype, or
    unusable keys. The message is one line naming the file and the problem.

    It is a :class:`hal.links.pcap.CaptureError` (a :class:`~hal.errors.HalError`), so the
    ``msr`` command line prints it as one line like every other error of the bench.
    """

    default_reason = "capture_decode"


# ---------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DecodedPacket:
    """One packet found in a record.

    Attributes:
        summary: one readable line (``lander core.ping (TC[17,1] lander#3)``,
            ``lander TM[3,25] core.status {mode: 1, ...}``).
        name: what the dictionary or ICD calls it (``core.ping``, ``core.status``,
            ``arm.move_joint``, ``timing.tick``), or None when unknown.
        source: who sends or receives it: a node (``lander``), a board device (``sta_arm.arm``),
            ``timing``, ``test_board``, or the APID in hex when no one is known.
        apid, service, subtype, seq_count: from the packet header (None when the header itself
            could not be read).
        type: ``TC`` or ``TM`` (None when unknown).
        fields: the decoded values when a dictionary or ICD knows the layout (JSON-friendly:
            octet strings as hex).
        error: why the packet (or its data) does not decode, else None.
    """

    summary: str
    name: str | None = None
    source: str | None = None
    apid: int | None = None
    type: str | None = None
    service: int | None = None
    subtype: int | None = None
    seq_count: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "summary": self.summary,
            "name": self.name,
            "source": self.source,
            "apid": self.apid,
            "type": self.type,
            "service": self.service,
            "subtype": self.subtype,
            "seq_count": self.seq_count,
            "fields": _jsonable(dict(self.fields)),
            "error": self.error,
        }


@dataclass(frozen=True)
class DecodedRecord:
    """One record of a capture, decoded.

    Attributes:
        index: the record's number in the file, from 1 (as Wireshark numbers them); a closing
            note carries the number after the last record.
        timestamp: the record's time stamp, POSIX seconds (the bench stamps the mission epoch
            plus the mission time: the record's UTC).
        length: octets of the record.
        kind: ``tc_frame``, ``tm_frame``, ``packet`` (a bare PUS packet of a board link),
            ``timing`` (a timing-link packet), ``unknown`` (nothing decoded) or ``note`` (a
            closing remark about the file, not a record).
        layer: the frame line: ``TC frame AD scid=42 vc=0 N(S)=5 ... spi=1 sn=9 MAC ok``,
            ``TM frame scid=42 vc=1 mc=7 vcc=3 fhp=0x000 CLCW vc=0 V(R)=5``, ``packet``...
        packets: the packets the record carries (or completes), in order.
        notes: what the receiving end would have counted: frame-count gaps, discarded partial
            packets, a packet dropped by the desegmenter, a missing ASM.
        error: why the record does not decode (or the file's last record was cut), else None.
        mission_time: seconds since the mission epoch (None: the same as ``timestamp``).
    """

    index: int
    timestamp: float
    length: int
    kind: str
    layer: str
    packets: tuple[DecodedPacket, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None
    mission_time: float | None = None

    @property
    def utc(self) -> str | None:
        """The record's UTC, ISO 8601 to the microsecond, when its stamp is the mission's UTC
        (``mission_time`` differs from ``timestamp``), else None."""
        if self.mission_time is None or self.mission_time == self.timestamp:
            return None
        when = datetime.fromtimestamp(self.timestamp, UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for ``msr capture decode --json``)."""
        return {
            "index": self.index,
            "timestamp": self.timestamp,
            "mission_time": self.timestamp if self.mission_time is None else self.mission_time,
            "utc": self.utc,
            "length": self.length,
            "kind": self.kind,
            "layer": self.layer,
            "packets": [packet.as_dict() for packet in self.packets],
            "notes": list(self.notes),
            "error": self.error,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# ---------------------------------------------------------------------------------- naming


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def _fields_text(values: Mapping[str, Any], declared: Iterable[Field] = ()) -> str:
    """``{name: value, ...}``; a value of an enumerated field (``declared``) by its state name,
    ``mode: nominal (2)``."""
    if not values:
        return ""
    enumerated = {f.name: f for f in declared if f.enum}

    def shown(key: str, value: Any) -> str:
        spec = enumerated.get(key)
        state = spec.state(value) if spec is not None and not isinstance(value, list) else None
        return f"{state} ({_value_text(value)})" if state else _value_text(value)

    return " {" + ", ".join(f"{k}: {shown(k, v)}" for k, v in values.items()) + "}"


@cache
def _boards() -> tuple[BoardIcd, ...]:
    """Every board ICD module of :mod:`hal.protocol.devices` that declares a ``BOARD``."""
    found = []
    for info in sorted(pkgutil.iter_modules(device_icds.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{device_icds.__name__}.{info.name}")
        board = getattr(module, "BOARD", None)
        if isinstance(board, BoardIcd):
            found.append(board)
    return tuple(found)


@cache
def _devices() -> dict[int, tuple[BoardIcd, DeviceIcd]]:
    return {device.apid: (board, device) for board in _boards() for device in board.devices}


@cache
def _nodes() -> dict[int, NodeDictionary]:
    return {d.apid: d for d in dictionary().values()}


def _owner(apid: int) -> str:
    """Who an APID belongs to: a node, ``board.device``, ``timing``, ``test_board``, or hex."""
    node = _nodes().get(apid)
    if node is not None:
        return node.node
    device = _devices().get(apid)
    if device is not None:
        return f"{device[0].name}.{device[1].name}"
    if apid == timing.APID:
        return "timing"
    if apid == test_board.APID:
        return "test_board"
    return f"0x{apid:03X}"


def _request_text(request_id: bytes) -> str:
    """A request id (packet id + sequence control of a TC) as ``<owner>#<seq count>``."""
    if len(request_id) != 4:
        return request_id.hex()
    packet_id = int.from_bytes(request_id[:2], "big")
    control = int.from_bytes(request_id[2:], "big")
    flags, count = control >> 14, control & 0x3FFF
    text = f"{_owner(packet_id & 0x7FF)}#{count}"
    return text if flags == SEQ_UNSEGMENTED else f"{text}/{SEG_FLAG_NAMES.get(flags, flags)}"


def _request_of(packet: PusTc) -> str:
    text = f"{_owner(packet.apid)}#{packet.seq_count}"
    if packet.seq_flags != SEQ_UNSEGMENTED:
        text += f"/{SEG_FLAG_NAMES.get(packet.seq_flags, packet.seq_flags)}"
    return text


class _Named:
    """What a packet decoder found: name, fields, the text after the source, an error."""

    __slots__ = ("error", "fields", "name", "text")

    def __init__(
        self,
        text: str,
        name: str | None = None,
        fields: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.text = text
        self.name = name
        self.fields = fields or {}
        self.error = error


def _data_of(packet: PusTc | PusTm) -> bytes:
    return packet.app_data if isinstance(packet, PusTc) else packet.source_data


def _unknown(packet: PusTc | PusTm, why: str = "") -> _Named:
    kind = "TC" if isinstance(packet, PusTc) else "TM"
    size = len(_data_of(packet))
    text = f"{kind}[{packet.service},{packet.subtype}] ({size} octets)"
    return _Named(text + (f": {why}" if why else ""), error=why or None)


def _node_packet(node: NodeDictionary, packet: PusTc | PusTm) -> _Named:
    if isinstance(packet, PusTc):
        command = node.command_at(packet.apid, packet.service, packet.subtype)
        tail = f" (TC[{packet.service},{packet.subtype}] {_request_of(packet)})"
        if command is None:
            return _Named(f"unknown command{tail} ({len(packet.app_data)} octets)")
        if command.variable:
            text = f"{command.name} ({len(packet.app_data)} octets){tail}"
            return _Named(text, command.name, {"data": packet.app_data})
        try:
            args = command.decode(packet.app_data)
        except ProtocolError as exc:
            return _Named(f"{command.name}{tail}: {exc}", command.name, error=str(exc))
        text = f"{command.name}{_fields_text(args, command.message.fields)}{tail}"
        return _Named(text, command.name, args)
    return _node_report(node, packet)


def _node_report(node: NodeDictionary, packet: PusTm) -> _Named:
    """A node's TM packet as :func:`ground_tools.telemetry.decode_source` decodes it, worded."""
    content = decode_source(node, packet.service, packet.subtype, packet.source_data)
    if content.kind == "other":
        return _unknown(packet, content.error or "")
    head = f"TM[{packet.service},{packet.subtype}]"
    values = content.values
    name: str | None = content.name
    fields: dict[str, Any] = dict(values)
    if content.kind == "verification":
        name, fields, text = _verification(head, values)
    elif content.kind == "event":
        fields = {"event_id": values["id"], "severity": values["severity"],
                  "detail": values["detail"]}  # fmt: skip
        text = f"{head} {content.name} {_value_text(values['detail'])}"
    elif content.kind == "alive":
        text = f"{head} alive"
    elif content.kind == "time":
        text = f"{head} time report{_fields_text(values)}"
    elif content.kind == "params":
        text = f"{head} parameters{_fields_text(values)}"
    else:  # hk, a declared report, or a kind added to telemetry.KINDS and not worded here yet
        text = f"{head} {content.name}{_fields_text(values, _declared(node, content.kind, name))}"
    if content.error:
        text += f": {content.error}"
    return _Named(text, name, fields, content.error)


def _declared(node: NodeDictionary, kind: str, name: str | None) -> tuple[Field, ...]:
    """The fields a node declares for its report ``name`` (housekeeping or a declared report)."""
    try:
        if kind == "hk" and name is not None:
            return node.hk_packet(name).fields
        if kind == "report" and name is not None:
            return node.report(name).fields
    except KeyError:
        pass
    return ()


def _verification(head: str, values: Mapping[str, Any]) -> tuple[str, dict[str, Any], str]:
    """The name, fields and text of a PUS-1 report of a node (its values as decoded by
    :mod:`ground_tools.telemetry`)."""
    stage = values["stage"]
    request_id = bytes.fromhex(values["request_id"])
    fields: dict[str, Any] = {"stage": stage, "request_id": request_id}
    text = f"{head} {stage} for {_request_text(request_id)}"
    if stage.startswith("progress"):
        fields["step"] = values["step"]
        text += f" step {values['step']}"
    if stage.endswith("_failed"):
        code = values["code"]
        code_name = FAILURE_CODES.get(code, f"code_{code}")
        fields.update(code=code, code_name=code_name, reason=values["reason"])
        text += f": code {code} {code_name} {_value_text(values['reason'])}"
    return f"verification.{stage}", fields, text


def _device_packet(device: DeviceIcd, packet: PusTc | PusTm) -> _Named:
    data = _data_of(packet)
    pair = (packet.service, packet.subtype)
    if isinstance(packet, PusTc):
        tail = f" (TC[{packet.service},{packet.subtype}] {_request_of(packet)})"
        if pair == (17, 1):
            return _Named(f"ping{tail}", f"{device.name}.ping")
        if pair == (3, 27):
            return _Named(f"report_status{tail}", f"{device.name}.report_status")
        message = device.command_for(*pair)
        if message is None:
            return _Named(f"unknown command{tail} ({len(data)} octets)")
        name = f"{device.name}.{message.name}"
        try:
            args = message.decode(data)
        except ProtocolError as exc:
            return _Named(f"{message.name}{tail}: {exc}", name, error=str(exc))
        return _Named(f"{message.name}{_fields_text(args, message.fields)}{tail}", name, args)
    head = f"TM[{packet.service},{packet.subtype}]"
    if pair == (17, 2):
        return _Named(f"{head} alive", f"{device.name}.alive")
    if pair == (3, 25):
        name = f"{device.name}.status"
        try:
            values = device.status.decode(data)
        except ProtocolError as exc:
            return _Named(f"{head} status: {exc}", name, error=str(exc))
        text = f"{head} status{_fields_text(values, device.status.fields)}"
        return _Named(text, name, values)
    if pair == (1, 7) and len(data) == 4:
        values = {"stage": "completed", "request_id": data}
        return _Named(f"{head} completed for {_request_text(data)}", "completed", values)
    if pair in ((1, 2), (1, 8)) and len(data) == DEVICE_FAILURE_SIZE:
        stage = "acceptance_failed" if packet.subtype == 2 else "failed"
        try:
            report = DeviceFailure.unpack(data)
        except ProtocolError as exc:
            return _Named(f"{head} {stage}: {exc}", stage, error=str(exc))
        code, detail = report.code, report.detail
        failure = device.failure_name(code)
        values = {"stage": stage, "request_id": data[:4], "code": code,
                  "code_name": failure, "detail": detail}  # fmt: skip
        text = f"{head} {stage} for {_request_text(data[:4])}: {failure} (detail {detail})"
        return _Named(text, stage, values)
    why = "" if pair not in ((1, 2), (1, 7), (1, 8)) else f"{len(data)} octets, not the ICD's"
    return _unknown(packet, why)


def _timing_packet(packet: PusTc | PusTm) -> _Named:
    kind = "TC" if isinstance(packet, PusTc) else "TM"
    head = f"{kind}[{packet.service},{packet.subtype}]"
    try:
        message = timing.decode(packet)
    except ProtocolError as exc:
        return _Named(f"{head}: {exc}", error=str(exc))
    if isinstance(message, timing.Tick):
        values: dict[str, Any] = {"tick": message.number, "time": message.time}
        return _Named(f"{head} tick {message.number} at {message.time:.6f} s", "tick", values)
    if isinstance(message, timing.CycleDone):
        due = message.next_due
        due_text = "next tick" if due is None else "nothing" if due == math.inf else f"{due:.6f} s"
        values = {"tick": message.number, "next_due": due_text, "written": message.written}
        text = f"{head} cycle done {message.number}, next due {due_text}, {message.written} written"
        return _Named(text, "cycle_done", values)
    if isinstance(message, timing.Stop):
        reason = STOP_REASONS.get(message.reason, f"reason_{message.reason}")
        return _Named(f"{head} stop ({reason})", "stop", {"reason": reason})
    return _Named(f"{head} hello {_value_text(message.name)}", "hello", {"name": message.name})


def _test_board_packet(packet: PusTc | PusTm) -> _Named:
    data = _data_of(packet)
    pair = (packet.service, packet.subtype)
    kind = "TC" if isinstance(packet, PusTc) else "TM"
    head = f"{kind}[{packet.service},{packet.subtype}]"
    tail = f" ({_request_of(packet)})" if isinstance(packet, PusTc) else ""
    if pair == (test_board.SERVICE_TEST, test_board.SUBTYPE_ARE_YOU_ALIVE):
        return _Named(f"{head} are you alive{tail}", "are_you_alive")
    if pair == (test_board.SERVICE_TEST, test_board.SUBTYPE_ALIVE_REPORT):
        return _Named(f"{head} alive", "alive")
    if pair == (test_board.SERVICE_ECHO, test_board.SUBTYPE_ECHO):
        return _Named(f"{head} echo ({len(data)} octets){tail}", "echo", {"data": data})
    if pair == (test_board.SERVICE_ECHO, test_board.SUBTYPE_ECHO_REPORT):
        return _Named(f"{head} echo report ({len(data)} octets)", "echo_report", {"data": data})
    if pair == (test_board.SERVICE_VERIFICATION, test_board.SUBTYPE_ACCEPTANCE_FAILED):
        if len(data) == 5:
            failure = TEST_BOARD_FAILURES.get(data[4], f"code_{data[4]}")
            values = {"request_id": data[:4], "code": data[4], "code_name": failure}
            text = f"{head} acceptance_failed for {_request_text(data[:4])}: {failure}"
            return _Named(text, "acceptance_failed", values)
    return _unknown(packet)


def decode_packet(raw: bytes | bytearray | memoryview) -> DecodedPacket:
    """Decode and name one whole PUS-C packet (no ASM): flight software, board device, timing.

    Never raises on the content of ``raw``: a packet that does not decode comes back with
    ``error`` set (and as much of its header as could be read).
    """
    raw = bytes(raw)
    try:
        packet = PusPacket.from_raw(raw)
    except ProtocolError as exc:
        apid = ((raw[0] & 0x07) << 8 | raw[1]) if len(raw) >= 2 else None
        owner = _owner(apid) if apid is not None else None
        prefix = f"{owner} " if owner else ""
        return DecodedPacket(
            f"{prefix}bad packet ({len(raw)} octets): {exc}", source=owner, apid=apid,
            error=f"bad packet: {exc}",
        )  # fmt: skip
    apid = packet.apid
    node = _nodes().get(apid)
    device = _devices().get(apid)
    if node is not None:
        named = _node_packet(node, packet)
    elif device is not None:
        named = _device_packet(device[1], packet)
    elif apid == timing.APID:
        named = _timing_packet(packet)
        named.name = named.name and f"timing.{named.name}"
    elif apid == test_board.APID:
        named = _test_board_packet(packet)
        named.name = named.name and f"test_board.{named.name}"
    else:
        named = _unknown(packet)
    source = _owner(apid)
    return DecodedPacket(
        summary=f"{source} {named.text}",
        name=named.name,
        source=source,
        apid=apid,
        type="TC" if isinstance(packet, PusTc) else "TM",
        service=packet.service,
        subtype=packet.subtype,
        seq_count=packet.seq_count,
        fields=named.fields,
        error=named.error,
    )


# ---------------------------------------------------------------------------------- records


def _file_hint(path: Path) -> str | None:
    """The kind of record the bench's capture name promises, or None.

    ``timing-<name>``/``fsw-<node>-timing``: timing packets; ``sim-<board>`` and other device
    links: packets; the space link: TC frames uplink, TM frames downlink, by which end recorded
    which direction (``space-<node>-ground`` is the ground's end at the simulator,
    ``space-<node>-radio`` and ``fsw-<node>-radio`` the spacecraft's).
    """
    name = path.name
    for suffix in (".pcap", ".tx", ".rx"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    direction = "tx" if ".tx." in path.name else "rx" if ".rx." in path.name else None
    parts = name.split("-")
    if parts[0] == "timing" or parts[-1] == "timing":
        return KIND_TIMING
    if len(parts) >= 3 and parts[0] in ("space", "fsw") and parts[-1] in ("ground", "radio"):
        if direction is None:
            return None
        # The flight radio and the relay's end facing the ground transmit the downlink; the
        # relay's end facing the radio transmits the uplink.
        tx_is_downlink = parts[0] == "fsw" or parts[-1] == "ground"
        downlink = direction == ("tx" if tx_is_downlink else "rx")
        return KIND_TM_FRAME if downlink else KIND_TC_FRAME
    if parts[0] in ("sim", "fsw", "ground"):
        return KIND_PACKET
    return None


@dataclass
class _Attempt:
    kind: str
    record: DecodedRecord | None = None
    error: str | None = None
    plausible: bool = False


class _Decoder:
    """Per-file state: the reassembler of TM frames, the desegmenter and memory of TC frames."""

    def __init__(
        self, keys: Mapping[int, SecurityAssociation], hint: str | None, only: str | None = None
    ) -> None:
        self.keys = keys
        self.hint = only or hint
        self.only = only  # the file's linktype says every record is this kind
        self.last_kind: str | None = None
        self.reassembler: TmReassembler | None = None
        self.tm_shape: tuple[int, bool] | None = None
        self.desegmenter = TcDesegmenter()
        self.seen_ad: OrderedDict[tuple[int, int, int, int, bytes], int] = OrderedDict()
        self.sessions: dict[int, SecurityAssociation] = {}  # opened by resync frames

    # ------------------------------------------------------------------ dispatch

    def record(self, index: int, ts: float, raw: bytes) -> DecodedRecord:
        notes: list[str] = []
        if raw.startswith(ASM):
            body = raw[len(ASM) :]
        else:
            body = raw
            notes.append("no attached sync marker: decoded as it is")
        order: list[str] = []
        kinds = (self.hint, self.last_kind, KIND_PACKET, KIND_TC_FRAME, KIND_TM_FRAME)
        for kind in (self.only,) if self.only else kinds:
            kind = KIND_PACKET if kind == KIND_TIMING else kind
            if kind is not None and kind not in order:
                order.append(kind)
        attempts: list[_Attempt] = []
        for kind in order:
            attempt = self._try(kind, index, ts, raw, body)
            if attempt.record is not None:
                self.last_kind = kind
                record = attempt.record
                if notes:
                    record = replace(record, notes=(*notes, *record.notes))
                return record
            attempts.append(attempt)
        return DecodedRecord(
            index, ts, len(raw), KIND_UNKNOWN, f"{len(raw)} octets, not decoded",
            notes=tuple(notes), error=self._failure(attempts, body),
        )  # fmt: skip

    def _failure(self, attempts: list[_Attempt], body: bytes) -> str:
        """The most telling reason nothing decoded: the hinted kind's, else the first kind whose
        declared length matched, else a summary."""
        hinted = KIND_PACKET if self.hint == KIND_TIMING else self.hint
        for attempt in attempts:
            if attempt.kind == hinted and attempt.error:
                return attempt.error
        for attempt in attempts:
            if attempt.plausible and attempt.error:
                return attempt.error
        head = body[:8].hex()
        return (
            f"not a space packet, TC frame or TM frame ({len(body)} octets after the marker, "
            f"starting {head or 'with nothing'})"
        )

    def _try(self, kind: str, index: int, ts: float, raw: bytes, body: bytes) -> _Attempt:
        if kind == KIND_PACKET:
            return self._try_packet(index, ts, raw, body)
        if kind == KIND_TC_FRAME:
            return self._try_tc(index, ts, raw, body)
        return self._try_tm(index, ts, raw, body)

    # ------------------------------------------------------------------ bare packets

    def _try_packet(self, index: int, ts: float, raw: bytes, body: bytes) -> _Attempt:
        attempt = _Attempt(KIND_PACKET)
        if len(body) < PRIMARY_HEADER_SIZE:
            attempt.error = f"{len(body)} octets: shorter than a packet header"
            return attempt
        declared = int.from_bytes(body[4:6], "big") + PRIMARY_HEADER_SIZE + 1
        attempt.plausible = declared == len(body) and not body[0] & 0xE0
        try:
            PusPacket.from_raw(body)
        except ProtocolError as exc:
            attempt.error = f"bad packet: {exc}"
            return attempt
        packet = decode_packet(body)
        kind = KIND_TIMING if packet.apid == timing.APID else KIND_PACKET
        layer = "timing packet" if kind == KIND_TIMING else "packet"
        attempt.record = DecodedRecord(
            index, ts, len(raw), kind, f"{layer}, {len(body)} octets", (packet,)
        )
        return attempt

    # ------------------------------------------------------------------ TC frames

    def _try_tc(self, index: int, ts: float, raw: bytes, body: bytes) -> _Attempt:
        attempt = _Attempt(KIND_TC_FRAME)
        if len(body) >= TC_HEADER_SIZE:
            declared = (((body[2] & 0x03) << 8) | body[3]) + 1
            attempt.plausible = declared == len(body) and not body[0] & 0xC0
        try:
            frame = TcFrame.from_raw(body)
        except ProtocolError as exc:
            attempt.error = f"bad TC frame: {exc}"
            return attempt
        notes: list[str] = []
        parts = [f"TC frame {frame.kind} scid={frame.scid} vc={frame.vcid} N(S)={frame.seq}"]
        if not frame.control:
            parts.append(f"map={frame.map_id} {SEG_FLAG_NAMES[frame.seg_flags]}")
        if len(frame.data) >= SECURITY_OVERHEAD + (1 if frame.control else 0):
            spi = int.from_bytes(frame.data[:2], "big")
            sn = int.from_bytes(frame.data[2:SEC_HEADER_SIZE], "big")
            payload = frame.data[SEC_HEADER_SIZE:-MAC_SIZE]
            resync = frame.control and len(payload) == RESYNC_SIZE and payload[0] == RESYNC_CODE
            check = self._mac(body, spi, payload if resync else None)
            opened = self._open_gcm(body, frame) if check.startswith("MAC BAD") else None
            if opened is not None:  # an AES-256-GCM frame (decision 0043)
                suite, sn, payload, check = opened
                parts.append(f"spi={spi} iv={sn} {suite} {check}")
            else:
                parts.append(f"spi={spi} sn={sn} {check}")
        else:
            payload = frame.data
            parts.append("no security header")
        packets: list[DecodedPacket] = []
        if frame.control:
            parts.append(_control_text(payload))
        else:
            key = (frame.vcid, frame.seq, frame.map_id, frame.seg_flags, payload)
            first = self.seen_ad.get(key) if not frame.bypass else None
            if first is not None:
                parts.append(f"(retransmission of record #{first})")
            else:
                if not frame.bypass:
                    self.seen_ad[key] = index
                    while len(self.seen_ad) > RETRANSMISSION_MEMORY:
                        self.seen_ad.popitem(last=False)
                packets, dropped = self._desegment(frame.map_id, frame.seg_flags, payload)
                notes.extend(dropped)
                if not packets and frame.seg_flags != SEQ_UNSEGMENTED and not dropped:
                    notes.append("a segment: the packet is reported once its last part arrives")
        attempt.record = DecodedRecord(
            index, ts, len(raw), KIND_TC_FRAME, " ".join(parts), tuple(packets), tuple(notes)
        )
        return attempt

    def _mac(self, body: bytes, spi: int, resync: bytes | None = None) -> str:
        """Check the MAC: a resync frame's (``resync``: its directive) with the key itself,
        which then opens the session whose key checks the frames after it (decision 0023)."""
        if not self.keys:
            return "MAC not checked"
        sa = self.keys.get(spi)
        if sa is None:
            return f"MAC not checked (no key for SPI {spi})"
        mac_at = len(body) - FECF_SIZE - MAC_SIZE
        session = self.sessions.get(spi) if resync is None else None
        check = session or sa
        good = hmac.compare_digest(check.mac(body[:mac_at]), body[mac_at : mac_at + MAC_SIZE])
        if good and resync is not None:
            self.sessions[spi] = session_association(sa, resync[1:])
        if session is not None:
            return "MAC ok (session)" if good else "MAC BAD (not this session's)"
        return "MAC ok" if good else "MAC BAD"

    def _open_gcm(self, body: bytes, frame: TcFrame) -> tuple[str, int, bytes, str] | None:
        """Open ``body`` as a frame of a GCM suite (decision 0043): its suite, sequence number
        (the IV), payload (decrypted) and MAC text; None when no key opens it. A resync frame
        (GMAC under the resync key of the nonce it names) opens the session that the frames
        after it are checked (and decrypted) with."""
        at = TC_HEADER_SIZE + (0 if frame.control else SEGMENT_HEADER_SIZE)
        data_at, mac_at = at + 2 + IV_SIZE, len(body) - FECF_SIZE - MAC_SIZE
        sa = self.keys.get(int.from_bytes(body[at : at + 2], "big"))
        if sa is None or mac_at < data_at:
            return None
        spi, sn, clear = sa.spi, int.from_bytes(body[at + 2 : data_at], "big"), body[data_at:mac_at]
        resync = frame.control and len(clear) == RESYNC_SIZE and clear[0] == RESYNC_CODE
        session = None if resync else self.sessions.get(spi)
        if resync:
            key, names = resync_key(sa.key, spi, clear[1:]), ("aes-gcm-auth",)
        else:
            key, names = (session or sa).key, ("aes-gcm", "aes-gcm-auth")
        for name in names:
            try:
                payload = suite_of(name).cipher(key).open(body, data_at, mac_at)
            except ValueError:  # not an AES-256 key
                return None
            if payload is not None:
                if resync:
                    self.sessions[spi] = session_association(sa, clear[1:])
                return name, sn, payload, "MAC ok (session)" if session else "MAC ok"
        return None

    def _desegment(
        self, map_id: int, flags: int, payload: bytes
    ) -> tuple[list[DecodedPacket], list[str]]:
        desegmenter = self.desegmenter
        before = sum(desegmenter.rejects.values())
        whole = desegmenter.feed(map_id, flags, payload)
        new = sum(desegmenter.rejects.values()) - before
        dropped = list(desegmenter.dropped)[-new:] if new else []
        notes = [
            f"packet dropped by the desegmenter: {drop.reason}"
            + (f" (header {drop.head.hex()})" if drop.head else "")
            for drop in dropped
        ]
        return [decode_packet(packet) for packet in whole], notes

    # ------------------------------------------------------------------ TM frames

    def _try_tm(self, index: int, ts: float, raw: bytes, body: bytes) -> _Attempt:
        attempt = _Attempt(KIND_TM_FRAME)
        size = len(body)
        if not MIN_FRAME_LENGTH <= size <= MAX_FRAME_LENGTH:
            attempt.error = (
                f"{size} octets: not a TM frame length ({MIN_FRAME_LENGTH}..{MAX_FRAME_LENGTH})"
            )
            return attempt
        has_ocf = bool(body[1] & 0x01)
        if self.tm_shape is not None and self.tm_shape != (size, has_ocf):
            attempt.error = (
                f"TM frame of {size} octets (OCF {'on' if has_ocf else 'off'}); this capture's "
                f"frames are {self.tm_shape[0]} octets (OCF {'on' if self.tm_shape[1] else 'off'})"
            )
            attempt.plausible = self.last_kind == KIND_TM_FRAME
            return attempt
        attempt.plausible = self.tm_shape is not None or self.hint == KIND_TM_FRAME
        try:
            frame = TmFrame.from_raw(body, frame_length=size, has_ocf=has_ocf)
        except (ProtocolError, ValueError) as exc:
            attempt.error = f"bad TM frame: {exc}"
            return attempt
        if self.reassembler is None:
            self.tm_shape = (size, has_ocf)
            self.reassembler = TmReassembler(None, frame_length=size, has_ocf=has_ocf)
        reassembler = self.reassembler
        stats = reassembler.stats
        gaps_before = stats.lost_frames[frame.vcid]
        mc_before = stats.mc_lost_frames
        discarded_before = stats.discarded_packets
        resyncs_before = dict(stats.resyncs)
        completed = reassembler.accept(frame)
        notes: list[str] = []
        lost = stats.lost_frames[frame.vcid] - gaps_before
        if lost:
            notes.append(f"gap: {lost} frame(s) lost on vc {frame.vcid}")
        if stats.mc_lost_frames - mc_before and not lost:
            notes.append(f"gap: {stats.mc_lost_frames - mc_before} frame(s) lost on the master "
                         "channel")  # fmt: skip
        for reason, count in stats.resyncs.items():
            if count > resyncs_before.get(reason, 0) and reason != "gap":
                notes.append(f"resynchronised on the first header pointer ({reason})")
        if stats.discarded_packets - discarded_before:
            notes.append(
                f"{stats.discarded_packets - discarded_before} partial packet(s) discarded"
            )
        attempt.record = DecodedRecord(
            index, ts, len(raw), KIND_TM_FRAME, _tm_layer(frame),
            tuple(decode_packet(p) for p in completed), tuple(notes),
        )  # fmt: skip
        return attempt

    def closing_notes(self) -> list[str]:
        """What the file leaves unfinished: packets never completed."""
        notes = []
        if self.reassembler is not None and self.reassembler.buffered:
            notes.append(
                f"{self.reassembler.buffered} octets of a TM packet never completed "
                "(the capture ends within it)"
            )
        if self.desegmenter.buffered:
            notes.append(
                f"{self.desegmenter.buffered} octets of a segmented TC packet never completed "
                "(its last segment is not in the capture)"
            )
        return notes


def _control_text(payload: bytes) -> str:
    if payload == UNLOCK:
        return "Unlock"
    if len(payload) == RESYNC_SIZE and payload[0] == RESYNC_CODE:
        return f"Resync (nonce {payload[1:].hex()})"
    if len(payload) == len(SET_VR_PREFIX) + 1 and payload.startswith(SET_VR_PREFIX):
        return f"Set V(R)={payload[-1]}"
    return f"control command {payload.hex()}"


def _tm_layer(frame: TmFrame) -> str:
    fhp = frame.first_header_pointer
    fhp_text = {FHP_IDLE_ONLY: "idle", FHP_NO_PACKET_START: "0x7FF (no packet starts)"}
    text = (
        f"TM frame scid={frame.scid} vc={frame.vcid} mc={frame.mc_count} "
        f"vcc={frame.vc_count} fhp={fhp_text.get(fhp, f'0x{fhp:03X}')}"
    )
    if frame.ocf is not None:
        try:
            clcw = Clcw.from_int(frame.ocf)
        except ProtocolError:
            return f"{text} ocf=0x{frame.ocf:08X}"
        flags = [
            name
            for name, on in (
                ("lockout", clcw.lockout), ("wait", clcw.wait), ("retransmit", clcw.retransmit),
                ("no_rf", clcw.no_rf), ("no_bit_lock", clcw.no_bit_lock),
            )
            if on
        ]  # fmt: skip
        text += f" CLCW vc={clcw.vcid} V(R)={clcw.report_value}"
        if flags:
            text += " " + ",".join(flags)
    return text


# ---------------------------------------------------------------------------------- public API


def load_keys(path: str | Path) -> dict[int, bytes]:
    """Read a key file (``<run_dir>/keys.json``: ``{"keys": {"<spi>": "<hex>"}}``).

    Raises:
        CaptureError: the file cannot be read or is not a valid key file (one line naming it).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CaptureError(f"{path}: cannot read the key file: {why}") from None
    try:
        return parse_key_file(text, source=str(path))
    except KeyFileError as exc:
        raise CaptureError(str(exc).splitlines()[0]) from None


def _security(keys: Mapping[int, bytes] | None, path: Path) -> dict[int, SecurityAssociation]:
    out: dict[int, SecurityAssociation] = {}
    for spi, key in (keys or {}).items():
        try:
            out[int(spi)] = SecurityAssociation(int(spi), bytes(key))
        except (EncodeError, TypeError, ValueError) as exc:
            raise CaptureError(f"{path}: unusable key for SPI {spi}: {exc}") from None
    return out


def _open(path: Path) -> PcapReader:
    if not path.exists():
        raise CaptureError(f"{path}: no such file")
    if path.is_dir():
        raise CaptureError(f"{path}: is a directory, not a capture file")
    try:
        reader = PcapReader(path)
    except PcapCaptureError as exc:
        raise CaptureError(str(exc).splitlines()[0]) from None
    if reader.linktype not in LINKTYPES:
        reader.close()
        known = ", ".join(f"{number} ({kind})" for number, kind in LINKTYPES.items())
        raise CaptureError(
            f"{path}: linktype {reader.linktype}, not one of the bench's ({known}): "
            "not a capture of the bench"
        )
    return reader


_ONLY: Final = {LINKTYPE_TC_FRAME: KIND_TC_FRAME, LINKTYPE_TM_FRAME: KIND_TM_FRAME}


def capture_epoch(path: Path) -> float:
    """The mission epoch (POSIX seconds) of the run that recorded ``path``: its run folder's
    ``bench.toml`` (``RUN/captures/FILE`` -> ``RUN/bench.toml``) when it reads as a bench file,
    else :data:`hal.bench.DEFAULT_EPOCH`."""
    bench_file = path.absolute().parent.parent / "bench.toml"
    if bench_file.is_file():
        try:
            return load_bench(bench_file).epoch.timestamp()
        except (BenchError, OSError, ValueError):
            pass
    return DEFAULT_EPOCH.timestamp()


def decode_capture(
    path: Path | str, *, keys: Mapping[int, bytes] | None = None, epoch: float | None = None
) -> Iterator[DecodedRecord]:
    """Decode every record of a bench capture, in file order.

    The file is opened and its header checked at once (so a bad file raises here, not at the
    first ``next``); the records are read as they are iterated.

    Args:
        path: a pcap file of the bench (``<run_dir>/captures/*.pcap``).
        keys: SPI -> key (see :func:`load_keys`) to verify the MAC of TC frames; without it,
            TC frames say "MAC not checked".
        epoch: the mission epoch, POSIX seconds, to give each record its mission time (None:
            :func:`capture_epoch`, the run folder's).

    Returns:
        An iterator of :class:`DecodedRecord`; a record that does not decode has ``error`` set
        and the decoding goes on. When the last record is cut short (a capture interrupted
        mid-write), or a record header is corrupt, or packets are left unfinished, a closing
        record of kind ``note`` says so (with ``error`` set for the first two).

    Raises:
        CaptureError: the file is missing, not a pcap file (bad magic, shorter than its header),
            of another linktype than the bench's (147, 148, 149), or a key is unusable.
    """
    path = Path(path)
    security = _security(keys, path)
    _open(path).close()
    return _records(path, security, capture_epoch(path) if epoch is None else epoch)


def _records(
    path: Path, security: Mapping[int, SecurityAssociation], epoch: float
) -> Iterator[DecodedRecord]:
    reader = _open(path)
    decoder = _Decoder(security, _file_hint(path), _ONLY.get(reader.linktype))
    index = 0
    last_ts = 0.0
    problem: str | None = None
    try:
        records = iter(reader)
        while True:
            try:
                item = next(records, None)
            except PcapCaptureError as exc:
                problem = f"{str(exc).splitlines()[0]}; the records after it cannot be read"
                break
            if item is None:
                break
            ts, raw = item
            index += 1
            last_ts = ts
            record = _safe_record(decoder, index, ts, raw)
            yield replace(record, mission_time=ts - epoch if ts >= epoch else ts)
        if problem is None and reader.truncated:
            problem = (
                f"{path}: the last record is cut short (the capture was interrupted while it "
                f"was written); {index} whole record(s) decoded"
            )
    finally:
        reader.close()
    notes = decoder.closing_notes()
    if problem is not None or notes:
        layer = "end of capture"
        mission = last_ts - epoch if last_ts >= epoch else last_ts
        yield DecodedRecord(
            index + 1, last_ts, 0, KIND_NOTE, layer, (), tuple(notes), problem, mission
        )


def _safe_record(decoder: _Decoder, index: int, ts: float, raw: bytes) -> DecodedRecord:
    """Decode one record; a defect of a decoder below never stops the file (named, not raised)."""
    try:
        return decoder.record(index, ts, raw)
    except (HalError, ValueError, KeyError, IndexError, struct.error) as exc:
        why = f"record not decoded: {type(exc).__name__}: {exc}".splitlines()[0]
        return DecodedRecord(index, ts, len(raw), KIND_UNKNOWN, f"{len(raw)} octets", error=why)


def format_record(record: DecodedRecord) -> str:
    """The record as text: its frame line (mission time, UTC), then one indented line per packet
    and per note.

    ``#12 t=1.200000 2031-07-01T00:00:01.200000Z TC frame AD scid=42 vc=0 N(S)=5 ... MAC ok``
    ``    lander core.ping (TC[17,1] lander#3)``
    """
    mission = record.timestamp if record.mission_time is None else record.mission_time
    utc = record.utc
    head = f"#{record.index} t={mission:.6f}{f' {utc}' if utc else ''} {record.layer}"
    if record.error:
        head += f": error: {record.error}"
    lines = [head]
    for packet in record.packets:
        lines.append(f"    {packet.summary}")
    for note in record.notes:
        lines.append(f"    note: {note}")
    return "\n".join(lines)


def decode_to_text(path: Path | str, keys: Mapping[int, bytes] | None = None) -> Iterator[str]:
    """The capture as text, one line at a time (the lines of :func:`format_record`).

    Raises:
        CaptureError: as :func:`decode_capture`, at the call.
    """
    return _lines(decode_capture(path, keys=keys))


def _lines(records: Iterable[DecodedRecord]) -> Iterator[str]:
    for record in records:
        yield from format_record(record).split("\n")
