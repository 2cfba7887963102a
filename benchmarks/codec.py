"""Codec benchmark: PUS-C TM and TC encode/decode, this project against spacepackets and struct.

Packets (the issue's reference workload):
  TM: 53 octets = primary header 6 + TM secondary header 7 + CUC time 6 + source data 32 + CRC 2
  TC: 29 octets = primary header 6 + TC secondary header 5 + application data 16 + CRC 2

"encode" builds the packet object from its fields (a new sequence count every packet, as a sender
does) and packs it; "pack" packs an existing object; "decode" parses bytes to an object with the
CRC checked. The struct floor is hand-written code with no objects at all.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from hal.protocol.crc import crc16
from hal.protocol.cuc import CucTime
from hal.protocol.pus import PusTc, PusTm

TM_DATA = bytes(range(32))
TC_DATA = bytes(range(16))
TM_TIME = b"\x00\x01\x02\x03\x04\x05"


def rate(func: Callable[[int], object], budget: float = 0.4, repeats: int = 3) -> float:
    """Best-of-``repeats`` calls per second, each repeat running for about ``budget`` seconds."""
    best = 0.0
    n = 2000
    for _ in range(repeats):
        while True:
            start = time.perf_counter()
            for i in range(n):
                func(i)
            elapsed = time.perf_counter() - start
            if elapsed >= budget / 4:
                break
            n *= 2
        best = max(best, n / elapsed)
    return best


# ---------------------------------------------------------------- this project
def ours() -> dict[str, Callable[[int], object]]:
    time_ = CucTime(0x00010203, 0x0405)
    tm = PusTm(0x42, 3, 25, TM_DATA, time=time_)
    tc = PusTc(0x42, 17, 1, TC_DATA)
    tm_raw, tc_raw = tm.pack(), tc.pack()
    return {
        "tm_encode": lambda i: PusTm(0x42, 3, 25, TM_DATA, seq_count=i & 0x3FFF, time=time_).pack(),
        "tm_pack": lambda i: tm.pack(),
        "tm_decode": lambda i: PusTm.from_raw(tm_raw),
        "tc_encode": lambda i: PusTc(0x42, 17, 1, TC_DATA, seq_count=i & 0x3FFF).pack(),
        "tc_pack": lambda i: tc.pack(),
        "tc_decode": lambda i: PusTc.from_raw(tc_raw),
    }


# ---------------------------------------------------------------- spacepackets (reference)
def spacepackets_lib() -> dict[str, Callable[[int], object]]:
    from spacepackets.ecss import PusTc as SpTc
    from spacepackets.ecss import PusTm as SpTm

    tm = SpTm(service=3, message_subtype=25, apid=0x42, timestamp=TM_TIME, source_data=TM_DATA)
    tc = SpTc(service=17, message_subtype=1, apid=0x42, app_data=TC_DATA)
    tm_raw, tc_raw = bytes(tm.pack()), bytes(tc.pack())
    return {
        "tm_encode": lambda i: SpTm(
            service=3,
            message_subtype=25,
            apid=0x42,
            seq_count=i & 0x3FFF,
            timestamp=TM_TIME,
            source_data=TM_DATA,
        ).pack(),
        "tm_pack": lambda i: tm.pack(),
        "tm_decode": lambda i: SpTm.unpack(tm_raw, timestamp_len=6),
        "tc_encode": lambda i: SpTc(
            service=17, message_subtype=1, apid=0x42, seq_count=i & 0x3FFF, app_data=TC_DATA
        ).pack(),
        "tc_pack": lambda i: tc.pack(),
        "tc_decode": lambda i: SpTc.unpack(tc_raw),
    }


# ---------------------------------------------------------------- hand-written struct (floor)
_TM = struct.Struct(">HHHBBBHHIH")
_TC = struct.Struct(">HHHBBBH")


def _tm_floor(seq: int) -> bytes:
    body = _TM.pack(0x0842, 0xC000 | seq, 46, 0x20, 3, 25, 0, 0, 0x00010203, 0x0405) + TM_DATA
    return body + crc16(body).to_bytes(2, "big")


def _tc_floor(seq: int) -> bytes:
    body = _TC.pack(0x1842, 0xC000 | seq, 22, 0x2F, 17, 1, 0) + TC_DATA
    return body + crc16(body).to_bytes(2, "big")


def struct_floor() -> dict[str, Callable[[int], object]]:
    tm_raw, tc_raw = _tm_floor(0), _tc_floor(0)

    def tm_decode(_: int) -> object:
        if crc16(tm_raw):
            raise ValueError("crc")
        return _TM.unpack_from(tm_raw), tm_raw[19:-2]

    def tc_decode(_: int) -> object:
        if crc16(tc_raw):
            raise ValueError("crc")
        return _TC.unpack_from(tc_raw), tc_raw[11:-2]

    return {
        "tm_encode": lambda i: _tm_floor(i & 0x3FFF),
        "tm_pack": lambda i: _tm_floor(0),
        "tm_decode": tm_decode,
        "tc_encode": lambda i: _tc_floor(i & 0x3FFF),
        "tc_pack": lambda i: _tc_floor(0),
        "tc_decode": tc_decode,
    }


def check_same_bytes() -> None:
    """The three implementations must produce the same packets, or the race means nothing."""
    mine, ref, floor = ours(), spacepackets_lib(), struct_floor()
    for name in ("tm_encode", "tc_encode"):
        a, b, c = bytes(mine[name](7)), bytes(ref[name](7)), bytes(floor[name](7))
        if not a == b == c:
            raise SystemExit(f"{name}: implementations disagree: {a.hex()} {b.hex()} {c.hex()}")
    if len(mine["tm_encode"](0)) != 53 or len(mine["tc_encode"](0)) != 29:
        raise SystemExit("benchmark packets are not the 53-octet TM and 29-octet TC")


def run(budget: float = 0.4) -> dict[str, dict[str, float]]:
    """Packets per second for every operation and implementation."""
    check_same_bytes()
    results: dict[str, dict[str, float]] = {}
    for impl, table in (
        ("msr", ours()),
        ("spacepackets", spacepackets_lib()),
        ("struct", struct_floor()),
    ):
        results[impl] = {op: rate(func, budget) for op, func in table.items()}
    return results
