"""Fault protection procedures: monitors trip responses, clear, and the reset-loop guard holds a
node that keeps resetting in safe mode with its autonomy off (fsw/core/fdir.py)."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsw.core.fdir import (
    EVENTS,
    FaultProtection,
    FdirConfigError,
    FdirError,
    FdirTables,
    MonitorSpec,
    ResetGuard,
    ResponseSpec,
)

TABLES_TOML = """
[[monitors]]
id = "igloo_cold"
point = "igloo.zone_temp_3"
kind = "limit"
low = -40.0
high = 35
max_age = 30.0
persistence = 3
response = "igloo_cold"

[[monitors]]
id = "tank_jump"
point = "mav.tank_pressure"
kind = "delta"
max_delta = 5.0
max_age = 30.0
persistence = 1
response = "tell_ground"

[[monitors]]
id = "imu_silent"
point = "mav.imu_rate"
kind = "stale"
max_age = 10.0
persistence = 2
response = "tell_ground"

[[monitors]]
id = "spare_heater"
point = "igloo.zone_temp_4"
kind = "limit"
high = 50.0
max_age = 30.0
persistence = 1
response = "tell_ground"
enabled = false

[[responses]]
id = "igloo_cold"
actions = ["event", "stop_sequence:launch", "start_sequence:igloo_reheat", "safe_mode"]

