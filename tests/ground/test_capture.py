"""``msr capture decode``: an operator reads back what every link of the bench said.

Each test writes a capture the way the bench does (the project's own encoders, ASM + frame, one
record per frame through :class:`hal.links.pcap.PcapWriter`) and decodes it.
"""

from __future__ import annotations

import json

import pytest

from fsw.dictionary import node_dictionary
from fsw.dictionary.verification import Verification
from ground_tools.capture import (
    CaptureError,
    DecodedRecord,
    decode_capture,
    decode_to_text,
    format_record,
    load_keys,
)
from hal.links.pcap import PcapWriter
from hal.protocol import timing
from hal.protocol.cuc import CucTime
from hal.protocol.devices import sta_arm
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc, PusTm, RequestId
from hal.protocol.sdls import SecurityAssociation, authenticate
from hal.protocol.tc_frame import TcFrame, set_vr_command
from hal.protocol.tc_segment import segment
from hal.protocol.tm_frame import VC_EVENTS, VC_REALTIME_HK, TmFramer

LANDER = node_dictionary("lander")
KEY = bytes(range(32))
SPI = 1
SCID = 42

STATUS_VALUES = {
    "mode": 1, "uptime": 12.5, "cycles": 125, "slips": 0, "accepted": 3, "rejected": 0,
    "dropped": 0, "events_suppressed": 0, "resets": 1, "nv_writes": 2, "queue": 0,
    "time_reports_rate": 0,
    "encoding_errors": 0,
}  # fmt: skip


def write_capture(path, frames, start=100.0):
    with PcapWriter(path) as writer:
        for offset, frame in enumerate(frames):
            writer.write(frame, start + offset * 0.1)
    return path


def lander_tc(name, seq_count, **args):
    command = LANDER.command(name)
    return PusTc(
        LANDER.apid, command.message.service, command.message.subtype,
        command.encode(**args), seq_count=seq_count,
    )  # fmt: skip


def lander_tm(service, subtype, data, seq_count=0):
    return PusTm(LANDER.apid, service, subtype, data, seq_count=seq_count, time=CucTime(12, 0))


def hk_status_packet():
    return lander_tm(3, 25, LANDER.hk_packet("core.status").encode(STATUS_VALUES))


def uplink_frame(packets, sn, seq=0, key=KEY):
    frame = TcFrame(SCID, 0, b"".join(p.pack() for p in packets), seq=seq)
    return ASM + authenticate(frame, SecurityAssociation(SPI, key), sn)


def decoded(path, **kwargs) -> list[DecodedRecord]:
    return list(decode_capture(path, **kwargs))


# ---------------------------------------------------------------------------------- boards


def test_a_board_exchange_names_the_device_the_command_and_the_status_fields(tmp_path):
    move = sta_arm.ARM.command("move_joint")
    tc = PusTc(
        sta_arm.ARM.apid, move.service, move.subtype,
        move.encode(joint=2, angle=-45.0, rate=1.5), seq_count=7,
    )  # fmt: skip
    to_board = write_capture(tmp_path / "sim-sta_arm.rx.pcap", [ASM + tc.pack()])
    status = sta_arm.GRIPPER.status.encode(opening=12.5, force=0.0, holding=False)
    replies = [
        PusTm(sta_arm.ARM.apid, 1, 7, RequestId(sta_arm.ARM.apid, 3, 7).pack()),
        PusTm(sta_arm.GRIPPER.apid, 3, 25, status),
        PusTm(sta_arm.ARM.apid, 1, 8, RequestId(sta_arm.ARM.apid, 3, 8).pack() + b"\x10\x00\x02"),
    ]
    from_board = write_capture(tmp_path / "sim-sta_arm.tx.pcap", [ASM + p.pack() for p in replies])

    (command,) = decoded(to_board)
    assert command.kind == "packet" and command.error is None
    (packet,) = command.packets
    assert packet.name == "arm.move_joint"
    assert packet.fields == {"joint": 2, "angle": -45.0, "rate": 1.5}
    assert packet.summary.startswith(
        "sta_arm.arm move_joint {joint: elbow_pitch (2), angle: -45, rate: 1.5}"
    )
    assert "sta_arm.arm#7" in packet.summary

    completed, gripper, failed = (r.packets[0] for r in decoded(from_board))
    assert completed.summary == "sta_arm.arm TM[1,7] completed for sta_arm.arm#7"
    assert gripper.name == "gripper.status"
    assert gripper.fields == {"opening": 12.5, "force": 0.0, "holding": False}
    assert "TM[3,25] status {opening: 12.5, force: 0, holding: false}" in gripper.summary
    assert failed.fields["code_name"] == "joint_limit" and failed.fields["detail"] == 2
    assert failed.summary.endswith("failed for sta_arm.arm#8: joint_limit (detail 2)")


