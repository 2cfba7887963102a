"""Stored and time-tagged command sequences (fsw.services.pus_11_scheduling), as procedures.

The dispatcher is a recorder: what the schedule and the sequences hand to ``submit`` is what a
ground command would have been. Time is the ``now`` each call is given.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fsw.core.hazard import CommandSource, SourceKind
from fsw.services.pus_11_scheduling import (
    EVENTS,
    Activity,
    ScheduleError,
    SequenceEngine,
    SequenceError,
    SequencingError,
    TimeSchedule,
    build_insert,
    parse_insert,
)
from hal.protocol.cuc import CucTime
from hal.protocol.pus import PusTc

UNKNOWN_SERVICE = 99
BAD_ARGUMENT = b"\xff"


def tc(n: int, *, apid: int = 0x123, service: int = 8, subtype: int = 1) -> PusTc:
    """A distinct telecommand: function n of the function-management service."""
    return PusTc(apid, service, subtype, bytes([n & 0x7F]), seq_count=n & 0x3FFF)


HAZARDOUS_SERVICE = 151


def validate(packet: PusTc, source: CommandSource) -> str | None:
    """The dictionary's check: one unknown service, one bad argument, and one service whose
    commands need the ground's confirmation (the node's check of provenance)."""
    if packet.service == HAZARDOUS_SERVICE and not source.confirmed:
        return f"hazard:unconfirmed: from {source}"
    if packet.service == UNKNOWN_SERVICE:
        return "unknown_command"
    if packet.app_data == BAD_ARGUMENT:
        return "bad_argument"
    return None


class Dispatcher:
    """Records what reached the command dispatcher, and checks every event is declared."""

    def __init__(self) -> None:
        self.submitted: list[tuple[PusTc, CommandSource, float]] = []
        self.events: list[tuple[str, str]] = []
        self.persisted: list[dict] = []

    def submit(self, packet: PusTc, source: CommandSource, now: float) -> None:
        self.submitted.append((packet, source, now))

    def emit(self, name: str, detail: str) -> None:
        assert name in EVENTS, name
        assert "\n" not in detail
        self.events.append((name, detail))

    def persist(self, state: dict) -> None:
        self.persisted.append(json.loads(json.dumps(state)))  # it must be JSON-compatible

    def named(self, name: str) -> list[str]:
        return [detail for event, detail in self.events if event == name]

    def released(self) -> list[tuple[int, float]]:
        """(function number, time) of each command submitted."""
        return [(packet.app_data[0], now) for packet, _, now in self.submitted]


def schedule(ground: Dispatcher, **kwargs) -> TimeSchedule:
    return TimeSchedule(ground.submit, validate, emit=ground.emit, **kwargs)


def engine(ground: Dispatcher, **kwargs) -> SequenceEngine:
    return SequenceEngine(
        ground.submit, validate, persist=ground.persist, emit=ground.emit, **kwargs
    )


def run(thing: TimeSchedule | SequenceEngine, start: float, stop: float, step: float) -> None:
    """Cycle once per ``step`` seconds from ``start`` to ``stop`` inclusive."""
    for k in range(round((stop - start) / step) + 1):
        thing.cycle(start + k * step)


# ---------------------------------------------------------------------------------------------
# Time-based schedule


def test_scheduled_commands_are_released_once_each_in_time_order_as_time_runs_forward():
    ground = Dispatcher()
    sched = schedule(ground)
    ids = sched.insert([(10.0, tc(1)), (5.0, tc(2)), (20.0, tc(3))], now=0.0)
    assert ids == [1, 2, 3]
    assert [a.id for a in sched.activities()] == [2, 1, 3]
    sched.enable(0.0)
    assert sched.next_due() == 5.0

    run(sched, 0.0, 30.0, 0.5)

    assert ground.released() == [(2, 5.0), (1, 10.0), (3, 20.0)]
    assert {source.kind for _, source, _ in ground.submitted} == {SourceKind.SCHEDULE}
    assert not any(source.confirmed for _, source, _ in ground.submitted)
    assert len(ground.named("schedule_released")) == 3
    assert sched.activities() == [] and sched.next_due() is None


def test_activities_due_at_the_same_time_are_released_in_insertion_order():
    ground = Dispatcher()
    sched = schedule(ground)
    sched.insert([(7.0, tc(1)), (7.0, tc(2))], now=0.0)
    sched.insert([(7.0, tc(3))], now=1.0)
    sched.enable(1.0)
    sched.cycle(7.25)
    assert ground.released() == [(1, 7.25), (2, 7.25), (3, 7.25)]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ((50.0, tc(9, service=UNKNOWN_SERVICE)), "unknown_command"),
        ((50.0, PusTc(0x123, 8, 1, BAD_ARGUMENT)), "bad_argument"),
        ((99.0, tc(9)), "time_passed"),
        ((50.0, tc(9, service=11, subtype=4)), "nested_schedule_command"),
        ((math.nan, tc(9)), "bad_time"),
        ((50.0, PusTc(0x123, 8, 1, seq_count=99999)), "bad_packet"),
        ((50.0, b"\x18\x23"), "bad_packet"),
    ],
)
def test_an_invalid_activity_in_a_batch_stores_nothing_and_is_named_by_its_index(bad, reason):
    ground = Dispatcher()
    sched = schedule(ground)
    sched.insert([(200.0, tc(1))], now=0.0)
    before = sched.activities()

    with pytest.raises(ScheduleError) as refused:
        sched.insert([(300.0, tc(2)), (301.0, tc(3)), bad, (302.0, tc(4))], now=100.0)

    assert refused.value.reason == reason
    assert refused.value.index == 2
    assert isinstance(refused.value, SequencingError)
    assert "\n" not in str(refused.value) and str(refused.value).startswith(reason)
    assert sched.activities() == before
    assert sched.insert([(300.0, tc(2))], now=100.0) == [2]  # no id was used up


def test_a_full_schedule_refuses_the_activity_that_does_not_fit_and_stores_none():
    ground = Dispatcher()
    sched = schedule(ground, capacity=3)
    sched.insert([(10.0, tc(1))], now=0.0)
    with pytest.raises(ScheduleError) as refused:
        sched.insert([(11.0, tc(2)), (12.0, tc(3)), (13.0, tc(4))], now=0.0)
    assert (refused.value.reason, refused.value.index) == ("schedule_full", 2)
    assert len(sched.activities()) == 1


def test_the_margin_refuses_an_activity_released_too_soon_after_now():
    sched = schedule(Dispatcher(), margin=5.0)
    with pytest.raises(ScheduleError, match="time_passed at activity 0"):
        sched.insert([(104.9, tc(1))], now=100.0)
    assert sched.insert([(105.0, tc(1))], now=100.0) == [1]


def test_the_schedule_comes_up_disabled_and_holds_its_activities_until_enabled():
    ground = Dispatcher()
    sched = schedule(ground)
    assert not sched.enabled
    sched.insert([(10.0, tc(1))], now=0.0)
    assert sched.next_due() is None  # nothing to release while disabled

    run(sched, 0.0, 10.5, 0.5)
    assert ground.submitted == []

    sched.enable(10.5)
    sched.cycle(10.5)
    assert ground.released() == [(1, 10.5)]

    sched.insert([(20.0, tc(2))], now=11.0)
    sched.disable(12.0)
    run(sched, 12.0, 20.0, 1.0)
    assert len(ground.submitted) == 1
    assert ground.named("schedule_disabled") and ground.named("schedule_enabled")


def test_activities_that_passed_while_the_schedule_was_disabled_are_skipped_and_reported():
    ground = Dispatcher()
    sched = schedule(ground)
    sched.insert([(10.0, tc(1, apid=0x42)), (29.5, tc(2)), (40.0, tc(3))], now=0.0)

    sched.enable(30.0)
    run(sched, 30.0, 40.0, 0.5)

    assert ground.released() == [(2, 30.0), (3, 40.0)]
    (skipped,) = ground.named("schedule_skipped")
    assert "id 1" in skipped and "TC[8,1]" in skipped and "apid=0x042" in skipped
    assert "20.000 s late" in skipped
    assert EVENTS["schedule_skipped"][0] == "low"


def test_a_time_jump_skips_activities_later_than_the_limit_and_releases_the_rest():
    ground = Dispatcher()
    sched = schedule(ground, late_limit=1.0)
    sched.insert([(5.0, tc(1)), (9.5, tc(2)), (12.0, tc(3))], now=0.0)
    sched.enable(0.0)
    sched.cycle(0.0)

    sched.cycle(10.0)  # the node was down from 0 to 10

    assert ground.released() == [(2, 10.0)]
    assert [d.split()[1] for d in ground.named("schedule_skipped")] == ["1"]
    assert sched.next_due() == 12.0


def test_delete_removes_named_activities_and_refuses_an_unknown_id_deleting_nothing():
    ground = Dispatcher()
    sched = schedule(ground)
    sched.insert([(10.0, tc(1)), (11.0, tc(2)), (12.0, tc(3))], now=0.0)

    with pytest.raises(ScheduleError) as refused:
        sched.delete([1, 7])
    assert (refused.value.reason, refused.value.index) == ("unknown_id", 1)
    assert len(sched.activities()) == 3

    sched.delete([1, 3])
    assert [a.id for a in sched.activities()] == [2]
    sched.reset()
    assert sched.activities() == []
    assert ground.named("schedule_deleted") and ground.named("schedule_reset")


def test_a_packet_changed_by_its_sender_after_insertion_is_released_as_validated():
    ground = Dispatcher()
    sched = schedule(ground)
    packet = tc(1)
    sched.insert([(1.0, packet)], now=0.0)
    packet.service = UNKNOWN_SERVICE
    sched.enable(0.0)
    sched.cycle(1.0)
    assert ground.submitted[0][0] == tc(1)


def test_a_restored_schedule_is_disabled_and_skips_what_passed_when_next_enabled():
    ground = Dispatcher()
    sched = TimeSchedule(ground.submit, validate, emit=ground.emit, persist=ground.persist)
    sched.insert([(10.0, tc(1)), (100.0, tc(2)), (200.0, tc(3))], now=0.0)
    sched.enable(0.0)
    sched.cycle(10.0)
    saved = ground.persisted[-1]
    assert saved["enabled"] is True
    assert [row[1] for row in saved["activities"]] == [2, 3]

    after = Dispatcher()  # the node resets at 50 and comes back at 150
    restored = schedule(after)
    restored.restore(saved, now=150.0)
    assert not restored.enabled
    assert [(a.release, a.id, a.packet) for a in restored.activities()] == [
        (100.0, 2, tc(2)),
        (200.0, 3, tc(3)),
    ]
    restored.cycle(150.0)
    assert after.submitted == []

    restored.enable(150.0)
    run(restored, 150.0, 200.0, 1.0)
    assert after.released() == [(3, 200.0)]
    assert "id 2" in after.named("schedule_skipped")[0]
    assert restored.insert([(300.0, tc(4))], now=200.0) == [4]  # ids are never reused


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"activities": "none"},
        {"activities": [[1.0, 1]]},
        {"activities": [["soon", 1, tc(1).pack().hex()]]},
        {"activities": [[1.0, True, tc(1).pack().hex()]]},
        {"activities": [[1.0, 1, "zz"]]},
        {"activities": [[1.0, 1, tc(1).pack()[:-1].hex()]]},
        {"activities": [[1.0, 1, tc(1).pack().hex()], [2.0, 1, tc(2).pack().hex()]]},
    ],
)
def test_a_corrupt_saved_schedule_is_refused_and_the_schedule_is_left_as_it_was(state):
    sched = schedule(Dispatcher())
    sched.insert([(10.0, tc(1))], now=0.0)
    sched.enable(0.0)
    with pytest.raises(ScheduleError) as refused:
        sched.restore(state, now=1.0)
    assert refused.value.reason == "bad_state"
    assert len(sched.activities()) == 1 and sched.enabled


# ---------------------------------------------------------------------------------------------
# TC[11,4] application data

times = st.builds(CucTime, st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF)).map(
    lambda t: t.seconds
)
packets = st.builds(
    PusTc,
    apid=st.integers(0, 2047),
    service=st.integers(0, 255),
    subtype=st.integers(0, 255),
    app_data=st.binary(max_size=64),
    seq_count=st.integers(0, 16383),
    ack_flags=st.integers(0, 15),
    source_id=st.integers(0, 0xFFFF),
)
batches = st.lists(st.tuples(times, packets), max_size=8)


@given(batches)
def test_insert_application_data_round_trips(activities):
    data = build_insert(activities)
    assert parse_insert(data) == activities
    assert build_insert(parse_insert(data)) == data
    assert TimeSchedule.parse_insert(data) == activities


def test_the_insert_layout_is_count_then_release_and_whole_packet():
    packet = tc(5)
    data = build_insert([(3.5, packet)])
    assert data == b"\x01" + b"\x00\x00\x00\x03\x80\x00" + packet.pack()


def sample() -> bytes:
    return build_insert([(10.0, tc(1)), (20.0, PusTc(0x7FF, 17, 1)), (30.0, tc(3))])


def test_truncated_insert_data_is_refused_as_bad_length_at_every_cut():
    data = sample()
    for cut in range(len(data)):
        with pytest.raises(ScheduleError) as refused:
            parse_insert(data[:cut])
        assert refused.value.reason == "bad_length", cut


def test_trailing_octets_after_the_last_activity_are_refused():
    with pytest.raises(ScheduleError, match="bad_length: 1 trailing octets"):
        parse_insert(sample() + b"\x00")


def test_an_activity_count_larger_than_the_activities_sent_names_the_missing_one():
    data = bytearray(sample())
    data[0] = 4
    with pytest.raises(ScheduleError) as refused:
        parse_insert(bytes(data))
    assert (refused.value.reason, refused.value.index) == ("bad_length", 3)


def test_an_embedded_packet_with_a_bad_crc_is_refused_naming_its_index():
    data = bytearray(sample())
    first = 1 + 6 + len(tc(1).pack())
    second_end = first + 6 + len(PusTc(0x7FF, 17, 1).pack())
    data[second_end - 1] ^= 0x01
    with pytest.raises(ScheduleError) as refused:
        parse_insert(bytes(data))
    assert (refused.value.reason, refused.value.index) == ("bad_packet", 1)


def test_an_embedded_telemetry_packet_is_refused():
    from hal.protocol.pus import PusTm

    data = b"\x01" + CucTime(5, 0).pack() + PusTm(0x10, 3, 25).pack()
    with pytest.raises(ScheduleError, match="bad_packet at activity 0"):
        parse_insert(data)


def test_an_embedded_packet_whose_header_claims_less_than_a_telecommand_is_refused():
    short = tc(1).pack()[:4] + b"\x00\x00" + b"\x00"  # data length 0: 7 octets in all
    with pytest.raises(ScheduleError) as refused:
        parse_insert(b"\x01" + CucTime(5, 0).pack() + short)
    assert (refused.value.reason, refused.value.index) == ("bad_length", 0)


@given(st.binary(max_size=200))
def test_hostile_insert_data_raises_only_schedule_error(data):
    try:
        activities = parse_insert(data)
    except ScheduleError as refused:
        assert refused.reason in {"bad_length", "bad_packet"}
    else:
        assert build_insert(activities) == data


@given(st.data())
def test_damaged_insert_data_raises_only_schedule_error(data):
    raw = bytearray(sample())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_insert(bytes(raw))
    except ScheduleError as refused:
        assert refused.reason in {"bad_length", "bad_packet"}


def test_build_insert_refuses_what_cannot_be_sent():
    with pytest.raises(ScheduleError, match="too_many"):
        build_insert([(1.0, tc(1))] * 256)
    with pytest.raises(ScheduleError, match="bad_time at activity 1"):
        build_insert([(1.0, tc(1)), (-1.0, tc(2))])
    with pytest.raises(ScheduleError, match="bad_packet at activity 0"):
        build_insert([(1.0, PusTc(4096, 8, 1))])


def test_a_tc_11_4_from_the_ground_is_parsed_then_inserted_and_released():
    ground = Dispatcher()
    sched = schedule(ground)
    sched.enable(0.0)
    sched.insert(parse_insert(sample()), now=0.0)
    run(sched, 0.0, 30.0, 1.0)
    assert [now for _, _, now in ground.submitted] == [10.0, 20.0, 30.0]


# ---------------------------------------------------------------------------------------------
# Relative sequences

ARM_CHECK = [(0.0, tc(1)), (2.0, tc(2)), (3.0, tc(3))]


def test_a_relative_sequence_releases_each_step_its_delay_after_the_previous_one():
    ground = Dispatcher()
    seqs = engine(ground)
    seqs.load("arm_check", ARM_CHECK, now=90.0)
    assert seqs.progress("arm_check") == (0, 3, "loaded")
    seqs.start("arm_check", now=100.0)
    assert seqs.running() == ["arm_check"] and seqs.next_due() == 100.0

    run(seqs, 100.0, 110.0, 0.5)

    assert ground.released() == [(1, 100.0), (2, 102.0), (3, 105.0)]
    assert {source for _, source, _ in ground.submitted} == {CommandSource.sequence("arm_check")}
    assert seqs.progress("arm_check") == (3, 3, "completed")
    assert seqs.running() == [] and seqs.next_due() is None
    assert ground.named("sequence_started") and ground.named("sequence_completed")


def test_steps_with_no_delay_are_released_in_order_in_the_same_cycle():
    ground = Dispatcher()
    seqs = engine(ground)
    seqs.load("burst", [(1.0, tc(1)), (0.0, tc(2)), (0.0, tc(3))], now=0.0)
    seqs.start("burst", now=0.0)
    seqs.cycle(1.0)
    assert ground.released() == [(1, 1.0), (2, 1.0), (3, 1.0)]


def test_two_running_sequences_interleave_by_due_time():
    ground = Dispatcher()
    seqs = engine(ground, late_limit=10.0)
    seqs.load("b", [(1.0, tc(1)), (2.0, tc(3))], now=0.0)
    seqs.load("a", [(2.0, tc(2)), (2.0, tc(4))], now=0.0)
    seqs.start("b", now=0.0)
    seqs.start("a", now=0.0)
    seqs.cycle(4.5)
    assert [n for n, _ in ground.released()] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("steps", "reason", "index"),
    [
        ([], "empty", None),
        ([(0.0, tc(1)), (-1.0, tc(2))], "negative_delay", 1),
        ([(0.0, tc(1)), (1.0, tc(2)), (1.0, tc(3, service=UNKNOWN_SERVICE))], "unknown_command", 2),
        ([(math.inf, tc(1))], "bad_delay", 0),
        ([(0.0, tc(1)), (0.0, "not a packet")], "bad_packet", 1),
    ],
)
def test_a_sequence_is_validated_entirely_before_it_is_stored(steps, reason, index):
    seqs = engine(Dispatcher())
    with pytest.raises(SequenceError) as refused:
        seqs.load("bad", steps, now=0.0)
    assert (refused.value.reason, refused.value.index) == (reason, index)
    assert "\n" not in str(refused.value)
    with pytest.raises(SequenceError, match="unknown_sequence"):
        seqs.progress("bad")


def test_a_running_sequence_cannot_be_replaced_but_a_stopped_one_can():
    ground = Dispatcher()
    seqs = engine(ground)
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    seqs.start("arm_check", now=0.0)
    with pytest.raises(SequenceError, match="running"):
        seqs.load("arm_check", [(0.0, tc(9))], now=1.0)
    seqs.stop("arm_check", now=1.0)
    seqs.load("arm_check", [(0.0, tc(9))], now=1.0)
    assert seqs.progress("arm_check") == (0, 1, "loaded")


def test_a_stopped_sequence_holds_then_resumes_from_the_step_reached():
    ground = Dispatcher()
    seqs = engine(ground)
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    seqs.start("arm_check", now=100.0)
    run(seqs, 100.0, 103.0, 0.5)
    seqs.stop("arm_check", now=103.0)
    assert seqs.progress("arm_check") == (2, 3, "stopped")
    assert "arm_check at step 2 of 3" in ground.named("sequence_stopped")[0]

    run(seqs, 103.0, 120.0, 0.5)
    assert len(ground.submitted) == 2

    seqs.resume("arm_check", now=120.0)
    run(seqs, 120.0, 130.0, 0.5)
    assert ground.released() == [(1, 100.0), (2, 102.0), (3, 123.0)]
    assert seqs.progress("arm_check") == (3, 3, "completed")


def test_commands_out_of_turn_are_refused_with_a_named_reason():
    seqs = engine(Dispatcher())
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    with pytest.raises(SequenceError, match="not_running"):
        seqs.stop("arm_check", now=0.0)
    with pytest.raises(SequenceError, match="not_stopped"):
        seqs.resume("arm_check", now=0.0)
    with pytest.raises(SequenceError, match="unknown_sequence"):
        seqs.start("nope", now=0.0)
    with pytest.raises(SequenceError, match="bad_name"):
        seqs.load("no spaces", ARM_CHECK, now=0.0)
    seqs.start("arm_check", now=0.0)
    with pytest.raises(SequenceError, match="running"):
        seqs.start("arm_check", now=0.0)
    with pytest.raises(SequenceError, match="running"):
        seqs.unload("arm_check")


def test_after_a_time_jump_late_steps_are_skipped_and_the_rest_keep_their_delays():
    ground = Dispatcher()
    seqs = engine(ground, late_limit=1.0)
    seqs.load("heat", [(0.0, tc(1)), (5.0, tc(2)), (5.0, tc(3)), (5.0, tc(4))], now=0.0)
    seqs.start("heat", now=0.0)
    seqs.cycle(0.0)

    seqs.cycle(10.5)  # the node was down from 0 to 10.5
    assert ground.released() == [(1, 0.0), (3, 10.5)]
    (skipped,) = ground.named("sequence_step_skipped")
    assert "heat step 1 of 4" in skipped and "5.500 s late" in skipped
    assert seqs.next_due() == 15.0

    seqs.cycle(15.0)
    assert ground.released()[-1] == (4, 15.0)
    assert seqs.progress("heat") == (4, 4, "completed")


def test_every_change_of_progress_is_persisted():
    ground = Dispatcher()
    seqs = engine(ground)
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    seqs.start("arm_check", now=0.0)
    run(seqs, 0.0, 5.0, 1.0)
    progress = [(s["sequences"][0]["step"], s["sequences"][0]["state"]) for s in ground.persisted]
    assert progress == [
        (0, "loaded"),
        (0, "running"),
        (1, "running"),
        (2, "running"),
        (3, "completed"),
    ]


def test_progress_is_persisted_before_the_step_reaches_the_dispatcher():
    ground = Dispatcher()
    seen = []

    def submit(packet, source, now):
        seen.append(ground.persisted[-1]["sequences"][0]["step"])

    seqs = SequenceEngine(submit, validate, persist=ground.persist)
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    seqs.start("arm_check", now=0.0)
    run(seqs, 0.0, 5.0, 1.0)
    assert seen == [1, 2, 3]


def test_a_sequence_running_at_a_reset_resumes_at_its_step_due_its_delay_after_the_boot():
    ground = Dispatcher()
    seqs = engine(ground)
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    seqs.load("spare", [(1.0, tc(7))], now=0.0)
    seqs.start("arm_check", now=100.0)
    run(seqs, 100.0, 102.5, 0.5)
    assert ground.released() == [(1, 100.0), (2, 102.0)]
    saved = ground.persisted[-1]  # what the NV store holds when the node resets

    after = Dispatcher()
    rebooted = engine(after)
    rebooted.restore(saved, now=20.0)  # the mission clock started again after the reset
    assert rebooted.progress("arm_check") == (2, 3, "running")
    assert rebooted.progress("spare") == (0, 1, "loaded")
    assert rebooted.next_due() == 23.0, "step 2 is due its own delay (3 s) after the boot"
    assert "arm_check at step 2 of 3 due 23.000" in after.named("sequence_resumed")[0]
    assert after.persisted[-1]["sequences"][0]["state"] == "running"
    run(rebooted, 20.0, 30.0, 0.5)
    assert after.released() == [(3, 23.0)], "only the step not yet released, once"
    assert rebooted.progress("arm_check") == (3, 3, "completed")


def test_with_autonomy_off_a_sequence_running_at_a_reset_comes_back_stopped_at_its_step():
    ground = Dispatcher()
    seqs = engine(ground)
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    seqs.start("arm_check", now=100.0)
    run(seqs, 100.0, 102.5, 0.5)
    saved = ground.persisted[-1]

    after = Dispatcher()
    rebooted = engine(after)
    rebooted.restore(saved, now=500.0, resume=False)
    assert rebooted.progress("arm_check") == (2, 3, "stopped")
    assert rebooted.running() == [] and rebooted.next_due() is None
    assert "autonomy off" in after.named("sequence_stopped")[0]
    run(rebooted, 500.0, 510.0, 1.0)
    assert after.submitted == []
    rebooted.resume("arm_check", now=510.0)
    run(rebooted, 510.0, 515.0, 1.0)
    assert after.released() == [(3, 513.0)]


def saved_one(name="x", delay=0.0, step=0, state="loaded"):
    """A saved state of one one-step sequence."""
    steps = [[delay, tc(1).pack().hex()]]
    return {"sequences": [{"name": name, "steps": steps, "step": step, "state": state}]}


@pytest.mark.parametrize(
    "state",
    [
        None,
        {"sequences": {}},
        {"sequences": [{"name": "x", "steps": [], "step": 0, "state": "loaded"}]},
        {"sequences": [{"name": "x", "steps": [[0, "00"]], "step": 0, "state": "loaded"}]},
        saved_one(delay=-1),
        saved_one(step=1, state="running"),
        saved_one(state="paused"),
        saved_one(name="no spaces"),
        {"sequences": [saved_one()["sequences"][0]] * 2},
    ],
)
def test_a_corrupt_saved_sequence_state_is_refused_and_nothing_changes(state):
    seqs = engine(Dispatcher())
    seqs.load("arm_check", ARM_CHECK, now=0.0)
    with pytest.raises(SequenceError) as refused:
        seqs.restore(state, now=1.0)
    assert refused.value.reason == "bad_state"
    assert seqs.names() == ["arm_check"]


def test_the_engine_holds_a_bounded_number_of_bounded_sequences_and_unloads_idle_ones():
    ground = Dispatcher()
    seqs = engine(ground, capacity=2, max_steps=3)
    seqs.load("a", ARM_CHECK, now=0.0)
    seqs.load("b", ARM_CHECK, now=0.0)
    with pytest.raises(SequenceError, match="too_many_sequences"):
        seqs.load("c", ARM_CHECK, now=0.0)
    with pytest.raises(SequenceError, match="too_long"):
        seqs.load("a", [*ARM_CHECK, (0.0, tc(4))], now=0.0)
    seqs.unload("a")
    seqs.load("c", ARM_CHECK, now=0.0)
    assert seqs.names() == ["b", "c"]
    assert ground.named("sequence_unloaded") == ["a at step 0 of 3"]


def test_the_schedule_persists_what_it_skipped():
    ground = Dispatcher()
    sched = TimeSchedule(ground.submit, validate, emit=ground.emit, persist=ground.persist)
    sched.insert([(5.0, tc(1))], now=0.0)
    sched.enable(0.0)
    sched.cycle(50.0)
    assert ground.persisted[-1]["activities"] == []
    assert ground.submitted == []


def test_nonsense_limits_are_refused_when_the_service_is_built():
    with pytest.raises(ValueError, match="capacity"):
        TimeSchedule(Dispatcher().submit, validate, capacity=0)
    with pytest.raises(ValueError, match="late_limit"):
        TimeSchedule(Dispatcher().submit, validate, late_limit=-1.0)
    with pytest.raises(ValueError, match="late_limit"):
        SequenceEngine(Dispatcher().submit, validate, late_limit=math.nan)


def test_a_step_that_stops_its_own_sequence_ends_the_releases():
    released = []

    def submit(packet, source, now):
        released.append(packet.app_data[0])
        if packet.app_data[0] == 2:
            seqs.stop("arm_check", now)

    seqs = SequenceEngine(submit, validate)
    seqs.load("arm_check", [(0.0, tc(1)), (0.0, tc(2)), (0.0, tc(3))], now=0.0)
    seqs.start("arm_check", now=0.0)
    seqs.cycle(0.0)
    assert released == [1, 2]
    assert seqs.progress("arm_check") == (2, 3, "stopped")


# ---------------------------------------------------------------------------------------------
# Events and the schedule as a state machine


def test_every_event_is_declared_with_a_pus_severity_and_a_snake_case_name():
    for name, (severity, description) in EVENTS.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert severity in {"info", "low", "medium", "high"} and description
    assert EVENTS["sequence_step_skipped"][0] == "low"


class ScheduleMachine(RuleBasedStateMachine):
    """Whatever the ground does, an activity is released at most once, never early, never more
    than the limit late, and releases come in release-time order."""

    @initialize()
    def start(self):
        self.ground = Dispatcher()
        self.sched = schedule(self.ground, capacity=16, late_limit=1.0)
        self.now = 0.0
        self.inserted: dict[int, Activity] = {}
        self.skipped: set[int] = set()

    @rule(offsets=st.lists(st.floats(0.0, 20.0), min_size=1, max_size=4))
    def insert(self, offsets):
        batch = [(self.now + off, tc(len(self.inserted) + i)) for i, off in enumerate(offsets)]
        try:
            ids = self.sched.insert(batch, self.now)
        except ScheduleError as refused:
            assert refused.reason == "schedule_full"
            return
        for ident, (release, packet) in zip(ids, batch, strict=True):
            self.inserted[ident] = Activity(release, packet, ident)

    @rule(dt=st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]))
    def advance(self, dt):
        self.now += dt
        self.sched.cycle(self.now)

    @rule()
    def enable(self):
        self.sched.enable(self.now)

    @rule()
    def disable(self):
        self.sched.disable(self.now)

    @precondition(lambda self: self.sched.activities())
    @rule(data=st.data())
    def delete(self, data):
        self.sched.delete([data.draw(st.sampled_from(self.sched.activities())).id])

    @invariant()
    def releases_are_once_on_time_and_in_order(self):
        releases = [
            next(a for a in self.inserted.values() if a.packet == packet).release
            for packet, _, _ in self.ground.submitted
        ]
        assert releases == sorted(releases)
        counts = [packet.seq_count for packet, _, _ in self.ground.submitted]
        assert len(set(counts)) == len(counts)
        for (_, _, now), release in zip(self.ground.submitted, releases, strict=True):
            assert release <= now <= release + 1.0
        held = {a.id for a in self.sched.activities()}
        skipped = len(self.ground.named("schedule_skipped"))
        deleted = sum(1 for _ in self.ground.named("schedule_deleted"))
        assert len(held) + len(self.ground.submitted) + skipped + deleted == len(self.inserted)


TestScheduleMachine = ScheduleMachine.TestCase


# ---------------------------------------------------------------------------------------------
# Provenance (decision 0024): the load's confirmation is kept with each entry


def hazardous(n: int) -> PusTc:
    """A command of the service whose commands need the ground's confirmation here."""
    return tc(n, service=HAZARDOUS_SERVICE)


