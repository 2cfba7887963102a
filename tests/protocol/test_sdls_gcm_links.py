"""Both ends of the space link under each SDLS suite (decision 0043), in one process on a
stepped clock: the node presents its challenge, the ground resyncs it, commands long and short
run exactly once and in order, COP-1's directives go in clear under GCM, and a node refuses
what its own suite does not secure."""

from __future__ import annotations

import pytest

from ground_tools.capture import decode_capture
from hal.links.pcap import LINKTYPE_TC_FRAME, PcapWriter
from hal.links.space_link import FlightSpaceLink, GroundSpaceLink, SpaceLinkConfig
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.sdls import ChallengeNonces, SecurityAssociation, authenticate
from hal.protocol.tc_frame import TcFrame
from hal.store import CounterStore
from tests.links.link_helpers import MemoryLink

KEY = bytes(range(32))
SPI = 7
SA = SecurityAssociation(SPI, KEY)
STEP = 0.05


def command(n: int, size: int = 4) -> PusTc:
    return PusTc(0x123, 8, 1, n.to_bytes(4, "big") + bytes(size - 4), seq_count=n)


class Link:
    """A ground end and a flight end of one suite, wired back to back."""

    def __init__(self, tmp_path, suite: str, *, flight_suite: str | None = None) -> None:
        self.now = 0.0
        self.config = SpaceLinkConfig(t1=0.5, clcw_interval=0.2, challenge_interval=1.0)
        self.ground_link = MemoryLink(bytearray(), bytearray())
        self.ground_link.open()
        self.flight_link = MemoryLink(bytearray(), bytearray())
        self.flight_link.open()
        self.ground = GroundSpaceLink(
            self.ground_link, SA, self.config, monotonic=lambda: self.now, suite=suite,
            store=CounterStore(tmp_path / "ground.json"),
        )  # fmt: skip
        self.events: list[tuple[str, str]] = []
        self.flight = FlightSpaceLink(
            self.flight_link, {SPI: KEY}, self.config, monotonic=lambda: self.now,
            store=CounterStore(tmp_path / "flight.json"), suite=flight_suite or suite,
            on_event=lambda *e: self.events.append(e),
            nonces=ChallengeNonces(b"s" * 32, lambda: self.now),
        )  # fmt: skip
        self.wire_up: list[bytes] = []
        self.executed: list[PusTc] = []
        self.challenges: list[tuple[bytes, int]] = []

    def step(self) -> None:
        self.ground.poll(0)
        sent = bytes(self.ground_link.outbox)
        self.ground_link.outbox.clear()
        self.wire_up += [ASM + part for part in sent.split(ASM) if part]
        self.flight_link.inbox += sent
        self.flight.poll(0)
        while (tc := self.flight.receive(0)) is not None:
            self.executed.append(tc)
        challenge = self.flight.challenge_due(self.now)
        if challenge is not None:
            self.challenges.append((challenge.nonce, challenge.last_sn))
        self.flight.flush()
        self.ground_link.inbox += bytes(self.flight_link.outbox)
        self.flight_link.outbox.clear()
        self.now = round(self.now + STEP, 6)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            self.step()

    def rejects(self) -> dict[str, int]:
        return self.flight.stats()["rejects"]


