"""PacketChannel: a link, a deframer and the PUS-C codec, with request/response and timeouts.

Replies are placed on the wire by the far end before the request is sent, so no thread and no
sleep is needed: the channel must find them, in order, whatever else arrived first.
"""

from __future__ import annotations

import pytest

from hal.errors import LinkClosed, LinkTimeout
from hal.links import PcapReader
from hal.links.channel import PacketChannel
from hal.links.pty_link import PtyLink
from hal.links.serial_link import SerialLink
from hal.protocol import ASM, PusPacket, PusTc, PusTm, frame


@pytest.fixture
def ends(tmp_path):
    board = PtyLink("pty://", capture_dir=tmp_path, capture_name="board")
    board.open()
    driver = SerialLink(board.peer_path, capture_dir=tmp_path, capture_name="driver")
    driver.open()
    yield PacketChannel(driver, idle_flush=0.05), PacketChannel(board, idle_flush=0.05)
    driver.close()
    board.close()


def test_request_returns_the_reply_and_keeps_everything_else_in_order(ends):
    driver, board = ends
    other = PusTm(0x20, 5, 1, b"event")
    reply = PusTm(0x10, 17, 2)
    board.send_many([other, reply])
    got = driver.request(PusTc(0x10, 17, 1), timeout=2)
    assert got == reply
    assert driver.receive(timeout=1) == other
    assert board.receive(timeout=1) == PusTc(0x10, 17, 1)
    assert driver.link.stats.frames_in == 2
    assert driver.link.stats.frames_out == 1


def test_request_with_a_custom_match(ends):
    driver, board = ends
    board.send_many([PusTm(0x10, 1, 1), PusTm(0x10, 1, 7)])
    got = driver.request(PusTc(0x10, 8, 1), timeout=2, match=lambda p: p.subtype == 7)
    assert (got.service, got.subtype) == (1, 7)
    assert driver.pending == 1


def test_no_reply_is_a_timeout_naming_the_request_and_is_counted(ends):
    driver, _ = ends
    with pytest.raises(LinkTimeout, match="no reply to PusTc") as info:
        driver.request(PusTc(0x10, 17, 1), timeout=0.1)
    assert info.value.reason == "no_reply"
    assert driver.link.stats.errors["no_reply"] == 1
    assert driver.receive(timeout=0.05) is None


def test_garbage_and_damaged_frames_are_counted_by_reason_on_the_link(ends):
    driver, board = ends
    good = PusTm(0x10, 3, 25, b"hk")
    bad_crc = bytearray(frame(good.pack()))
    bad_crc[-1] ^= 0x55
    board.link.write(b"\x00noise\xff" + bytes(bad_crc) + ASM + b"\xe0\x00\x00\x00\x00\x10")
    board.send(good)
    assert driver.receive(timeout=2) == good
    errors = driver.link.stats.errors
    assert errors["crc"] == 1
    assert errors["bad_version"] == 1
    assert driver.deframer.stats.bytes_skipped > 0


def test_a_frame_that_deframes_but_does_not_decode_is_counted_and_skipped(ends):
    driver, board = ends
    body = bytearray(PusTm(0x10, 3, 25, b"x").pack()[:-2])
    body[6] = 0x10  # PUS version 1: not PUS-C
    from hal.protocol.crc import crc16

    board.link.write(ASM + bytes(body) + crc16(bytes(body)).to_bytes(2, "big"))
    board.send(PusTm(0x10, 3, 25, b"y"))
    assert driver.receive(timeout=2).source_data == b"y"
    assert driver.decode_errors == 1
    assert driver.link.stats.errors["decode_bad_version"] == 1


def test_a_reply_behind_a_damaged_length_arrives_when_the_link_goes_idle(ends):
    driver, board = ends
    damaged = bytearray(frame(PusTm(0x10, 3, 25, bytes(10)).pack()))
    damaged[8] ^= 0x04  # declared length + 1024: the deframer would wait for it
    board.link.write(bytes(damaged))
    board.send(PusTm(0x10, 17, 2))
    assert driver.request(PusTc(0x10, 17, 1), timeout=2) == PusTm(0x10, 17, 2)
    assert driver.link.stats.errors["incomplete"] == 1


def test_a_full_queue_drops_the_oldest_and_counts_them(ends):
    _, board = ends
    driver = PacketChannel(ends[0].link, max_queue=3)
    board.send_many([PusTm(0x10, 3, 25, seq_count=i) for i in range(5)])
    for _ in range(50):  # bounded: the pty delivers at once, this only tolerates a busy machine
        if driver.link.stats.frames_in == 5:
            break
        driver.poll(0.2)
    assert [p.seq_count for p in driver.receive_all(0)] == [2, 3, 4]
    assert driver.dropped == 2
    assert driver.link.stats.errors["queue_overflow"] == 2


def test_captures_hold_every_frame_each_way_exactly_as_on_the_wire(ends, tmp_path):
    driver, board = ends
    board.send_many([PusTm(0x10, 3, 25, bytes([i])) for i in range(3)])
    driver.send(PusTc(0x10, 17, 1))
    assert len(driver.receive_all(0.3)) == 3
    assert board.receive(timeout=1) is not None
    driver.close()
    board.close()
    tx = list(PcapReader(tmp_path / "driver.tx.pcap"))
    rx = list(PcapReader(tmp_path / "driver.rx.pcap"))
    assert [PusPacket.from_raw(f[4:]) for _, f in tx] == [PusTc(0x10, 17, 1)]
    assert [f for _, f in rx] == [frame(PusTm(0x10, 3, 25, bytes([i])).pack()) for i in range(3)]


def test_a_lost_device_raises_link_closed_instead_of_hanging(ends):
    driver, board = ends
    board.close()
    with pytest.raises(LinkClosed):
        driver.request(PusTc(0x10, 17, 1), timeout=5)
    with pytest.raises(LinkClosed):
        driver.receive(timeout=5)


def test_configuration_is_checked():
    with pytest.raises(ValueError, match="max_queue"):
        PacketChannel(PtyLink(), max_queue=0)
