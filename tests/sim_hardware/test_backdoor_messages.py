"""The back door's request schemas (decision 0028), and a link whose long delay is cleared: every
request the tools send today is taken as it is, what once ended or poisoned the simulator is
refused naming the field, and a cleared delay lets the frames in flight out at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hal.bench import FaultSpec
from hal.protocol.timing import seconds_to_us
from hal.schema import MAX_SECONDS, RequestError
from sim_hardware.backdoor_messages import InjectRequest, parse_request
from sim_hardware.faults import MAX_LINK_DELAY, link_impairments
from sim_hardware.space_link import Impairments, LinkPath

SENT_TODAY: list[dict[str, Any]] = [
    # ground_tools/cli.py `msr fault` (PARAM=VALUE through ast.literal_eval)
    {"op": "inject", "target": "sta_arm.gripper", "kind": "grasp_slip", "params": {},
     "duration": 5.0, "at": 120.0},
    {"op": "inject", "target": "link:mav", "kind": "drop", "params": {"probability": 0.5}},
    {"op": "inject", "target": "igloo.door", "kind": "bias",
     "params": {"field": "position", "offset": 5, "direction": "both"}},
    {"op": "clear", "id": 3},
    {"op": "clear_all", "target": "sta_arm"},
    {"op": "clear_all", "target": None},
    {"op": "faults"},
    # ground_tools/api.py Session.fault / clear_fault; ground_tools/campaign.py
    {"op": "inject", "target": "igloo", "kind": "blackout", "params": {}, "duration": 2.0},
    {"op": "inject", "target": "igloo.heaters", "kind": "heater_zone_failure",
     "params": {"index": 3, "element": "prime"}},
    {"op": "world"},
    {"op": "status"},
    # tests/fsw/mission_rig.py, tests/fsw/test_node_process.py, tests/sim_hardware
    {"op": "inject", "target": "igloo", "kind": "blackout"},
    {"op": "inject", "target": "igloo", "kind": "baud_throttle", "params": {"baud": 9600}},
    {"op": "inject", "target": "link:lander", "kind": "delay",
     "params": {"seconds": 2.0, "jitter": 0.5, "direction": "up"}},
    {"op": "inject", "target": "mav_pyro.srm1", "kind": "reply_lost",
     "params": {"command": "fire", "count": 1}},
    # tests/sim_hardware/test_simulator.py: a tube lost from the OS
    {"op": "lose_tube", "serial": 266},
    {"op": "lose_tube", "serial": 1},
    {"op": "lose_tube", "serial": 999_999},
]  # fmt: skip


@pytest.mark.parametrize("message", SENT_TODAY)
def test_every_request_the_tools_send_is_taken_as_it_is(message: dict[str, Any]) -> None:
    model = parse_request(json.loads(json.dumps(message)))
    for key, value in message.items():
        assert getattr(model, key) == value, key


@pytest.mark.parametrize(
    "message, field",
    [
        ({"op": "inject", "target": "igloo", "kind": "stall", "at": 1e308}, "at"),
        ({"op": "inject", "target": "igloo", "kind": "stall", "at": -1.0}, "at"),
        ({"op": "inject", "target": "igloo", "kind": "stall", "duration": float("inf")},
         "duration"),
        ({"op": "inject", "target": "igloo", "kind": "stall", "duration": 0}, "duration"),
        ({"op": "inject", "target": 5, "kind": "stall"}, "target"),
        ({"op": "inject", "target": "igloo", "kind": ["stall"]}, "kind"),
        ({"op": "inject", "target": "igloo", "kind": "stall", "params": []}, "params"),
        ({"op": "inject", "target": "link:lander", "kind": "delay",
          "params": {"seconds": float("nan")}}, "params.seconds"),
        ({"op": "inject", "target": "link:lander", "kind": "delay",
          "params": {"seconds": 1e308}}, "params.seconds"),
        ({"op": "inject", "target": "igloo", "kind": "stall", "params": {"a": {"b": 1}}},
         "params.a"),
        ({"op": "inject", "target": "igloo", "kind": "stall", "params": {"a": "x" * 100}},
         "params.a"),
        ({"op": "inject", "target": "igloo", "kind": "stall",
          "params": {f"p{i}": i for i in range(17)}}, "params"),
        ({"op": "inject", "target": "igloo", "kind": "stall", "when": 3}, "when"),
        ({"op": "clear", "id": "3"}, "id"),
        ({"op": "clear", "id": 1e999}, "id"),
        ({"op": "clear", "id": True}, "id"),
        ({"op": "clear_all", "target": 1}, "target"),
        ({"op": "lose_tube"}, "serial"),
        ({"op": "lose_tube", "serial": 0}, "serial"),
        ({"op": "lose_tube", "serial": -266}, "serial"),
        ({"op": "lose_tube", "serial": 1_000_000}, "serial"),
        ({"op": "lose_tube", "serial": "266"}, "serial"),
        ({"op": "lose_tube", "serial": 266.0}, "serial"),
        ({"op": "lose_tube", "serial": True}, "serial"),
        ({"op": "lose_tube", "serial": [266]}, "serial"),
        ({"op": "lose_tube", "serial": 266, "slot": 3}, "slot"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_field_in_one_line(message: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse_request(message)
    assert (refused.value.op, refused.value.field) == (message["op"], field)
    assert str(refused.value).startswith(f"{message['op']}: {field}: ")
    assert "\n" not in str(refused.value)


def test_the_latest_start_plus_the_longest_duration_fits_the_lockstep() -> None:
    longest = parse_request({"op": "inject", "target": "igloo", "kind": "stall",
                             "at": MAX_SECONDS, "duration": MAX_SECONDS})  # fmt: skip
    assert isinstance(longest, InjectRequest)
    assert seconds_to_us(longest.at + longest.duration) > 0  # type: ignore[operator]


def test_a_link_delay_beyond_an_hour_is_refused() -> None:
    spec = FaultSpec(at=0.0, target="link:lander", kind="delay",
                     params={"seconds": MAX_LINK_DELAY + 1})  # fmt: skip
    with pytest.raises(ValueError, match="seconds"):
        link_impairments([spec], Impairments(), 115200, 0.1)
    for name in ("jitter", "seconds"):
        spec = FaultSpec(at=0.0, target="link:lander", kind="delay", params={name: 1e300})
        with pytest.raises(ValueError, match=name):
            link_impairments([spec], Impairments(), 115200, 0.1)


@pytest.mark.parametrize("reorder", [False, True])
def test_a_cleared_delay_lets_the_frames_in_flight_out_in_their_order(reorder: bool) -> None:
    path = LinkPath(Impairments(delay=0.5, reorder=reorder))
    path.push_frame(b"\x1a\xcf\xfc\x1dfirst", 0.0)
    path.impairments = Impairments(delay=0.5 + MAX_LINK_DELAY, reorder=reorder)
    path.push_frame(b"\x1a\xcf\xfc\x1dheld an hour", 1.0)
    path.push_frame(b"\x1a\xcf\xfc\x1dalso held", 2.0)
    assert path.due(10.0) == [b"\x1a\xcf\xfc\x1dfirst"]
    path.impairments = Impairments(delay=0.5, reorder=reorder)  # the fault cleared at 10 s
    path.push_frame(b"\x1a\xcf\xfc\x1dafter", 10.0)
    assert path.due(10.4) == []  # the link's own delay still holds
    assert path.due(10.5) == [b"\x1a\xcf\xfc\x1dheld an hour", b"\x1a\xcf\xfc\x1dalso held",
                              b"\x1a\xcf\xfc\x1dafter"]  # fmt: skip


def test_a_longer_delay_or_another_impairment_leaves_the_frames_in_flight_as_they_were() -> None:
    path = LinkPath(Impairments(delay=2.0))
    path.push_frame(b"\x1a\xcf\xfc\x1dframe", 0.0)
    path.impairments = Impairments(delay=5.0)
    path.impairments = Impairments(delay=2.0, drop=0.5)
    assert path.next_due == 2.0
    path.impairments = Impairments(delay=1.0)  # no frame sent now would come out after 1 s
    assert path.next_due == 1.0
