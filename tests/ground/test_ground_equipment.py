"""External ground equipment on UDP (decision 0044): each datagram on ``tc_udp`` is parsed as a
TC frame for the node and refused, by a named reason, when it is not one; the frames that pass
come out unchanged, in order, a cycle's budget at a time; each TM frame goes out as one datagram;
the session handed over is a file its owner alone reads."""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ground_tools.ground_equipment import (
    REFUSALS,
    GroundEquipmentError,
    TcRefused,
    UdpGroundEquipment,
    parse_tc_datagram,
    write_session,
)
from hal.links.space_link import SpaceLinkConfig
from hal.protocol.crc import append_crc16
from hal.protocol.sdls import SecurityAssociation, authenticate
from hal.protocol.tc_frame import TcFrame

CONFIG = SpaceLinkConfig(scid=0x2A1, vcid=0)
KEY = SecurityAssociation(1, bytes(range(32)))


def frame(data: bytes = b"\x18\x01\xc0\x00\x00\x01", **fields: int) -> bytes:
    """A TC frame of the node (a type-BD data frame unless told otherwise)."""
    fields = {"scid": CONFIG.scid, "vcid": CONFIG.vcid, "bypass": 1, **fields}
    scid, vcid = fields.pop("scid"), fields.pop("vcid")
    return TcFrame(scid, vcid, data, **fields).pack()


def secured(sn: int, size: int = 40) -> bytes:
    """A frame as external equipment sends one: AES-256-GCM, ``size`` octets of data."""
    return authenticate(TcFrame(CONFIG.scid, CONFIG.vcid, bytes(size), bypass=1), KEY, sn,
                        "aes-gcm")  # fmt: skip


# ---------------------------------------------------------------------------- parsing


def test_the_frames_of_the_node_pass_as_they_are():
    for raw in (frame(), frame(seq=7, bypass=0), frame(b"\x00", control=1), secured(1)):
        parsed = parse_tc_datagram(raw, CONFIG)
        assert parsed.pack() == raw and parsed.scid == CONFIG.scid


def _with_header(raw: bytes, first: int) -> bytes:
    """``raw`` with its first octet replaced and its FECF made right again."""
    return append_crc16(bytes([first]) + raw[1:-2])


GOOD = frame()
REFUSED = [
    ("too_short", b"", "0 octets: a TC frame has at least 8"),
    ("too_short", GOOD[:7], "7 octets: a TC frame has at least 8"),
    ("too_long", bytes(1025), "more than the node's tc_frame_max, 1024 octets"),
    ("bad_version", _with_header(GOOD, GOOD[0] | 0x40), "version is 1, expected 0"),
    ("bad_length", GOOD + b"\x00", "length field says"),
    ("bad_fecf", GOOD[:-1] + bytes([GOOD[-1] ^ 1]), "FECF"),
    ("type_ac", frame(b"\x00", control=1, bypass=0), "type-AC"),
    ("wrong_scid", frame(scid=0x2A2), "spacecraft id 674: the node's is 673"),
    ("wrong_vcid", frame(vcid=5), "virtual channel 5: the node's is 0"),
]  # fmt: skip


@pytest.mark.parametrize(("reason", "raw", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_each_refusal_names_its_reason(reason, raw, words):
    with pytest.raises(TcRefused) as caught:
        parse_tc_datagram(raw, CONFIG)
    assert caught.value.reason == reason and words in str(caught.value)


def test_a_smaller_tc_frame_max_bounds_the_datagrams():
    small = SpaceLinkConfig(scid=CONFIG.scid, tc_frame_max=64)
    with pytest.raises(TcRefused) as caught:
        parse_tc_datagram(secured(1, size=60), small)
    assert caught.value.reason == "too_long"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=1100))
def test_any_datagram_is_a_frame_of_the_node_or_refused_by_a_named_reason(raw):
    try:
        parsed = parse_tc_datagram(raw, CONFIG)
    except TcRefused as exc:
        assert exc.reason in REFUSALS
        return
    assert (parsed.scid, parsed.vcid) == (CONFIG.scid, CONFIG.vcid) and parsed.pack() == raw


# ---------------------------------------------------------------------------- the ports


