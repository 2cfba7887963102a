"""The run's telemetry archive: writing, querying, exporting, concurrent readers, writer crashes."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ground_tools.archive import Archive, ArchiveError, CommandRecord, StageRecord

HERE = Path(__file__).parent
REQ_A = bytes.fromhex("1801c005")
REQ_B = bytes.fromhex("1801c006")


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def archive(tmp_path: Path):
    with Archive(tmp_path / "archive.sqlite", wall_clock=lambda: 1_800_000_000.0) as arc:
        yield arc


def _fill(arc: Archive) -> None:
    """A small run: two nodes' housekeeping, events, commands with stages, frames."""
    for i in range(10):
        t = float(i)
        arc.add_packet("lander", "core.status", t, {"uptime": 100.0 + t, "safe": i >= 7})
        arc.add_packet("orbiter", "core.status", t + 0.5, {"uptime": 5.0 + t, "mode": "NOMINAL"})
        arc.add_frame("lander", "down", t, bytes([i]) * 8)
        arc.add_frame("orbiter", "down", t + 0.5, bytes([0x80 | i]) * 8)
    arc.add_frame("lander", "up", 2.5, b"\x1a\xcf\xfc\x1d\x20\x01")
    arc.add_event("lander", 3.0, 12, "health.board_lost", "medium", "sta_arm silent for 3 s")
    arc.add_event("lander", 6.0, 13, "health.board_back", "info", "sta_arm answering")
    arc.add_event("orbiter", 4.0, 12, "health.board_lost", "medium", "ccrs silent for 3 s")
    first = arc.add_command(
        "lander", 2.5, "sta.move", {"joint": 2, "angle": 15.5}, REQ_A, "msr cmd"
    )
    arc.add_stage("lander", REQ_A, 2.6, "accepted")
    arc.add_stage("lander", REQ_A, 2.7, "started")
    arc.add_stage("lander", REQ_A, 4.0, "completion_failed", 7, "component_failed: arm stalled")
    second = arc.add_command("orbiter", 5.0, "ccrs.close_lid", {}, REQ_B, "capture_procedure")
    arc.add_stage("orbiter", REQ_B, 5.1, "accepted")
    assert (first, second) == (1, 2)
    arc.commit()


# ------------------------------------------------------------------------------------- points


def test_points_of_a_parameter_come_back_in_time_order_within_a_range(archive) -> None:
    _fill(archive)
    assert archive.points("lander.core.status.uptime", 3.0, 5.0) == [
        (3.0, 103.0),
        (4.0, 104.0),
        (5.0, 105.0),
    ]
    assert len(archive.points("lander.core.status.uptime")) == 10
    assert archive.points("lander.core.status.uptime", start=8.5) == [(9.0, 109.0)]
    assert archive.points("lander.core.status.uptime", end=-1.0) == []


def test_booleans_are_kept_as_zero_and_one_and_strings_as_text(archive) -> None:
    _fill(archive)
    assert [v for _, v in archive.points("lander.core.status.safe")] == [0] * 7 + [1] * 3
    assert archive.latest("orbiter.core.status.mode") == (9.5, "NOMINAL")


def test_an_array_field_becomes_one_parameter_per_element(archive) -> None:
    archive.add_packet("mav", "sequencer.status", 1.0, {"valves": [True, False, True]})
    archive.add_packet("mav", "sequencer.status", 2.0, {"valves": [False, False, True]})
    assert archive.parameters("mav.") == [
        "mav.sequencer.status.valves[0]",
        "mav.sequencer.status.valves[1]",
        "mav.sequencer.status.valves[2]",
    ]
    assert archive.points("mav.sequencer.status.valves[0]") == [(1.0, 1), (2.0, 0)]


def test_parameters_are_listed_by_prefix(archive) -> None:
    _fill(archive)
    assert archive.parameters() == [
        "lander.core.status.safe",
        "lander.core.status.uptime",
        "orbiter.core.status.mode",
        "orbiter.core.status.uptime",
    ]
    assert archive.parameters("orbiter.") == [
        "orbiter.core.status.mode",
        "orbiter.core.status.uptime",
    ]
    assert archive.parameters("lander.core.status.up") == ["lander.core.status.uptime"]
    assert archive.parameters("nobody.") == []


