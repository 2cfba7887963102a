"""The simulator's back door against hostile lines, on a live bench (decision 0028): 10,000
random lines, every JSON type in every field of every request, NaN, infinities, 1e308 and
1e999 wherever a number is read, and an absurd link delay. Every bad line is answered with one
error on a connection that stays usable and injects nothing; a delay too long is refused, and
the longest one accepted, once cleared, leaves the link working. Afterwards every node still
answers ``core.ping``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ground_tools.api import connect
from ground_tools.bench_ctl import BenchUp
from sim_hardware.backdoor_messages import OPS, parse_request
from sim_hardware.faults import MAX_LINK_DELAY
from tests.security.control_bench import (
    LineClient,
    assert_every_node_answers,
    assert_nothing_done,
    backdoor,
    live_bench,
    transmitted,
)
from tests.security.fuzz_lines import accepts, number_lines, send_random_lines, type_confusions

ACCEPTS = accepts(parse_request)
TEMPLATES: list[dict[str, Any]] = [
    {"op": "inject", "target": "link:lander", "kind": "delay", "duration": 1.0, "at": 0.0,
     "params": {"seconds": 0.5, "jitter": 0.1, "direction": "up"}},
    {"op": "inject", "target": "igloo", "kind": "drop", "params": {"probability": 0.5}},
    {"op": "inject", "target": "igloo", "kind": "baud_throttle",
     "params": {"baud": 9600, "burst": 0.1}},
    {"op": "inject", "target": "igloo.heaters", "kind": "reply_lost", "params": {"count": 1}},
    {"op": "clear", "id": 1},
    {"op": "clear_all", "target": "igloo"},
    {"op": "faults"},
    {"op": "status"},
    {"op": "world"},
]  # fmt: skip
"""A valid request of every op, and the link and device faults that take numbers."""
NUMERIC = [("duration",), ("at",), ("id",)] + [
    ("params", name) for name in ("seconds", "jitter", "probability", "baud", "burst", "count")
]
"""Where the back door reads a number."""
KEYS = ("target", "kind", "duration", "at", "params", "id")
RANDOM_LINES = 10_000
BATCH = 50


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchUp]:
    with live_bench(tmp_path_factory.mktemp("backdoor-fuzz") / "runs") as up:
        yield up


@pytest.fixture
def before(bench: BenchUp) -> Iterator[set[int]]:
    """The faults a test means to inject (it adds their numbers); afterwards no fault is in
    effect or scheduled, no other fault started or ended, nothing went up from a hostile
    line, and every node answers a ping."""
    with connect(bench.run_dir, source="security check") as session:
        sent = transmitted(session)
    with backdoor(bench.run_dir) as door:
        history = door.ask({"op": "faults"})["history"]
    meant: set[int] = set()
    yield meant
    with connect(bench.run_dir, source="security check") as session:
        sent.update({"lander": transmitted(session)["lander"]} if meant else {})
    assert_nothing_done(bench.run_dir, sent)
    with backdoor(bench.run_dir) as door:
        after = door.ask({"op": "faults"})["history"]
    assert after[: len(history)] == history
    assert {entry["id"] for entry in after[len(history) :]} <= meant, after[len(history) :]
    assert_every_node_answers(bench.run_dir)


def refused_each(door: LineClient, lines: list[bytes]) -> None:
    """Send ``lines`` in batches over one connection; each gets one refusal."""
    for start in range(0, len(lines), BATCH):
        batch = lines[start : start + BATCH]
        door.send(b"".join(line + b"\n" for line in batch))
        replies = [door.reply() for _ in batch]  # all read first: the stream stays in step
        for line, reply in zip(batch, replies, strict=True):
            assert reply.get("ok") is False and "\n" not in reply["error"], (line, reply)
    assert door.ask({"op": "status"})["ok"]  # the connection is still usable


def test_every_json_type_in_every_field_is_refused_naming_the_field(
    bench: BenchUp, before: set[int]
) -> None:
    lines = type_confusions(TEMPLATES, ACCEPTS)
    assert len(lines) > 300
    with backdoor(bench.run_dir) as door:
        refused_each(door, lines)
        reply = door.ask({"op": "inject", "target": 5, "kind": "blackout"})
        assert reply["error"] == "inject: target: Input should be a valid string (got 5)"
        reply = door.ask({"op": "clear", "id": "1"})
        assert reply["error"] == "clear: id: Input should be a valid integer (got '1')"


def test_nan_infinity_and_huge_numbers_are_refused_wherever_a_number_is_read(
    bench: BenchUp, before: set[int]
) -> None:
    lines = number_lines(TEMPLATES, NUMERIC)
    assert len(lines) >= 7 * len(NUMERIC)
    with backdoor(bench.run_dir) as door:
        refused_each(door, lines)
        # 1e308 s overflowed the lockstep's time conversion: refused before it is scheduled
        reply = door.ask(b'{"op": "inject", "target": "igloo", "kind": "stall", "at": 1e308}')
        assert reply["error"].startswith("inject: at: Input should be less than or equal to")
        reply = door.ask(b'{"op": "inject", "target": "igloo", "kind": "stall", "duration": 1e999}')
        assert reply["error"].startswith("inject: duration: Input should be a finite number")


def test_an_absurd_link_delay_is_refused_and_a_cleared_long_one_leaves_the_link_working(
    bench: BenchUp, before: set[int]
) -> None:
    delay = b'{"op": "inject", "target": "link:lander", "kind": "delay", "params": {%s}}'
    with backdoor(bench.run_dir) as door:
        for params in (b'"seconds": Infinity', b'"seconds": 1e999', b'"seconds": 1e308',
                       b'"jitter": 1e999', b'"seconds": NaN'):  # fmt: skip
            reply = door.ask(delay % params)
            assert reply["error"].startswith("inject: params."), reply
        too_long = door.ask(delay % f'"seconds": {MAX_LINK_DELAY + 1}'.encode())
        assert "seconds = 3601.0 is not a number in 0..3600" in too_long["error"], too_long
        longest = door.ask(delay % f'"seconds": {MAX_LINK_DELAY}'.encode())
        assert longest["ok"], longest
        before.add(longest["id"])
        with connect(bench.run_dir, source="security check") as session:
            held = session.send("lander", "core.ping")  # its frame is an hour late
            session.wait(5.0)
            assert door.ask({"op": "clear", "id": longest["id"]})["ok"]
            # the link works at once: neither the late frame nor those behind it wait an hour
            assert session.wait_command(held, timeout=60).ok
            assert session.cmd("lander core.ping", timeout=30).ok


def test_a_board_line_held_an_hour_works_again_once_the_delay_is_cleared(
    bench: BenchUp, before: set[int]
) -> None:
    with backdoor(bench.run_dir) as door, connect(bench.run_dir, source="security check") as s:
        longest = door.ask({"op": "inject", "target": "igloo", "kind": "delay",
                            "params": {"seconds": MAX_LINK_DELAY}})  # fmt: skip
        assert longest["ok"], longest
        before.add(longest["id"])
        s.wait_event("lander", "health.device_silent", timeout=120, contains="igloo")
        assert door.ask({"op": "clear", "id": longest["id"]})["ok"]
        s.wait_event("lander", "health.device_answering", timeout=60, contains="igloo")


def test_ten_thousand_random_lines_are_each_refused(bench: BenchUp, before: set[int]) -> None:
    with backdoor(bench.run_dir) as door:
        sent = send_random_lines(
            lambda lines: refused_each(door, lines), OPS, KEYS, ACCEPTS, RANDOM_LINES, BATCH
        )
    assert sent >= RANDOM_LINES  # a random valid request ({"op": "faults"}) is not sent
