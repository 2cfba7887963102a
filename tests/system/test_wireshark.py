"""System test: an engineer opens every capture of a campaign in Wireshark (decision 0042).

As a person would: run a one-tube campaign, export the dissector with ``msr dict export --format
wireshark -o msr.lua``, and read every capture file of the run folder with ``tshark -X
lua_script:msr.lua``. Every record is decoded by the dissector (device links, TC frames, TM
frames, each under its linktype), none is marked malformed, carries a bad checksum or an unknown
id, no Lua error is printed; commands, telemetry, events and board messages appear by name, with
units and state names; the records carry the mission's dates, not 1970's. A second test feeds
damaged records and sees each one marked malformed, never a crash.

tshark comes from the Makefile's ``system-tools`` target (Debian package ``tshark``); where it
is missing the test is skipped with that reason, except under CI, which must have it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from fsw.dictionary import node_dictionary
from hal.bench import DEFAULT_EPOCH, default_bench_path
from hal.links.pcap import (
    LINKTYPE_PACKET,
    LINKTYPE_TC_FRAME,
    LINKTYPE_TM_FRAME,
    PcapReader,
    PcapWriter,
)
from hal.protocol.cuc import CucTime
from hal.protocol.devices import sta_arm
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc, PusTm
from hal.protocol.sdls import (
    SecurityAssociation,
    authenticate,
    resync_frame,
    session_association,
)
from hal.protocol.tc_frame import UNLOCK, TcFrame
from hal.protocol.tc_segment import segment
from hal.protocol.tm_frame import VC_EVENTS, TmFramer
from tests.system.operator import msr

TSHARK = shutil.which("tshark")
if TSHARK is None and os.environ.get("CI"):
    raise RuntimeError("tshark is missing under CI: make system-tools installs it")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (make system-tools)"),
]

FIELDS = (
    "frame.number", "msr.kind", "msr.name", "msr.malformed", "msr.bad_checksum", "msr.unknown",
    "msr.out_of_range", "_ws.malformed", "_ws.expert.message",
)  # fmt: skip
"""What tshark prints per record: its number, what the dissector made of it, every problem."""


def tshark(lua: Path, capture: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tshark -X lua_script:LUA -r CAPTURE ARGS``: its output (never hangs past 5 minutes)."""
    assert TSHARK is not None
    return subprocess.run(
        [TSHARK, "-n", "-X", f"lua_script:{lua}", "-r", str(capture), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def records(lua: Path, capture: Path) -> list[dict[str, str]]:
    """Each record of ``capture`` as tshark's fields (:data:`FIELDS`); a failed run fails."""
    fields = [arg for name in FIELDS for arg in ("-e", name)]
    run = tshark(lua, capture, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
                 *fields)  # fmt: skip
    problems = [line for line in run.stderr.splitlines() if "Running as user" not in line]
    assert run.returncode == 0 and not problems, f"{capture.name}: {run.stderr[-2000:]}"
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in run.stdout.splitlines()]


def export_dissector(tmp_path: Path) -> Path:
    lua = tmp_path / "msr.lua"
    run = msr("dict", "export", "--format", "wireshark", "-o", str(lua), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert lua.read_text(encoding="utf-8").startswith("-- msr.lua")
    return lua


def hmac_bench(tmp_path: Path) -> Path:
    """The default bench with the uplink under the HMAC suite: its commands cross the link in
    clear. Under the default, AES-256-GCM (decision 0043), they are ciphertext, which no
    dissector can name."""
    text = default_bench_path().read_text(encoding="utf-8")
    assert text.count('sdls = "aes-gcm"') == 3
    bench = tmp_path / "hmac.toml"
    bench.write_text(text.replace('sdls = "aes-gcm"', 'sdls = "hmac"'), encoding="utf-8")
    return bench


@pytest.mark.long  # make test-long (CI): moved there to keep make test under 15 minutes
def test_every_record_of_a_campaign_decodes_in_tshark_with_names(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    campaign = msr("campaign", "--tubes", "1", "--runs-dir", str(runs),
                   "--bench", str(hmac_bench(tmp_path)), cwd=tmp_path)  # fmt: skip
    assert campaign.returncode == 0, campaign.stdout[-3000:] + campaign.stderr[-3000:]
    captures = sorted((runs / "latest" / "captures").glob("*.pcap"))
    lua = export_dissector(tmp_path)

    kinds: Counter[str] = Counter()
    names: Counter[str] = Counter()
    linktypes = {}
    for capture in captures:
        with PcapReader(capture) as reader:
            linktypes[capture.name] = reader.linktype
            stamps = [ts for ts, _ in reader]
        assert stamps, f"{capture.name}: no record"
        assert min(stamps) >= DEFAULT_EPOCH.timestamp(), f"{capture.name}: stamped before 2031"
        decoded = records(lua, capture)
        assert len(decoded) == len(stamps), f"{capture.name}: tshark read another count"
        for record in decoded:
            where = f"{capture.name} #{record['frame.number']}"
            assert record["msr.kind"], f"{where}: not decoded by the dissector"
            for problem in FIELDS[3:]:
                assert not record[problem], f"{where}: {problem}: {record[problem]}"
            kinds[record["msr.kind"]] += 1
            names.update(name for name in record["msr.name"].split("|") if name)

    # every link kind, each under its linktype: board and timing links, uplink, downlink
    assert set(kinds) == {"packet", "tc_frame", "tm_frame"}, kinds
    assert linktypes["sim-sta_arm.rx.pcap"] == LINKTYPE_PACKET
    assert linktypes["ground-lander.tx.pcap"] == LINKTYPE_TC_FRAME
    assert linktypes["ground-lander.rx.pcap"] == LINKTYPE_TM_FRAME
    # commands, telemetry, events, verification, board messages and timing, by name
    for name in (
        "sta.load_tube", "modes.set", "cop1.unlock", "core.status", "sta.status",
        "time.report", "core.boot", "verification.completed", "sta_arm.arm.ping",
        "sta_arm.arm.status", "sta_arm.arm.completed", "timing.tick", "timing.cycle_done",
    ):  # fmt: skip
        assert names[name], f"{name} never named; named: {sorted(names)[:40]}"
    assert any(name.startswith("sta_arm.gripper.") and names[name] for name in names)

    # a person reading the tree sees units, state names, the CLCW and the mission's date
    tree = tshark(lua, runs / "latest" / "captures" / "ground-lander.rx.pcap", "-V", "-c", "5")
    assert "mode: safe (1)" in tree.stdout
    assert " degC" in tree.stdout and "uptime: " in tree.stdout
    assert "Report value V(R)" in tree.stdout
    assert "Jul  1, 2031" in tree.stdout


def test_damaged_records_are_marked_malformed_and_the_rest_still_decode(tmp_path: Path) -> None:
    lua = export_dissector(tmp_path)
    ping = ASM + PusTc(sta_arm.ARM.apid, 17, 1, seq_count=1).pack()
    damaged = bytearray(ping)
    damaged[-1] ^= 0xFF
    records_in = [ping, bytes(damaged), ping[:-3], ping[4:], ASM, ping + b"\x00", ping]
    path = tmp_path / "sim-sta_arm.rx.pcap"
    with PcapWriter(path, LINKTYPE_PACKET) as writer:
        for index, record in enumerate(records_in):
            writer.write(record, 1.0 + index)
    decoded = records(lua, path)
    assert [r["msr.name"] for r in decoded][::6] == ["sta_arm.arm.ping", "sta_arm.arm.ping"]
    assert decoded[1]["msr.bad_checksum"]
    for record in decoded[2:6]:
        assert record["msr.malformed"], record
    for linktype in (LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME):
        frames = tmp_path / f"frames-{linktype}.pcap"
        with PcapWriter(frames, linktype) as writer:
            writer.write(ping, 1.0)  # a packet where a frame belongs
            writer.write(ASM + bytes(40), 2.0)
        for record in records(lua, frames):
            assert record["msr.malformed"] or record["msr.bad_checksum"], record


def test_packets_spanning_frames_and_segments_are_rebuilt_and_a_gap_drops_one(
    tmp_path: Path,
) -> None:
    """A TM packet longer than a frame's data field is shown once, whole, with the frame that
    completes it; a lost frame drops the packet in progress (a sequence note, not malformed); a
    segmented telecommand is shown with its last segment."""
    lander = node_dictionary("lander")
    lua = export_dissector(tmp_path)
    detail = "the long detail of an event that does not fit in one short frame, nor in two"
    event = PusTm(lander.apid, 5, 1, lander.event("core.boot").encode(detail), time=CucTime(7, 0))
    framer = TmFramer(42, frame_length=64)  # 52-octet data fields: the event spans 3 frames
    for _ in range(3):
        framer.add_packet(VC_EVENTS, event.pack())
    framer.flush()
    frames = [ASM + frame for frame in framer.frames()]
    whole, lost = tmp_path / "whole.pcap", tmp_path / "lost.pcap"
    for path, kept in ((whole, frames), (lost, [frames[0], *frames[2:]])):
        with PcapWriter(path, LINKTYPE_TM_FRAME) as writer:
            for index, frame in enumerate(kept):
                writer.write(frame, 1.0 + index)
    decoded = records(lua, whole)
    assert [n for r in decoded for n in r["msr.name"].split("|") if n != "idle" and n] == [
        "core.boot"
    ] * 3
    assert not any(r["msr.malformed"] or r["msr.bad_checksum"] for r in decoded)
    tree = tshark(lua, whole, "-V").stdout
    assert "Reassembled packet" in tree and detail.strip() in tree
    decoded = records(lua, lost)
    assert 0 < sum(r["msr.name"].count("core.boot") for r in decoded) < 3
    assert not any(r["msr.malformed"] or r["msr.bad_checksum"] for r in decoded)

    insert = lander.command("schedule.insert")
    big = PusTc(lander.apid, insert.message.service, insert.message.subtype, bytes(400),
                seq_count=11)  # fmt: skip
    sa = SecurityAssociation(1, bytes(range(32)))
    units = segment([big.pack()], 150)
    uplink = tmp_path / "uplink.pcap"
    with PcapWriter(uplink, LINKTYPE_TC_FRAME) as writer:
        for n, unit in enumerate(units):
            frame = TcFrame(42, 0, unit.data, seq=n, seg_flags=unit.flags)
            writer.write(ASM + authenticate(frame, sa, n + 1), 1.0 + n)
    decoded = records(lua, uplink)
    assert len(decoded) == 3 and decoded[2]["msr.name"] == "schedule.insert"
    assert not any(r["msr.malformed"] or r["msr.bad_checksum"] for r in decoded)


@pytest.mark.parametrize("suite", ["aes-gcm", "aes-gcm-auth"])
def test_an_aes_gcm_uplink_decodes_without_a_malformed_record(tmp_path: Path, suite: str) -> None:
    """The default suite, AES-256-GCM (decision 0043): its SPI | IV header and tag are shown,
    its frame data as encrypted (or, authenticated only, its packets by name); its resync frame
    and its COP-1 directives in clear decode; nothing is malformed."""
    lander = node_dictionary("lander")
    lua = export_dissector(tmp_path)
    insert = lander.command("schedule.insert")
    big = PusTc(lander.apid, insert.message.service, insert.message.subtype, bytes(400),
                seq_count=11)  # fmt: skip
    sa = SecurityAssociation(1, bytes(range(32)))
    nonce = bytes(range(16))
    frames = [resync_frame(42, 0, sa, nonce, 1, suite),
              TcFrame(42, 0, UNLOCK, bypass=1, control=1).pack()]  # fmt: skip
    for n, unit in enumerate(segment([big.pack()], 150)):
        frame = TcFrame(42, 0, unit.data, seq=n, seg_flags=unit.flags)
        frames.append(authenticate(frame, session_association(sa, nonce), n + 2, suite))
    uplink = tmp_path / "uplink.pcap"
    with PcapWriter(uplink, LINKTYPE_TC_FRAME) as writer:
        for n, frame in enumerate(frames):
            writer.write(ASM + frame, 1.0 + n)
    decoded = records(lua, uplink)
    assert len(decoded) == 5
    assert not any(r["msr.malformed"] or r["msr.bad_checksum"] for r in decoded), decoded
    assert decoded[0]["msr.name"] == "cop1.resync" and decoded[1]["msr.name"] == "cop1.unlock"
    named = [n for r in decoded[2:] for n in r["msr.name"].split("|") if n]
    assert named == ([] if suite == "aes-gcm" else ["schedule.insert"]), decoded
