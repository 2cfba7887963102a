"""The ground reads a node's telemetry: every report named and decoded with the flight dictionary
(:func:`ground_tools.telemetry.decode_tm`, what the station archives and the API and displays
show), and a report that does not decode named as such, never raised.

The packets are built with the flight's own encoders (the dictionary's housekeeping and event
records and declared reports, PUS-1 verification reports, the PUS-9 and PUS-20 layouts),
and a pass of the lander in simulated time checks every report it really sends.
"""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsw.dictionary import node_dictionary
from fsw.dictionary.custody import CustodyRow, custody_rows, encode_custody
from fsw.dictionary.verification import Verification
from fsw.services.pus_20_parameters import build_load, build_report_request
from ground_tools.capture import decode_packet
from ground_tools.telemetry import KINDS, Received, decode_tm
from hal.protocol.cuc import CucTime
from hal.protocol.pus import PusTm, RequestId
from tests.fsw.mission_rig import MissionRig

LANDER = node_dictionary("lander")
STAMP = CucTime.from_seconds(12.5)
"""The on-board time stamp of the packets built here."""
ARRIVAL = 13.0
"""When the station received them (simulated seconds)."""

STATUS_VALUES = {
    "mode": 1, "uptime": 12.5, "cycles": 125, "slips": 0, "accepted": 3, "rejected": 0,
    "dropped": 0, "events_suppressed": 0, "resets": 1, "nv_writes": 2, "queue": 0,
    "time_reports_rate": 0,
    "encoding_errors": 0,
}  # fmt: skip
UNKNOWN_ID = 9999
"""An id no lander event, parameter or housekeeping packet has."""


def lander_tm(service: int, subtype: int, data: bytes = b"") -> PusTm:
    return PusTm(LANDER.apid, service, subtype, data, time=STAMP)


def receive(service: int, subtype: int, data: bytes = b"") -> Received:
    """What the station makes of a lander report as it arrives."""
    return decode_tm(LANDER, lander_tm(service, subtype, data), 1, ARRIVAL)


def status_report() -> bytes:
    return LANDER.hk_packet("core.status").encode(STATUS_VALUES)


def parameter_id(name: str) -> int:
    return LANDER.parameter(name).id


# ---------------------------------------------------------------------------------- each kind


def test_housekeeping_is_named_by_its_sid_and_its_fields_decoded():
    status = receive(3, 25, status_report())
    assert (status.kind, status.name, status.error) == ("hk", "core.status", None)
    assert status.values == pytest.approx(STATUS_VALUES)
    assert (status.node, status.time, status.received) == ("lander", 12.5, ARRIVAL)


def test_an_event_is_named_with_the_severity_of_its_subtype_and_its_detail():
    boot = receive(5, 1, LANDER.event("core.boot").encode("power_on boot 1"))
    assert (boot.kind, boot.name, boot.error) == ("event", "core.boot", None)
    assert boot.values == {"id": 1, "severity": "info", "detail": "power_on boot 1"}
    failed = LANDER.event("core.app_failed")
    report = receive(5, failed.subtype, failed.encode("sta: bad pointer"))
    assert report.values["severity"] == "high" and report.name == "core.app_failed"


def test_verification_reports_carry_the_request_the_stage_and_the_reason():
    rid = RequestId(LANDER.apid, 3, 4).pack()
    refused = receive(1, 2, Verification(2, rid, 4, "out_of_range: sid = 9").encode())
    assert (refused.kind, refused.name, refused.error) == (
        "verification", "acceptance_failed", None,
    )  # fmt: skip
    assert refused.values == {
        "request_id": rid.hex(), "stage": "acceptance_failed", "code": 4,
        "reason": "out_of_range: sid = 9", "step": 0,
    }  # fmt: skip
    progress = receive(1, 5, Verification(5, rid, step=3).encode())
    assert progress.name == "progress" and progress.values["step"] == 3
    completed = receive(1, 7, Verification(7, rid).encode())
    assert completed.values == {
        "request_id": rid.hex(), "stage": "completed", "code": 0, "reason": "", "step": 0,
    }  # fmt: skip


def test_a_time_report_gives_the_rate_the_spacecraft_time_and_the_cycle_with_both_stamps():
    data = struct.pack(">B6sI", 2, CucTime.from_seconds(12.5).pack(), 125)  # rate | CUC | cycle
    report = receive(9, 2, data)
    assert (report.kind, report.name, report.error) == ("time", "time.report", None)
    assert report.values == {
        "onboard": 12.5, "received": ARRIVAL, "rate": 2, "time": 12.5, "cycle": 125,
    }  # fmt: skip


