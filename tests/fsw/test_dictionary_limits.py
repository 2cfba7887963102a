"""Every state of every dictionary has names, and every enumeration and limit is consistent
(issue 19, decision 0035): a walk over the three nodes' dictionaries and every board ICD."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

import pytest

import hal.protocol.devices as devices
from fsw.dictionary import DISARM_ALL, MODES, dictionary, node_dictionary
from fsw.dictionary.core import BOARD_LOST
from hal.protocol.devices.icd import BoardIcd, Field

STATE_POINTS = {
    "core.status.mode", "sta.status.state", "sta.status.lid", "sta.custody.place",
    "launch.status.state", "launch.status.abort_reason", "ccrs.status.state",
    "ccrs.image.camera", "ccrs.image.decision", "core.resync_challenge.reason",
}  # fmt: skip
"""Telemetry points that are states, by ``packet.field`` (every ``health.boards`` element too)."""
STATE_ARGUMENTS = {
    "modes.set.mode", "sta.load_tube.source", "sta.clear_fault.joint", "params.rollback.to",
    "gate.disarm.command", "hk.enable.sid", "hk.disable.sid", "hk.report.sid",
    "hk.set_period.sid", "events.enable.event_id", "events.disable.event_id",
    "params.rollback.parameter",
}  # fmt: skip
"""Command arguments that name a state or a thing of the node, by ``command.argument``; on a
node with hazardous commands and inhibits, the gate's arguments too."""
_CODES = re.compile(r"\b0 [a-z][\w ]*, 1 [a-z]")  # a meaning that lists codes: "0 off, 1 on"
_KIND_SPAN = {"u8": (0, 255), "u16": (0, 65535), "u32": (0, 2**32 - 1), "bool": (0, 1),
              "i16": (-(2**15), 2**15 - 1), "i32": (-(2**31), 2**31 - 1)}  # fmt: skip


def _boards() -> Iterator[BoardIcd]:
    for module in pkgutil.iter_modules(devices.__path__):
        board = getattr(importlib.import_module(f"{devices.__name__}.{module.name}"), "BOARD", None)
        if isinstance(board, BoardIcd):
            yield board


def _fields() -> Iterator[tuple[str, str, Field]]:
    """(where, ``owner.field``, field) for every field of every node and board."""
    for node, d in dictionary().items():
        for packet in (*d.hk, *d.reports):
            for f in packet.fields:
                yield node, f"{packet.name}.{f.name}", f
        for command in d.commands:
            for f in command.message.fields:
                yield node, f"{command.name}.{f.name}", f
    for board in _boards():
        for device in board.devices:
            for message in (device.status, *device.commands):
                for f in message.fields:
                    yield board.name, f"{device.name}.{message.name}.{f.name}", f


def test_every_state_field_of_every_dictionary_names_its_states():
    missing = []
    for where, point, f in _fields():
        listed = point in STATE_POINTS | STATE_ARGUMENTS or point.startswith("health.boards.")
        lists_codes = bool(_CODES.search(f.meaning)) and "bit " not in f.meaning
        if (listed or lists_codes or f.name in ("state", "mode")) and not f.enum:
            missing.append(f"{where}: {point}")
    assert missing == []


def test_the_gate_names_the_hazardous_commands_and_the_inhibits_of_its_own_node():
    for node, d in dictionary().items():
        arm = d.command("gate.arm").message.fields[0]
        disarm = d.command("gate.disarm").message.fields[0]
        assert {name for _, name in arm.enum} == {c.name for c in d.hazardous}
        for code, name in arm.enum:
            command = d.command_at(d.apid, code >> 8, code & 0xFF)
            assert command is not None and command.name == name and command.hazardous
        assert disarm.enum == (*arm.enum, (DISARM_ALL, "all"))
        for command in ("gate.remove_inhibit", "gate.restore_inhibit"):
            inhibit = d.command(command).message.fields[0]
            assert [name for _, name in inhibit.enum] == list(d.inhibits), node
    mav = node_dictionary("mav")
    data = mav.command("gate.arm").encode(command=mav.command("gate.arm").message.fields[0].code(
        "launch.launch"))  # fmt: skip
    assert data == bytes([170, 4])