[[responses]]
id = "tell_ground"
actions = ["event"]
"""


class Node:
    """The rest of the node as fault protection sees it: a telemetry pool, a sequencer and a
    mode manager that record what they were asked, and an event log, all in one ordered log."""

    def __init__(self) -> None:
        self.pool: dict[str, tuple[float, float]] = {}
        self.log: list[tuple[str, str]] = []
        self.fail: set[str] = set()

    def points(self, name: str) -> tuple[float, float] | None:
        return self.pool.get(name)

    def sample(self, point: str, value: float, at: float) -> None:
        self.pool[point] = (value, at)

    def emit(self, name: str, detail: str) -> None:
        assert name in EVENTS, name
        assert "\n" not in detail
        self.log.append((name, detail))

    def stop_sequence(self, name: str, reason: str) -> None:
        self.log.append(("stop_sequence", name))
        if "stop_sequence" in self.fail:
            raise RuntimeError(f"no sequence {name}\nrunning")

    def start_sequence(self, name: str, reason: str) -> None:
        self.log.append(("start_sequence", name))

    def enter_safe(self, reason: str) -> None:
        assert reason
        self.log.append(("enter_safe", ""))

    def names(self) -> list[str]:
        return [name for name, _ in self.log]

    def take(self) -> list[str]:
        names = self.names()
        self.log.clear()
        return names


def fault_protection(
    node: Node, doc: str = TABLES_TOML, only: tuple[str, ...] | None = None
) -> FaultProtection:
    """Fault protection over the tables of ``doc``, keeping the monitors ``only`` (None: all)."""
    document = tomllib.loads(doc)
    if only is not None:
        document["monitors"] = [row for row in document["monitors"] if row["id"] in only]
    tables = FdirTables.from_mapping(document)
    return FaultProtection(tables, node.points, node, emit=node.emit)


def run(fp: FaultProtection, node: Node, point: str, values: list[float], start: float = 0.0):
    """One new sample of ``point`` per cycle, a second apart."""
    now = start
    for value in values:
        node.sample(point, value, now)
        fp.cycle(now)
        now += 1.0
    return now


RESPONSE = ["monitor_tripped", "fault_response", "stop_sequence", "start_sequence", "enter_safe"]


# ------------------------------------------------------------------------------- limit monitors


def test_a_cold_igloo_for_three_cycles_trips_once_and_runs_event_stop_recovery_and_safe_mode():
    node = Node()
    fp = fault_protection(node)
    run(fp, node, "igloo.zone_temp_3", [-20.0, -41.0, -42.0])
    assert node.names() == []
    assert fp.status()["igloo_cold"]["state"] == "counting"
    assert fp.status()["igloo_cold"]["count"] == 2

    run(fp, node, "igloo.zone_temp_3", [-43.0], start=3.0)
    assert node.names() == RESPONSE
    assert node.log[2:4] == [("stop_sequence", "launch"), ("start_sequence", "igloo_reheat")]
    tripped = node.log[0][1]
    assert "monitor=igloo_cold" in tripped
    assert "point=igloo.zone_temp_3" in tripped
    assert "value=-43" in tripped
    assert "bound=low:-40" in tripped
    assert EVENTS["monitor_tripped"][0] == "high"

    node.log.clear()
    run(fp, node, "igloo.zone_temp_3", [-44.0, -45.0, -46.0, -47.0], start=4.0)
    assert node.names() == [], "a lasting fault gives one response, not a storm"
    assert fp.status()["igloo_cold"] == {
        "state": "tripped",
        "count": 7,
        "value": -47.0,
        "trips": 1,
        "kind": "limit",
        "point": "igloo.zone_temp_3",
    }
    assert fp.trips == 1


def test_the_igloo_monitor_clears_when_it_warms_back_up_and_can_trip_again():
    node = Node()
    fp = fault_protection(node)
    now = run(fp, node, "igloo.zone_temp_3", [-50.0] * 4)
    assert node.take() == RESPONSE

    now = run(fp, node, "igloo.zone_temp_3", [-10.0], start=now)
    assert node.names() == ["monitor_cleared"]
    assert EVENTS["monitor_cleared"][0] == "info"
    assert fp.status()["igloo_cold"]["state"] == "ok"
    node.log.clear()

    run(fp, node, "igloo.zone_temp_3", [36.0, 37.0, 38.0], start=now)
    assert node.names() == RESPONSE
    assert "bound=high:35" in node.log[0][1]
    assert fp.status()["igloo_cold"]["trips"] == 2
    assert fp.trips == 2


def test_a_cold_transient_shorter_than_the_persistence_does_not_trip():
    node = Node()
    fp = fault_protection(node)
    run(fp, node, "igloo.zone_temp_3", [-41.0, -41.0, -20.0, -41.0, -41.0, 0.0, -41.0])
    assert node.names() == []
    assert fp.trips == 0
    assert fp.status()["igloo_cold"]["count"] == 1


def test_a_reading_exactly_on_a_limit_is_in_limits():
    node = Node()
    fp = fault_protection(node)
    run(fp, node, "igloo.zone_temp_3", [-40.0, 35.0] * 5)
    assert node.names() == []


def test_a_reading_that_is_not_a_number_violates_a_limit():
    node = Node()
    fp = fault_protection(node)
    run(fp, node, "igloo.zone_temp_3", [float("nan")] * 3)
    assert node.names()[0] == "monitor_tripped"
    assert "bound=finite" in node.log[0][1]


def test_the_same_old_reading_is_one_sample_judged_once_however_often_it_is_checked():
    node = Node()
    fp = fault_protection(node)
    node.sample("igloo.zone_temp_3", -60.0, 0.0)
    for tenth in range(30):  # a 10 Hz monitor over one 1 Hz sample, for 3 s (fresh: < 30 s)
        fp.cycle(tenth / 10)
    assert node.names() == []
    assert fp.status()["igloo_cold"]["count"] == 1


def test_a_1_hz_point_under_a_10_hz_monitor_trips_after_persistence_samples_not_checks():
    node = Node()
    fp = fault_protection(node, only=("igloo_cold",))  # persistence 3
    tripped_at = None
    for tenth in range(60):
        now = tenth / 10
        if tenth % 10 == 0:
            node.sample("igloo.zone_temp_3", -60.0, now)  # one new bad sample a second
        fp.cycle(now)
        if tripped_at is None and "monitor_tripped" in node.names():
            tripped_at = now
    assert tripped_at == 2.0, "the third bad sample (at 2 s), not the third check (at 0.2 s)"
    assert node.names() == RESPONSE


def test_limit_and_delta_monitors_do_not_judge_a_point_never_sampled():
    node = Node()
    fp = fault_protection(node)
    for now in range(5):
        fp.cycle(float(now))
    assert fp.status()["igloo_cold"] == {
        "state": "ok",
        "count": 0,
        "value": None,
        "trips": 0,
        "kind": "limit",
        "point": "igloo.zone_temp_3",
    }
    assert fp.status()["tank_jump"]["state"] == "ok"


# ------------------------------------------------------------------------------- delta monitors


def test_a_tank_pressure_jump_between_two_samples_trips_the_delta_monitor():
    node = Node()
    fp = fault_protection(node)
    run(fp, node, "mav.tank_pressure", [100.0, 103.0, 99.0, 104.0])
    assert node.names() == []
    run(fp, node, "mav.tank_pressure", [110.0], start=4.0)
    assert node.names() == ["monitor_tripped", "fault_response"]
    assert "change:6" in node.log[0][1]
    assert "bound=max_delta:5" in node.log[0][1]
    node.log.clear()
    run(fp, node, "mav.tank_pressure", [111.0], start=5.0)
    assert node.names() == ["monitor_cleared"]


def test_a_delta_monitor_does_not_count_the_same_sample_seen_twice():
    node = Node()
    doc = TABLES_TOML.replace(
        "max_delta = 5.0\nmax_age = 30.0\npersistence = 1",
        "max_delta = 5.0\nmax_age = 30.0\npersistence = 2",
    )
    fp = fault_protection(node, doc, only=("tank_jump",))
    node.sample("mav.tank_pressure", 100.0, 0.0)
    fp.cycle(0.0)
    node.sample("mav.tank_pressure", 120.0, 1.0)
    for now in range(1, 10):  # the pool holds the one jumped sample: one change, not nine
        fp.cycle(float(now))
    assert node.names() == []
    assert fp.status()["tank_jump"]["count"] == 1
    node.sample("mav.tank_pressure", 140.0, 10.0)  # a second jump, in a new sample
    fp.cycle(10.0)
    assert node.names() == ["monitor_tripped", "fault_response"]


def test_the_first_sample_only_sets_the_delta_baseline():
    node = Node()
    fp = fault_protection(node)
    node.sample("mav.tank_pressure", 1000.0, 0.0)
    fp.cycle(0.0)
    assert fp.status()["tank_jump"] == {
        "state": "ok",
        "count": 0,
        "value": 1000.0,
        "trips": 0,
        "kind": "delta",
        "point": "mav.tank_pressure",
    }


# ------------------------------------------------------------------------------- stale monitors


def test_an_imu_that_stops_updating_goes_stale_runs_its_response_once_and_freshens():
    node = Node()
    fp = fault_protection(node)
    node.sample("mav.imu_rate", 0.1, 0.0)
    for now in range(11):  # age 10 s is still fresh
        fp.cycle(float(now))
    assert node.names() == []
    fp.cycle(10.5)
    assert node.names() == ["monitor_stale", "fault_response"]
    assert "value=age:10.5" in node.log[0][1]
    assert "bound=max_age:10" in node.log[0][1]
    assert fp.status()["imu_silent"]["state"] == "stale"
    node.log.clear()
    for now in range(11, 20):
        fp.cycle(float(now))
    assert node.names() == [], "a lasting staleness gives one response"
    node.sample("mav.imu_rate", 0.2, 20.0)
    fp.cycle(20.0)
    assert node.names() == ["monitor_fresh"]
    assert fp.status()["imu_silent"]["state"] == "ok"


def test_an_imu_that_never_reports_goes_stale_after_max_age():
    node = Node()
    fp = fault_protection(node, only=("imu_silent",))
    for now in range(100, 111):  # armed at its first check, 100 s
        fp.cycle(float(now))
    assert node.names() == []
    fp.cycle(110.5)
    assert node.names() == ["monitor_stale", "fault_response"]
    assert "value=never_sampled" in node.log[0][1]


@pytest.mark.parametrize(
    "monitor_id,point", [("igloo_cold", "igloo.zone_temp_3"), ("tank_jump", "mav.tank_pressure")]
)
def test_a_limit_or_delta_monitor_whose_data_stop_goes_stale_and_takes_its_response(
    monitor_id, point
):
    node = Node()
    fp = fault_protection(node, only=(monitor_id,))
    now = run(fp, node, point, [0.0, 0.0, 0.0])  # in limits, a sample a second, to 2 s
    assert node.names() == []
    for tenth in range(int(now * 10), 321):  # then nothing new, to 30 s after the last sample
        fp.cycle(tenth / 10)
    assert node.names() == []
    fp.cycle(32.1)
    response = RESPONSE[1:] if monitor_id == "igloo_cold" else ["fault_response"]
    assert node.names() == ["monitor_stale", *response]
    assert f"point={point}" in node.log[0][1] and "bound=max_age:30" in node.log[0][1]
    assert fp.status()[monitor_id]["state"] == "stale"
    assert fp.trips == 1


def test_a_stale_monitor_judges_again_from_its_next_fresh_sample():
    node = Node()
    fp = fault_protection(node, only=("igloo_cold",))
    node.sample("igloo.zone_temp_3", -60.0, 0.0)
    fp.cycle(0.0)
    fp.cycle(31.0)
    assert node.take() == ["monitor_stale", *RESPONSE[1:]]
    run(fp, node, "igloo.zone_temp_3", [-60.0, -60.0], start=40.0)
    assert node.take() == ["monitor_fresh"]
    assert fp.status()["igloo_cold"]["count"] == 2, "the count restarted at the fresh data"
    run(fp, node, "igloo.zone_temp_3", [-60.0], start=42.0)
    assert node.take() == RESPONSE


ACTIVE_TOML = """
[[monitors]]
id = "propellant_cold"
point = "launch.status.propellant_temp"
kind = "limit"
low = -40.0
max_age = 10.0
persistence = 2
response = "safe"
active_point = "launch.status.state"
active_high = 4