def test_an_insert_carrying_a_hazardous_command_needs_the_confirmation_and_keeps_it():
    ground = Dispatcher()
    sched = TimeSchedule(ground.submit, validate, emit=ground.emit, persist=ground.persist)
    with pytest.raises(ScheduleError) as refused:
        sched.insert([(10.0, tc(1)), (20.0, hazardous(2))], now=0.0)
    assert refused.value.reason.startswith("hazard:unconfirmed") and refused.value.index == 1
    assert sched.activities() == [] and ground.persisted == []
    sched.insert([(10.0, tc(1)), (20.0, hazardous(2))], now=0.0, confirmed=True)
    assert ground.persisted[-1]["activities"][1][3] is True
    sched.enable(0.0)
    run(sched, 0.0, 25.0, 0.5)
    assert [(s.kind, s.confirmed, s.name) for _, s, _ in ground.submitted] == [
        (SourceKind.SCHEDULE, True, "1"), (SourceKind.SCHEDULE, True, "2"),
    ]  # fmt: skip


def test_a_restored_schedule_drops_an_unconfirmed_hazardous_activity_and_keeps_the_rest():
    ground = Dispatcher()
    sched = TimeSchedule(ground.submit, validate, emit=ground.emit, persist=ground.persist)
    saved = {"enabled": True, "next_id": 5, "activities": [
        [10.0, 1, tc(1).pack().hex()],  # saved before decision 0024: no flag
        [11.0, 2, hazardous(2).pack().hex()],  # no flag: unconfirmed
        [12.0, 3, hazardous(3).pack().hex(), False],
        [13.0, 4, hazardous(4).pack().hex(), True],
    ]}  # fmt: skip
    sched.restore(saved, now=5.0)
    assert [(a.id, a.confirmed) for a in sched.activities()] == [(1, False), (4, True)]
    assert len(ground.named("schedule_refused")) == 2
    assert all("dropped at restore" in d for d in ground.named("schedule_refused"))
    with pytest.raises(ScheduleError, match="confirmed"):
        sched.restore({"activities": [[10.0, 1, tc(1).pack().hex(), "yes"]]}, now=5.0)


def test_a_sequence_keeps_its_loads_confirmation_across_a_restore():
    ground = Dispatcher()
    seqs = engine(ground)
    with pytest.raises(SequenceError, match="hazard:unconfirmed"):
        seqs.load("arm", [(0.0, hazardous(1))], now=0.0)
    seqs.load("arm", [(0.0, hazardous(1))], now=0.0, confirmed=True)
    seqs.load("plain", [(0.0, tc(2))], now=0.0)
    saved = ground.persisted[-1]
    assert [s["confirmed"] for s in saved["sequences"]] == [True, False]
    after = Dispatcher()
    again = engine(after)
    again.restore(saved, now=0.0)
    again.start("arm", 1.0)
    again.cycle(1.0)
    assert [source for _, source, _ in after.submitted] == [CommandSource.sequence("arm", True)]
    tampered = json.loads(json.dumps(saved))
    tampered["sequences"][0]["confirmed"] = False
    third = Dispatcher()
    engine(third).restore(tampered, now=0.0)
    assert (
        third.named("sequence_refused")
        and "arm dropped at restore" in third.named("sequence_refused")[0]
    )
