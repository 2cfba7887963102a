"""Both ends of the space link with the flight's NV store (decision 0023), in one process on a
stepped clock: a new, wiped or half-corrupt store accepts no authenticated frame until the
ground answers the node's challenge; every sequence number a frame consumed is on the disk
before the command it carries is handed over; a captured uplink replayed is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsw.core.nvstore import NvStore
from hal.errors import StoreError
from hal.links.space_link import FlightSpaceLink, GroundSpaceLink, SpaceLinkConfig
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.sdls import ChallengeNonces, SecurityAssociation, resync_frame
from hal.store import CounterStore

from .link_helpers import MemoryLink

KEY = bytes(range(32))
SPI = 7
SA = SecurityAssociation(SPI, KEY)
DEFAULTS = {"counters": {}, "boot": {"count": 0}}
STEP = 0.05


def command(n: int) -> PusTc:
    return PusTc(0x123, 8, 1, n.to_bytes(4, "big"), seq_count=n)


class Node:
    """A flight end on its NV store, as ``fsw`` builds it, and the ground end, stepped by hand.

    The owner's part (the node's cycle) is played by :meth:`step`: challenges due are handed to
    ``self.challenges`` (the station reads them from the TM report), commands to
    ``self.executed`` after checking the store on the disk."""

    def __init__(self, folder: Path, seed: bytes = b"s" * 32) -> None:
        self.folder = folder
        self.path = folder / "lander"
        self.seed = seed
        self.now = 0.0
        self.config = SpaceLinkConfig(t1=0.5, clcw_interval=0.2, challenge_interval=1.0)
        self.ground_link = MemoryLink(bytearray(), bytearray())
        self.ground_link.open()
        self.ground = GroundSpaceLink(
            self.ground_link, SA, self.config, monotonic=lambda: self.now,
            store=CounterStore(folder / "ground.json"),
        )  # fmt: skip
        self.wire_up: list[bytes] = []
        self.executed: list[PusTc] = []
        self.events: list[tuple[str, str]] = []
        self.challenges: list[tuple[bytes, int, str]] = []
        self.starts = 0
        self.boot()

    def boot(self) -> None:
        """Start (again) the flight end, from its store on the disk."""
        self.starts += 1
        self.nv = NvStore(self.path, DEFAULTS, durable=False)
        self.flight_link = MemoryLink(bytearray(), bytearray())
        self.flight_link.open()
        nonces = ChallengeNonces(self.seed + bytes([self.starts]), lambda: self.now)
        self.flight = FlightSpaceLink(
            self.flight_link, {SPI: KEY}, self.config, store=self.nv.counters(),
            monotonic=lambda: self.now, on_event=lambda *e: self.events.append(e),
            nonces=nonces, trusted=self.nv.loaded_from != "backup",
        )  # fmt: skip

    def on_disk(self) -> dict[str, int]:
        return NvStore(self.path, DEFAULTS, durable=False).get("counters")

    def step(self) -> None:
        self.ground.poll(0)
        sent = bytes(self.ground_link.outbox)
        self.ground_link.outbox.clear()
        self.wire_up += [ASM + part for part in sent.split(ASM) if part]
        self.flight_link.inbox += sent
        self.flight.poll(0)
        while (tc := self.flight.receive(0)) is not None:
            # write-ahead: the number of the frame that carried it is on the disk already
            assert self.on_disk()[f"sn:{SPI}"] == self.flight.verifier.last_sn[SPI]
            self.executed.append(tc)
        challenge = self.flight.challenge_due(self.now)
        if challenge is not None:
            self.challenges.append((challenge.nonce, challenge.last_sn, challenge.reason))
        self.flight.flush()
        self.ground_link.inbox += bytes(self.flight_link.outbox)
        self.flight_link.outbox.clear()
        self.now = round(self.now + STEP, 6)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            self.step()

    def resync(self) -> int:
        """The ground answers the latest challenge, as the station does when asked."""
        nonce, last_sn, _ = self.challenges[-1]
        sn = self.ground.resync(nonce, last_sn)
        self.run(2.0)
        return sn

    def inject(self, frames: list[bytes]) -> None:
        """Put frames straight onto the flight end's receiver (an attacker's transmitter)."""
        for raw in frames:
            self.flight_link.inbox += raw
            self.flight.poll(0)

    def rejects(self) -> list[str]:
        return [detail.split(":")[0] for name, detail in self.events if name == "tc_rejected"]


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = Node(tmp_path)
    node.ground.start()
    return node


def test_a_first_boot_accepts_nothing_until_the_ground_answers_its_challenge(node):
    node.ground.send(command(1))
    node.run(3.0)
    assert node.executed == [] and node.flight.needs_resync
    assert {"sn:7", "session:7"}.isdisjoint(node.on_disk())
    assert set(node.rejects()) == {"resync_needed"}
    assert [name for name, _ in node.events].count("resync_needed") == 1
    assert len(node.challenges) >= 2 and len({c[0] for c in node.challenges}) == 1
    assert node.challenges[-1][1:] == (0, "no_state")
    base = node.resync()
    assert ("resynced" in [name for name, _ in node.events]) and not node.flight.needs_resync
    assert node.on_disk()[f"sn:{SPI}"] >= base
    assert node.on_disk()[f"session:{SPI}"] == int.from_bytes(node.challenges[-1][0], "big")
    node.run(3.0)
    assert [tc.app_data for tc in node.executed] == [command(1).app_data]  # once
    n = len(node.challenges)
    node.run(3.0)
    assert len(node.challenges) == n  # no more challenges once resynchronised


def test_a_restart_with_its_store_goes_on_in_its_session(node):
    node.run(0.5)
    node.resync()
    node.ground.send(command(1))
    node.run(2.0)
    node.boot()  # power cycle, store intact
    assert not node.flight.needs_resync
    node.inject(node.wire_up)
    node.ground.send(command(2))
    node.run(3.0)
    assert [int.from_bytes(tc.app_data, "big") for tc in node.executed] == [1, 2]
    assert "replay" in node.rejects() and not node.challenges[1:]


def wipe(node: Node, how: str) -> None:
    for copy in ("a", "b"):
        path = node.folder / f"lander.{copy}"
        if how == "deleted":
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(path.read_bytes()[:-9] + b"garbage}\n")


@pytest.mark.parametrize("how", ["deleted", "corrupt"])
def test_a_lost_store_refuses_the_whole_captured_uplink_until_resynced(node, how):
    node.run(0.5)
    node.resync()
    for n in range(1, 6):
        node.ground.send(command(n))
    node.run(3.0)
    assert len(node.executed) == 5
    captured, first_nonce = list(node.wire_up), node.challenges[-1][0]
    wipe(node, how)
    node.boot()
    assert node.nv.loaded_from == "defaults"
    node.run(0.5)
    assert node.challenges[-1][0] != first_nonce and node.challenges[-1][1] == 0
    node.executed.clear()
    node.inject(captured)
    assert node.executed == [] and node.flight.receive(0) is None
    assert "sn:7" not in node.on_disk()
    assert {"resync_needed", "stale_challenge"} <= set(node.rejects())
    node.resync()
    node.inject(captured)  # signed in the old session
    node.ground.send(command(6))
    node.run(3.0)
    assert [int.from_bytes(tc.app_data, "big") for tc in node.executed] == [6]
    assert "bad_mac" in node.rejects()


def test_a_store_loaded_from_its_older_copy_is_resynchronised_above_what_it_knows(node):
    node.run(0.5)
    node.resync()
    node.ground.send(command(1))
    node.run(2.0)
    known = node.on_disk()[f"sn:{SPI}"]
    newest = max(node.folder.glob("lander.[ab]"), key=lambda p: p.stat().st_mtime_ns)
    newest.write_text("{torn")
    node.boot()
    assert node.nv.loaded_from == "backup" and node.flight.needs_resync
    assert node.on_disk()[f"session:{SPI}"] == 0  # dropped on the disk, for the next boot too
    node.run(0.5)
    nonce, last, reason = node.challenges[-1]
    assert reason == "backup_copy" and 0 < last <= known
    low = resync_frame(42, 0, SA, nonce, last)  # a base that would rewind
    node.inject([ASM + low])
    assert node.flight.needs_resync and "replay" in node.rejects()
    assert node.resync() > last
    node.ground.send(command(2))
    node.run(3.0)
    assert [int.from_bytes(tc.app_data, "big") for tc in node.executed] == [1, 2]


def test_a_resync_the_store_cannot_keep_is_refused(node, monkeypatch):
    node.run(0.5)

    def failing(*args, **kwargs):
        raise StoreError("disk full")

    monkeypatch.setattr(node.nv, "put", failing)
    nonce, last, _ = node.challenges[-1]
    node.ground.resync(nonce, last)
    node.run(1.0)
    assert node.flight.needs_resync and "persist_failed" in node.rejects()


def test_a_restarted_ground_goes_on_in_the_session_it_opened(node, tmp_path):
    node.run(0.5)
    node.resync()
    restarted = GroundSpaceLink(
        node.ground_link, SA, node.config, monotonic=lambda: node.now,
        store=CounterStore(tmp_path / "ground.json"),
    )  # fmt: skip
    assert restarted.sa == node.ground.sa and restarted.sa != SA
    node.ground = restarted
    restarted.start()
    restarted.send(command(9))
    node.run(3.0)
    assert [int.from_bytes(tc.app_data, "big") for tc in node.executed] == [9]


def test_a_link_without_a_nonce_source_needs_no_resync(tmp_path):
    link = MemoryLink(bytearray(), bytearray())
    link.open()
    flight = FlightSpaceLink(link, {SPI: KEY}, SpaceLinkConfig(), store=None)
    assert not flight.needs_resync and flight.challenge_due(0.0) is None
    assert flight.next_challenge == float("inf")


def test_the_window_must_cover_what_a_restarted_ground_skips():
    with pytest.raises(ValueError, match="sn_window"):
        SpaceLinkConfig(sn_window=100)
    with pytest.raises(ValueError, match="challenge_interval"):
        SpaceLinkConfig(challenge_interval=0)
