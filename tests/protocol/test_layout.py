"""Every fixed-size schema round-trips, and its generated codec agrees with construct."""

import importlib
from pathlib import Path

import construct as cs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import EncodeError, HeaderError, ProtocolError, TruncatedError
from hal.protocol import layout as layout_module
from hal.protocol.cuc import CUC_LAYOUT
from hal.protocol.layout import LayoutError, compile_fixed
from hal.protocol.pus import (
    DEVICE_FAILURE_LAYOUT,
    REQUEST_ID_LAYOUT,
    TC_LAYOUT,
    TM_LAYOUT,
    TcHeader,
    TmHeader,
)
from hal.protocol.spacepacket import PRIMARY_LAYOUT

from .helpers import assert_layout_matches

LAYOUTS = {
    "primary": PRIMARY_LAYOUT,
    "cuc": CUC_LAYOUT,
    "tc_header": TC_LAYOUT,
    "tm_header": TM_LAYOUT,
    "request_id": REQUEST_ID_LAYOUT,
    "device_failure": DEVICE_FAILURE_LAYOUT,
}

# Widths of every leaf field, read from the declarations, for random values in range.
_WIDTHS = {
    "primary.type": 1,
    "primary.sec_header_flag": 1,
    "primary.apid": 11,
    "primary.seq_flags": 2,
    "primary.seq_count": 14,
    "primary.data_length": 16,
    "secondary.pus.ack_flags": 4,
    "secondary.pus.time_ref_status": 4,
    "secondary.service": 8,
    "secondary.subtype": 8,
    "secondary.source_id": 16,
    "secondary.msg_counter": 16,
    "secondary.dest_id": 16,
    "secondary.time.coarse": 32,
    "secondary.time.fine": 16,
    "coarse": 32,
    "fine": 16,
    "request.sec_header_flag": 1,
    "request.apid": 11,
    "request.seq_flags": 2,
    "request.seq_count": 14,
    "request_id.request.sec_header_flag": 1,
    "request_id.request.apid": 11,
    "request_id.request.seq_flags": 2,
    "request_id.request.seq_count": 14,
    "code": 8,
    "detail": 16,
}


def values_for(layout):
    return st.fixed_dictionaries(
        {name: st.integers(0, (1 << _WIDTHS[name]) - 1) for name in layout.pack_fields}
    )


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_is_known_to_this_test(name):
    assert set(LAYOUTS[name].pack_fields) <= set(_WIDTHS)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@given(data=st.data())
def test_generated_codec_equals_construct_interpreted_and_compiled(name, data):
    layout = LAYOUTS[name]
    flat = data.draw(values_for(layout))
    consts = {
        "primary.version": 0,
        "secondary.pus.version": 2,
        "request.version": 0,
        "request.type": 1,
        "request_id.request.version": 0,
        "request_id.request.type": 1,
    }
    full = {**flat, **{k: v for k, v in consts.items() if k in layout.fields}}
    data = assert_layout_matches(layout, full)
    pack, unpack_from = interpreted(layout)
    assert pack(*(full[n] for n in layout.pack_fields)) == data
    assert unpack_from(data) == layout.unpack_from(data)


def interpreted(layout):
    """The same layout run by the generic interpreter instead of the committed code."""
    gen = layout_module._Generator()
    gen.walk(layout.declaration, "")
    return gen.interpreted()


def test_every_named_layout_runs_its_committed_generated_code():
    import pkgutil

    import hal.protocol

    for info in pkgutil.walk_packages(hal.protocol.__path__, "hal.protocol."):
        importlib.import_module(info.name)
    assert layout_module.STALE == set(), "run `make codegen`"
    committed = Path(hal.protocol.__file__).with_name("_generated_layouts.py").read_text()
    assert committed == layout_module.render_module(), "run `make codegen`"
    from hal.protocol import _generated_layouts

    assert PRIMARY_LAYOUT.pack.__qualname__ == "make_space_packet_primary.<locals>.pack"
    assert set(_generated_layouts.FACTORIES) == set(layout_module._REGISTERED)