def test_the_answer_to_a_ping_is_an_alive_report():
    alive = receive(17, 2)
    assert (alive.kind, alive.name, alive.values, alive.error) == (
        "alive", "core.alive", {}, None,
    )  # fmt: skip


def test_a_parameter_report_names_each_value_and_keeps_an_unknown_id_by_number():
    window, count = parameter_id("events.throttle_window"), parameter_id("events.throttle_count")
    report = receive(20, 2, build_load({window: 10.0, count: 5.0}))
    assert (report.kind, report.name, report.error) == ("params", "params.report", None)
    assert report.values == {"events.throttle_window": 10.0, "events.throttle_count": 5.0}
    assert list(report.values) == ["events.throttle_window", "events.throttle_count"]

    odd = receive(20, 2, build_load({window: 12.0, UNKNOWN_ID: 1.5}))
    assert odd.kind == "params"
    assert odd.values == {"events.throttle_window": 12.0, f"parameter_{UNKNOWN_ID}": 1.5}
    assert odd.error == f"TM[20,2]: unknown parameter id {UNKNOWN_ID}"


def test_a_report_the_dictionary_declares_is_decoded_by_its_declaration():
    custody = LANDER.report("sta.custody")
    (data,) = encode_custody(custody, [CustodyRow(123456, "depot", None, "present", 1, 86400)])
    report = receive(custody.service, custody.subtype, data)
    assert (report.kind, report.name, report.error) == ("report", "sta.custody", None)
    assert custody_rows(report.values) == [
        {"serial": 123456, "place": 1, "slot": 255, "status": 0, "steps": 1, "since": 86400}
    ]


def test_an_event_of_an_unknown_id_keeps_its_detail_and_names_the_id():
    event = receive(5, 3, _event(UNKNOWN_ID, "hot"))
    assert (event.kind, event.name) == ("event", f"event_{UNKNOWN_ID}")
    assert event.values == {"id": UNKNOWN_ID, "severity": "medium", "detail": "hot"}
    assert event.error == f"TM[5,3]: unknown event id {UNKNOWN_ID}"


def test_a_report_the_ground_has_no_layout_for_is_kept_as_hex_without_error():
    schedule = receive(11, 10, b"\x00")
    assert (schedule.kind, schedule.name, schedule.values, schedule.error) == (
        "other", "TM[11,10]", {"data": "00"}, None,
    )  # fmt: skip


def _event(event_id: int, detail: str) -> bytes:
    """Event source data as the flight encodes it, for an id the dictionary lacks."""
    raw = detail.encode("utf-8")
    return event_id.to_bytes(2, "big") + bytes([len(raw)]) + raw


# ---------------------------------------------------------------------------------- bad content

TRUNCATED_PARAMS = build_load({1: 5.0, 2: 10.0})[:-1]
OUT_OF_RANGE_MODE = status_report()[:2] + b"\x09" + status_report()[3:]  # mode 9: 0..3 declared

BAD_CONTENT = [
    ("truncated parameter report", 20, 2, TRUNCATED_PARAMS,
     "TM[20,2]: parameter report of 20 octets is not N | N x (id u16 | value f64)"),
    ("empty parameter report", 20, 2, b"",
     "TM[20,2]: parameter report of 0 octets is not N | N x (id u16 | value f64)"),
    ("unknown SID", 3, 25, UNKNOWN_ID.to_bytes(2, "big") + b"\x00" * 8,
     f"TM[3,25]: unknown SID {UNKNOWN_ID}"),
    ("housekeeping without a SID", 3, 25, b"\x01",
     "TM[3,25]: housekeeping report of 1 octets has no SID"),
    ("housekeeping of the wrong length", 3, 25, status_report()[:-1],
     "TM[3,25]: core.status: 43 octets, the ICD says 44"),
    ("garbage event", 5, 1, b"\x00\x01\x09ab",
     "TM[5,1]: event report:"),
    ("event of no severity", 5, 9, _event(1, "x"),
     "TM[5,9]: subtype 9 is not an event severity (1..4)"),
    ("verification of no stage", 1, 9, b"\x00" * 4,
     "TM[1,9]: subtype 9 is not a verification report (1..8)"),
    ("truncated verification", 1, 2, b"\x18\x01\xc0",
     "TM[1,2]:"),
    ("verification with trailing octets", 1, 7, b"\x18\x01\xc0\x03\xff",
     "TM[1,7]: 1 trailing octets"),
    ("short time report", 9, 2, b"\x02\x00",
     "TM[9,2]: time report of 2 octets, not 11 (rate u8 | CUC 4+2 | cycle u32)"),
    ("alive with data", 17, 2, b"\x01",
     "TM[17,2]: alive report of 1 octets; it carries none"),
    ("short custody report", 160, 128, b"\x00\x01\xe2",
     "TM[160,128]: sta.custody: 3 octets, the ICD says 417"),
]  # fmt: skip


