"""Access to the bench's control ports (decision 0027): only a client that presents the run's
secret (``runs/<id>/control.token``, mode 0600) is served. A client without it is told one fixed
line that says nothing about the bench and is closed, and nothing it sent is acted on."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground_tools.api import GroundError, backdoor_request, connect
from ground_tools.bench_ctl import BenchUp
from hal.control import HELLO_TIMEOUT, MAX_HELLO, REFUSED, TOKEN_FILE, read_token
from tests.security.control_bench import (
    HOSTILE,
    LineClient,
    assert_every_node_answers,
    assert_nothing_done,
    backdoor_address,
    live_bench,
    station_address,
    transmitted,
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchUp]:
    with live_bench(tmp_path_factory.mktemp("access") / "runs") as up:
        yield up


@pytest.fixture
def before(bench: BenchUp) -> Iterator[dict[str, int]]:
    with connect(bench.run_dir, source="access check") as session:
        sent = transmitted(session)
    yield sent
    assert_nothing_done(bench.run_dir, sent)
    assert_every_node_answers(bench.run_dir)


COMMAND = {"op": "cmd", "node": "lander", "name": "core.ping", "args": {}, "source": HOSTILE}
STOP = {"op": "stop"}
INJECT = {"op": "inject", "target": "igloo", "kind": "blackout"}


def first_lines(token: str) -> list[bytes]:
    """First lines a stranger might try: a request straight away, a wrong token, the right
    token in the wrong shape, and not JSON at all."""
    wrong = ("0" if token[0] != "0" else "1") + token[1:]
    return [
        json.dumps(COMMAND).encode(),
        json.dumps(INJECT).encode(),
        json.dumps(STOP).encode(),
        json.dumps({"token": wrong}).encode(),
        json.dumps({"token": token[:-2]}).encode(),
        json.dumps({"token": token, **COMMAND}).encode(),  # a request riding on the token
        json.dumps({"token": [token]}).encode(),
        json.dumps({"token": 12345}).encode(),
        json.dumps({"Token": token}).encode(),
        b"not json at all",
        b"[" * 100_000,
        b"x" * 100_000,
    ]


def test_the_token_is_the_run_folders_secret_readable_by_its_owner_only(bench: BenchUp) -> None:
    path = bench.run_dir / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = read_token(bench.run_dir)
    assert len(bytes.fromhex(token)) == 32
    assert token not in (bench.run_dir / "station.json").read_text()
    assert token not in (bench.run_dir / "ports.json").read_text()


@pytest.mark.parametrize("port", ["station", "back door"])
def test_a_client_without_the_token_is_refused_and_nothing_is_done(
    bench: BenchUp, before: dict[str, int], port: str
) -> None:
    run_dir = bench.run_dir
    address = station_address(run_dir) if port == "station" else backdoor_address(run_dir)
    for first in first_lines(read_token(run_dir)):
        with LineClient(address, token=None) as stranger:
            # what follows the first line is never read either
            follow = json.dumps(COMMAND if port == "station" else INJECT).encode()
            try:
                stranger.send(first + b"\n" + follow + b"\n")
            except OSError:
                pass  # closed under a long line: refused all the same
            try:
                answer = stranger.stream.readline()
                rest = stranger.stream.read()
            except ConnectionResetError:
                # a first line longer than a token's: closed with the rest unread, so the reset
                # may overtake the refusal; a short line is always answered
                assert len(first) > MAX_HELLO, first[:60]
                continue
        assert json.loads(answer) == REFUSED, (first[:60], answer)  # fixed: nothing about the bench
        assert rest == b"", (first[:60], rest)


@pytest.mark.parametrize("port", ["station", "back door"])
def test_a_client_that_presents_nothing_is_closed(
    bench: BenchUp, before: dict[str, int], port: str
) -> None:
    run_dir = bench.run_dir
    address = station_address(run_dir) if port == "station" else backdoor_address(run_dir)
    with socket.create_connection(address, timeout=HELLO_TIMEOUT + 10) as silent:
        stream = silent.makefile("rb")
        assert json.loads(stream.readline()) == REFUSED
        assert stream.read() == b""


def test_the_tools_find_the_token_in_the_run_folder(bench: BenchUp, tmp_path: Path) -> None:
    run_dir = bench.run_dir
    with connect(run_dir) as session:  # the scripting API (and so msr) read it there
        assert session.status()["nodes"]
    elsewhere = tmp_path / "copy"  # the same ports, another run's secret: refused
    elsewhere.mkdir()
    for name in ("station.json", "ports.json"):
        (elsewhere / name).write_text((run_dir / name).read_text())
    (elsewhere / TOKEN_FILE).write_text("00" * 32 + "\n")
    with pytest.raises(GroundError, match="access refused"):
        connect(elsewhere)
    assert backdoor_request(run_dir, {"op": "faults"})["faults"] == []
    with pytest.raises(GroundError, match="access refused"):
        backdoor_request(elsewhere, {"op": "inject", **INJECT})
    (elsewhere / TOKEN_FILE).unlink()
    with pytest.raises(GroundError, match="no control token"):
        connect(elsewhere)