def test_a_board_status_out_of_its_icd_range_is_named_as_an_error_not_a_reading(tmp_path):
    bad = sta_arm.GRIPPER.status.encode(opening=12.5, force=0.0, holding=False)
    bad = b"\x42\xc8\x00\x00" + bad[4:]  # opening 100 mm: the ICD says 0..60
    path = write_capture(tmp_path / "sim-sta_arm.tx.pcap", [ASM + PusTm(0x111, 3, 25, bad).pack()])
    (record,) = decoded(path)
    assert record.error is None
    assert record.packets[0].error is not None and "opening" in record.packets[0].error


# ---------------------------------------------------------------------------------- uplink


def test_an_authenticated_uplink_frame_names_its_commands_and_its_security_fields(tmp_path):
    packets = [lander_tc("core.ping", 3), lander_tc("hk.set_period", 4, sid=1, period=2.0)]
    path = write_capture(tmp_path / "space-lander-ground.rx.pcap", [uplink_frame(packets, 9, 5)])

    (record,) = decoded(path)
    assert record.kind == "tc_frame" and record.error is None
    assert record.layer.startswith("TC frame AD scid=42 vc=0 N(S)=5 map=0 unsegmented")
    assert "spi=1 sn=9 MAC not checked" in record.layer
    ping, period = record.packets
    assert ping.summary == "lander core.ping (TC[17,1] lander#3)"
    assert ping.name == "core.ping" and ping.source == "lander"
    assert period.name == "hk.set_period" and period.fields == {"sid": 1, "period": 2.0}


def test_the_mac_is_checked_with_the_right_key_and_found_bad_with_a_wrong_one(tmp_path):
    path = write_capture(
        tmp_path / "fsw-lander-radio.rx.pcap",
        [uplink_frame([lander_tc("core.ping", 1)], 1), uplink_frame([lander_tc("core.ping", 2)],
         2, seq=1, key=b"\x55" * 32)],
    )  # fmt: skip
    good, forged = decoded(path, keys={SPI: KEY})
    assert good.layer.endswith("MAC ok")
    assert forged.layer.endswith("MAC BAD")
    assert forged.packets[0].name == "core.ping"  # what crossed the wire is still shown
    (other,) = decoded(path, keys={7: KEY})[:1]
    assert "MAC not checked (no key for SPI 1)" in other.layer


def test_a_key_file_is_read_and_a_bad_one_is_named(tmp_path):
    good = tmp_path / "keys.json"
    good.write_text(json.dumps({"keys": {"1": KEY.hex()}}), encoding="utf-8")
    assert load_keys(good) == {1: KEY}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CaptureError, match=r"bad\.json"):
        load_keys(bad)
    with pytest.raises(CaptureError, match=r"missing\.json"):
        load_keys(tmp_path / "missing.json")
    capture = write_capture(tmp_path / "x.pcap", [])
    with pytest.raises(CaptureError, match="SPI 1"):
        decode_capture(capture, keys={1: b"short"})


def test_a_segmented_telecommand_is_reported_once_whole_with_its_last_segment(tmp_path):
    big = lander_tc("schedule.insert", 11, data=bytes(range(200)) * 2)
    sa = SecurityAssociation(SPI, KEY)
    units = segment([big.pack()], 150)
    frames = [
        ASM + authenticate(TcFrame(SCID, 0, u.data, seq=n, seg_flags=u.flags), sa, n + 1)
        for n, u in enumerate(units)
    ]
    assert len(frames) == 3
    records = decoded(write_capture(tmp_path / "space-lander-radio.tx.pcap", frames))
    assert [len(r.packets) for r in records] == [0, 0, 1]
    assert [r.layer.split()[7] for r in records] == ["first", "continuing", "last"]
    packet = records[2].packets[0]
    assert packet.name == "schedule.insert" and packet.fields["data"] == bytes(range(200)) * 2


