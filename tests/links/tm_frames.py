"""Builders of hostile downlink frames: a TM transfer frame with any value in every header field
and any OCF, with a correct frame error control (so only the field checks can reject it), and a
CLCW word with any value in every field (decision 0029)."""

from __future__ import annotations

from hal.protocol.crc import append_crc16
from hal.protocol.tm_frame import FECF_SIZE, FHP_IDLE_ONLY, OCF_SIZE, TM_HEADER_SIZE

_CLCW_SHIFTS = {"type": 31, "version": 29, "status": 26, "cop": 24, "vcid": 18, "spare0": 16,
                "no_rf": 15, "no_bit_lock": 14, "lockout": 13, "wait": 12, "retransmit": 11,
                "farm_b": 9, "spare1": 8, "report": 0}  # fmt: skip


def data_size(frame_length: int) -> int:
    """Octets of the data field of a frame with the OCF."""
    return frame_length - TM_HEADER_SIZE - OCF_SIZE - FECF_SIZE


def clcw(**fields: int) -> int:
    """A CLCW word (COP-1 unless ``cop`` is given) with the named bit fields set to any value,
    reserved ones included."""
    word = 1 << 24
    for name, value in fields.items():
        if name == "cop":
            word &= ~(3 << 24)
        word |= value << _CLCW_SHIFTS[name]
    return word


def tm_frame(
    frame_length: int,
    *,
    version: int = 0,
    scid: int = 42,
    vcid: int = 0,
    ocf_flag: int = 1,
    mc: int = 0,
    vc: int = 0,
    shf: int = 0,
    sync: int = 0,
    pof: int = 0,
    slid: int = 3,
    fhp: int = FHP_IDLE_ONLY,
    ocf: int | None = None,
    data: bytes = b"",
) -> bytes:
    """A whole TM frame of ``frame_length`` octets with any header values and a valid FECF
    (``ocf`` None: a plain COP-1 CLCW of TC virtual channel 0)."""
    word = (version << 46 | scid << 36 | vcid << 33 | ocf_flag << 32 | mc << 24 | vc << 16
            | shf << 15 | sync << 14 | pof << 13 | slid << 11 | fhp)  # fmt: skip
    size = data_size(frame_length)
    body = data[:size].ljust(size, b"\x55")
    ocf = clcw() if ocf is None else ocf
    return append_crc16(word.to_bytes(6, "big") + body + ocf.to_bytes(4, "big"))
