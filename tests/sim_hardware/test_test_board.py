"""The test board emulator is a pure function of (state, packet, time)."""

from hal.protocol import PusTc, PusTm
from hal.protocol.devices import test_board as icd
from sim_hardware.devices.test_board import TestBoard


def test_are_you_alive_is_answered_with_tm_17_2_stamped_with_the_time():
    board = TestBoard()
    (reply,) = board.handle(PusTc(icd.APID, 17, 1), now=12.5)
    assert (reply.apid, reply.service, reply.subtype) == (icd.APID, 17, 2)
    assert reply.time.seconds == 12.5
    assert PusTm.from_raw(reply.pack()) == reply


def test_echo_returns_the_data_and_too_long_is_rejected():
    board = TestBoard()
    (reply,) = board.handle(PusTc(icd.APID, 128, 1, b"abc"), now=0)
    assert reply.source_data == b"abc"
    (fail,) = board.handle(PusTc(icd.APID, 128, 1, bytes(icd.MAX_ECHO + 1), seq_count=9), now=0)
    assert (fail.service, fail.subtype) == (1, 2)
    assert fail.source_data == bytes.fromhex("1FF0C009") + bytes([icd.FAIL_TOO_LONG])


def test_unknown_commands_fail_acceptance_and_telemetry_is_ignored():
    board = TestBoard()
    (fail,) = board.handle(PusTc(icd.APID, 200, 1), now=0)
    assert fail.source_data[-1] == icd.FAIL_UNKNOWN
    assert board.handle(PusTm(icd.APID, 3, 25), now=0) == []
    assert board.handle(PusTc(0x001, 17, 1), now=0) == []
    assert board.rejected == 3


def test_time_never_goes_backwards_and_counters_advance():
    board = TestBoard()
    board.advance(10.0)
    board.advance(5.0)
    assert board.now == 10.0
    first, second = (board.handle(PusTc(icd.APID, 17, 1), now=11)[0] for _ in range(2))
    assert second.msg_counter == first.msg_counter + 1