def test_a_cop1_retransmission_is_said_so_and_its_command_not_listed_twice(tmp_path):
    ping = [lander_tc("core.ping", 1)]
    frames = [uplink_frame(ping, 1, seq=0), uplink_frame(ping, 2, seq=0)]
    unlock = TcFrame(SCID, 0, set_vr_command(3), bypass=1, control=1)
    frames.append(ASM + authenticate(unlock, SecurityAssociation(SPI, KEY), 3))
    first, again, control = decoded(write_capture(tmp_path / "space-lander-ground.rx.pcap", frames))
    assert len(first.packets) == 1
    assert again.packets == () and "retransmission of record #1" in again.layer
    assert control.layer.startswith("TC frame BC") and control.layer.endswith("Set V(R)=3")


# ---------------------------------------------------------------------------------- downlink


def test_a_downlink_frame_names_housekeeping_and_verification_reports(tmp_path):
    framer = TmFramer(SCID)
    framer.add_packet(VC_REALTIME_HK, hk_status_packet().pack())
    rid = RequestId(LANDER.apid, 3, 3).pack()
    framer.add_packet(VC_EVENTS, lander_tm(1, 7, Verification(7, rid).encode()).pack())
    framer.add_packet(
        VC_EVENTS, lander_tm(5, 1, LANDER.event("core.boot").encode("power_on")).pack()
    )
    failure = Verification(
        2, RequestId(LANDER.apid, 3, 4).pack(), 4, "out_of_range: sid = 9"
    ).encode()
    framer.add_packet(VC_EVENTS, lander_tm(1, 2, failure).pack())
    framer.flush()
    path = write_capture(
        tmp_path / "space-lander-ground.tx.pcap", [ASM + f for f in framer.frames()]
    )

    hk, events = decoded(path)
    assert hk.kind == "tm_frame" and hk.layer.startswith("TM frame scid=42 vc=0 mc=0 vcc=0")
    assert "CLCW vc=0 V(R)=0" in hk.layer
    (status,) = hk.packets
    assert status.name == "core.status" and status.fields["mode"] == 1
    assert status.summary.startswith("lander TM[3,25] core.status {mode: safe (1), uptime: 12.5,")
    completed, boot, refused = events.packets
    assert completed.summary == "lander TM[1,7] completed for lander#3"
    assert boot.summary == 'lander TM[5,1] core.boot "power_on"'
    assert boot.fields == {"event_id": 1, "severity": "info", "detail": "power_on"}
    assert refused.summary == (
        'lander TM[1,2] acceptance_failed for lander#4: code 4 out_of_range "out_of_range: sid = 9"'
    )


def test_a_packet_split_across_two_tm_frames_is_reported_once_whole(tmp_path):
    framer = TmFramer(SCID, frame_length=64)  # 52-octet data fields: the 67-octet report spans
    framer.add_packet(VC_REALTIME_HK, hk_status_packet().pack())
    framer.flush()
    frames = [ASM + f for f in framer.frames()]
    assert len(frames) == 2
    first, second = decoded(write_capture(tmp_path / "fsw-lander-radio.tx.pcap", frames))
    assert first.packets == () and first.error is None
    (status,) = second.packets
    assert status.name == "core.status" and status.fields == pytest.approx(STATUS_VALUES)
    assert "fhp=0x00F" in second.layer  # the idle filler starts after the report
    assert "fhp=0x000" in first.layer


def test_a_lost_tm_frame_is_noted_and_its_partial_packet_never_delivered(tmp_path):
    framer = TmFramer(SCID, frame_length=64)
    for _ in range(3):
        framer.add_packet(VC_REALTIME_HK, hk_status_packet().pack())
    framer.flush()
    frames = [ASM + f for f in framer.frames()]
    kept = [frames[0], *frames[2:]]  # the second frame was lost on the way down
    records = decoded(write_capture(tmp_path / "space-lander-ground.tx.pcap", kept))
    assert "gap: 1 frame(s) lost on vc 0" in records[1].notes
    assert "1 partial packet(s) discarded" in records[1].notes
    delivered = [(r.index, p) for r in records for p in r.packets]
    # the first report lost its middle, the second its start: only the third is whole
    assert [(index, p.name, p.error) for index, p in delivered] == [(3, "core.status", None)]


