"""Telemetry as the ground reads it: a received PUS-C TM packet of a node, named and decoded with
the flight dictionary (housekeeping by SID, events by id, PUS-1 verification reports, time
reports); anything else is kept as a named raw packet. Never raises on received content: a
packet the dictionary cannot decode is returned with its error, so one bad packet costs
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fsw.dictionary import NodeDictionary
from fsw.dictionary.model import EventDecoded
from fsw.dictionary.verification import Verification
from hal.errors import ProtocolError
from hal.protocol.pus import PusTm

__all__ = ["Received", "decode_tm"]


@dataclass(frozen=True)
class Received:
    """One telemetry packet of a node, decoded.

    Attributes:
        seq: its place in the station's stream of received packets (1, 2, ...).
        node: the node that sent it.
        time: its on-board time stamp (simulated seconds).
        received: the station's simulated time when it arrived.
        kind: ``hk``, ``event``, ``verification``, ``time`` or ``other``.
        name: the housekeeping packet or event name, the verification stage, or ``TM[s,t]``.
        values: the decoded fields (hk), ``{"id", "severity", "detail"}`` (event),
            ``{"request_id", "stage", "code", "reason", "step"}`` (verification),
            ``{"onboard", "received"}`` (time), ``{"data": hex}`` (other).
        error: why it did not decode (then ``values`` holds the raw data).
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


def decode_tm(dictionary: NodeDictionary, tm: PusTm, seq: int, received: float) -> Received:
    """Name and decode one TM packet of ``dictionary``'s node."""
    node = dictionary.node
    onboard = tm.time.seconds
    data = tm.source_data
    key = (tm.service, tm.subtype)
    try:
        if key == (3, 25):
            packet = dictionary.hk_packet(int.from_bytes(data[:2], "big"))
            values = packet.decode(data)
            return Received(seq, node, onboard, received, "hk", packet.name, values)
        if tm.service == 5:
            event = EventDecoded.parse(data)
            declared = dictionary.event(event.event_id)
            values = {"id": event.event_id, "severity": declared.severity, "detail": event.detail}
            return Received(seq, node, onboard, received, "event", declared.name, values)
        if tm.service == 1:
            report = Verification.decode(tm.subtype, data)
            values = {
                "request_id": report.request_id.hex(), "stage": report.stage, "code": report.code,
                "reason": report.reason, "step": report.step,
            }  # fmt: skip
            return Received(seq, node, onboard, received, "verification", report.stage, values)
        if key == (9, 2):
            values = {"onboard": onboard, "received": received}
            return Received(seq, node, onboard, received, "time", "time.report", values)
    except (ProtocolError, KeyError, ValueError) as exc:
        error = f"TM[{tm.service},{tm.subtype}]: {str(exc).splitlines()[0]}"
        name = f"TM[{tm.service},{tm.subtype}]"
        return Received(seq, node, onboard, received, "other", name, {"data": data.hex()}, error)
    name = f"TM[{tm.service},{tm.subtype}]"
    return Received(seq, node, onboard, received, "other", name, {"data": data.hex()})
