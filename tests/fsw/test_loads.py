"""The layouts of the telecommands that carry telecommands (fsw.dictionary.loads): round trips,
hostile bytes, and the list of reasons a command needs the ground's confirmation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsw.dictionary import node_dictionary
from fsw.dictionary.loads import (
    LoadError,
    build_insert,
    build_sequence_load,
    confirmations,
    embedded,
    parse_insert,
    parse_sequence_load,
)
from hal.protocol.pus import PusTc

MAV = node_dictionary("mav")


def tc(name: str, **args: object) -> PusTc:
    command = MAV.command(name)
    return PusTc(MAV.apid, command.message.service, command.message.subtype,
                 command.encode(**args))  # fmt: skip


packets = st.builds(
    PusTc,
    st.integers(0, 0x7FF),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=40),
    seq_count=st.integers(0, 0x3FFF),
    source_id=st.integers(0, 0xFFFF),
)
times = st.integers(0, 2**48 - 1).map(lambda ticks: ticks / 65536)  # exact in CUC 4+2


@given(st.lists(st.tuples(times, packets), max_size=8))
def test_an_insert_round_trips(items):
    assert [(t, p.pack()) for t, p in parse_insert(build_insert(items))] == [
        (t, p.pack()) for t, p in items
    ]


@given(st.from_regex(r"[A-Za-z0-9_.-]{1,32}", fullmatch=True),
       st.lists(st.tuples(times, packets), min_size=1, max_size=8))  # fmt: skip
def test_a_sequence_load_round_trips(name, steps):
    parsed_name, parsed = parse_sequence_load(build_sequence_load(name, steps))
    assert parsed_name == name
    assert [(t, p.pack()) for t, p in parsed] == [(t, p.pack()) for t, p in steps]


@given(st.binary(max_size=200))
def test_hostile_bytes_give_a_load_error_or_a_load_never_anything_else(data):
    for parse in (parse_insert, parse_sequence_load):
        try:
            parse(data)
        except LoadError as exc:
            assert exc.reason in {"bad_length", "bad_packet", "bad_name", "too_many"}
            assert "\n" not in str(exc)


def test_a_bad_name_or_step_count_is_refused_when_built():
    with pytest.raises(LoadError, match="bad_name"):
        build_sequence_load("no spaces", [(0.0, tc("core.ping"))])
    with pytest.raises(LoadError, match="too_many"):
        build_sequence_load("empty", [])
    with pytest.raises(LoadError, match="bad_time"):
        build_sequence_load("neg", [(-1.0, tc("core.ping"))])


def test_the_confirmations_name_the_command_and_every_carried_one_that_needs_it():
    arm = tc("gate.arm", command=170 << 8 | 3)
    ping = tc("core.ping")
    insert = MAV.command("schedule.insert")
    data = build_insert([(1.0, ping), (2.0, arm), (3.0, tc("modes.set", mode=2)),
                         (4.0, tc("modes.set", mode=3))])  # fmt: skip
    assert confirmations(MAV, insert, {"data": data}) == [
        "schedule.insert item 1: gate.arm arms a hazardous command",
        "schedule.insert item 3: modes.set enters critical mode",
    ]
    load = MAV.command("seq.load")
    steps = build_sequence_load("s", [(0.0, ping), (1.0, tc("launch.launch"))])
    assert confirmations(MAV, load, {"data": steps}) == [
        "seq.load item 1: launch.launch fires: it passes the hazardous gate"
    ]
    assert confirmations(MAV, MAV.command("core.ping"), {}) == []
    assert embedded(17, 1, b"") == []
    with pytest.raises(LoadError, match="bad_length"):
        confirmations(MAV, insert, {"data": data[:-1]})