def test_a_capture_ending_inside_a_tm_packet_says_so_at_the_end(tmp_path):
    framer = TmFramer(SCID, frame_length=64)
    framer.add_packet(VC_REALTIME_HK, hk_status_packet().pack())
    framer.flush()
    first = ASM + framer.frames()[0]
    *_, end = decoded(write_capture(tmp_path / "space-lander-ground.tx.pcap", [first]))
    assert end.kind == "note" and end.error is None
    assert "never completed" in end.notes[0]


# ---------------------------------------------------------------------------------- timing


def test_a_timing_link_shows_ticks_and_cycle_reports(tmp_path):
    packets = [
        timing.Tick(12, 1_200_000).to_packet(),
        timing.CycleDone(12, 1_300_000, 42).to_packet(now_us=1_200_000),
        timing.Hello("lander").to_packet(),
        timing.Stop().to_packet(),
    ]
    path = write_capture(tmp_path / "fsw-lander-timing.rx.pcap", [ASM + p.pack() for p in packets])
    tick, done, hello, stop = decoded(path)
    assert tick.kind == "timing"
    assert tick.packets[0].summary == "timing TC[130,1] tick 12 at 1.200000 s"
    assert tick.packets[0].name == "timing.tick"
    assert done.packets[0].fields == {"tick": 12, "next_due": "1.300000 s", "written": 42}
    assert hello.packets[0].summary == 'timing TM[130,4] hello "lander"'
    assert stop.packets[0].summary == "timing TC[130,3] stop (end)"


# ---------------------------------------------------------------------------------- bad input


def test_kinds_are_found_without_a_telling_file_name(tmp_path):
    framer = TmFramer(SCID)
    framer.add_packet(VC_EVENTS, lander_tm(17, 2, b"").pack())
    framer.flush()
    frames = [
        uplink_frame([lander_tc("core.ping", 1)], 1),
        ASM + framer.frames()[0],
        ASM + timing.Tick(1, 0).to_packet().pack(),
        ASM + PusTc(sta_arm.ARM.apid, 17, 1).pack(),
    ]
    records = decoded(write_capture(tmp_path / "anything.pcap", frames))
    assert [r.kind for r in records] == ["tc_frame", "tm_frame", "timing", "packet"]
    assert records[1].packets[0].summary == "lander TM[17,2] alive"
    assert records[3].packets[0].summary.startswith("sta_arm.arm ping")


def test_a_garbage_record_and_a_truncated_end_do_not_stop_the_rest(tmp_path):
    ping = ASM + PusTc(sta_arm.ARM.apid, 17, 1, seq_count=1).pack()
    damaged = bytearray(ping)
    damaged[-1] ^= 0xFF
    path = write_capture(
        tmp_path / "sim-sta_arm.rx.pcap", [ping, b"\x00garbage\xff" * 3, bytes(damaged), ping]
    )
    with path.open("ab") as handle:  # a record cut short: the writer died mid-record
        handle.write(b"\x01\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00" + ASM)
    records = decoded(path)
    assert [r.index for r in records] == [1, 2, 3, 4, 5]
    assert records[0].error is None and records[3].error is None
    assert records[1].kind == "unknown" and records[1].error
    assert "packet error control" in records[2].error
    end = records[4]
    assert end.kind == "note" and "cut short" in end.error and "4 whole record(s)" in end.error


def test_a_file_that_is_not_a_capture_is_refused_in_one_line_naming_it(tmp_path):
    text = tmp_path / "notes.pcap"
    text.write_text("this is not a capture at all, it is a text file\n", encoding="utf-8")
    with pytest.raises(CaptureError, match=r"notes\.pcap.*bad magic") as info:
        decode_capture(text)
    assert "\n" not in str(info.value)
    short = tmp_path / "short.pcap"
    short.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    with pytest.raises(CaptureError, match=r"short\.pcap"):
        decode_capture(short)
    with pytest.raises(CaptureError, match=r"absent\.pcap: no such file"):
        decode_capture(tmp_path / "absent.pcap")
    with pytest.raises(CaptureError, match="linktype 1"):
        decode_capture(_eth(tmp_path))


