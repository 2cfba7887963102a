"""The ground station's control port against hostile lines, on a live bench (decision 0028):
10,000 random lines, every JSON type in every field of every request, and NaN, infinities,
1e308 and 1e999 wherever a number is read. Every one is answered with one error line on a
connection that stays usable; afterwards nothing was sent up or archived and every node still
answers ``core.ping``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ground_tools.api import connect
from ground_tools.archive import Archive
from ground_tools.bench_ctl import BenchUp
from ground_tools.control_messages import OPS, parse_request
from tests.security.control_bench import (
    HOSTILE,
    LineClient,
    assert_every_node_answers,
    assert_nothing_done,
    live_bench,
    station,
    transmitted,
)
from tests.security.fuzz_lines import accepts, number_lines, send_random_lines, type_confusions

ACCEPTS = accepts(parse_request)
TEMPLATES = [
    {"op": "cmd", "node": "lander", "name": "core.ping", "args": {}, "source": HOSTILE,
     "confirmed": False, "ack": 15},
    {"op": "cmd", "node": "lander", "name": "modes.set", "args": {"mode": 2}, "source": HOSTILE},
    {"op": "cmd", "node": "lander", "name": "core.ping", "args": {"data": {"hex": "00"}},
     "source": HOSTILE},
    {"op": "stages", "node": "lander", "request_id": "00000000"},
    {"op": "latest", "names": ["lander.core.status", "lander.core.status.mode"]},
    {"op": "packets", "since": 0, "limit": 10},
    {"op": "step", "until": 0.0, "wake": False, "since": 0},
    {"op": "pace", "pace": "fast"},
    {"op": "resync", "node": "lander"},
    {"op": "status"},
    {"op": "stop"},
]  # fmt: skip
"""A valid request of every op (and the shapes of a command's arguments)."""
NUMERIC = [("ack",), ("args", "mode"), ("since",), ("limit",), ("until",), ("pace",)]
"""Where the control port reads a number."""
KEYS = ("node", "name", "args", "source", "confirmed", "ack", "request_id", "names", "since",
        "limit", "until", "wake", "pace")  # fmt: skip
RANDOM_LINES = 10_000
BATCH = 50


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchUp]:
    with live_bench(tmp_path_factory.mktemp("control-fuzz") / "runs") as up:
        yield up


@pytest.fixture
def before(bench: BenchUp) -> Iterator[dict[str, int]]:
    """What the station had sent up; afterwards nothing more was sent, archived or injected,
    and every node answers a ping."""
    with connect(bench.run_dir, source="security check") as session:
        sent = transmitted(session)
    archived = archived_commands(bench.run_dir)
    yield sent
    assert_nothing_done(bench.run_dir, sent)
    assert archived_commands(bench.run_dir) == archived  # not one hostile command archived
    assert_every_node_answers(bench.run_dir)


def archived_commands(run_dir: Path) -> int:
    """Commands in the command history now (the station commits each one at once)."""
    with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
        return len(archive.commands())


def refused_each(client: LineClient, lines: list[bytes]) -> None:
    """Send ``lines`` in batches over one connection; each gets one error, naming a field
    when the line was a JSON object with a known op."""
    for start in range(0, len(lines), BATCH):
        batch = lines[start : start + BATCH]
        client.send(b"".join(line + b"\n" for line in batch))
        replies = [client.reply() for _ in batch]  # all read first: the stream stays in step
        for line, reply in zip(batch, replies, strict=True):
            assert "error" in reply and "\n" not in reply["error"], (line, reply)
    assert "error" not in client.ask({"op": "status"})  # the connection is still usable


def test_every_json_type_in_every_field_is_refused_naming_the_field(
    bench: BenchUp, before: dict[str, int]
) -> None:
    lines = type_confusions(TEMPLATES, ACCEPTS)
    assert len(lines) > 300
    with station(bench.run_dir) as client:
        refused_each(client, lines)
        reply = client.ask({"op": "cmd", "node": "lander", "name": "core.ping", "ack": 99999,
                            "source": HOSTILE})  # fmt: skip
        assert reply["error"].startswith("bad request: cmd: ack: "), reply
        reply = client.ask({"op": "cmd", "node": 7, "name": "core.ping", "source": HOSTILE})
        assert "cmd: node: Input should be a valid string" in reply["error"], reply


def test_nan_infinity_and_huge_numbers_are_refused_wherever_a_number_is_read(
    bench: BenchUp, before: dict[str, int]
) -> None:
    lines = number_lines(TEMPLATES, NUMERIC)
    assert len(lines) >= 7 * len(NUMERIC)
    with station(bench.run_dir) as client:
        refused_each(client, lines)
        reply = client.ask(b'{"op": "step", "until": 1e999}')
        assert "step: until: Input should be a finite number" in reply["error"], reply
        reply = client.ask(b'{"op": "step", "until": 1e308}')
        assert "step: until: Input should be less than or equal to" in reply["error"], reply
        reply = client.ask(b'{"op": "pace", "pace": NaN}')
        assert "pace: pace: " in reply["error"], reply


def test_ten_thousand_random_lines_are_each_answered_with_an_error(
    bench: BenchUp, before: dict[str, int]
) -> None:
    with station(bench.run_dir) as client:
        sent = send_random_lines(
            lambda lines: refused_each(client, lines), OPS, KEYS, ACCEPTS, RANDOM_LINES, BATCH
        )
    assert sent >= RANDOM_LINES  # a random valid request ({"op": "status"}) is not sent
