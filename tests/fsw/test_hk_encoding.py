"""Housekeeping never clamps (issue 19, decision 0035): a value is carried as it is whenever its
field's kind can carry it, out of its declared range or not, and judged by its limits; a value
beyond its kind is sent as the kind's invalid marker, counted in ``core.status`` and reported
by an event naming packet, field and value.

As procedures: the lander on its emulated boards with the OS container's thermistor biased hot
through the fault API (the value travels board -> HAL -> app -> housekeeping -> decode), and the
core node with a component that reports a value its field's kind cannot hold."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from fsw.dictionary import EventDecoded, node_dictionary
from fsw.dictionary.model import INVALID
from fsw.services.pus_3_housekeeping import ENCODING_EVENT_INTERVAL
from tests.fsw.mission_rig import MissionRig
from tests.fsw.test_node import DICTIONARY, Spacecraft

LANDER = node_dictionary("lander")
STA_STATUS = LANDER.hk_packet("sta.status")


def _status_values(**changes: Any) -> dict[str, Any]:
    return {f.name: 0 for f in STA_STATUS.fields} | changes


# ------------------------------------------------------------------------------- the encoder


@pytest.mark.parametrize(
    "field,value",
    [("os_temp", 412.5), ("os_temp", -273.0), ("max_current", 19.5), ("state", 11)],
)
def test_a_value_outside_its_declared_range_but_inside_its_kind_is_carried_as_it_is(field, value):
    packed = STA_STATUS.pack(_status_values(**{field: value}))
    assert packed.errors == ()
    assert STA_STATUS.decode(packed.data)[field] == value


def test_nan_and_the_infinities_travel_in_an_f32():
    for value in (math.inf, -math.inf):
        assert STA_STATUS.decode(STA_STATUS.encode(_status_values(os_temp=value)))["os_temp"] == (
            value
        )
    decoded = STA_STATUS.decode(STA_STATUS.encode(_status_values(os_temp=math.nan)))
    assert math.isnan(decoded["os_temp"])


@pytest.mark.parametrize(
    "field,value,kind",
    [
        ("tubes_loaded", 300, "u8"),
        ("free_slots", -1, "u8"),
        ("retries", 70000, "u16"),
        ("holding", math.nan, "u32"),
        ("lid", "open", "u8"),
        ("os_temp", 1e39, "f32"),
    ],
)
def test_a_value_beyond_its_kind_is_never_clamped_but_marked_and_listed(field, value, kind):
    packed = STA_STATUS.pack(_status_values(**{field: value}))
    (issue,) = packed.errors
    assert (issue.packet, issue.field, issue.kind) == ("sta.status", field, kind)
    carried = STA_STATUS.decode(packed.data)[field]
    marker = INVALID[kind]
    assert math.isnan(carried) if kind == "f32" else carried == marker
    assert f"sta.status.{field}" in issue.describe() and kind in issue.describe()


def test_an_element_of_an_array_beyond_its_kind_is_named_by_its_index():
    packet = LANDER.hk_packet("health.boards")
    values = {f.name: 0 for f in packet.fields} | {"igloo": 256}
    (issue,) = packet.pack(values).errors
    assert issue.field == "igloo"
    status = node_dictionary("mav").hk_packet("launch.status")
    assert status.pack({f.name: 0 for f in status.fields}).errors == ()


def test_a_missing_or_unknown_value_is_still_a_bug_of_the_component():
    from hal.errors import EncodeError

    with pytest.raises(EncodeError, match="missing value"):
        STA_STATUS.pack({"state": 1})
    with pytest.raises(EncodeError, match="unknown value"):
        STA_STATUS.pack(_status_values(bogus=1))


# ------------------------------------------------------------------------------- a node


def test_a_value_beyond_its_kind_is_counted_in_core_status_and_reported_rate_limited(
    tmp_path: Path,
):
    craft = Spacecraft(tmp_path / "nv")
    core = craft.node.components["core"]
    original = core.status
    wild = {"queue": 70000}  # the core's command queue as a buggy count would report it

    def status(now: float) -> dict[str, Any]:
        return original(now) | wild

    core.status = status  # type: ignore[attr-defined]
    craft.run(3.0)
    statuses = craft.hk(1)
    assert statuses[-1]["queue"] == INVALID["u16"]  # the marker, not 65535 by clamping
    assert statuses[-1]["encoding_errors"] >= 2  # every packet counted ...
    events = [
        EventDecoded.parse(t.source_data).detail
        for t in craft.tm
        if t.service == 5
        and DICTIONARY.event(EventDecoded.parse(t.source_data).event_id).name
        == "core.encoding_error"
    ]
    assert events == ["core.status.queue = 70000 does not fit u16 (sent as 65535)"]  # ... once
    craft.run(ENCODING_EVENT_INTERVAL + 1)
    assert craft.events().count("core.encoding_error") == 2  # again after the interval
    wild.clear()
    craft.run(1.5)  # a packet reports the errors counted before it was sampled
    count = craft.hk(1)[-1]["encoding_errors"]
    craft.run(3.0)
    assert craft.hk(1)[-1]["encoding_errors"] == count  # a good value counts nothing
    assert craft.hk(1)[-1]["queue"] == 0


# ------------------------------------------------------------------------------- end to end


def test_a_hot_os_container_is_carried_through_the_landers_housekeeping_not_clamped(tmp_path):
    """The board reads 150 degC (its sensor's top); the app reports it; sta.status carries it
    beyond the field's declared 100 degC, and its limits call it red."""
    with MissionRig(tmp_path, "lander") as rig:
        rig.run(1.0)
        rig.inject("os_container.thermal", "bias", field="temperature", offset=200.0)
        since = len(rig.packets)
        rig.run(130.0)  # sta.thermal_period 60 s, sta.status every 5 s
        field = STA_STATUS.message.fields[[f.name for f in STA_STATUS.fields].index("os_temp")]
        temps = [
            STA_STATUS.decode(tm.source_data)["os_temp"]
            for _, tm in rig.packets[since:]
            if (tm.service, tm.subtype) == (3, 25) and tm.source_data[:2] == b"\x00\x0a"
        ]
        assert temps and temps[-1] == pytest.approx(150.0)  # the sensor's top, not 100
        assert field.level(temps[-1]) == "red"
        assert not [detail for name, detail in rig.events() if name == "core.encoding_error"]