def _eth(tmp_path):
    path = tmp_path / "ethernet.pcap"
    with PcapWriter(path, linktype=1):
        pass
    return path


# ---------------------------------------------------------------------------------- output


def test_the_text_output_puts_each_packet_under_its_frame_and_the_json_output_is_json(tmp_path):
    path = write_capture(
        tmp_path / "space-lander-ground.rx.pcap",
        [uplink_frame([lander_tc("core.ping", 3), lander_tc("modes.set", 4, mode=2)], 9)],
    )
    lines = list(decode_to_text(path, keys={SPI: KEY}))
    assert lines == [
        "#1 t=100.000000 TC frame AD scid=42 vc=0 N(S)=0 map=0 unsegmented spi=1 sn=9 MAC ok",
        "    lander core.ping (TC[17,1] lander#3)",
        "    lander modes.set {mode: nominal (2)} (TC[150,1] lander#4)",
    ]
    (record,) = decoded(path)
    assert format_record(record).split("\n")[1:] == lines[1:]
    document = json.loads(json.dumps(record.as_dict()))
    assert document["kind"] == "tc_frame"
    assert document["packets"][1]["fields"] == {"mode": 2}
    assert document["packets"][0]["name"] == "core.ping"


# ---------------------------------------------------------------------------------- format (0042)


def test_a_bench_capture_carries_its_kind_in_the_linktype_and_the_mission_utc_in_its_stamps(
    tmp_path,
):
    """Decision 0042: a link records TC frames as linktype 148 and TM frames as 149, stamped with
    the bench's epoch plus mission time; decoding reads the epoch from the run folder's bench
    file and gives each record its mission time and UTC."""
    from pathlib import Path

    from hal.links import LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME, open_link
    from hal.links.pcap import PcapReader

    run = tmp_path / "run"
    default = (Path(__file__).parents[2] / "hal" / "benches" / "default.toml").read_text()
    (run / "captures").mkdir(parents=True)
    bench = default.replace("epoch = 2031-07-01T00:00:00Z", "epoch = 2032-01-01T00:00:00Z")
    assert bench != default
    (run / "bench.toml").write_text(bench)
    epoch = 1956528000.0  # 2032-01-01T00:00:00Z
    now = [12.5]
    link = open_link(
        "loop://", capture_dir=run / "captures", capture_name="ground-lander",
        capture_linktypes=(LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME), capture_epoch=epoch,
        timestamp=lambda: now[0],
    )  # fmt: skip
    with link:
        link.write_frame(uplink_frame([lander_tc("core.ping", 3)], 9))
    tx = run / "captures" / "ground-lander.tx.pcap"
    with PcapReader(tx) as reader:
        assert reader.linktype == LINKTYPE_TC_FRAME
        ((stamp, _),) = list(reader)
    assert stamp == epoch + 12.5
    with PcapReader(run / "captures" / "ground-lander.rx.pcap") as reader:
        assert reader.linktype == LINKTYPE_TM_FRAME
    (record,) = decoded(tx)
    assert (record.kind, record.mission_time, record.utc) == (
        "tc_frame", 12.5, "2032-01-01T00:00:12.500000Z",
    )  # fmt: skip
    assert format_record(record).startswith("#1 t=12.500000 2032-01-01T00:00:12.500000Z TC frame")
    assert record.as_dict()["mission_time"] == 12.5


def test_a_file_of_the_tm_linktype_is_decoded_as_tm_frames_only(tmp_path):
    """In a linktype-149 file a record that is not a TM frame is a bad TM frame, never taken
    for a packet or a TC frame (the kind is the file's, not guessed)."""
    path = tmp_path / "anything.pcap"
    with PcapWriter(path, linktype=149) as writer:
        writer.write(ASM + PusTc(sta_arm.ARM.apid, 17, 1).pack(), 1.0)
    (record,) = decoded(path)
    assert record.kind == "unknown" and "TM frame" in record.error