def test_out_of_range_and_constant_errors_are_the_same_interpreted():
    pack, unpack_from = interpreted(PRIMARY_LAYOUT)
    for a, b in ((pack, PRIMARY_LAYOUT.pack), (unpack_from, PRIMARY_LAYOUT.unpack_from)):
        args = (0, 1, 0x800, 3, 0, 0) if a is pack else (b"\x20" + bytes(5),)
        with pytest.raises(ProtocolError) as one:
            a(*args)
        with pytest.raises(ProtocolError) as two:
            b(*args)
        assert (str(one.value), one.value.reason) == (str(two.value), two.value.reason)


def test_header_declarations_have_their_standard_sizes():
    assert PRIMARY_LAYOUT.size == 6
    assert CUC_LAYOUT.size == 6
    assert TcHeader.sizeof() == TC_LAYOUT.size == 11
    assert TmHeader.sizeof() == TM_LAYOUT.size == 19


def test_a_bit_field_out_of_range_is_named_and_spills_nowhere():
    with pytest.raises(EncodeError, match=r"primary\.apid = 2048 is outside 0\.\.2047"):
        PRIMARY_LAYOUT.pack(0, 1, 0x800, 3, 0, 0)
    with pytest.raises(EncodeError, match="apid"):
        PRIMARY_LAYOUT.pack(0, 1, -1, 3, 0, 0)
    with pytest.raises(EncodeError):
        PRIMARY_LAYOUT.pack(0, 1, 1.5, 3, 0, 0)
    with pytest.raises(EncodeError):
        CUC_LAYOUT.pack(1 << 32, 0)


def test_a_wrong_constant_is_a_header_error_naming_the_field():
    raw = bytearray(PRIMARY_LAYOUT.pack(0, 1, 5, 3, 0, 10))
    raw[0] |= 0x20
    with pytest.raises(HeaderError, match=r"primary\.version is 1, expected 0") as info:
        PRIMARY_LAYOUT.unpack_from(raw)
    assert info.value.reason == "bad_version"


def test_short_input_is_truncated_not_struct_error():
    with pytest.raises(TruncatedError):
        TM_LAYOUT.unpack_from(b"\x08\x42\xc0")
    with pytest.raises(TruncatedError):
        TM_LAYOUT.unpack_from(bytes(19), 1)


def test_fixed_bytes_fields_must_have_their_length():
    layout = compile_fixed(cs.Struct("sync" / cs.Const(b"\x1a\xcf"), "tag" / cs.Bytes(3)))
    assert layout.pack(b"abc") == b"\x1a\xcfabc"
    with pytest.raises(EncodeError, match="tag needs 3 bytes, got 2"):
        layout.pack(b"ab")
    with pytest.raises(HeaderError, match="sync"):
        layout.unpack_from(b"\x00\x00abc")


def test_flags_and_padding_round_trip():
    decl = cs.Struct(
        "bits" / cs.BitStruct("on" / cs.Flag, cs.Padding(3), "mode" / cs.BitsInteger(4)),
        cs.Padding(1),
        "value" / cs.Int32sb,
        "ratio" / cs.Float32b,
    )
    layout = compile_fixed(decl)
    data = assert_layout_matches(
        layout, {"bits.on": True, "bits.mode": 9, "value": -5, "ratio": 0.5}
    )
    assert data == bytes([0x89, 0]) + (-5).to_bytes(4, "big", signed=True) + b"\x3f\x00\x00\x00"


@pytest.mark.parametrize(
    "decl",
    [
        cs.Struct("x" / cs.Int16ul),
        cs.Struct("x" / cs.GreedyBytes),
        cs.Struct("x" / cs.BitStruct("a" / cs.BitsInteger(12))),
        cs.Struct("x" / cs.BitStruct("a" / cs.BitsInteger(20), "b" / cs.BitsInteger(4))),
        cs.Struct("x" / cs.PascalString(cs.Int8ub, "ascii")),
    ],
)
def test_unsupported_declarations_fail_when_compiled_not_when_used(decl):
    with pytest.raises(LayoutError):
        compile_fixed(decl)
