"""Emulator of the bench test board (ICD: :mod:`hal.protocol.devices.test_board`)."""

from __future__ import annotations

from hal.protocol.cuc import CucTime
from hal.protocol.devices import test_board as icd
from hal.protocol.pus import PusTc, PusTm


class TestBoard:
    """Answers PUS-17 connection tests and echoes service-128 data; rejects everything else."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str = "test_board") -> None:
        self.name = name
        self.apids = {icd.APID: icd.MAX_PACKET_LENGTH}
        self.now = 0.0
        self._counter = 0
        self.handled = 0
        self.rejected = 0

    def advance(self, to_time: float) -> None:
        """Nothing moves on this board; only its clock."""
        self.now = max(self.now, to_time)

    def _tm(self, service: int, subtype: int, data: bytes, now: float) -> PusTm:
        self._counter = (self._counter + 1) & 0xFFFF
        return PusTm(
            icd.APID,
            service,
            subtype,
            data,
            seq_count=self._counter & 0x3FFF,
            msg_counter=self._counter,
            time=CucTime.from_seconds(max(now, 0.0)),
        )

    def handle(self, packet: PusTc | PusTm, now: float) -> list[PusTm]:
        """Reply to one telecommand (telemetry sent to a board is ignored)."""
        self.advance(now)
        if not isinstance(packet, PusTc) or packet.apid != icd.APID:
            self.rejected += 1
            return []
        key = (packet.service, packet.subtype)
        if key == (icd.SERVICE_TEST, icd.SUBTYPE_ARE_YOU_ALIVE):
            self.handled += 1
            return [self._tm(icd.SERVICE_TEST, icd.SUBTYPE_ALIVE_REPORT, b"", now)]
        if key == (icd.SERVICE_ECHO, icd.SUBTYPE_ECHO) and len(packet.app_data) <= icd.MAX_ECHO:
            self.handled += 1
            return [self._tm(icd.SERVICE_ECHO, icd.SUBTYPE_ECHO_REPORT, packet.app_data, now)]
        self.rejected += 1
        code = (
            icd.FAIL_TOO_LONG if key == (icd.SERVICE_ECHO, icd.SUBTYPE_ECHO) else icd.FAIL_UNKNOWN
        )
        request_id = (0x1800 | packet.apid).to_bytes(2, "big") + (
            (packet.seq_flags << 14) | packet.seq_count
        ).to_bytes(2, "big")
        return [
            self._tm(
                icd.SERVICE_VERIFICATION,
                icd.SUBTYPE_ACCEPTANCE_FAILED,
                request_id + bytes([code]),
                now,
            )
        ]
