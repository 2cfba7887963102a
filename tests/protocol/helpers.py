"""Round-trip helper for construct schemas, in the manner of construct's own test helper."""

from __future__ import annotations

from typing import Any

import construct as cs

from hal.protocol.layout import FixedLayout


def _plain(value: Any) -> Any:
    """A construct Container tree as plain dicts, without construct's private keys."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def assert_roundtrip(schema: cs.Construct, obj: dict[str, Any], data: bytes) -> None:
    """Build, parse, size, and compiled equals interpreted, for one object and its bytes."""
    assert schema.build(obj) == data
    assert _plain(schema.parse(data)) == _plain(obj)
    try:
        size = schema.sizeof()
    except cs.SizeofError:
        size = None  # variable-size schema: the bytes decide
    if size is not None:
        assert size == len(data)
    compiled = schema.compile()
    assert compiled.build(obj) == data
    assert _plain(compiled.parse(data)) == _plain(schema.parse(data))


def assert_layout_matches(layout: FixedLayout, flat: dict[str, Any]) -> bytes:
    """The generated fast codec agrees with construct, interpreted and compiled."""
    data = layout.build_dict(flat)
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    assert_roundtrip(layout.declaration, nested, data)
    parsed = layout.parse_dict(data)
    for name, value in flat.items():
        assert parsed[name] == value, name
    assert len(data) == layout.size == layout.declaration.sizeof()
    return data


def reference_crc16(data: bytes) -> int:
    """Bit-by-bit CRC-16/CCITT-FALSE, straight from the definition (poly 0x1021, init 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def with_fecf(body: bytes) -> bytes:
    """``body`` followed by its CRC-16 from the bitwise reference (for hand-laid octets)."""
    return body + reference_crc16(body).to_bytes(2, "big")