def test_a_housekeeping_value_out_of_its_declared_range_is_decoded_as_it_is():
    """Decision 0035: the declared range is no refusal on the ground; the limits judge it."""
    report = receive(3, 25, OUT_OF_RANGE_MODE)
    assert report.kind == "hk" and report.error is None
    assert report.values["mode"] == 9


@pytest.mark.parametrize(
    "service,subtype,data,error",
    [case[1:] for case in BAD_CONTENT],
    ids=[case[0] for case in BAD_CONTENT],
)
def test_a_report_that_does_not_decode_is_kept_as_hex_with_its_problem_named(
    service, subtype, data, error
):
    report = receive(service, subtype, data)
    assert report.kind == "other" and report.name == f"TM[{service},{subtype}]"
    assert report.values == {"data": data.hex()}
    assert report.error is not None and report.error.startswith(error)
    assert "\n" not in report.error


SERVICES = st.sampled_from(
    [(1, n) for n in range(0, 10)] + [(3, 25), (9, 2), (11, 10), (17, 2), (20, 2), (160, 128)]
    + [(5, n) for n in range(0, 6)]
) | st.tuples(st.integers(0, 255), st.integers(0, 255))  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(kind=SERVICES, data=st.binary(max_size=80) | st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([build_load({1: 5.0}), status_report(), _event(1, "x"), b"\x01"]),
    st.binary(max_size=8),
))  # fmt: skip
def test_arbitrary_source_data_of_any_report_never_raises_and_survives_the_station(kind, data):
    service, subtype = kind
    report = receive(service, subtype, data)
    assert report.kind in KINDS
    assert report.error is None or (
        report.error.startswith(f"TM[{service},{subtype}]: ") and "\n" not in report.error
    )
    if report.kind == "other":
        assert report.values == {"data": data.hex()}
    text = json.dumps(report.as_dict())  # as the station hands it to the API
    assert json.dumps(Received.from_dict(json.loads(text)).as_dict()) == text
    assert decode_packet(lander_tm(service, subtype, data).pack()).error == (
        report.error and report.error.split(": ", 1)[1]
    )  # msr capture decode reads it alike


# ---------------------------------------------------------------------------------- a real pass


def test_every_report_of_a_lander_pass_decodes_and_capture_names_it_alike(tmp_path):
    with MissionRig(tmp_path, "lander") as rig:
        assert rig.command("core.ping")[-1] == "completed"
        assert rig.command("time.set_rate", rate=1)[-1] == "completed"
        wanted = [parameter_id("events.throttle_count"), parameter_id("sta.grip_force")]
        request = build_report_request(wanted)
        assert rig.command("params.report", data=request)[-1] == "completed"
        rig.run(10.0)
        packets = list(rig.packets)

    received = [decode_tm(LANDER, tm, n, now) for n, (now, tm) in enumerate(packets, 1)]
    assert [r for r in received if r.error] == []
    assert {r.kind for r in received} == {
        "hk", "event", "verification", "time", "alive", "params",
    }  # fmt: skip
    (params,) = [r for r in received if r.kind == "params"]
    assert params.values == {"events.throttle_count": 5.0, "sta.grip_force": 25.0}
    times = [r for r in received if r.kind == "time"]
    assert all(r.values["time"] == r.values["onboard"] for r in times)  # stamped as reported
    assert times[-1].values["rate"] == 1

    capture_names = {"verification": "verification.{}"}
    for report, (_, tm) in zip(received, packets, strict=True):
        decoded = decode_packet(tm.pack())
        assert decoded.error is None and decoded.source == "lander"
        assert decoded.name == capture_names.get(report.kind, "{}").format(report.name)
