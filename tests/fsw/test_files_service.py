"""A node's file service (core component ``files``, decision 0056), in one process on a manual
clock, through its real space link (SDLS, TC and TM frames) to a ground end with the station's
CFDP receiver: ``files.downlink events.log`` sends the node's latest events as a file by CFDP;
the ground's answers go up in type-BD frames and close the transaction on board
(``files.sent``); a bad name, an unknown file, and hostile PDUs on the uplink are refused by
name and nothing stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fsw.core.config import load_config
from fsw.core.node import Node
from fsw.dictionary import node_dictionary
from fsw.dictionary.files import LOG_NAME, build_file_name
from fsw.dictionary.model import EventDecoded
from fsw.dictionary.verification import Verification
from ground_tools.files import FileDesk
from hal.clock import ManualClock
from hal.links.space_link import FlightSpaceLink, GroundSpaceLink, SpaceLinkConfig
from hal.protocol.pus import ACK_ALL, PusTc, RequestId
from hal.protocol.sdls import SecurityAssociation
from hal.protocol.spacepacket import APID_CFDP, TYPE_TC, SpacePacket
from tests.links.link_helpers import memory_pair

KEY = bytes(range(32))
D = node_dictionary("mav")


class Mav:
    """A MAV node with its radio, a ground end and the station's file desk."""

    def __init__(self, folder: Path) -> None:
        self.clock = ManualClock(0.0)
        ground_end, flight_end = memory_pair()
        config = SpaceLinkConfig()
        self.node = Node(D, load_config("mav"), folder / "nv", self.clock.now,
                         lambda *line: None, durable=False)  # fmt: skip
        self.radio = FlightSpaceLink(flight_end, {1: KEY}, config, monotonic=self.clock.now,
                                     on_event=self.node.radio_event)  # fmt: skip
        self.node.attach_radio(self.radio)
        self.ground = GroundSpaceLink(ground_end, SecurityAssociation(1, KEY), config,
                                      monotonic=self.clock.now)  # fmt: skip
        self.desk = FileDesk({"mav": D.apid})
        self.events: list[tuple[str, str]] = []
        self.stages: dict[bytes, list[tuple[str, int]]] = {}
        self.node.cycle()
        self.ground.start()

    def cycle(self) -> None:
        self.clock.set(round(self.clock.now() + 0.1, 6))
        self.node.cycle()
        self.ground.poll(0)
        for tm in self.ground.receive_all(0):
            if tm.service == 5:
                event = EventDecoded.parse(tm.source_data)
                self.events.append((D.event(event.event_id).name, event.detail))
            elif tm.service == 1:
                report = Verification.decode(tm.subtype, tm.source_data)
                self.stages.setdefault(report.request_id, []).append((report.stage, report.code))
        for packet in self.desk.take("mav", self.ground.receive_pdus(), self.clock.now()):
            self.ground.send(packet, bypass=True)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.1)):
            self.cycle()

    def command(self, name: str, seq: int, **args: Any) -> list[tuple[str, int]]:
        command = D.command(name)
        packet = PusTc(D.apid, command.message.service, command.message.subtype,
                       command.encode(**args), seq_count=seq, ack_flags=ACK_ALL)  # fmt: skip
        self.ground.send(packet)
        self.run(2.0)
        return self.stages.get(RequestId.of(packet).pack(), [])


def test_the_event_log_comes_down_by_cfdp_and_the_transaction_closes_on_board(tmp_path):
    mav = Mav(tmp_path)
    mav.run(1.0)
    stages = mav.command("files.downlink", 1, data=build_file_name(LOG_NAME))
    assert [stage for stage, _ in stages] == ["accepted", "started", "completed"]
    mav.run(3.0)
    (record,) = mav.desk.received
    assert record.ok and record.name == LOG_NAME and record.node == "mav"
    lines = record.data.decode().splitlines()
    assert any(" core.boot boot 1 " in line for line in lines)  # time, severity, name, detail
    sent = [detail for name, detail in mav.events if name == "files.sent"]
    assert len(sent) == 1 and sent[0].startswith(
        f"{LOG_NAME}: transaction 0, {record.size} octets, CRC-32 {record.crc32:08x}, sent from "
    )
    assert not mav.node.components["files"].busy(mav.clock.now())


def test_a_bad_name_and_a_file_not_on_board_are_refused_by_name(tmp_path):
    mav = Mav(tmp_path)
    mav.run(1.0)
    bad = mav.command("files.downlink", 1, data=b"../secrets")
    assert [stage for stage, _ in bad] == ["accepted", "started", "completion_failed"]
    absent = mav.command("files.downlink", 2, data=build_file_name("orient-9.pgm"))
    assert [stage for stage, _ in absent] == ["accepted", "started", "completion_failed"]
    assert not mav.desk.received and not mav.node.components["files"].busy(mav.clock.now())
    assert mav.command("core.ping", 3)[-1][0] == "completed"  # and the node goes on


def test_hostile_pdus_on_the_uplink_are_counted_and_the_node_goes_on(tmp_path):
    mav = Mav(tmp_path)
    mav.run(1.0)
    for i, junk in enumerate((b"\x00", b"\xff" * 40, bytes(range(30)), b"\x20" + bytes(20))):
        packet = SpacePacket(TYPE_TC, APID_CFDP, junk, seq_count=i).pack()
        mav.ground.send(packet, bypass=True)
        mav.run(0.3)
    refused = mav.node.components["files"].housekeeping(mav.clock.now())["files.status"]
    assert refused["refused"] == 4 and refused["pdus_in"] == 4
    assert mav.command("core.ping", 1)[-1][0] == "completed"
