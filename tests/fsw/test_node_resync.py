"""A lander node's side of the resync (decision 0023), in one process on a manual clock: with a
store that holds no session it reports its challenge (TM[140,1] ``core.resync_challenge``,
every ``challenge_interval``) and runs no command; the ground's answer, built from the report as
the station builds it, resynchronises it; a restart with its store goes on without a challenge;
a restart from the store's older copy reports why, and the number it knows."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from fsw.core.config import load_config
from fsw.core.node import Node
from fsw.dictionary import node_dictionary
from fsw.dictionary.core import RESYNC_REPORT
from fsw.dictionary.model import EventDecoded
from fsw.dictionary.verification import Verification
from hal.clock import ManualClock
from hal.links.space_link import FlightSpaceLink, GroundSpaceLink, SpaceLinkConfig
from hal.protocol.pus import ACK_ALL, PusTc, RequestId
from hal.protocol.sdls import ChallengeNonces, SecurityAssociation
from tests.links.link_helpers import memory_pair

KEY = bytes(range(32))
D = node_dictionary("lander")
REPORT = D.report(RESYNC_REPORT)


class Lander:
    """A lander node with its radio on its own NV store, and a ground end."""

    def __init__(self, folder: Path, clock: ManualClock, start: int) -> None:
        self.clock = clock
        ground_end, flight_end = memory_pair()
        config = SpaceLinkConfig()
        self.node = Node(D, load_config("lander"), folder / "nv", clock.now,
                         lambda *line: None, durable=False)  # fmt: skip
        self.radio = FlightSpaceLink(
            flight_end, {1: KEY}, config, store=self.node.nv.counters(), monotonic=clock.now,
            on_event=self.node.radio_event,
            nonces=ChallengeNonces(bytes([start]) * 32, clock.now),
            trusted=self.node.nv.loaded_from != "backup",
        )  # fmt: skip
        self.node.attach_radio(self.radio)
        self.ground = GroundSpaceLink(ground_end, SecurityAssociation(1, KEY), config,
                                      monotonic=clock.now)  # fmt: skip
        self.challenges: list[tuple[float, dict[str, Any]]] = []
        self.events: list[str] = []
        self.stages: dict[bytes, list[str]] = {}
        self.node.cycle()
        self.ground.start()

    def cycle(self) -> None:
        self.clock.set(round(self.clock.now() + 0.1, 6))
        self.node.cycle()
        self.ground.poll(0)
        for tm in self.ground.receive_all(0):
            if (tm.service, tm.subtype) == REPORT.key:
                self.challenges.append((tm.time.seconds, REPORT.decode(tm.source_data)))
            elif tm.service == 5:
                self.events.append(D.event(EventDecoded.parse(tm.source_data).event_id).name)
            elif tm.service == 1:
                report = Verification.decode(tm.subtype, tm.source_data)
                self.stages.setdefault(report.request_id, []).append(report.stage)

    def run(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        for _ in range(round(seconds / 0.1)):
            self.cycle()
            if until is not None and until():
                return

    def answer(self) -> None:
        """The station's part: the latest challenge, from its report, answered with the key."""
        values = self.challenges[-1][1]
        nonce = b"".join(word.to_bytes(4, "big") for word in values["nonce"])
        self.ground.resync(nonce, values["last_sn"])

    def ping(self, seq: int) -> list[str]:
        command = D.command("core.ping")
        packet = PusTc(D.apid, command.message.service, command.message.subtype, b"",
                       seq_count=seq, ack_flags=ACK_ALL)  # fmt: skip
        self.ground.send(packet)
        rid = RequestId.of(packet).pack()
        self.run(5.0, until=lambda: "completed" in self.stages.get(rid, []))
        return self.stages.get(rid, [])


def test_a_first_boot_reports_its_challenge_runs_nothing_until_answered(tmp_path):
    lander = Lander(tmp_path, ManualClock(0.0), start=1)
    assert lander.node.next_due() <= lander.radio.next_challenge
    lander.run(5.0)
    times = [when for when, _ in lander.challenges]
    assert len(times) >= 3 and all(1.9 < b - a < 2.2 for a, b in pairwise(times))
    values = lander.challenges[-1][1]
    assert values["reason"] == 1 and values["last_sn"] == 0
    assert {tuple(v["nonce"]) for _, v in lander.challenges} == {tuple(values["nonce"])}
    assert lander.events.count("core.resync_needed") == 1
    assert "core.tc_rejected" in lander.events and lander.node.dispatcher.accepted == 0
    lander.answer()
    lander.run(1.0)
    assert "core.resynced" in lander.events
    assert lander.ping(1) == ["accepted", "started", "completed"]
    reported = len(lander.challenges)
    lander.run(5.0)
    assert len(lander.challenges) == reported


def test_a_restart_keeps_its_session_and_one_from_the_older_copy_asks_again(tmp_path):
    clock = ManualClock(0.0)
    first = Lander(tmp_path, clock, start=1)
    first.run(0.5)
    first.answer()
    assert first.ping(1)[-1] == "completed"
    known = first.radio.verifier.last_sn[1]
    again = Lander(tmp_path, clock, start=2)  # the same store, intact
    assert not again.radio.needs_resync and again.radio.verifier.last_sn[1] == known
    again.run(3.0)
    assert again.challenges == []
    copies = sorted(tmp_path.glob("nv.[ab]"), key=lambda p: p.stat().st_mtime_ns)
    copies[-1].write_text("{torn")
    third = Lander(tmp_path, clock, start=3)
    assert third.node.nv.loaded_from == "backup" and third.radio.needs_resync
    third.run(0.5)
    values = third.challenges[-1][1]
    assert values["reason"] == 2 and 0 < values["last_sn"] <= known
