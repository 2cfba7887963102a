"""The control port's request schemas (decision 0028): every request the ground tools send
today is taken as it is (no client breaks), and the schema refuses what the station once died
on, naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fsw.dictionary.parameters import build_report_request
from ground_tools import api
from ground_tools.control_messages import (
    MAX_LIMIT,
    CmdRequest,
    PaceRequest,
    StepRequest,
    parse_request,
)
from hal.schema import MAX_SECONDS, RequestError


class Recorder(api.Session):
    """A session whose requests are recorded (and answered as a station would) instead of
    sent: what the scripting API, and so ``msr``, the procedures and the campaign, put on the
    wire."""

    def __init__(self) -> None:  # no socket
        self.source, self.log, self._mark = "test_procedure[1-a b]", None, 0
        self.sent: list[dict[str, Any]] = []

    def request(self, **message: Any) -> dict[str, Any]:
        self.sent.append(json.loads(json.dumps(message)))  # as it crosses the wire
        op = message["op"]
        if op == "status":
            return {"time": 1.0, "received": 0, "nodes": {}}
        if op == "step":
            return {"time": message["until"], "next": 0}
        if op == "cmd":
            return {"request_id": "0a1b2c3d", "time": 1.0}
        if op == "stages":
            return {"stages": [{"stage": "completed", "time": 1.0, "code": 0, "reason": ""}]}
        if op == "latest":
            return {"values": {n: {"time": 1.0, "value": {"mode": 2}} for n in message["names"]}}
        if op == "packets":
            return {"packets": [], "next": message["since"]}
        if op == "pace":
            return {"pace": message["pace"]}
        if op == "resync":
            return {"node": message["node"], "state": "unknown", "resyncs": 0}
        raise AssertionError(op)


def round_trip(message: dict[str, Any]) -> None:
    """The request parses, and its model holds exactly what was sent."""
    model = parse_request(message)
    for key, value in message.items():
        held = getattr(model, key)
        if key == "args":
            value = {k: bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
                     for k, v in value.items()}  # fmt: skip
        assert held == value, (key, held, value)


def test_every_request_the_scripting_api_sends_is_taken_as_it_is() -> None:
    session = Recorder()
    session.now()
    session.wait(2.5)
    session.cmd("lander", "modes.set", mode=2, timeout=5)
    session.cmd("lander core.ping")
    report = build_report_request([api.parameter("lander", "events.throttle_count").id])
    session.send("lander", "params.report", data=report)
    session.send("mav", "modes.set", mode=3, confirm=api.Confirm("test: critical"))
    session.tlm("lander.core.status")
    session.tlm("lander.core.status.mode")
    session.packets(since=3, limit=10)
    session.packets()
    session.request(op="step", until=9.0, wake=True, since=4)
    session.request(op="pace", pace=1.0)  # tests/ground/test_procedures.py
    session.request(op="resync", node="lander")  # Session.resync
    ops = {m["op"] for m in session.sent}
    assert ops >= {"status", "step", "cmd", "stages", "latest", "packets", "pace", "resync"}
    for message in session.sent:
        round_trip(message)
    octets = [m for m in session.sent if m["op"] == "cmd" and m["name"] == "params.report"]
    assert isinstance(parse_request(octets[0]).args["data"], bytes)
    confirmed = [m for m in session.sent if m["op"] == "cmd" and m.get("confirmed")]
    assert confirmed and parse_request(confirmed[0]).confirmed is True


@pytest.mark.parametrize(
    "request_, field",
    [
        ({"op": "cmd", "node": "lander", "name": "core.ping", "ack": 99999}, "ack"),
        ({"op": "cmd", "node": 5, "name": "core.ping"}, "node"),
        ({"op": "cmd", "node": "lander", "name": 5}, "name"),
        ({"op": "cmd", "node": "lander", "name": "core.ping", "confirmed": 1}, "confirmed"),
        ({"op": "cmd", "node": "lander", "name": "core.ping", "args": [1]}, "args"),
        ({"op": "cmd", "node": "lander", "name": "x.y", "args": {"a": [[1]]}}, "args.a"),
        ({"op": "cmd", "node": "lander", "name": "x.y", "args": {"a": float("inf")}}, "args.a"),
        ({"op": "cmd", "node": "lander", "name": "x.y", "args": {"a": {"hex": "0"}}}, "args.a"),
        ({"op": "cmd", "node": "lander", "name": "x.y", "args": {"a": 2**70}}, "args.a"),
        ({"op": "cmd", "node": "lander", "name": "x.y", "source": "a\nb"}, "source"),
        ({"op": "cmd", "node": "lander", "name": "x.y", "extra": 1}, "extra"),
        ({"op": "step", "until": float("nan")}, "until"),
        ({"op": "step", "until": 1e308}, "until"),
        ({"op": "step", "until": -1.0}, "until"),
        ({"op": "step", "until": 1.0, "wake": "yes"}, "wake"),
        ({"op": "packets", "limit": MAX_LIMIT + 1}, "limit"),
        ({"op": "packets", "since": 1.5}, "since"),
        ({"op": "latest", "names": ["lander.core.status"] * 1000}, "names"),
        ({"op": "latest", "names": [7]}, "names.0"),
        ({"op": "stages", "node": "lander", "request_id": "xyz"}, "request_id"),
        ({"op": "pace", "pace": 0}, "pace"),
        ({"op": "pace", "pace": "2"}, "pace"),
        ({"op": "resync", "node": ["lander"]}, "node"),
    ],
)
def test_a_refusal_names_the_field_and_the_problem_in_one_line(
    request_: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestError) as refused:
        parse_request(request_)
    assert refused.value.op == request_["op"] and refused.value.field == field
    text = str(refused.value)
    assert text.startswith(f"{request_['op']}: {field}: ") and "\n" not in text
    assert len(text) < 300


@pytest.mark.parametrize("request_", [None, 1, "status", [], [{"op": "status"}], {}, {"op": 1}])
def test_anything_but_an_object_with_a_known_op_is_refused(request_: Any) -> None:
    with pytest.raises(RequestError, match=r"^(a request is a JSON object|op: unknown op)"):
        parse_request(request_)


def test_the_bounds_meet_the_lockstep_and_the_pace_spells() -> None:
    assert parse_request({"op": "step", "until": MAX_SECONDS}) == StepRequest(
        op="step", until=MAX_SECONDS
    )
    assert parse_request({"op": "pace", "pace": "fast"}) == PaceRequest(op="pace", pace=None)
    assert parse_request({"op": "pace", "pace": None}).pace is None  # type: ignore[union-attr]
    assert parse_request({"op": "pace", "pace": 2}).pace == 2.0  # type: ignore[union-attr]
    command = parse_request({"op": "cmd", "node": "lander", "name": "core.ping"})
    assert command == CmdRequest(op="cmd", node="lander", name="core.ping")
    defaults = (command.args, command.source, command.confirmed, command.ack)
    assert defaults == ({}, "station", False, 15)