def test_operator_words_become_codes():
    lander = node_dictionary("lander")
    assert lander.command("modes.set").message.fields[0].code("nominal") == 2
    assert lander.command("sta.load_tube").message.fields[0].code("depot") == 1
    assert lander.command("params.rollback").message.fields[1].code("default") == 1
    sid = lander.command("hk.report").message.fields[0]
    assert sid.code("sta.status") == lander.hk_packet("sta.status").sid
    event = lander.command("events.disable").message.fields[0]
    assert event.code("sta.grasp_slip") == lander.event("sta.grasp_slip").id


def test_every_enumeration_and_limit_is_consistent_with_its_field():
    for where, point, f in _fields():
        span = _KIND_SPAN.get(f.kind)
        for code, name in f.enum:
            assert span is not None and span[0] <= code <= span[1], (where, point, code)
            assert re.fullmatch(r"[a-z][a-z0-9_.]*", name), (where, point, name)
        limits = f.limits
        if limits is None:
            continue
        assert {mode for mode, _ in limits.modes} <= set(MODES), (where, point)
        if limits.yellow_states or limits.red_states:
            assert f.enum, (where, point)
            assert not set(limits.yellow_states) & set(limits.red_states), (where, point)
        for _, limit_set in ((None, limits.default), *limits.modes):
            (ylo, yhi), (rlo, rhi) = limit_set.yellow, limit_set.red
            for bound in (ylo, yhi, rlo, rhi):
                if bound is not None and span is not None:
                    assert span[0] <= bound <= span[1], (where, point, bound)
            # the normal range is a range the value can take: green exists inside its span
            lo = max(b for b in (ylo, rlo, f.lo if span is None else span[0]) if b is not None)
            hi = min(b for b in (yhi, rhi, f.hi if span is None else span[1]) if b is not None)
            assert lo <= hi, (where, point)
        if not f.enum:
            assert any(f.level(v) == "green" for v in (f.lo, f.hi, (f.lo + f.hi) / 2, 0)) or (
                limits.default.yellow != (None, None)
            ), (where, point)


@pytest.mark.parametrize("node", ["lander", "mav", "orbiter"])
def test_each_board_health_element_is_ok_or_lost_by_name_and_red_when_lost(node):
    boards = node_dictionary(node).hk_packet("health.boards")
    for f in boards.fields:
        assert f.state(0) == "ok" and f.state(BOARD_LOST) == "lost"
        assert [f.level(v) for v in (0, 1, 3, BOARD_LOST)] == ["green", "yellow", "red", "red"]


def test_the_lander_os_temperature_and_igloo_zones_have_their_declared_limits():
    """The contract the ground system test relies on (decision 0035)."""
    lander = node_dictionary("lander")
    os_temp = {f.name: f for f in lander.hk_packet("sta.status").fields}["os_temp"]
    assert os_temp.limits.default.yellow[1] == 25.0 and os_temp.limits.default.red[1] == 30.0
    assert [os_temp.level(v) for v in (-20.0, 27.0, 31.0)] == ["green", "yellow", "red"]
    igloo = {f.name: f for f in lander.hk_packet("igloo.status").fields}
    for name in ("zone_min", "zone_max"):
        assert igloo[name].limits.default.red == (-45.0, 50.0)
        assert igloo[name].limits.default.yellow == (-40.0, 40.0)


def test_per_mode_sets_change_the_level_with_the_mode():
    rate = {f.name: f for f in node_dictionary("mav").hk_packet("launch.status").fields}["rate"]
    assert rate.level(8.0, "nominal") == "yellow" and rate.level(8.0, "critical") == "green"
    assert rate.level(25.0, "critical") == "red"
    seam = {f.name: f for f in node_dictionary("orbiter").hk_packet("ccrs.status").fields}
    assert seam["seam_hottest"].level(540.0, "critical") == "green"
    assert seam["seam_hottest"].level(540.0, "nominal") == "red"
