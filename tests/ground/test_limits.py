"""Limit monitoring on the ground (decision 0036): the monitor's transitions, modes and array
elements (:mod:`ground_tools.limits`), the archive's ``limits`` table and its versioning, the
``limits`` control request, and what ``msr tlm`` and ``msr events`` show of a reading."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from fsw.dictionary import NodeDictionary
from fsw.dictionary.model import HkPacket
from ground_tools.archive import SCHEMA_VERSION, Archive, ArchiveError
from ground_tools.control_messages import LimitsRequest, parse_request
from ground_tools.displays import limit_line, limit_record, reading
from ground_tools.limits import LimitMonitor, limit_set_text, mode_name, replay, worst
from hal.protocol.devices.icd import Field, Limits, LimitSet, enum
from hal.schema import RequestError
from tests.system.operator import msr

MODE = Field("mode", "u8", "-", 0, 3, "node mode", enum=enum("boot", "safe", "nominal",
                                                              "critical"))  # fmt: skip
TEMP = Field(
    "os_temp", "f32", "degC", -150, 100, "container",
    limits=Limits(default=LimitSet(yellow=(None, 25.0), red=(None, 30.0)),
                  modes=(("critical", LimitSet(yellow=(None, 20.0), red=(None, 22.0))),)),
)  # fmt: skip
ZONES = Field("zones", "f32", "degC", -150, 100, "zones", count=3,
              limits=Limits(LimitSet(yellow=(-40.0, 40.0), red=(-50.0, 50.0))))  # fmt: skip
GATE = Field("gate", "u8", "-", 0, 2, "gate", enum=enum("safe", "armed", "fault"),
             limits=Limits(yellow_states=("armed",), red_states=("fault",)))  # fmt: skip
PLAIN = Field("count", "u32", "-", 0, 100, "a count")


def _dictionary() -> dict[str, NodeDictionary]:
    hk = (
        HkPacket("core.status", "lander", 100, 1, (MODE,), "core"),
        HkPacket("sta.status", "lander", 100, 10, (TEMP, ZONES, GATE, PLAIN), "sta"),
    )
    return {"lander": NodeDictionary("lander", 100, (), hk, (), ())}


def _sample(monitor: LimitMonitor, t: float, temp: float, zones=(0.0, 0.0, 0.0), gate=0):
    values = {"os_temp": temp, "zones": list(zones), "gate": gate, "count": 1}
    return monitor.check("lander", "sta.status", t, values)


def test_each_change_of_level_is_one_event_and_a_steady_level_none() -> None:
    monitor = LimitMonitor(_dictionary())
    assert _sample(monitor, 0.0, -20.0) == []  # first seen in limits: no event
    assert _sample(monitor, 5.0, 26.0)[0].new == "yellow"
    assert _sample(monitor, 10.0, 27.0) == []  # still yellow
    (red,) = _sample(monitor, 15.0, 40.0)
    assert (red.point, red.old, red.new, red.value, red.unit) == (
        "lander.sta.status.os_temp", "yellow", "red", 40.0, "degC")  # fmt: skip
    assert red.time == 15.0 and red.mode is None and red.limits == "yellow ..25, red ..30"
    (now,) = monitor.out_of_limits()
    assert (now.level, now.since, now.value) == ("red", 15.0, 40.0)
    _sample(monitor, 20.0, 41.0)
    assert monitor.out_of_limits()[0].since == 15.0  # since it went red, its value the latest
    assert monitor.out_of_limits()[0].value == 41.0
    (back,) = _sample(monitor, 25.0, 0.0)
    assert (back.old, back.new) == ("red", "green") and monitor.out_of_limits() == []


def test_a_first_sample_out_of_limits_is_a_transition_from_green() -> None:
    monitor = LimitMonitor(_dictionary())
    (event,) = _sample(monitor, 3.0, 35.0)
    assert (event.old, event.new) == ("green", "red")


def test_the_mode_comes_from_core_status_and_picks_the_limit_set() -> None:
    monitor = LimitMonitor(_dictionary())
    assert _sample(monitor, 0.0, 21.0) == []  # default set: green
    monitor.check("lander", "core.status", 1.0, {"mode": 3})
    assert monitor.modes["lander"] == "critical"
    (event,) = _sample(monitor, 2.0, 21.0)  # critical set: yellow above 20
    assert (event.new, event.mode) == ("yellow", "critical")
    assert event.limits == "in critical: yellow ..20, red ..22"
    monitor.check("lander", "core.status", 3.0, {"mode": 2})
    (event,) = _sample(monitor, 4.0, 21.0)
    assert (event.new, event.mode) == ("green", "nominal")


def test_each_array_element_is_judged_alone_and_named_by_its_index() -> None:
    monitor = LimitMonitor(_dictionary())
    events = _sample(monitor, 0.0, 0.0, zones=(0.0, 45.0, -60.0))
    assert [(e.point, e.new) for e in events] == [
        ("lander.sta.status.zones[1]", "yellow"),
        ("lander.sta.status.zones[2]", "red"),
    ]


def test_an_enumerated_point_goes_by_its_state_names() -> None:
    monitor = LimitMonitor(_dictionary())
    (event,) = _sample(monitor, 0.0, 0.0, gate=2)
    assert (event.new, event.state) == ("red", "fault")
    assert event.limits == "yellow when armed; red when fault"


def test_nan_is_red_and_the_listing_covers_every_limited_point() -> None:
    monitor = LimitMonitor(_dictionary())
    (event,) = _sample(monitor, 0.0, math.nan)
    assert event.new == "red" and event.as_dict()["value"] == "nan"
    json.dumps(monitor.listing())  # JSON-safe
    every = monitor.listing(every=True)
    points = [row["point"] for row in every]
    assert points == [  # count has no limits
        "lander.sta.status.os_temp",
        "lander.sta.status.zones[0]",
        "lander.sta.status.zones[1]",
        "lander.sta.status.zones[2]",
        "lander.sta.status.gate",
    ]
    assert every[0]["level"] == "red" and every[1]["level"] == "green"


def test_an_unknown_packet_or_node_is_ignored() -> None:
    monitor = LimitMonitor(_dictionary())
    assert monitor.check("lander", "nope.status", 0.0, {"os_temp": 99.0}) == []
    assert monitor.check("mav", "sta.status", 0.0, {"os_temp": 99.0}) == []


def test_helpers() -> None:
    assert worst(["green", "red", "yellow"]) == "red" and worst([]) == "green"
    assert mode_name(None, 2) == "nominal" and mode_name(None, 9) is None
    assert mode_name(None, "x") is None and mode_name(MODE, 3) == "critical"
    assert limit_set_text(TEMP, "safe") == "yellow ..25, red ..30"
    assert limit_set_text(PLAIN, None) == ""


# ---------------------------------------------------------------- archive


def test_the_archive_keeps_limit_events_and_queries_them(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    with Archive(path) as archive:
        archive.add_limit(
            "lander", "lander.sta.status.os_temp", 15.0, "green", "red", 40.0,
            unit="degC", mode="nominal", limit_set="yellow ..25, red ..30",
        )  # fmt: skip
        archive.add_limit("mav", "mav.x.gate", 20.0, "green", "yellow", 1, state="armed")
        with pytest.raises(ArchiveError, match="limit level"):
            archive.add_limit("mav", "mav.x.gate", 20.0, "green", "purple", 1)
        with pytest.raises(ArchiveError, match="one value"):
            archive.add_limit("mav", "mav.x.gate", 20.0, "green", "red", [1, 2])
    with Archive.open_readonly(path) as archive:
        first, second = archive.limit_events()
        assert (first.point, first.old_level, first.new_level, first.value, first.mode) == (
            "lander.sta.status.os_temp", "green", "red", 40.0, "nominal")  # fmt: skip
        assert second.state == "armed" and second.unit == "-"
        assert archive.limit_events(node="mav") == [second]
        assert archive.limit_events(point="lander.sta.status.os_temp") == [first]
        assert archive.limit_events(start=16.0) == [second]


def _version_1(path: Path) -> None:
    """Make ``path`` an archive as version 1 of the schema left it (no limits table)."""
    Archive(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE limits")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_a_version_1_archive_reads_with_no_limit_events_and_a_writer_adds_the_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "archive.sqlite"
    _version_1(path)
    with Archive.open_readonly(path) as archive:
        assert archive.limit_events() == [] and archive.summary()["events"] == 0
    with Archive(path) as archive:  # a writer brings it to the current version: additive
        archive.add_limit("lander", "lander.a.b", 1.0, "green", "red", 3.0)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
    with Archive.open_readonly(path) as archive:
        assert len(archive.limit_events()) == 1 and archive.files() == []


def test_a_version_2_archive_without_its_limits_table_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    Archive(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE limits")
    conn.commit()
    conn.close()
    with pytest.raises(ArchiveError, match=r"damaged archive.*limits"):
        Archive.open_readonly(path)


# ---------------------------------------------------------------- control request


def test_the_limits_request_is_a_bounded_schema() -> None:
    request = parse_request({"op": "limits", "since": 3, "all": True})
    assert isinstance(request, LimitsRequest) and request.since == 3 and request.all
    assert parse_request({"op": "limits"}).limit == 1000
    for bad in ({"op": "limits", "since": -1}, {"op": "limits", "all": 1},
                {"op": "limits", "limit": 10**9}, {"op": "limits", "extra": 1}):  # fmt: skip
        with pytest.raises(RequestError):
            parse_request(bad)


# ---------------------------------------------------------------- displays


def test_a_reading_carries_its_level_state_and_limits() -> None:
    hot = reading("lander.sta.status.os_temp", TEMP, {"value": 40.0, "time": 9.0}, "nominal")
    assert (hot.level, hot.limits, hot.state) == ("red", "yellow ..25, red ..30", None)
    assert hot.as_dict()["unit"] == "degC" and hot.as_dict()["time"] == 9.0
    zones = reading("lander.sta.status.zones", ZONES, {"value": [0.0, 45.0, 0.0], "time": 1.0},
                    None)  # fmt: skip
    assert zones.level == "yellow" and zones.levels == ("green", "yellow", "green")
    gate = reading("lander.sta.status.gate", GATE, {"value": 1, "time": 1.0}, None)
    assert (gate.state, gate.level) == ("armed", "yellow")
    plain = reading("lander.sta.status.count", PLAIN, {"value": 200, "time": 1.0}, None)
    assert plain.level is None and plain.limits == ""  # not monitored
    unseen = reading("lander.core.status.mode", MODE, {"error": "nothing yet"}, None)
    assert unseen.value is None and unseen.level is None and unseen.utc == "-"
    mode = reading("lander.core.status.mode", MODE, {"value": 2, "time": 1.0}, None)
    assert mode.state == "nominal"


def test_a_limit_event_line_and_record() -> None:
    monitor = LimitMonitor(_dictionary())
    (event,) = _sample(monitor, 15.0, 40.0)
    line = limit_line(event.as_dict())
    assert "LIMIT" in line and "lander.sta.status.os_temp green -> red" in line
    assert "40 degC" in line and "bold red" in line
    record = limit_record(event.as_dict())
    assert record["kind"] == "limit" and record["new"] == "red" and record["name"] == event.point


# ---------------------------------------------------------------- msr limits --archive


def test_replay_leaves_each_point_at_its_last_archived_level(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    with Archive(path) as archive:
        archive.add_limit("lander", "lander.sta.status.os_temp", 10.0, "green", "red", 40.0)
        archive.add_limit("lander", "lander.sta.status.os_temp", 20.0, "red", "yellow", 26.0)
        archive.add_limit("mav", "mav.core.status.mode", 5.0, "green", "yellow", 1, state="safe")
    with Archive.open_readonly(path) as archive:
        points = replay(archive.limit_events())
    temp = points["lander.sta.status.os_temp"]
    assert (temp.level, temp.since, temp.value) == ("yellow", 20.0, 26.0)
    assert points["mav.core.status.mode"].state == "safe"


def test_msr_limits_archive_lists_a_down_bench_from_its_archive(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with Archive(run_dir / "archive.sqlite") as archive:
        archive.add_packet("lander", "sta.status", 12.0, {"os_temp": 41.0})
        archive.add_limit("lander", "lander.sta.status.os_temp", 10.0, "green", "red", 40.0,
                          unit="degC", limit_set="yellow ..25, red ..30")  # fmt: skip
    result = msr("limits", "--archive", "--json", "--run-dir", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["point"], row["level"], row["since"]) == ("lander.sta.status.os_temp", "red", 10.0)
    assert row["value"] == 41.0 and row["time"] == 12.0  # the latest archived value
    assert row["since_utc"] == "2031-07-01T00:00:10.000Z"  # the default mission epoch
    text = msr("limits", "--archive", "--run-dir", str(run_dir), cwd=tmp_path)
    assert "lander.sta.status.os_temp" in text.stdout and "41 degC" in text.stdout
    every = msr("limits", "--archive", "--all", "--json", "--run-dir", str(run_dir), cwd=tmp_path)
    rows = [json.loads(line) for line in every.stdout.splitlines()]
    assert len(rows) > 10 and {r["level"] for r in rows} >= {"red", None}


def test_msr_limits_of_a_folder_without_a_station_is_a_one_line_error(tmp_path: Path) -> None:
    result = msr("limits", "--run-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no ground station is running" in result.stderr
    result = msr("tlm", "--interval", "nan", "--run-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "--interval" in result.stderr
    result = msr("limits", "--archive", "--run-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "no such archive" in result.stderr


def test_a_version_3_archive_without_its_files_table_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    Archive(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE files")
    conn.commit()
    conn.close()
    with pytest.raises(ArchiveError, match=r"damaged archive.*files"):
        Archive.open_readonly(path)
