"""Telemetry out: PUS-C TM packets from the node's APID, with their counters, to the downlink.

One :class:`Telemetry` per node stamps every packet with the node's time (CUC), a packet
sequence count (per APID, wraps at 16384) and a message type counter (per service and subtype,
wraps at 65536), then hands it to the downlink (the space link's TM framer, virtual channel 1 for
events and verification, 0 for the rest) and to any local listener (tests, the log).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from hal.protocol.cuc import CucTime
from hal.protocol.pus import PusTm

__all__ = ["VC_EVENTS", "VC_HK", "Telemetry"]

VC_HK: Final = 0
"""Virtual channel of housekeeping and everything periodic."""
VC_EVENTS: Final = 1
"""Virtual channel of events and verification reports (never held behind housekeeping)."""
_EVENT_SERVICES: Final = frozenset({1, 5})


class Telemetry:
    """Builds and sends the node's TM packets.

    Args:
        apid: the node's APID.
        now: the node's clock (mission seconds).
        downlink: ``(packet, vcid)`` -> queued; the space link's ``send_tm``. May be None
            (no radio yet): packets then go only to the listeners.
    """

    def __init__(
        self,
        apid: int,
        now: Callable[[], float],
        downlink: Callable[[PusTm, int], object] | None = None,
    ) -> None:
        self.apid = apid
        self.now = now
        self.downlink = downlink
        self.listeners: list[Callable[[PusTm], None]] = []
        self._seq = 0
        self._counters: Counter[tuple[int, int]] = Counter()
        self.sent = 0

    def send(self, service: int, subtype: int, data: bytes) -> PusTm:
        """Send TM[service,subtype] with ``data``; return the packet."""
        key = (service, subtype)
        packet = PusTm(
            self.apid, service, subtype, data, seq_count=self._seq,
            msg_counter=self._counters[key], time=CucTime.from_seconds(self.now()),
        )  # fmt: skip
        self._seq = (self._seq + 1) & 0x3FFF
        self._counters[key] = (self._counters[key] + 1) & 0xFFFF
        self.sent += 1
        if self.downlink is not None:
            self.downlink(packet, VC_EVENTS if service in _EVENT_SERVICES else VC_HK)
        for listener in self.listeners:
            listener(packet)
        return packet
