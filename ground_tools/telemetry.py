"""Telemetry as the ground reads it: a received PUS-C TM packet of a node, named and decoded with
the flight dictionary. The one place the ground decodes a node's reports: the station
(:mod:`ground_tools.station`, and through it the archive, the scripting API and the displays)
calls :func:`decode_tm`; ``msr capture decode`` (:mod:`ground_tools.capture`) calls
:func:`decode_source` and only words the result.

=========  ================  ==============================================================
TM         kind              source data (big-endian; the layouts of :mod:`fsw.dictionary`)
=========  ================  ==============================================================
[1,1..8]   ``verification``  request id (4) | ... (:mod:`fsw.dictionary.verification`)
[3,25]     ``hk``            SID uint16 | the housekeeping packet's fields
[5,1..4]   ``event``         event id uint16 | detail length uint8 | detail UTF-8; the
                             subtype is the severity (1 info .. 4 high)
[9,2]      ``time``          rate uint8 | spacecraft time CUC 4+2 | cycle uint32
                             (the core's ``time.report`` declaration)
[17,2]     ``alive``         nothing (the answer to ``core.ping``)
[20,2]     ``params``        N uint8 | N x (id uint16 | value float64)
                             (:data:`fsw.dictionary.core.PARAMETER_ENTRY`)
declared   ``report``        a report the node's dictionary declares with a fixed layout
                             (:class:`fsw.dictionary.model.TmReport`: ``sta.custody``)
other      ``other``         kept as hex
=========  ================  ==============================================================

Never raises on received content: a packet that does not decode comes back as kind ``other``
with its data in hex and ``error`` naming the problem (a bad length, an unknown SID, a
verification subtype that does not exist...), so one bad packet costs nothing else. Where the
content decodes but names something the dictionary does not know (an event id, a parameter id),
the packet keeps its kind, the unknown thing gets a placeholder name (``event_<id>``,
``parameter_<id>``) and ``error`` says which id is unknown: the detail is not lost.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Final

from fsw.dictionary import SEVERITIES, NodeDictionary
from fsw.dictionary.core import PARAMETER_ENTRY
from fsw.dictionary.model import EventDecoded
from fsw.dictionary.verification import REPORT_NAMES, Verification
from hal.errors import HalError
from hal.protocol.cuc import FINE_PER_SECOND
from hal.protocol.pus import PusTm

__all__ = ["KINDS", "Received", "TmContent", "decode_source", "decode_tm"]

KINDS: Final = ("hk", "event", "verification", "time", "alive", "params", "report", "other")
"""Every ``kind`` :func:`decode_tm` gives (see :class:`Received` for each one's ``values``)."""

SID_SIZE: Final = 2
"""TM[3,25] starts with the SID, uint16 (:class:`fsw.dictionary.model.HkPacket`)."""
SEVERITY_NAMES: Final = {subtype: name for name, subtype in SEVERITIES.items()}
"""TM[5,x] subtype to the severity it reports (:data:`fsw.dictionary.model.SEVERITIES`)."""
ALIVE_NAME: Final = "core.alive"
PARAMS_NAME: Final = "params.report"
"""The names of the PUS-17 and PUS-20 reports, whose layouts are the services' own (the
dictionary declares no record for them)."""
TIME_NAME: Final = "time.report"
"""TM[9,2] as the core declares it (:func:`fsw.dictionary.core.core_reports`); decoded here
with the spacecraft time as seconds (``time``) rather than the declaration's coarse and fine."""

_DECODER_ERRORS: Final = (HalError, KeyError, ValueError, IndexError, struct.error)
"""What a dictionary decoder raises on content it cannot read: caught and named, never
raised (the dictionary's own are ProtocolError, a HalError; the rest would be a defect below)."""


@dataclass(frozen=True)
class Received:
    """One telemetry packet of a node, decoded.

    Attributes:
        seq: its place in the station's stream of received packets (1, 2, ...).
        node: the node that sent it.
        time: its on-board time stamp (simulated seconds).
        received: the station's simulated time when it arrived.
        kind: one of :data:`KINDS`, with ``name`` and ``values``:

            * ``hk`` (TM[3,25]): the housekeeping packet's name (``core.status``); its decoded
              fields, ``{field: value}`` (the SID is not among them).
            * ``event`` (TM[5,x]): the event's name, ``event_<id>`` when the dictionary has no
              such id (then ``error`` names it); ``{"id": int, "severity": "info" | "low" |
              "medium" | "high" (from the subtype), "detail": str}``.
            * ``verification`` (TM[1,x]): the stage (``accepted``, ``completion_failed``...);
              ``{"request_id": hex of the 4 octets, "stage": str, "code": int (0 unless a
              failure), "reason": str ("" unless a failure), "step": int (0 unless
              progress)}``.
            * ``time`` (TM[9,2]): ``time.report``; ``{"onboard": the packet's time stamp,
              "received": the station's time, "rate": the report every 2**rate s, "time": the
              spacecraft time it reports (s), "cycle": executive cycles since boot}``.
            * ``alive`` (TM[17,2], the answer to ``core.ping``): ``core.alive``; ``{}``.
            * ``params`` (TM[20,2]): ``params.report``; ``{parameter name: value (float)}`` in
              the report's order, ``parameter_<id>`` for an id the dictionary does not know
              (then ``error`` names it).
            * ``report`` (a TM[s,t] the dictionary declares as a
              :class:`~fsw.dictionary.model.TmReport`, e.g. the lander's TM[160,128]): its name
              (``sta.custody``); its decoded fields, ``{field: value}``.
            * ``other``: any other report, and any report that did not decode: ``TM[s,t]``;
              ``{"data": hex of the source data}``.
        name: see ``kind``.
        values: see ``kind``.
        error: one line naming why the packet, or part of it, did not decode (``TM[3,25]:
            unknown SID 9``), else None.
    """

    seq: int
    node: str
    time: float
    received: float
    kind: str
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "seq": self.seq, "node": self.node, "time": self.time, "received": self.received,
            "kind": self.kind, "name": self.name, "values": self.values, "error": self.error,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Received:
        """The inverse of :meth:`as_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class TmContent:
    """What a node's TM source data says, before the station stamps it as received.

    Attributes:
        kind, name, values: as :class:`Received` (a ``time`` report's values without
            ``onboard`` and ``received``, which are the packet's and the station's).
        error: one line naming the problem, without the packet type (``unknown SID 9``).
    """

    kind: str
    name: str
    values: dict[str, Any]
    error: str | None = None


def decode_tm(dictionary: NodeDictionary, tm: PusTm, seq: int, received: float) -> Received:
    """Name and decode one TM packet of ``dictionary``'s node (never raises on its content).

    Args:
        dictionary: the sending node's dictionary.
        tm: the packet as received.
        seq: its place in the station's stream.
        received: the station's simulated time when it arrived.

    Returns:
        The packet decoded; ``error`` is ``TM[s,t]: <problem>`` when it (or a part of it) does
        not decode.
    """
    onboard = tm.time.seconds
    content = decode_source(dictionary, tm.service, tm.subtype, tm.source_data)
    values = content.values
    if content.kind == "time":
        values = {"onboard": onboard, "received": received, **values}
    error = None if content.error is None else f"TM[{tm.service},{tm.subtype}]: {content.error}"
    node = dictionary.node
    return Received(seq, node, onboard, received, content.kind, content.name, values, error)


def decode_source(
    dictionary: NodeDictionary, service: int, subtype: int, data: bytes | bytearray | memoryview
) -> TmContent:
    """Name and decode the source data of a TM[service,subtype] of ``dictionary``'s node.

    Args:
        dictionary: the sending node's dictionary.
        service, subtype: the packet's message type.
        data: its source data.

    Returns:
        What it says; kind ``other`` with ``error`` set when it does not decode (never raises
        on ``data``).
    """
    data = bytes(data)
    try:
        content = _decode(dictionary, service, subtype, data)
    except _DECODER_ERRORS as exc:
        content = _other(service, subtype, data, _one_line(exc, f"TM[{service},{subtype}]"))
    return content or _other(service, subtype, data)


def _decode(
    dictionary: NodeDictionary, service: int, subtype: int, data: bytes
) -> TmContent | None:
    key = (service, subtype)
    if service == 1:
        return _verification(subtype, data)
    if key == (3, 25):
        return _housekeeping(dictionary, data)
    if service == 5:
        return _event(dictionary, service, subtype, data)
    if key == (9, 2):
        return _time_report(dictionary, service, subtype, data)
    if key == (17, 2):
        if data:
            why = f"alive report of {len(data)} octets; it carries none"
            return _other(service, subtype, data, why)
        return TmContent("alive", ALIVE_NAME, {})
    if key == (20, 2):
        return _parameter_report(dictionary, service, subtype, data)
    declared = dictionary.report_at(service, subtype)
    if declared is not None:
        return TmContent("report", declared.name, declared.decode(data))
    return None


def _verification(subtype: int, data: bytes) -> TmContent:
    if subtype not in REPORT_NAMES:
        low, high = min(REPORT_NAMES), max(REPORT_NAMES)
        why = f"subtype {subtype} is not a verification report ({low}..{high})"
        return _other(1, subtype, data, why)
    report = Verification.decode(subtype, data)
    values = {
        "request_id": report.request_id.hex(), "stage": report.stage, "code": report.code,
        "reason": report.reason, "step": report.step,
    }  # fmt: skip
    return TmContent("verification", report.stage, values)


def _housekeeping(dictionary: NodeDictionary, data: bytes) -> TmContent:
    if len(data) < SID_SIZE:
        return _other(3, 25, data, f"housekeeping report of {len(data)} octets has no SID")
    sid = int.from_bytes(data[:SID_SIZE], "big")
    try:
        packet = dictionary.hk_packet(sid)
    except KeyError:
        return _other(3, 25, data, f"unknown SID {sid}")
    return TmContent("hk", packet.name, packet.decode(data))


def _event(dictionary: NodeDictionary, service: int, subtype: int, data: bytes) -> TmContent:
    severity = SEVERITY_NAMES.get(subtype)
    if severity is None:
        low, high = min(SEVERITY_NAMES), max(SEVERITY_NAMES)
        why = f"subtype {subtype} is not an event severity ({low}..{high})"
        return _other(service, subtype, data, why)
    event = EventDecoded.parse(data)
    values = {"id": event.event_id, "severity": severity, "detail": event.detail}
    try:
        name = dictionary.event(event.event_id).name
    except KeyError:
        return TmContent("event", f"event_{event.event_id}", values,
                         f"unknown event id {event.event_id}")  # fmt: skip
    return TmContent("event", name, values)


def _time_report(dictionary: NodeDictionary, service: int, subtype: int, data: bytes) -> TmContent:
    declared = dictionary.report(TIME_NAME)
    if len(data) != declared.message.size:
        why = (f"time report of {len(data)} octets, not {declared.message.size} "
               "(rate u8 | CUC 4+2 | cycle u32)")  # fmt: skip
        return _other(service, subtype, data, why)
    fields = declared.decode(data)
    seconds = fields["coarse"] + fields["fine"] / FINE_PER_SECOND
    values = {"rate": fields["rate"], "time": seconds, "cycle": fields["cycle"]}
    return TmContent("time", TIME_NAME, values)


def _parameter_report(
    dictionary: NodeDictionary, service: int, subtype: int, data: bytes
) -> TmContent:
    if not data or len(data) != 1 + data[0] * PARAMETER_ENTRY.size:
        why = (f"parameter report of {len(data)} octets is not "
               f"N | N x (id u16 | value f64)")  # fmt: skip
        return _other(service, subtype, data, why)
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for index in range(data[0]):
        pid, value = PARAMETER_ENTRY.unpack_from(data, 1 + index * PARAMETER_ENTRY.size)
        try:
            name = dictionary.parameter(pid).name
        except KeyError:
            name = f"parameter_{pid}"
            unknown.append(str(pid))
        values[name] = value
    plural = "s" if len(unknown) > 1 else ""
    error = f"unknown parameter id{plural} {', '.join(unknown)}" if unknown else None
    return TmContent("params", PARAMS_NAME, values, error)


def _other(service: int, subtype: int, data: bytes, error: str | None = None) -> TmContent:
    return TmContent("other", f"TM[{service},{subtype}]", {"data": data.hex()}, error)


def _one_line(exc: BaseException, head: str) -> str:
    """The first line of an error's message, without the packet type ``head`` the message may
    start with (:func:`decode_tm` puts it in front) nor a KeyError's quotes."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = text.splitlines()
    line = lines[0] if lines else ""
    if line.startswith(head + ":"):
        line = line[len(head) + 1 :].strip()
    return line or type(exc).__name__
