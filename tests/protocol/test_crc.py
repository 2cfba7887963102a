"""PUS packet error control: CRC-16/CCITT-FALSE on crcmod's C extension."""

from hypothesis import given
from hypothesis import strategies as st

from hal.protocol.crc import CRC16_CHECK_VALUE, crc16, crc16_is_c_extension, crc16_ok

from .helpers import reference_crc16


def test_check_value_of_123456789_is_29b1():
    assert CRC16_CHECK_VALUE == 0x29B1
    assert crc16(b"123456789") == 0x29B1
    assert reference_crc16(b"123456789") == 0x29B1


def test_crcmod_runs_on_its_c_extension():
    # Fails, by design, when crcmod was installed without compiling _crcfunext.
    import crcmod._crcfunext  # noqa: F401

    assert crc16_is_c_extension()


@given(st.binary(max_size=512))
def test_matches_the_bitwise_definition(data):
    assert crc16(data) == reference_crc16(data)


@given(st.binary(max_size=512))
def test_block_followed_by_its_crc_checks_to_zero(data):
    assert crc16_ok(data + crc16(data).to_bytes(2, "big"))