@pytest.mark.parametrize("suite", ["aes-gcm", "aes-gcm-auth", "hmac"])
def test_resync_then_commands_long_and_short_run_once_in_order(tmp_path, suite):
    link = Link(tmp_path, suite)
    link.ground.start()
    link.run(1.0)
    assert link.flight.needs_resync and link.challenges
    nonce, last_sn = link.challenges[-1]
    link.ground.resync(nonce, last_sn)
    link.run(1.0)
    assert not link.flight.needs_resync
    before = link.rejects()  # the Unlock sent before the resync was refused: resync_needed
    assert set(before) <= {"resync_needed"}, before
    long = command(1, size=3000)  # spans frames: the unit leaves room for the suite's overhead
    short = [command(n, size=8) for n in range(2, 12)]
    ids = [link.ground.send(long), *link.ground.send_many(short)]
    link.run(5.0)
    assert all(link.ground.fate(i) == "delivered" for i in ids)
    assert [p.pack() for p in link.executed] == [long.pack()] + [p.pack() for p in short]
    assert link.rejects() == before
    assert link.flight.farm.counts["unlock"] >= 1  # a directive in clear under GCM, taken
    frames = [raw[len(ASM) :] for raw in link.wire_up]
    assert all(len(raw) <= link.config.tc_frame_max for raw in frames)
    if suite == "aes-gcm":  # nothing of the commands is readable on the wire
        assert not any(long.pack()[:32] in raw for raw in frames)
    if suite.startswith("aes-gcm"):
        directives = [raw for raw in frames if raw[0] & 0x10 and len(raw) in (8, 10)]
        assert directives, "no COP-1 directive in clear"


def test_a_gcm_node_refuses_the_captured_uplink_and_frames_of_other_suites(tmp_path):
    link = Link(tmp_path, "aes-gcm")
    link.ground.start()
    link.run(1.0)
    link.ground.resync(*link.challenges[-1])
    link.run(1.0)
    link.ground.send(command(1))
    link.run(2.0)
    assert len(link.executed) == 1
    for raw in link.wire_up:
        link.flight_link.inbox += raw
    # a clear frame, and frames secured with the right key under the HMAC suite
    packet = command(2).pack()
    link.flight_link.inbox += ASM + TcFrame(0x2A, 0, packet, seq=1).pack()
    link.flight_link.inbox += ASM + authenticate(TcFrame(42, 0, packet, seq=1), SA, 10**6, "hmac")
    link.run(1.0)
    assert len(link.executed) == 1
    rejects = link.rejects()
    assert rejects.get("replay") == 1 and rejects.get("stale_challenge") == 1, rejects
    assert rejects.get("bad_mac") == 1 and rejects.get("truncated") == 1, rejects


def test_a_clear_link_needs_no_key_session_or_resync(tmp_path):
    link = Link(tmp_path, "clear")
    assert not link.flight.needs_resync
    link.ground.start()
    ids = [link.ground.send(command(n)) for n in range(5)]
    link.run(2.0)
    assert not link.challenges
    assert all(link.ground.fate(i) == "delivered" for i in ids)
    assert [p.pack() for p in link.executed] == [command(n).pack() for n in range(5)]
    assert any(command(0).pack() in raw for raw in link.wire_up)  # in clear


def test_a_gcm_node_refuses_a_clear_ground(tmp_path):
    link = Link(tmp_path, "clear", flight_suite="aes-gcm")
    link.ground.start()
    link.ground.send(command(1, size=40))
    link.run(2.0)
    assert link.executed == []
    assert link.rejects().get("resync_needed", 0) + link.rejects().get("unknown_spi", 0) > 0


@pytest.mark.parametrize("suite", ["aes-gcm", "aes-gcm-auth"])
def test_msr_capture_decode_follows_a_gcm_session_and_decrypts_its_commands(tmp_path, suite):
    link = Link(tmp_path, suite)
    link.ground.start()
    link.run(1.0)
    link.ground.resync(*link.challenges[-1])
    link.run(1.0)
    link.ground.send(command(7, size=40))
    link.run(2.0)
    path = tmp_path / "ground-lander.tx.pcap"
    with PcapWriter(path, LINKTYPE_TC_FRAME) as writer:
        for index, raw in enumerate(link.wire_up):
            writer.write(raw, float(index))
    records = [r for r in decode_capture(path, keys={SPI: KEY}) if r.kind == "tc_frame"]
    texts = [r.layer for r in records]
    assert any("aes-gcm-auth MAC ok" in t and "Resync" in t for t in texts), texts
    secured = [r for r in records if f"{suite} MAC ok (session)" in r.layer]
    assert secured and secured[-1].packets, texts  # decrypted and decoded
    assert not any("MAC BAD" in t for t in texts if "Resync" not in t), texts
