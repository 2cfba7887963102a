"""System test: the space link between a ground process and a flight process, over pseudo-
terminals joined by the space-link emulator with loss and bit errors, as in a pass over a noisy
station. The ground (this test) sends 1000 telecommands and must see each executed exactly once
and in order; every replayed or forged frame must be rejected, also after the node restarts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hal.links import PcapReader, open_link
from hal.links.space_link import GroundSpaceLink, SpaceLinkConfig
from hal.protocol.crc import append_crc16
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.sdls import SecurityAssociation, authenticate
from hal.protocol.tc_frame import TcFrame

NODE = Path(__file__).with_name("space_link_node.py")
KEY = bytes.fromhex("6d73722d746573742d6b65792d6f6e6c792d666f722d746869732d74657374")
COMMANDS = 1000
CONFIG = SpaceLinkConfig(t1=0.3, clcw_interval=0.2)


def start(args: list[str]) -> tuple[subprocess.Popen[str], dict]:
    process = subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    first = process.stdout.readline()
    assert first, f"{args[0]} did not start"
    return process, json.loads(first)


def stop(process: subprocess.Popen[str]) -> dict:
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


@contextmanager
def flight_node(path: str, tmp: Path) -> Iterator[list[dict]]:
    """Run the flight process on ``path``; yields a list that receives its final report."""
    process, _ = start([
        str(NODE), "--link", path, "--keys", str(tmp / "keys.json"),
        "--store", str(tmp / "node-counters.json"), "--log", str(tmp / "executed.jsonl"),
        "--t1", str(CONFIG.t1),
    ])  # fmt: skip
    report: list[dict] = []
    try:
        yield report
    finally:
        report.append(stop(process))


def command(n: int) -> PusTc:
    return PusTc(0x140, 8, 1, n.to_bytes(4, "big") + bytes(n % 200), seq_count=n & 0x3FFF)


def executed(tmp: Path) -> list[int]:
    lines = (tmp / "executed.jsonl").read_text().splitlines()
    return [int(json.loads(line)["data"][:8], 16) for line in lines]


def test_1000_commands_over_a_noisy_pty_link_exactly_once_in_order_and_no_forgery(tmp_path):
    (tmp_path / "keys.json").write_text(json.dumps({"keys": {"7": KEY.hex()}}))
    sa = SecurityAssociation(7, KEY)
    relay, ends = start(["-m", "sim_hardware.space_link", "--seed", "11", "--drop", "0.03",
                         "--flip", "0.03", "--duplicate", "0.01"])  # fmt: skip
    ground = GroundSpaceLink(open_link(ends["ground"], capture_dir=tmp_path / "captures",
                                       capture_name="ground"), sa, CONFIG)  # fmt: skip
    ground.link.open()
    try:
        with flight_node(ends["flight"], tmp_path) as first_run:
            ground.start()
            ids = [ground.send(command(n)) for n in range(COMMANDS)]
            assert ground.wait_for(ids, timeout=240), ground.stats()
            assert {ground.fate(i) for i in ids} == {"delivered"}

            authentic = ground_frames(tmp_path)
            forged = forgeries(sa, ground.fop.vs)
            ground.link.write_frames(authentic[-300:] + forged)  # an attacker on the uplink
            last = ground.send(command(COMMANDS))  # behind them in the same stream
            assert ground.wait_for([last], timeout=60)

        with flight_node(ends["flight"], tmp_path) as second_run:  # the node restarted
            ground.link.write_frames(authentic[-300:])
            final = ground.send(command(COMMANDS + 1))
            assert ground.wait_for([final], timeout=60)
    finally:
        ground.close()
        relay_report = stop(relay)

    assert executed(tmp_path) == list(range(COMMANDS + 2))  # once each, in order, none forged
    first, second = first_run[0]["stats"], second_run[0]["stats"]
    assert first["rejects"].get("replay", 0) > 0 and first["rejects"].get("bad_mac", 0) > 0
    assert second["rejects"].get("replay", 0) > 0
    assert relay_report["stats"]["up"]["applied"]["drop"] > 0  # the link really was bad
    assert relay_report["stats"]["up"]["applied"]["flip"] > 0
    stats = ground.stats()
    assert stats["retransmissions"] > 0 and stats["delivered"] >= COMMANDS + 2
    assert stats["frame_gaps"] > 0  # downlink frames were lost, and noticed
    rejected_events = [e for e in first_run[0]["events"] if e[0] == "tc_rejected"]
    assert len(rejected_events) == sum(first["rejects"].values())


def ground_frames(tmp: Path) -> list[bytes]:
    """Every frame the ground sent so far, from its capture."""
    return [frame for _, frame in PcapReader(tmp / "captures" / "ground.tx.pcap")]


def forgeries(sa: SecurityAssociation, vs: int) -> list[bytes]:
    """Frames an attacker without the key could make: another key, a doctored MAC, a flipped
    bit with the CRC made good, an unknown key id; each carrying a command numbered 900000+."""
    out = []
    wrong = SecurityAssociation(sa.spi, bytes(32))
    for k in range(20):
        frame = TcFrame(CONFIG.scid, CONFIG.vcid, command(900_000 + k).pack(), seq=(vs + k) % 256)
        out.append(ASM + authenticate(frame, wrong, 10**9 + k))
        good = bytearray(authenticate(frame, sa, 10**9 + k))
        good[10 + k] ^= 0x01  # inside the command: the MAC no longer verifies
        out.append(ASM + append_crc16(bytes(good[:-2])))
        out.append(ASM + authenticate(frame, SecurityAssociation(99, sa.key), 10**9 + k))
    return out