@pytest.fixture
def equipment() -> Iterator[tuple[UdpGroundEquipment, socket.socket, socket.socket]]:
    """The node's equipment on free loopback ports, a sender to its tc_udp and a receiver of
    its TM."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5.0)
    tm = receiver.getsockname()
    udp = UdpGroundEquipment("lander", CONFIG, tm=tm, tc=("127.0.0.1", 0), budget=100)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(udp.tc_address)
    yield udp, sender, receiver
    udp.close()
    sender.close()
    receiver.close()


def test_frames_come_out_unchanged_in_order_and_garbage_is_counted(equipment, caplog):
    udp, sender, _ = equipment
    good = [secured(1), secured(2)]
    sender.send(good[0])
    for _, raw, _ in REFUSED:
        sender.send(raw)
    sender.send(good[1])
    caplog.set_level(logging.WARNING, logger="ground_tools.ground_equipment")
    taken = _drain(udp, 2)
    assert taken == good
    refused = {reason: sum(r == reason for r, _, _ in REFUSED) for reason, _, _ in REFUSED}
    assert udp.tc_refused == refused and udp.tc_forwarded == 2
    assert any("datagram from 127.0.0.1:" in r.message and "(wrong_vcid, 1 so far)" in r.message
               for r in caplog.records)  # fmt: skip
    stats = udp.stats()
    assert stats["tc_forwarded"] == 2 and stats["tc_refused"] == refused
    assert stats["tc_udp"] == f"127.0.0.1:{udp.tc_address[1]}"


def _drain(udp: UdpGroundEquipment, wanted: int) -> list[bytes]:
    """Take until ``wanted`` frames came (loopback datagrams arrive at once; a bound on the
    wait, not a measure)."""
    out: list[bytes] = []
    while len(out) < wanted:
        if not udp.waiting:
            ready, _, _ = select.select([udp.fileno()], [], [], 5.0)
            assert ready, f"only {len(out)} of {wanted} frames came"
        out += udp.take_tc()
    return out


def test_a_flood_is_logged_on_powers_of_two_and_counted_in_full(equipment, caplog):
    udp, sender, _ = equipment
    caplog.set_level(logging.WARNING, logger="ground_tools.ground_equipment")
    for _ in range(20):
        sender.send(b"junk")
    sender.send(secured(1))
    assert _drain(udp, 1) == [secured(1)]
    assert udp.tc_refused == {"too_short": 20}
    logged = [r.message for r in caplog.records if "too_short" in r.message]
    assert [m.split("(too_short, ")[1].split(" ")[0] for m in logged] == ["1", "2", "4", "8", "16"]


def test_one_call_takes_a_cycles_budget_and_keeps_the_rest_in_order(equipment):
    udp, sender, _ = equipment  # budget: at least one whole frame (tc_frame_max, 1024 octets)
    assert udp.budget == CONFIG.tc_frame_max
    frames = [secured(sn, size=400) for sn in range(1, 6)]  # 440 octets each: two a call
    for raw in frames:
        sender.send(raw)
    calls = []
    while sum(len(c) for c in calls) < len(frames):
        calls.append(_drain(udp, 1))
    assert [len(c) for c in calls] == [2, 2, 1]
    assert [raw for call in calls for raw in call] == frames
    assert all(sum(map(len, call)) <= udp.budget for call in calls)


def test_a_budget_below_one_frame_still_lets_one_frame_a_call_through():
    lone = UdpGroundEquipment("lander", CONFIG, tc=("127.0.0.1", 0), budget=1)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert lone.budget == CONFIG.tc_frame_max  # raised to one whole frame
        lone.budget = 1  # as a line slower than one frame a cycle would give
        for sn in (1, 2):
            sender.sendto(secured(sn, size=900), lone.tc_address)
        assert not lone.waiting or select.select([lone.fileno()], [], [], 0)[0]
        assert _drain(lone, 1) == [secured(1, size=900)]
        assert lone.waiting  # the second frame, kept for the next call
        assert _drain(lone, 1) == [secured(2, size=900)]
        assert not lone.waiting and lone.take_tc() == []
    finally:
        lone.close()
        sender.close()


def test_each_tm_frame_goes_out_as_one_datagram(equipment):
    udp, _, receiver = equipment
    frames = [bytes([n]) * 1115 for n in range(3)]
    for raw in frames:
        udp.send_tm(raw)
    assert [receiver.recv(4096) for _ in frames] == frames
    assert udp.tm_sent == 3 and udp.tm_dropped == {}


def test_without_ports_nothing_is_sent_or_taken():
    udp = UdpGroundEquipment("mav", CONFIG)
    udp.send_tm(b"frame")
    assert udp.take_tc() == [] and udp.tm_sent == 0 and udp.stats()["tm_udp"] is None
    udp.close()
    udp.close()  # idempotent


def test_a_port_in_use_is_refused_naming_the_field(equipment):
    udp, _, _ = equipment
    with pytest.raises(GroundEquipmentError) as caught:
        UdpGroundEquipment("mav", CONFIG, tc=udp.tc_address)
    assert str(caught.value) == (
        f"nodes.mav.tc_udp 127.0.0.1:{udp.tc_address[1]}: cannot open the UDP port: "
        "Address already in use"
    )
    with pytest.raises(GroundEquipmentError, match=r"nodes.mav.tc_udp 192.0.2.1:10025: cannot"):
        UdpGroundEquipment("mav", CONFIG, tc=("192.0.2.1", 10025))  # not an address of this host


# ---------------------------------------------------------------------------- the session


def test_the_session_is_handed_over_whole_and_for_its_owner_only(tmp_path: Path):
    path = write_session(tmp_path, "lander", spi=1, suite="aes-gcm", nonce=bytes(16),
                         key=bytes(range(32)), next_sn=258)  # fmt: skip
    assert path == tmp_path / "lander.session.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "node": "lander", "spi": 1, "suite": "aes-gcm", "nonce": "00" * 16,
        "key": bytes(range(32)).hex(), "next_sn": 258,
    }  # fmt: skip
    write_session(tmp_path, "lander", spi=1, suite="aes-gcm", nonce=b"\x01" * 16,
                  key=bytes(32), next_sn=600)  # fmt: skip
    assert json.loads(path.read_text())["next_sn"] == 600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lander.session.json"]
