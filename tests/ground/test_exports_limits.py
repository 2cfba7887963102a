"""Limits and enumerations in the dictionary exports (issue 19, decision 0035): the XTCE carries
an enumerated type for every enumerated field (states by name, command arguments by name),
alarm ranges for every limited point (per-mode sets as context alarms on the node's mode,
states as enumeration alarms), and still validates; the JSON carries both."""

from __future__ import annotations

import io
import json
import warnings
import xml.etree.ElementTree as ET

import pytest

from fsw.dictionary import MODES, dictionary, node_dictionary
from ground_tools.exports import ExportError
from ground_tools.exports._common import xtce_name
from ground_tools.exports.json_export import export_json
from ground_tools.exports.xtce import (
    MODE_PARAMETER,
    XTCE_NS,
    export_xtce,
    extract_space_system,
    validate_xtce,
)
from hal.protocol.cuc import CucTime
from hal.protocol.pus import PusTm

NS = {"x": XTCE_NS}
LEVEL_TAGS = {"yellow": "WarningRange", "red": "CriticalRange"}


@pytest.fixture(scope="module")
def document() -> bytes:
    return export_xtce()


@pytest.fixture(scope="module")
def systems(document: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(document)
    return {s.get("name"): s for s in root.findall("x:SpaceSystem", NS)}


def _ptype(system: ET.Element, name: str) -> ET.Element:
    for element in system.find("x:TelemetryMetaData/x:ParameterTypeSet", NS):
        if element.get("name") == name:
            return element
    raise AssertionError(f"no parameter type {name}")


def _atype(system: ET.Element, name: str) -> ET.Element:
    for element in system.find("x:CommandMetaData/x:ArgumentTypeSet", NS):
        if element.get("name") == name:
            return element
    raise AssertionError(f"no argument type {name}")


def _points():
    """Every housekeeping and report field of every node: (node, owner, field)."""
    for node, d in dictionary().items():
        for packet in (*d.hk, *d.reports):
            for f in packet.fields:
                yield node, packet.name, f


def _bounds(element: ET.Element | None) -> tuple[float | None, float | None]:
    if element is None:
        return (None, None)
    lo, hi = element.get("minInclusive"), element.get("maxInclusive")
    return (None if lo is None else float(lo), None if hi is None else float(hi))


def test_the_xtce_with_limits_and_enumerations_still_validates_against_xtce_1_2(document):
    assert validate_xtce(document) == []


def test_every_enumerated_telemetry_field_is_an_enumerated_type_naming_every_state(systems):
    seen = 0
    for node, owner, f in _points():
        if not f.enum:
            continue
        ptype = _ptype(systems[node], f"{xtce_name(f'{owner}.{f.name}')}_Type")
        assert ptype.tag == f"{{{XTCE_NS}}}EnumeratedParameterType", (owner, f.name)
        labels = {
            int(e.get("value")): e.get("label")
            for e in ptype.findall("x:EnumerationList/x:Enumeration", NS)
        }
        for code, name in f.enum:
            assert labels[code] == name, (owner, f.name, code)
        seen += 1
    assert seen >= 10  # modes, app states, launch state and abort, lid, boards, ...


def test_every_limited_numeric_point_has_its_warning_and_critical_ranges(systems):
    seen = 0
    for node, owner, f in _points():
        if f.limits is None or f.enum or f.kind == "bool":
            continue
        ptype = _ptype(systems[node], f"{xtce_name(f'{owner}.{f.name}')}_Type")
        default = f.limits.default
        if default.yellow != (None, None) or default.red != (None, None):
            ranges = ptype.find("x:DefaultAlarm/x:StaticAlarmRanges", NS)
            assert ranges is not None, (owner, f.name)
            for level, tag in LEVEL_TAGS.items():
                assert _bounds(ranges.find(f"x:{tag}", NS)) == getattr(default, level)
        contexts = ptype.findall("x:ContextAlarmList/x:ContextAlarm", NS)
        assert len(contexts) == len(f.limits.modes), (owner, f.name)
        for context, (mode, limit_set) in zip(contexts, f.limits.modes, strict=True):
            match = context.find("x:ContextMatch/x:Comparison", NS)
            assert match.get("parameterRef") == MODE_PARAMETER
            assert int(match.get("value")) == MODES.index(mode)
            for level, tag in LEVEL_TAGS.items():
                found = context.find(f"x:StaticAlarmRanges/x:{tag}", NS)
                assert _bounds(found) == getattr(limit_set, level), (owner, f.name, mode)
        # a housekeeping value out of its declared range is carried: no ValidRange refuses it
        if owner in {h.name for h in node_dictionary(node).hk}:
            assert ptype.find("x:ValidRange", NS) is None
        seen += 1
    assert seen >= 10


def test_the_per_mode_sets_are_context_alarms_on_the_nodes_mode(systems):
    rate = _ptype(systems["mav"], "launch_status_rate_Type")
    (context,) = rate.findall("x:ContextAlarmList/x:ContextAlarm", NS)
    assert context.find("x:ContextMatch/x:Comparison", NS).get("value") == "3"  # critical
    assert _bounds(context.find("x:StaticAlarmRanges/x:WarningRange", NS)) == (None, 10.0)
    seam = _ptype(systems["orbiter"], "ccrs_status_seam_hottest_Type")
    assert _bounds(seam.find("x:DefaultAlarm/x:StaticAlarmRanges/x:CriticalRange", NS)) == (
        None,
        150.0,
    )
    mode = _ptype(systems["mav"], MODE_PARAMETER + "_Type")
    assert mode.tag == f"{{{XTCE_NS}}}EnumeratedParameterType"


def test_every_limited_state_is_an_enumeration_alarm(systems):
    levels = {"yellow": "warning", "red": "critical", "green": "normal"}
    seen = 0
    for node, owner, f in _points():
        if f.limits is None or not f.enum:
            continue
        ptype = _ptype(systems[node], f"{xtce_name(f'{owner}.{f.name}')}_Type")
        alarm = ptype.find("x:DefaultAlarm", NS)
        assert alarm is not None, (owner, f.name)
        default = alarm.get("defaultAlarmLevel", "normal")
        listed = {
            e.get("enumerationLabel"): e.get("alarmLevel")
            for e in alarm.findall("x:EnumerationAlarmList/x:EnumerationAlarm", NS)
        }
        for code, name in f.enum:
            assert listed.get(name, default) == levels[f.level(code)], (owner, f.name, name)
        seen += 1
    assert seen >= 5


def test_the_lander_os_temperature_and_igloo_zones_carry_their_alarms(systems):
    os_temp = _ptype(systems["lander"], "sta_status_os_temp_Type")
    ranges = os_temp.find("x:DefaultAlarm/x:StaticAlarmRanges", NS)
    assert _bounds(ranges.find("x:WarningRange", NS))[1] == 25.0
    assert _bounds(ranges.find("x:CriticalRange", NS))[1] == 30.0
    for name in ("zone_min", "zone_max"):
        zone = _ptype(systems["lander"], f"igloo_status_{name}_Type")
        ranges = zone.find("x:DefaultAlarm/x:StaticAlarmRanges", NS)
        assert _bounds(ranges.find("x:CriticalRange", NS)) == (-45.0, 50.0)


def test_enumerated_command_arguments_are_enumerated_argument_types(systems):
    mode = _atype(systems["lander"], "modes_set_mode_ArgType")
    labels = {e.get("label"): int(e.get("value")) for e in mode.iter(f"{{{XTCE_NS}}}Enumeration")}
    assert labels == {"safe": 1, "nominal": 2, "critical": 3}
    arm = _atype(systems["mav"], "gate_arm_command_ArgType")
    labels = {e.get("label"): int(e.get("value")) for e in arm.iter(f"{{{XTCE_NS}}}Enumeration")}
    assert labels == {"launch.arm": 170 << 8 | 3, "launch.launch": 170 << 8 | 4}
    disarm = _atype(systems["orbiter"], "gate_disarm_command_ArgType")
    labels = {e.get("label") for e in disarm.iter(f"{{{XTCE_NS}}}Enumeration")}
    assert labels == {"ccrs.braze", "ccrs.release_ees", "all"}
    source = _atype(systems["lander"], "sta_load_tube_source_ArgType")
    assert source.tag == f"{{{XTCE_NS}}}EnumeratedArgumentType"


def test_space_packet_parser_decodes_a_state_by_name_and_a_hot_value_as_it_is(document):
    definitions = pytest.importorskip("space_packet_parser.xtce.definitions")
    lander = node_dictionary("lander")
    definition = definitions.XtcePacketDefinition.from_xtce(
        io.BytesIO(extract_space_system(document, "lander")), root_container_name="PUS_TM_Packet"
    )
    packet = lander.hk_packet("sta.status")
    values = {f.name: 0 for f in packet.fields} | {"state": 9, "lid": 3, "os_temp": 120.5}
    raw = PusTm(lander.apid, 3, 25, packet.encode(values), time=CucTime(5, 0)).pack()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = dict(definition.parse_bytes(raw))
    assert decoded["sta_status_state"] == "awaiting_serial"
    assert decoded["sta_status_lid"] == "latched"
    assert decoded["sta_status_os_temp"] == 120.5  # beyond its declared -150..100: carried


def test_the_json_export_carries_every_enumeration_and_limit():
    document = json.loads(export_json())
    for node, d in dictionary().items():
        exported = document["nodes"][node]
        fields = {
            (p["name"], f["name"]): f
            for kind in ("hk", "reports")
            for p in exported[kind]
            for f in p["fields"]
        }
        for packet in (*d.hk, *d.reports):
            for f in packet.fields:
                record = fields[(packet.name, f.name)]
                assert record["enumeration"] == {str(c): n for c, n in f.enum}
                if f.limits is None:
                    assert record["limits"] is None
                    continue
                limits = record["limits"]
                assert limits["text"] == f.limits.describe()
                assert limits["red_states"] == list(f.limits.red_states)
                assert [limits["default"]["red"]["min"], limits["default"]["red"]["max"]] == [
                    None if b is None else float(b) for b in f.limits.default.red
                ]
                assert set(limits["modes"]) == {mode for mode, _ in f.limits.modes}
        arm = next(c for c in exported["commands"] if c["name"] == "gate.arm")
        expected = {str(c.message.service << 8 | c.message.subtype): c.name for c in d.hazardous}
        assert arm["arguments"][0]["enumeration"] == expected


def test_an_unknown_node_is_still_one_export_error():
    with pytest.raises(ExportError, match="unknown node"):
        export_xtce(["rover"])