[[responses]]
id = "safe"
actions = ["event", "safe_mode"]
"""


def test_a_monitor_outside_its_active_range_judges_nothing_not_even_the_age():
    node = Node()
    fp = fault_protection(node, ACTIVE_TOML)
    for now in range(30):  # the state never reported: inactive, so never stale
        fp.cycle(float(now))
    assert node.names() == []
    assert fp.status()["propellant_cold"]["state"] == "inactive"
    node.sample("launch.status.state", 4, 30.0)
    run(fp, node, "launch.status.propellant_temp", [-50.0, -50.0], start=30.0)
    assert node.take() == ["monitor_tripped", "fault_response", "enter_safe"]
    node.sample("launch.status.state", 5, 32.0)  # the toss: the umbilical readings end
    for now in range(32, 100):
        fp.cycle(float(now))
    assert node.names() == []
    assert fp.status()["propellant_cold"]["state"] == "inactive"


# ---------------------------------------------------------------------- commands and autonomy


def test_a_disabled_monitor_does_nothing_and_starts_afresh_when_enabled():
    node = Node()
    fp = fault_protection(node, only=("igloo_cold", "spare_heater"))
    assert fp.status()["spare_heater"]["state"] == "disabled"  # disabled in its table
    run(fp, node, "igloo.zone_temp_4", [99.0] * 5)
    assert node.names() == []

    fp.disable("igloo_cold")
    assert node.take() == ["monitor_disabled"]
    run(fp, node, "igloo.zone_temp_3", [-90.0] * 5, start=5.0)
    assert node.names() == []
    assert fp.status()["igloo_cold"]["state"] == "disabled"
    assert fp.status()["igloo_cold"]["count"] == 0

    fp.enable("igloo_cold")
    fp.enable("igloo_cold")  # already enabled: nothing more
    assert node.take() == ["monitor_enabled"]
    run(fp, node, "igloo.zone_temp_3", [-90.0] * 2, start=10.0)
    assert node.names() == []
    run(fp, node, "igloo.zone_temp_3", [-90.0], start=12.0)
    assert node.names() == RESPONSE


def test_disabling_a_tripped_monitor_forgets_the_trip():
    node = Node()
    fp = fault_protection(node)
    run(fp, node, "igloo.zone_temp_3", [-90.0] * 3)
    node.log.clear()
    fp.disable("igloo_cold")
    assert node.log == [("monitor_disabled", "monitor=igloo_cold was=tripped")]
    assert fp.status()["igloo_cold"]["trips"] == 1


def test_a_ground_reset_rearms_a_tripped_monitor():
    node = Node()
    fp = fault_protection(node)
    now = run(fp, node, "igloo.zone_temp_3", [-90.0] * 3)
    node.log.clear()
    fp.reset("igloo_cold")
    assert node.take() == ["monitor_reset"]
    assert fp.status()["igloo_cold"]["state"] == "ok"
    run(fp, node, "igloo.zone_temp_3", [-90.0] * 3, start=now)
    assert node.names() == RESPONSE
    assert fp.status()["igloo_cold"]["trips"] == 2


def test_a_command_naming_an_unknown_monitor_is_refused():
    fp = fault_protection(Node())
    for command in (fp.enable, fp.disable, fp.reset):
        with pytest.raises(FdirError, match="unknown monitor 'igloo_hot'"):
            command("igloo_hot")


def test_with_autonomy_off_recovery_sequences_are_inhibited_but_stop_and_safe_mode_still_run():
    node = Node()
    fp = fault_protection(node)
    fp.autonomy = False
    run(fp, node, "igloo.zone_temp_3", [-90.0] * 3)
    assert node.names() == [
        "monitor_tripped",
        "fault_response",
        "stop_sequence",
        "recovery_inhibited",
        "enter_safe",
    ]
    assert "sequence=igloo_reheat" in node.log[3][1]


def test_a_failing_sequence_stop_is_reported_and_safe_mode_still_follows():
    node = Node()
    node.fail.add("stop_sequence")
    fp = fault_protection(node)
    run(fp, node, "igloo.zone_temp_3", [-90.0] * 3)
    assert node.names() == [
        "monitor_tripped",
        "fault_response",
        "stop_sequence",
        "response_action_failed",
        "start_sequence",
        "enter_safe",
    ]
    assert "action=stop_sequence:launch" in node.log[3][1]
    assert "RuntimeError: no sequence launch running" in node.log[3][1]


def test_every_declared_event_has_a_pus_severity_and_a_snake_case_name():
    for name, (severity, description) in EVENTS.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert severity in {"info", "low", "medium", "high"}, name
        assert description, name


# ---------------------------------------------------------------------------------- bad tables

GOOD_MONITOR = {
    "id": "igloo_cold",
    "point": "igloo.zone_temp_3",
    "kind": "limit",
    "low": -40.0,
    "max_age": 30.0,
    "persistence": 3,
    "response": "igloo_cold",
}


def monitor(**changes):
    row = dict(GOOD_MONITOR, **changes)
    return {key: value for key, value in row.items() if value is not ...}


@pytest.mark.parametrize(
    "row,field,problem",
    [
        (monitor(kind="average"), "kind", "unknown kind 'average'"),
        (monitor(low=...), "low", "missing"),
        (monitor(low=10.0, high=5.0), "low", "above high 5"),
        (monitor(persistence=0), "persistence", "not >= 1"),
        (monitor(persistence=2.5), "persistence", "expected an integer"),
        (monitor(persistence=True), "persistence", "expected an integer"),
        (monitor(colour="red"), "colour", "unknown field"),
        (monitor(low="cold"), "low", "expected a number, got str"),
        (monitor(low=float("nan")), "low", "not a finite number"),
        (monitor(point=3), "point", "expected a string, got int"),
        (monitor(point="igloo temp"), "point", "is not a name"),
        (monitor(response=...), "response", "missing"),
        (monitor(enabled="yes"), "enabled", "expected true or false"),
        (monitor(max_age=...), "max_age", "missing"),
        (monitor(max_age=0), "max_age", "not > 0"),
        (monitor(max_delta=2.0), "max_delta", "does not apply to a limit monitor"),
        (monitor(active_high=4), "active_high", "needs 'active_point'"),
        (monitor(active_point="launch.state"), "active_low", "missing"),
        (monitor(active_point="x", active_low=5, active_high=4), "active_low", "above 4"),
        (monitor(kind="delta", low=...), "max_delta", "missing"),
        (monitor(kind="delta", low=..., max_delta=-1), "max_delta", "negative"),
        (monitor(kind="stale", low=..., max_age=...), "max_age", "missing"),
        (monitor(kind="stale", low=..., max_age=0), "max_age", "not > 0"),
        (monitor(kind="stale"), "low", "does not apply to a stale monitor"),
    ],
)
def test_a_bad_monitor_row_gives_a_one_line_error_naming_the_row_and_field(row, field, problem):
    with pytest.raises(FdirConfigError) as raised:
        MonitorSpec.from_row(row)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("monitor 'igloo_cold': "), message
    assert f"field {field!r}" in message, message
    assert problem in message, message


def test_a_monitor_row_without_an_id_is_named_by_its_position():
    with pytest.raises(FdirConfigError, match=r"^monitor row 4: field 'id': missing$"):
        MonitorSpec.from_row(monitor(id=...), index=4)
    with pytest.raises(FdirConfigError, match=r"^monitor row 0: field 'id': expected a string"):
        FdirTables.from_mapping({"monitors": [monitor(id=7)]})


@pytest.mark.parametrize(
    "row,field,problem",
    [
        ({"id": "r", "actions": ["reboot"]}, "actions[0]", "unknown action 'reboot'"),
        ({"id": "r", "actions": ["event", "stop_sequence"]}, "actions[1]", "needs a sequence"),
        ({"id": "r", "actions": ["start_sequence:"]}, "actions[0]", "is not a name"),
        ({"id": "r", "actions": ["safe_mode:now"]}, "actions[0]", "takes no argument"),
        ({"id": "r", "actions": ["event", 3]}, "actions[1]", "expected a string, got int"),
        ({"id": "r", "actions": []}, "actions", "empty"),
        ({"id": "r", "actions": "event"}, "actions", "expected a list, got str"),
        ({"id": "r"}, "actions", "missing"),
        ({"id": "r", "actions": ["event"], "when": 1}, "when", "unknown field"),
    ],
)
def test_a_bad_response_row_gives_a_one_line_error_naming_the_row_and_field(row, field, problem):
    with pytest.raises(FdirConfigError) as raised:
        ResponseSpec.from_row(row)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("response 'r': "), message
    assert f"field {field!r}" in message, message
    assert problem in message, message


@pytest.mark.parametrize(
    "doc,message",
    [
        (
            {"monitors": [GOOD_MONITOR], "responses": []},
            "monitor 'igloo_cold': field 'response': no response 'igloo_cold'",
        ),
        (
            {
                "monitors": [GOOD_MONITOR, GOOD_MONITOR],
                "responses": [{"id": "igloo_cold", "actions": ["event"]}],
            },
            "monitor 'igloo_cold': field 'id': duplicate id",
        ),
        (
            {"responses": [{"id": "a", "actions": ["event"]}, {"id": "a", "actions": ["event"]}]},
            "response 'a': field 'id': duplicate id",
        ),
        ({"monitors": "igloo_cold"}, "fdir tables: 'monitors': expected a list of rows"),
        ({"monitor": []}, "fdir tables: unknown key 'monitor'"),
        ({"monitors": [["igloo_cold"]]}, "monitor row 0: expected a table, got list"),
    ],
)
def test_bad_tables_give_a_one_line_error(doc, message):
    with pytest.raises(FdirConfigError) as raised:
        FdirTables.from_mapping(doc)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_tables_load_from_toml_with_integer_bounds_as_floats():
    tables = FdirTables.from_mapping(tomllib.loads(TABLES_TOML))
    assert [m.id for m in tables.monitors] == [
        "igloo_cold",
        "tank_jump",
        "imu_silent",
        "spare_heater",
    ]
    cold = tables.monitors[0]
    assert (cold.low, cold.high) == (-40.0, 35.0)
    assert isinstance(cold.high, float)
    assert tables.response("igloo_cold").actions == (
        ("event",),
        ("stop_sequence", "launch"),
        ("start_sequence", "igloo_reheat"),
        ("safe_mode",),
    )
    assert FdirTables.from_mapping({}) == FdirTables()


def test_a_response_built_in_code_is_checked_too():
    with pytest.raises(FdirConfigError, match=r"field 'actions\[0\]'"):
        ResponseSpec("r", (("stop_sequence",),))
    assert ResponseSpec("r", (("safe_mode",),)).actions == (("safe_mode",),)


# ------------------------------------------------------------------------- limit property test


@given(
    persistence=st.integers(min_value=1, max_value=5),
    values=st.lists(st.sampled_from([-50.0, -40.0, -39.9, 0.0, 35.0, 35.1, 80.0]), max_size=60),
)
def test_a_limit_monitor_trips_exactly_at_persistence_consecutive_out_of_limit_samples(
    persistence, values
):
    node = Node()
    doc = TABLES_TOML.replace("persistence = 3", f"persistence = {persistence}")
    fp = fault_protection(node, doc, only=("igloo_cold",))
    run_length, tripped, expected_trips = 0, False, 0
    for now, value in enumerate(values):
        node.log.clear()
        node.sample("igloo.zone_temp_3", value, float(now))
        fp.cycle(float(now))
        out = value < -40.0 or value > 35.0
        run_length = run_length + 1 if out else 0
        trips_now = out and not tripped and run_length >= persistence
        clears_now = not out and tripped
        tripped = (tripped or trips_now) and out
        expected_trips += trips_now
        expected = RESPONSE if trips_now else ["monitor_cleared"] if clears_now else []
        assert node.names() == expected
        assert fp.status()["igloo_cold"]["state"] == (
            "tripped" if tripped else "counting" if run_length else "ok"
        )
    assert fp.trips == expected_trips


# ---------------------------------------------------------------------------- reset-loop guard


class Nv:
    """The non-volatile store as the guard sees it: JSON, written at every change."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.events: list[tuple[str, str]] = []

    def emit(self, name: str, detail: str) -> None:
        assert name in EVENTS, name
        assert "\n" not in detail
        self.events.append((name, detail))

    def start(self, cause: str = "watchdog", uptime: float | None = None, **settings):
        """One start of the node: boot, persist, run ``uptime`` seconds (None: reset at once)."""
        state = None if self.text is None else json.loads(self.text)
        guard = ResetGuard(state, emit=self.emit, **settings)
        autonomy = guard.boot(cause)
        self.text = json.dumps(guard.state())
        if uptime is not None:
            for second in range(int(uptime) + 1):
                if guard.cycle(float(second)):
                    self.text = json.dumps(guard.state())
        return autonomy, guard

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def test_the_reset_guard_trips_after_limit_plus_one_quick_boots():
    nv = Nv()
    results = [nv.start("power_on" if i == 0 else "watchdog", uptime=30)[0] for i in range(4)]
    assert results == [True, True, True, True]
    autonomy, guard = nv.start()
    assert autonomy is False
    assert guard.tripped and guard.consecutive == 4
    assert nv.names()[-1] == "reset_loop"
    assert EVENTS["reset_loop"][0] == "high"
    assert "consecutive=4 limit=3" in nv.events[-1][1]


