"""Malformed telecommands through the authenticated space link into a lander node, in one
process on a manual clock: a packet of every length from 0 to the link's maximum, and a packet
with every wrong value of its length field. Each one is refused with a named reason (a PUS-1
acceptance failure whenever its header names it, a ``core.tc_rejected`` event always), nothing
runs, and the node keeps its rate groups and answers a ping afterwards."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from fsw.core.config import load_config
from fsw.core.node import Node
from fsw.dictionary import node_dictionary
from fsw.dictionary.model import EventDecoded
from fsw.dictionary.verification import Verification
from hal.clock import ManualClock
from hal.errors import EncodeError
from hal.links.space_link import FlightSpaceLink, GroundSpaceLink, SpaceLinkConfig
from hal.protocol.crc import append_crc16
from hal.protocol.fop1 import FopState
from hal.protocol.framing import ASM
from hal.protocol.pus import ACK_ALL, PusTc
from hal.protocol.sdls import SecurityAssociation, authenticate
from hal.protocol.tc_frame import TcFrame
from tests.links.link_helpers import memory_pair

KEY = bytes(range(32))
HOSTILE = SecurityAssociation(9, bytes(range(1, 33)))
"""A second authenticated transmitter, for the frames the ground tools refuse to build."""
DICTIONARY = node_dictionary("lander")
SAFE_TO_NOMINAL = DICTIONARY.command("modes.set")
PER_CYCLE = 32
"""Type-BD frames put on the uplink per node cycle in the length-field sweep."""


class Uplink:
    """A lander node and a ground end joined by an in-memory space link."""

    def __init__(self, tmp: Path) -> None:
        self.clock = ManualClock(0.0)
        ground_end, flight_end = memory_pair()
        self.config = SpaceLinkConfig()
        self.log: list[tuple[str, str, str]] = []
        self.node = Node(DICTIONARY, load_config("lander"), tmp / "nv", self.clock.now,
                         lambda *line: self.log.append(line), durable=False)  # fmt: skip
        self.radio = FlightSpaceLink(
            flight_end, {1: KEY, HOSTILE.spi: HOSTILE.key}, self.config,
            monotonic=self.clock.now, on_event=self.node.radio_event,
        )  # fmt: skip
        self.node.attach_radio(self.radio)
        self.ground_end = ground_end
        self.ground = GroundSpaceLink(ground_end, SecurityAssociation(1, KEY), self.config,
                                      monotonic=self.clock.now)  # fmt: skip
        self.reports: dict[bytes, list[Verification]] = defaultdict(list)
        self.events: Counter[str] = Counter()
        self.node.cycle()
        self.ground.start()
        self.run_until(lambda: self.ground.fop.state is FopState.ACTIVE)

    def cycle(self) -> None:
        """One node cycle 0.1 s later, then the ground takes what came down."""
        self.clock.set(round(self.clock.now() + 0.1, 6))
        self.node.cycle()
        self.ground.poll(0)
        for tm in self.ground.receive_all(0):
            if tm.service == 1:
                report = Verification.decode(tm.subtype, tm.source_data)
                self.reports[report.request_id].append(report)
            elif tm.service == 5:
                self.events[DICTIONARY.event(EventDecoded.parse(tm.source_data).event_id).name] += 1

    def run_until(self, done, limit: int = 20_000) -> None:
        for _ in range(limit):
            if done():
                return
            self.cycle()
        raise AssertionError(f"not done within {limit} cycles")

    def send_all(self, raws: Iterable[bytes], *, bypass: bool = False) -> None:
        """Each packet in its own frame, through COP-1 (or as type-BD frames, ``PER_CYCLE`` a
        cycle); return when every one is delivered (or sent)."""
        raws = list(raws)
        if bypass:
            for at in range(0, len(raws), PER_CYCLE):
                for raw in raws[at : at + PER_CYCLE]:
                    self.ground.send(raw, bypass=True)
                self.cycle()
            self.cycle()
            return
        ids = [self.ground.send(raw) for raw in raws]
        self.run_until(lambda: self.ground.fate(ids[-1]) == "delivered")  # COP-1 keeps order
        assert all(self.ground.fate(i) == "delivered" for i in ids)
        self.cycle()

    def inject(self, frame: TcFrame, sn: int) -> None:
        """A frame from the second transmitter, straight onto the uplink."""
        self.ground_end.write(ASM + authenticate(frame, HOSTILE, sn))
        self.cycle()

    def stages(self, raw: bytes) -> list[str]:
        return [r.stage + (f" {r.reason}" if r.reason else "") for r in self.reports[raw[:4]]]


def mode_command(seq: int) -> bytes:
    """modes.set nominal: allowed from safe, so a packet that ran would show as a mode change."""
    message, data = SAFE_TO_NOMINAL.message, SAFE_TO_NOMINAL.encode(mode=2)
    return PusTc(DICTIONARY.apid, message.service, message.subtype, data, seq_count=seq,
                 ack_flags=ACK_ALL).pack()  # fmt: skip


def cut_to(length: int, seq: int) -> bytes:
    """The mode command made ``length`` octets long: cut or padded with zeros, its length field
    and checksum made right again wherever the header and checksum still fit."""
    good = mode_command(seq)
    if length < 13:  # shorter than any telecommand: the octets as they come
        raw = bytearray(good[:length])
        if length >= 7:
            raw[4:6] = (length - 7).to_bytes(2, "big")
        return bytes(raw)
    message = SAFE_TO_NOMINAL.message
    data = (good[11:-2] + bytes(length))[: length - 13]
    return PusTc(DICTIONARY.apid, message.service, message.subtype, data, seq_count=seq,
                 ack_flags=ACK_ALL).pack()  # fmt: skip


def with_length_field(value: int, seq: int) -> bytes:
    raw = bytearray(mode_command(seq))
    raw[4:6] = value.to_bytes(2, "big")
    return bytes(append_crc16(bytes(raw[:-2])))


def assert_alive_and_untouched(up: Uplink) -> None:
    """Nothing ran, the node is still safe, kept its rate groups and answers a ping."""
    node = up.node
    assert node.dispatcher.accepted == 0 and node.modes.mode == "safe"
    assert node.executive.slips == 0
    ping = DICTIONARY.command("core.ping").message
    raw = PusTc(DICTIONARY.apid, ping.service, ping.subtype, b"", seq_count=16_000,
                ack_flags=ACK_ALL).pack()  # fmt: skip
    up.reports.clear()
    up.send_all([raw])
    up.cycle()
    assert up.stages(raw) == ["accepted", "started", "completed"]
    assert node.dispatcher.accepted == 1


def test_a_packet_of_every_length_up_to_the_maximum_is_refused_and_none_runs(tmp_path):
    up = Uplink(tmp_path)
    right = len(mode_command(0))
    with_ids = {n: cut_to(n, n) for n in range(1, up.config.max_packet_length + 1) if n != right}

    up.send_all(with_ids.values())

    for length, raw in with_ids.items():
        stages = up.stages(raw)
        if length < 4:  # too short to name itself: an event and a count only
            assert stages == [], length
            continue
        assert len(stages) == 1 and stages[0].startswith("acceptance_failed bad_length"), (
            length, stages)  # fmt: skip
    assert up.stages(cut_to(16, 16)) == [  # a whole telecommand: the dispatcher's check
        "acceptance_failed bad_length: modes.set: 3 octets of application data, "
        "the dictionary declares 1"
    ]
    assert up.stages(cut_to(9, 9)) == [  # a header, too short for a telecommand: the radio's
        "acceptance_failed bad_length: PUS TC needs at least 13 octets, got 9"
    ]
    assert up.stages(cut_to(5, 5)) == [  # its packet id and sequence, no more: the radio's
        "acceptance_failed bad_length: packet dropped by the desegmenter (truncated)"
    ]
    rejects = up.radio.stats()["rejects"]
    assert rejects["segment_truncated"] == 6  # lengths 1..6: not even a primary header
    assert rejects["decode_truncated"] == 13 - 7  # 7..12: a header but no whole telecommand
    assert up.node.dispatcher.rejected["bad_length"] == len(with_ids)
    # Length 0: the ground tools refuse to send it; a transmitter that does is refused too.
    try:
        up.ground.send(b"")
    except EncodeError as exc:
        assert "empty" in str(exc)
    else:
        raise AssertionError("the ground sent an empty telecommand")
    up.inject(TcFrame(up.config.scid, up.config.vcid, b"", bypass=1), sn=1)
    assert up.radio.stats()["rejects"]["segment_empty"] == 1
    assert up.events["core.tc_rejected"] >= 1
    logged = [detail for _, name, detail in up.log if name == "core.tc_rejected"]
    assert any("segment_empty" in detail for detail in logged)
    assert_alive_and_untouched(up)


def test_every_wrong_value_of_the_length_field_is_refused_and_none_runs(tmp_path):
    up = Uplink(tmp_path)
    right = len(mode_command(0)) - 7
    classes: Counter[str] = Counter()
    for batch in range(4):  # 14-bit sequence counts: each batch names its packets uniquely
        values = [v for v in range(batch << 14, (batch + 1) << 14) if v != right]
        raws = {v: with_length_field(v, v & 0x3FFF) for v in values}
        up.reports.clear()
        up.send_all(raws.values(), bypass=True)
        for value, raw in raws.items():
            failures = [r for r in up.reports[raw[:4]] if r.failed]
            assert failures and not [r for r in up.reports[raw[:4]] if not r.failed], value
            classes[failures[0].reason.split(":", 1)[0]] += 1
    assert sum(classes.values()) == 65_535
    assert set(classes) == {"bad_length", "bad_checksum"}, classes
    assert_alive_and_untouched(up)
