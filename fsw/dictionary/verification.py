"""PUS-1 request verification reports of the flight software (ECSS-E-ST-70-41C section 6.1).

=========  =====================  =======================================================
TM         report                 source data (big-endian)
=========  =====================  =======================================================
[1,1]      acceptance success     request id (4)
[1,2]      acceptance failure     request id (4) | code uint16 | reason length uint8 | reason
[1,3]      start success          request id (4)
[1,4]      start failure          request id (4) | code uint16 | reason length uint8 | reason
[1,5]      progress success       request id (4) | step uint8
[1,6]      progress failure       request id (4) | step uint8 | code uint16 | reason ...
[1,7]      completion success     request id (4)
[1,8]      completion failure     request id (4) | code uint16 | reason length uint8 | reason
=========  =====================  =======================================================

The request id is the telecommand's packet id and sequence control (version 0, type TC,
secondary header flag 1, APID, sequence flags, sequence count). The reason is a named reason
(``out_of_range: period = 0.0 is outside 0.1..86400.0 s``), UTF-8, at most 120 octets; the code
(:data:`FAILURE_CODES`) classifies it. Success reports are sent when the telecommand's ack flags
ask for them; failure reports always.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import construct as cs

from hal.errors import LengthError
from hal.protocol.pus import FailureCode

__all__ = [
    "FAILURE_CODES",
    "FINAL_STAGES",
    "REPORT_NAMES",
    "Verification",
    "failure_code",
]

FAILURE_CODES: Final = {
    int(code): code.label for code in FailureCode if code is not FailureCode.HARDWARE_FAULT
}
"""Failure code to its class of reason: the project's one table (:class:`~hal.protocol.pus.
FailureCode`, which the boards' failure reports use too), less the boards' ``hardware_fault``."""
_CODES: Final = {name: code for code, name in FAILURE_CODES.items()}

REPORT_NAMES: Final = {
    1: "accepted", 2: "acceptance_failed", 3: "started", 4: "start_failed",
    5: "progress", 6: "progress_failed", 7: "completed", 8: "completion_failed",
}  # fmt: skip
"""TM[1,x] subtype to the stage it reports."""
FINAL_STAGES: Final = frozenset(REPORT_NAMES[subtype] for subtype in (2, 4, 7, 8))
"""The stages that end a command: after one, no other report comes for it."""

_REQUEST = cs.Bytes(4)
_REASON = cs.PascalString(cs.Int8ub, "utf8")
_LAYOUTS: Final = {
    1: cs.Struct("request_id" / _REQUEST),
    2: cs.Struct("request_id" / _REQUEST, "code" / cs.Int16ub, "reason" / _REASON),
    3: cs.Struct("request_id" / _REQUEST),
    4: cs.Struct("request_id" / _REQUEST, "code" / cs.Int16ub, "reason" / _REASON),
    5: cs.Struct("request_id" / _REQUEST, "step" / cs.Int8ub),
    6: cs.Struct(
        "request_id" / _REQUEST, "step" / cs.Int8ub, "code" / cs.Int16ub, "reason" / _REASON
    ),
    7: cs.Struct("request_id" / _REQUEST),
    8: cs.Struct("request_id" / _REQUEST, "code" / cs.Int16ub, "reason" / _REASON),
}
MAX_REASON: Final = 120


def failure_code(reason: str) -> int:
    """The code of a named reason: its class is the part before the first ``:``
    (``hazard:not_armed`` is class ``hazard``); 8 (execution_failed) for anything else."""
    return _CODES.get(reason.split(":", 1)[0].strip(), 8)


@dataclass(frozen=True)
class Verification:
    """One PUS-1 report.

    Attributes:
        subtype: 1..8 (:data:`REPORT_NAMES`).
        request_id: the 4-octet id of the telecommand it reports on.
        code: the failure code (failures only, else 0).
        reason: the named reason (failures only, else "").
        step: the progress step (subtypes 5 and 6, else 0).
    """

    subtype: int
    request_id: bytes
    code: int = 0
    reason: str = ""
    step: int = 0

    @property
    def stage(self) -> str:
        """``accepted``, ``completion_failed``...: what the report says."""
        return REPORT_NAMES[self.subtype]

    @property
    def failed(self) -> bool:
        """A failure report (even subtype)."""
        return self.subtype % 2 == 0

    def encode(self) -> bytes:
        """The source data."""
        reason = self.reason.encode("utf-8")[:MAX_REASON].decode("utf-8", "ignore")
        values = {"request_id": self.request_id, "code": self.code, "reason": reason,
                  "step": self.step}  # fmt: skip
        return bytes(_LAYOUTS[self.subtype].build(values))

    @classmethod
    def decode(cls, subtype: int, data: bytes) -> Verification:
        """A received report (LengthError when malformed or of an unknown subtype)."""
        layout = _LAYOUTS.get(subtype)
        if layout is None:
            raise LengthError(f"TM[1,{subtype}] is not a verification report")
        try:
            parsed = layout.parse(data)
            size = len(layout.build(parsed))
        except (cs.ConstructError, UnicodeDecodeError) as exc:
            raise LengthError(f"TM[1,{subtype}]: {exc}".splitlines()[0]) from exc
        if size != len(data):
            raise LengthError(f"TM[1,{subtype}]: {len(data) - size} trailing octets")
        return cls(
            subtype, bytes(parsed.request_id), parsed.get("code", 0), parsed.get("reason", ""),
            parsed.get("step", 0),
        )  # fmt: skip