def test_a_tripped_guard_stays_tripped_across_boots_until_the_ground_clears_it():
    nv = Nv()
    for _ in range(5):
        nv.start(uptime=60)
    for _ in range(3):
        autonomy, guard = nv.start(uptime=60)
        assert autonomy is False and guard.tripped
    guard.clear()
    assert nv.names()[-1] == "reset_loop_cleared"
    assert not guard.tripped and guard.consecutive == 0
    nv.text = json.dumps(guard.state())
    autonomy, guard = nv.start()
    assert autonomy is True
    assert guard.consecutive == 1  # the boot during which the ground cleared it ended quickly


def test_a_tripped_guard_clears_after_a_boot_that_stays_up():
    nv = Nv()
    for _ in range(5):
        nv.start(uptime=0)
    autonomy, guard = nv.start(uptime=599)
    assert autonomy is False and guard.tripped
    assert "reset_loop_cleared" not in nv.names()
    autonomy, guard = nv.start(uptime=600)
    assert autonomy is False
    assert nv.names()[-1] == "reset_loop_cleared"
    assert not guard.tripped and guard.consecutive == 0
    autonomy, guard = nv.start()
    assert autonomy is True and guard.consecutive == 0


def test_a_stable_boot_resets_the_consecutive_count_and_says_so_once():
    nv = Nv()
    for _ in range(3):
        nv.start(uptime=10)
    autonomy, guard = nv.start(uptime=10)
    assert autonomy is True and guard.consecutive == 3
    assert guard.cycle(600.0) is True
    assert guard.cycle(700.0) is False
    assert nv.names()[-1] == "boot_stable"
    assert nv.names().count("boot_stable") == 1
    assert guard.consecutive == 0