def test_latest_gives_the_most_recent_point(archive) -> None:
    _fill(archive)
    assert archive.latest("lander.core.status.uptime") == (9.0, 109.0)


def test_a_packet_name_with_dots_keeps_node_packet_and_field_apart(archive) -> None:
    archive.add_packet("lander", "core.status", 1.0, {"uptime": 1.0})
    out = io.StringIO()
    archive.export("points", "jsonl", out)
    row = json.loads(out.getvalue())
    assert (row["parameter"], row["node"], row["packet"], row["field"]) == (
        "lander.core.status.uptime",
        "lander",
        "core.status",
        "uptime",
    )


# ---------------------------------------------------------------------- events and commands


def test_events_are_filtered_by_node_name_and_time(archive) -> None:
    _fill(archive)
    assert [e.name for e in archive.events()] == [
        "health.board_lost",
        "health.board_lost",
        "health.board_back",
    ]
    lost = archive.events(name="health.board_lost")
    assert [(e.node, e.sim_time) for e in lost] == [("lander", 3.0), ("orbiter", 4.0)]
    lander = archive.events(node="lander", start=4.0)
    assert len(lander) == 1
    assert (lander[0].event_id, lander[0].severity, lander[0].detail) == (
        13,
        "info",
        "sta_arm answering",
    )


def test_commands_come_back_with_their_verification_stages(archive) -> None:
    _fill(archive)
    move, close = archive.commands()
    assert move == CommandRecord(
        id=1,
        node="lander",
        sim_time=2.5,
        name="sta.move",
        args={"joint": 2, "angle": 15.5},
        request_id="1801c005",
        source="msr cmd",
        stages=(
            StageRecord("accepted", 2.6, 0, ""),
            StageRecord("started", 2.7, 0, ""),
            StageRecord("completion_failed", 4.0, 7, "component_failed: arm stalled"),
        ),
    )
    assert (close.node, close.source, [s.stage for s in close.stages]) == (
        "orbiter",
        "capture_procedure",
        ["accepted"],
    )
    assert [c.name for c in archive.commands(node="orbiter")] == ["ccrs.close_lid"]
    assert [c.name for c in archive.commands(start=3.0)] == ["ccrs.close_lid"]
    assert [c.name for c in archive.commands(end=3.0)] == ["sta.move"]


def test_a_stage_goes_to_the_most_recent_command_with_its_request_id(archive) -> None:
    # The request ids wrap: the same id names a new command later on.
    old = archive.add_command("lander", 1.0, "core.noop", {}, REQ_A, "msr cmd")
    archive.add_stage("lander", REQ_A, 1.1, "completed")
    new = archive.add_command("lander", 9.0, "core.noop", {}, REQ_A, "msr cmd")
    other_node = archive.add_command("mav", 9.5, "core.noop", {}, REQ_A, "msr cmd")
    assert archive.add_stage("lander", REQ_A, 9.1, "accepted") == new
    stages = {c.id: [s.stage for s in c.stages] for c in archive.commands()}
    assert stages == {old: ["completed"], new: ["accepted"], other_node: []}


def test_a_stage_of_an_unknown_request_is_kept_unlinked(archive) -> None:
    archive.add_command("lander", 1.0, "core.noop", {}, REQ_A, "msr cmd")
    assert (
        archive.add_stage("lander", REQ_B, 1.1, "acceptance_failed", 2, "unknown_command") is None
    )
    assert archive.add_stage("orbiter", REQ_A, 1.2, "accepted") is None
    summary = archive.summary()
    assert (summary["stages"], summary["unmatched_stages"]) == (2, 2)
    assert archive.commands()[0].stages == ()


def test_command_arguments_in_octets_are_stored_as_hex(archive) -> None:
    archive.add_command("orbiter", 1.0, "tbl.load", {"image": b"\x00\xff"}, REQ_A, "msr cmd")
    assert archive.commands()[0].args == {"image": "00ff"}


# ------------------------------------------------------------------------------------ frames


