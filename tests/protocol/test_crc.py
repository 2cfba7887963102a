"""PUS packet error control: CRC-16/CCITT-FALSE on crcmod's C extension."""

from hypothesis import given
from hypothesis import strategies as st

from hal.protocol.crc import CRC16_CHECK_VALUE, crc16, crc16_is_c_extension, crc16_ok


def reference_crc16(data: bytes) -> int:
    """Bit-by-bit CRC-16/CCITT-FALSE, straight from the definition (poly 0x1021, init 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


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