def test_the_guard_counts_total_resets_across_stable_and_unstable_boots():
    nv = Nv()
    _, guard = nv.start("power_on", uptime=700)
    assert guard.resets_total == 0
    for _ in range(3):
        nv.start(uptime=5)
    nv.start(uptime=700)
    for _ in range(6):
        _, guard = nv.start(uptime=5)
    assert guard.resets_total == 10
    assert guard.state()["boots"] == 11
    assert guard.state()["last_cause"] == "watchdog"


def test_the_guard_uses_uptime_only_so_a_mission_clock_restart_changes_nothing():
    # the caller gives uptime within this boot; a node whose mission clock restarted from 0
    # after the reset gives the same uptimes, and the persisted state holds no time at all
    nv = Nv()
    nv.start(uptime=10)
    state = json.loads(nv.text)
    assert set(state) == {
        "version",
        "boots",
        "resets_total",
        "consecutive",
        "pending",
        "tripped",
        "last_cause",
    }
    assert json.loads(json.dumps(state)) == state


def test_a_corrupt_guard_state_is_reported_and_the_guard_starts_afresh():
    events: list[tuple[str, str]] = []
    guard = ResetGuard({"consecutive": "many"}, emit=lambda n, d: events.append((n, d)))
    assert events == [
        (
            "reset_guard_state_invalid",
            "state: consecutive: 'many' is not an integer >= 0; starting afresh",
        )
    ]
    assert guard.boot("watchdog") is True
    assert guard.consecutive == 0 and guard.resets_total == 1