def test_frames_are_filtered_by_node_direction_and_time(archive) -> None:
    _fill(archive)
    assert len(archive.frames()) == 21
    up = archive.frames(direction="up")
    assert [(f.node, f.sim_time, f.raw, f.wall_time) for f in up] == [
        ("lander", 2.5, b"\x1a\xcf\xfc\x1d\x20\x01", 1_800_000_000.0)
    ]
    orbiter = archive.frames(node="orbiter", direction="down", start=8.0)
    assert [f.raw for f in orbiter] == [bytes([0x88]) * 8, bytes([0x89]) * 8]


def test_the_summary_counts_everything(archive) -> None:
    _fill(archive)
    assert archive.summary() == {
        "frames": 21,
        "frames_up": 1,
        "frames_down": 20,
        "parameters": 4,
        "points": 40,
        "events": 3,
        "commands": 2,
        "stages": 4,
        "unmatched_stages": 0,
    }


# ------------------------------------------------------------------------------------ export


def _export(arc: Archive, kind: str, fmt: str, **kwargs) -> list[dict]:
    out = io.StringIO()
    count = arc.export(kind, fmt, out, **kwargs)
    text = out.getvalue()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        rows = [json.loads(line) for line in text.splitlines()]
    assert count == len(rows)
    return rows


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_points_export_reads_back(archive, fmt: str) -> None:
    _fill(archive)
    rows = _export(archive, "points", fmt, parameters=["lander.core.status.uptime"], start=8.0)
    assert [(float(r["sim_time"]), float(r["value"])) for r in rows] == [(8.0, 108.0), (9.0, 109.0)]
    assert {r["parameter"] for r in rows} == {"lander.core.status.uptime"}
    everything = _export(archive, "points", fmt)
    assert len(everything) == 40
    times = [float(r["sim_time"]) for r in everything]
    assert times == sorted(times)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_events_export_reads_back(archive, fmt: str) -> None:
    _fill(archive)
    rows = _export(archive, "events", fmt, end=4.0)
    assert [(r["node"], int(r["event_id"]), r["name"], r["detail"]) for r in rows] == [
        ("lander", 12, "health.board_lost", "sta_arm silent for 3 s"),
        ("orbiter", 12, "health.board_lost", "ccrs silent for 3 s"),
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_commands_export_reads_back_with_stages(archive, fmt: str) -> None:
    _fill(archive)
    rows = _export(archive, "commands", fmt)
    move = rows[0]
    args = json.loads(move["args"]) if fmt == "csv" else move["args"]
    stages = json.loads(move["stages"]) if fmt == "csv" else move["stages"]
    assert (move["name"], move["request_id"], move["source"], args) == (
        "sta.move",
        "1801c005",
        "msr cmd",
        {"joint": 2, "angle": 15.5},
    )
    assert [s["stage"] for s in stages] == ["accepted", "started", "completion_failed"]
    assert stages[-1] == {
        "stage": "completion_failed",
        "sim_time": 4.0,
        "code": 7,
        "reason": "component_failed: arm stalled",
    }


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_frames_export_writes_octets_as_hex(archive, fmt: str) -> None:
    _fill(archive)
    rows = _export(archive, "frames", fmt, start=2.5, end=2.5)
    assert [(r["node"], r["direction"], bytes.fromhex(r["raw"])) for r in rows] == [
        ("orbiter", "down", bytes([0x82]) * 8),
        ("lander", "up", b"\x1a\xcf\xfc\x1d\x20\x01"),
    ]
    assert float(rows[1]["wall_time"]) == 1_800_000_000.0


def test_a_csv_export_of_nothing_still_has_its_header(archive) -> None:
    out = io.StringIO()
    assert archive.export("events", "csv", out) == 0
    assert out.getvalue() == "sim_time,utc,node,event_id,name,severity,detail\n"


# ------------------------------------------------------------- commits, readers and reopening


def test_a_reader_sees_what_the_writer_committed_and_nothing_else(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "archive.sqlite"
    with Archive(path, commit_interval=1.0, monotonic=clock) as writer:
        reader = Archive.open_readonly(path)
        writer.add_packet("lander", "core.status", 0.0, {"uptime": 1.0})
        clock.now = 0.5
        assert writer.tick() is False
        assert writer.pending == 1
        assert reader.parameters() == []  # not committed yet
        clock.now = 1.0
        assert writer.tick() is True
        assert writer.pending == 0
        assert reader.points("lander.core.status.uptime") == [(0.0, 1.0)]
        writer.add_packet("lander", "core.status", 0.1, {"uptime": 2.0})
        clock.now = 1.5
        writer.tick()
        assert reader.latest("lander.core.status.uptime") == (0.0, 1.0)
        clock.now = 2.0
        writer.tick()
        assert reader.latest("lander.core.status.uptime") == (0.1, 2.0)
        reader.close()


def test_tick_does_not_commit_when_nothing_was_added(tmp_path: Path) -> None:
    clock = FakeClock()
    with Archive(tmp_path / "a.sqlite", commit_interval=1.0, monotonic=clock) as arc:
        clock.now = 5.0
        assert arc.tick() is False


def test_the_archive_is_in_wal_mode(archive) -> None:
    archive.add_event("lander", 1.0, 1, "core.boot", "info", "")
    archive.commit()
    conn = sqlite3.connect(archive.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_closing_commits_and_a_new_writer_appends(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    with Archive(path) as first:
        first.add_packet("lander", "core.status", 1.0, {"uptime": 1.0})
        first.add_command("lander", 1.0, "core.noop", {}, REQ_A, "msr cmd")
    with Archive(path) as second:
        second.add_packet("lander", "core.status", 2.0, {"uptime": 2.0, "safe": False})
        assert second.add_stage("lander", REQ_A, 1.1, "accepted") == 1
    reader = Archive.open_readonly(path)
    assert reader.points("lander.core.status.uptime") == [(1.0, 1.0), (2.0, 2.0)]
    assert reader.commands()[0].stages == (StageRecord("accepted", 1.1, 0, ""),)
    reader.close()
    reader.close()  # twice is harmless


def _start_writer(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "crash_writer.py"), str(path), "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen[str]) -> str:
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"the writer stopped early: {proc.communicate()[1]}")
    return line.strip()


def test_a_crash_of_the_writer_loses_nothing_it_committed(tmp_path: Path) -> None:
    # Ten writers run at once, each killed with SIGKILL after a random number of commits (0 to
    # 3): the handshake is each commit's printed count, never a sleep. Each archive must open,
    # pass SQLite's integrity check and hold a whole prefix of packets at least as long as the
    # last count its writer printed.
    rng = random.Random(20261121)
    paths = [tmp_path / f"run{i}" / "archive.sqlite" for i in range(10)]
    for path in paths:
        path.parent.mkdir()
    procs = [_start_writer(path) for path in paths]
    committed: list[int] = []
    try:
        for index, (path, proc) in enumerate(zip(paths, procs, strict=True)):
            assert _read_line(proc) == "ready"
            count = 0
            for _ in range(rng.randrange(4)):
                count = int(_read_line(proc))
            if index == 0:  # a reader opened while the writer is writing sees its commits
                reader = Archive.open_readonly(path)
                assert len(reader.points("lander.core.status.seq")) >= count
                reader.close()
            os.kill(proc.pid, signal.SIGKILL)
            committed.append(count)
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    for path, proc, count in zip(paths, procs, committed, strict=True):
        assert proc.returncode == -signal.SIGKILL
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
        reader = Archive.open_readonly(path)
        seq = "lander.core.status.seq"  # absent when killed before its first commit
        seqs = [v for _, v in reader.points(seq)] if seq in reader.parameters() else []
        held = len(seqs)
        assert held >= count
        assert seqs == list(range(1, held + 1))  # a whole prefix, nothing torn
        summary = reader.summary()
        assert summary["points"] == 6 * held
        assert summary["frames"] == held
        assert summary["events"] == held // 10
        reader.close()
        with Archive(path) as reopened:  # and the next writer carries on
            reopened.add_event("lander", 1e6, 1, "core.boot", "info", "after the crash")


# -------------------------------------------------------------------------------- bad input


def test_an_unknown_parameter_is_named_with_close_names(archive) -> None:
    _fill(archive)
    with pytest.raises(ArchiveError) as err:
        archive.points("lander.core.status.uptme")
    assert str(err.value) == (
        "unknown parameter 'lander.core.status.uptme' (did you mean lander.core.status.uptime?)"
    )
    with pytest.raises(ArchiveError, match=r"unknown parameter 'zzz'$"):
        archive.latest("zzz")
    with pytest.raises(ArchiveError, match=r"unknown parameter 'lander\.core\.stat\.safe'"):
        archive.export("points", "csv", io.StringIO(), parameters=["lander.core.stat.safe"])


def test_an_unknown_export_kind_or_format_is_named(archive) -> None:
    out = io.StringIO()
    with pytest.raises(ArchiveError, match="unknown export kind 'telemetry'"):
        archive.export("telemetry", "csv", out)
    with pytest.raises(ArchiveError, match="unknown export format 'xlsx'"):
        archive.export("events", "xlsx", out)
    with pytest.raises(ArchiveError, match="parameters apply to a points export"):
        archive.export("events", "csv", out, parameters=["x"])
    assert out.getvalue() == ""


def test_a_missing_or_foreign_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such archive"):
        Archive.open_readonly(tmp_path / "missing.sqlite")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    with pytest.raises(ArchiveError, match="not a database"):
        Archive.open_readonly(text)
    with pytest.raises(ArchiveError, match="not a database"):
        Archive(text)
    assert text.read_text() == "not a database at all\n" * 100
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ArchiveError, match="not an MSR archive"):
        Archive.open_readonly(other)
    with pytest.raises(ArchiveError, match="not an MSR archive"):
        Archive(other)
    with pytest.raises(ArchiveError, match="does not exist"):
        Archive(tmp_path / "no_such_run" / "archive.sqlite")


def test_a_reader_cannot_write_and_a_closed_archive_refuses_everything(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    Archive(path).close()
    reader = Archive.open_readonly(path)
    with pytest.raises(ArchiveError, match="read-only"):
        reader.add_event("lander", 1.0, 1, "core.boot", "info", "")
    reader.close()
    with pytest.raises(ArchiveError, match="closed"):
        reader.parameters()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.add_frame("lander", "sideways", 1.0, b""), "direction must be 'up' or 'down'"),
        (lambda a: a.add_frame("lander", "up", float("nan"), b""), "sim_time must be finite"),
        (lambda a: a.add_frame("", "up", 1.0, b""), "node must not be empty"),
        (lambda a: a.add_frame("lander", "up", 1.0, "text"), "raw must be octets"),
        (lambda a: a.add_command("lander", 1.0, "x", {}, b"\x01", "s"), "request_id must be 4"),
        (lambda a: a.add_command("lander", 1.0, "x", {"f": {1, 2}}, REQ_A, "s"), "not JSON"),
        (lambda a: a.add_stage("lander", "1801c005", 1.0, "accepted"), "request_id must be 4"),
        (lambda a: a.add_event("lander", 1.0, "7", "x", "info", ""), "event_id must be an int"),
        (lambda a: a.points("lander.core.status.uptime", 5.0, 1.0), "start 5.0 is after end"),
        (lambda a: a.frames(direction="both"), "direction must be 'up' or 'down'"),
        (lambda a: a.events(start="yesterday"), "start must be a number of seconds"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(archive, call, message: str) -> None:
    archive.add_packet("lander", "core.status", 0.0, {"uptime": 0.0})
    with pytest.raises(ArchiveError, match=message) as err:
        call(archive)
    assert "\n" not in str(err.value)


def test_a_packet_with_a_value_that_cannot_be_stored_stores_nothing(archive) -> None:
    with pytest.raises(ArchiveError, match=r"temps\[1\]: cannot archive a value of type set"):
        archive.add_packet("lander", "core.status", 1.0, {"uptime": 1.0, "temps": [1, {2}]})
    assert archive.parameters() == []
    assert archive.pending == 0
    assert archive.add_packet("lander", "core.status", 1.0, {"uptime": 1.0}) == 1


# ---------------------------------------- UTC, states and units in exports and queries (0037)


def _mode_field(parameter: str):
    from hal.protocol.devices.icd import Field, enum

    if parameter.endswith(".mode"):
        return Field("mode", "u8", "-", 0, 3, "mode", enum=enum("boot", "safe", "nominal"))
    if parameter.endswith(".uptime"):
        return Field("uptime", "f32", "s", 0, 1e9, "seconds since boot")
    return None


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_points_export_has_utc_the_state_beside_the_raw_code_and_the_unit(
    archive, fmt: str
) -> None:
    from datetime import UTC, datetime

    archive.add_packet("lander", "core.status", 100.0, {"mode": 2, "uptime": 5.0, "odd": 1})
    archive.add_packet("lander", "core.status", 101.5, {"mode": 9, "uptime": 6.0, "odd": 2})
    rows = _export(archive, "points", fmt, fields=_mode_field,
                   epoch=datetime(2040, 1, 1, tzinfo=UTC))  # fmt: skip
    by_name = {(r["field"], float(r["sim_time"])): r for r in rows}
    mode = by_name[("mode", 100.0)]
    assert (str(mode["value"]), mode["state"], mode["unit"]) == ("2", "nominal", "-")
    assert mode["utc"] == "2040-01-01T00:01:40.000Z"
    unnamed = by_name[("mode", 101.5)]  # a code the dictionary has no name for: no state
    assert unnamed["state"] in ("", None) and unnamed["utc"] == "2040-01-01T00:01:41.500Z"
    uptime = by_name[("uptime", 100.0)]
    assert (uptime["state"] in ("", None), uptime["unit"]) == (True, "s")
    odd = by_name[("odd", 100.0)]  # not in the dictionary: neither state nor unit
    assert odd["state"] in ("", None) and odd["unit"] in ("", None)
    if fmt == "jsonl":
        assert (mode["value"], uptime["state"], odd["unit"]) == (2, None, None)


def test_the_default_epoch_is_the_run_folders_and_the_real_dictionary_names_modes(
    tmp_path: Path,
) -> None:
    import re

    from hal.bench import default_bench_path

    text = default_bench_path().read_text(encoding="utf-8")
    bench = re.sub(r"(?m)^epoch = .*$", "epoch = 2033-02-03T04:05:06Z", text)
    (tmp_path / "bench.toml").write_text(bench, encoding="utf-8")
    with Archive(tmp_path / "archive.sqlite") as arc:
        arc.add_packet("lander", "core.status", 1.0, {"mode": 1})
        rows = _export(arc, "points", "jsonl")
        events = _export(arc, "events", "csv")
    assert rows[0]["utc"] == "2033-02-03T04:05:07.000Z"
    assert rows[0]["state"] == "safe"  # lander.core.status.mode is enumerated in the dictionary
    assert events == []


def test_records_filter_by_node_and_check_everything_before_the_first_row(archive) -> None:
    _fill(archive)
    columns = Archive.columns("events")
    rows = list(archive.records("events", node="orbiter"))
    assert [dict(zip(columns, row, strict=True))["detail"] for row in rows] == [
        "ccrs silent for 3 s"
    ]
    points = list(archive.records("points", node="orbiter", parameters=None))
    assert {row[3] for row in points} == {"orbiter"}
    with pytest.raises(ArchiveError, match="unknown export kind"):
        archive.records("limits?")
    with pytest.raises(ArchiveError, match="unknown parameter"):
        archive.records("points", parameters=["lander.core.status.nothing"])
    with pytest.raises(ArchiveError, match="parameters apply to a points export"):
        archive.records("frames", parameters=["lander.core.status.uptime"])


def test_a_reader_abandoned_midway_then_closed_prints_nothing(tmp_path: Path) -> None:
    """The ``| head`` case at the library's level: rows left unread, the archive closed, the
    generator collected later: no "closed database" traceback on stderr."""
    path = tmp_path / "archive.sqlite"
    with Archive(path) as arc:
        for i in range(100):
            arc.add_packet("lander", "core.status", float(i), {"uptime": float(i)})
    code = (
        "import gc, sys\n"
        "from ground_tools.archive import Archive\n"
        f"arc = Archive.open_readonly({str(path)!r})\n"
        "rows = arc.records('points')\n"
        "next(rows)\n"
        "stuck = arc._rows('SELECT * FROM points')\n"
        "next(stuck)\n"
        "arc.close()\n"
        "del rows, stuck\n"
        "gc.collect()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=HERE.parent.parent, timeout=60, check=False)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