def test_the_guard_refuses_a_second_boot_and_a_cycle_before_boot():
    guard = ResetGuard(None)
    with pytest.raises(FdirError, match="before boot"):
        guard.cycle(1.0)
    guard.boot("power_on")
    with pytest.raises(FdirError, match="already called"):
        guard.boot("power_on")


@pytest.mark.parametrize("settings", [{"limit": -1}, {"limit": 1.5}, {"stable_after": 0}])
def test_bad_guard_settings_are_refused(settings):
    with pytest.raises(FdirConfigError):
        ResetGuard(None, **settings)


@given(st.lists(st.booleans(), max_size=30), st.integers(min_value=0, max_value=4))
def test_the_guard_trips_exactly_when_more_than_limit_quick_boots_came_in_a_row(stable, limit):
    nv = Nv()
    quick_in_a_row, tripped = 0, False
    for index, stays_up in enumerate(stable):
        autonomy, guard = nv.start(uptime=600 if stays_up else 1, limit=limit)
        if index:
            quick_in_a_row = 0 if stable[index - 1] else quick_in_a_row + 1
        tripped = tripped or quick_in_a_row > limit
        assert autonomy is not tripped
        assert guard.resets_total == index
        if stays_up:
            tripped = False


def test_a_monitor_that_becomes_active_gives_an_older_sample_its_max_age_from_then():
    node = Node()
    fp = fault_protection(node, ACTIVE_TOML)  # max_age 10 s, active while the state <= 4
    node.sample("launch.status.state", 9, 0.0)
    node.sample("launch.status.propellant_temp", -10.0, 0.0)  # read long before
    for now in range(50):
        fp.cycle(float(now))
    node.sample("launch.status.state", 4, 50.0)  # active from 50 s: the old reading is not stale
    for now in range(50, 61):
        fp.cycle(float(now))
    assert node.names() == []
    fp.cycle(60.5)  # no new reading for max_age after the activation: stale
    assert node.names() == ["monitor_stale", "fault_response", "enter_safe"]
    assert "value=age:10.5" in node.log[0][1]
