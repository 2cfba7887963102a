"""The station's control port and the simulator's back door against hostile clients, on a live
bench (decision 0027): an over-long line, deep nesting, a flood of connections, and a client
that never reads while a campaign runs. After each, every node still answers ``core.ping`` and
nothing the hostile input asked for was sent up, archived or injected."""

from __future__ import annotations

import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground_tools.api import connect
from ground_tools.bench_ctl import BenchUp
from ground_tools.campaign import run_campaign
from hal.control import (
    BUSY,
    MAX_LINE,
    REFUSED,
    Connection,
    ControlServer,
    parse_request,
    read_token,
)
from tests.security.control_bench import (
    HOSTILE,
    LineClient,
    assert_every_node_answers,
    assert_nothing_done,
    backdoor,
    backdoor_address,
    live_bench,
    open_fds,
    pid,
    rss_kib,
    station,
    station_address,
    transmitted,
)

TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchUp]:
    with live_bench(tmp_path_factory.mktemp("security") / "runs") as up:
        yield up


@pytest.fixture
def before(bench: BenchUp) -> Iterator[dict[str, int]]:
    """What the station had sent up before the test; afterwards: nothing more was sent,
    archived or injected, and every node answers a ping."""
    with connect(bench.run_dir, source="security check") as session:
        sent = transmitted(session)
    yield sent
    assert_nothing_done(bench.run_dir, sent)
    assert_every_node_answers(bench.run_dir)


def hostile_cmd(pad: str) -> bytes:
    """A command that would be sent (and archived) if the line were taken whole."""
    return json.dumps({"op": "cmd", "node": "lander", "name": "core.ping", "source": HOSTILE,
                       "args": {}, "pad": pad}).encode()  # fmt: skip


def hostile_inject(pad: str) -> bytes:
    """A fault the back door would inject if the line were taken whole."""
    return json.dumps({"op": "inject", "target": "igloo", "kind": "blackout", "pad": pad}).encode()


# ---------------------------------------------------------------------------- the parser


def test_the_parser_refuses_deep_nesting_without_recursing() -> None:
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        parse_request(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        parse_request(b'{"a": ' + b"[" * 32 + b"]" * 32 + b"}")
    assert parse_request(b'{"a": ' + b"[" * 31 + b"]" * 31 + b"}")["a"]
    inside = b'{"op": "status", "s": "' + b"[" * 1000 + b'\\" ["}'  # text, not nesting
    assert parse_request(inside)["op"] == "status"
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_request(b"[1]")


# ---------------------------------------------------------------------------- long lines


@pytest.mark.parametrize("port", ["station", "back door"])
def test_a_10_mb_line_is_refused_whole_and_does_not_grow_memory(
    bench: BenchUp, before: dict[str, int], port: str
) -> None:
    run_dir = bench.run_dir
    client, line = (station, hostile_cmd) if port == "station" else (backdoor, hostile_inject)
    process = pid(run_dir, "ground" if port == "station" else "sim_hardware")
    rss = rss_kib(process)
    with client(run_dir) as door:
        head = line("x" * TEN_MB)
        sender = threading.Thread(target=door.send, args=(head + b"\n",), daemon=True)
        sender.start()  # the server answers as soon as the limit is passed, before the end
        refused = door.reply()
        sender.join(60)
        assert not sender.is_alive()
        assert refused["ok"] is False and f"longer than {MAX_LINE} octets" in refused["error"]
        # the rest of the line was dropped as it came: the connection goes on at the next line
        assert door.ask({"op": "status"})["time"] >= 0
    assert rss_kib(process) - rss < 4096, "the server kept the line"


# ---------------------------------------------------------------------------- deep nesting


@pytest.mark.parametrize("port", ["station", "back door"])
def test_a_line_nested_100000_deep_gets_an_error_reply(
    bench: BenchUp, before: dict[str, int], port: str
) -> None:
    client, line = (station, hostile_cmd) if port == "station" else (backdoor, hostile_inject)
    with client(bench.run_dir) as door:
        # 100,000 deep is longer than a line may be: refused as such, never parsed
        reply = door.ask(b"[" * 100_000 + b"]" * 100_000)
        assert reply["ok"] is False and "longer than" in reply["error"], reply
        # as deep as fits in a line: refused by the depth check, before the JSON parser runs
        deep = "[" * 30_000 + "]" * 30_000
        for request in (deep.encode(), b"{" * 60_000, line("").replace(b'""', deep.encode())):
            assert len(request) < MAX_LINE
            reply = door.ask(request)
            assert reply["ok"] is False and "nested deeper than" in reply["error"], reply
        assert "time" in door.ask({"op": "status"})  # the same connection goes on


# ---------------------------------------------------------------------------- connections


def flood(address: tuple[str, int], token: str, count: int, seconds: float) -> dict[str, int]:
    """Open ``count`` connections at once to ``address``, each presenting the token; return how
    they ended by ``seconds``: ``welcomed`` (and held open), ``busy`` (told the limit), or
    ``lost`` (reset, or no answer in time)."""
    hello = json.dumps({"token": token}).encode() + b"\n"
    selector = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    outcome = {"welcomed": 0, "busy": 0, "lost": 0}
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(address)
        socks.append(sock)
        selector.register(sock, selectors.EVENT_WRITE, bytearray())
    deadline = time.monotonic() + seconds
    pending = count
    try:
        while pending and time.monotonic() < deadline:
            for key, events in selector.select(0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    if events & selectors.EVENT_WRITE:
                        sock.send(hello)
                        selector.modify(sock, selectors.EVENT_READ, key.data)
                        continue
                    chunk = sock.recv(4096)
                except OSError:
                    chunk = b""
                key.data.extend(chunk)
                if chunk and not key.data.endswith(b"\n"):
                    continue
                selector.unregister(sock)
                pending -= 1
                reply = json.loads(key.data) if key.data else None
                if reply == {"ok": True}:
                    outcome["welcomed"] += 1
                elif reply == BUSY:
                    outcome["busy"] += 1
                else:
                    outcome["lost"] += 1
        outcome["lost"] += pending
    finally:
        selector.close()
        for sock in socks:
            sock.close()
    return outcome


@pytest.mark.parametrize(("port", "limit"), [("station", 64), ("back door", 16)])
def test_5000_simultaneous_connections_are_refused_cleanly_beyond_the_limit(
    bench: BenchUp, before: dict[str, int], port: str, limit: int
) -> None:
    run_dir = bench.run_dir
    address = station_address(run_dir) if port == "station" else backdoor_address(run_dir)
    process = pid(run_dir, "ground" if port == "station" else "sim_hardware")
    fds = open_fds(process)
    outcome = flood(address, read_token(run_dir), 5000, seconds=60.0)
    assert sum(outcome.values()) == 5000, outcome
    assert outcome["welcomed"] == limit, outcome
    assert outcome["busy"] >= 2500, outcome  # turned away with a line, not left hanging
    deadline = time.monotonic() + 10.0  # the server sees the closes at its next turn
    while open_fds(process) > fds and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds(process) <= fds, "connections were not let go"


# ---------------------------------------------------------------------------- a slow client


BIG_REPLY_PACKETS = 5000
"""Packets the station holds before the slow client starts: each of its requests then asks
for 5,000 packets, and ten unread replies pass the 4 MiB outbox at once."""


@pytest.mark.long  # make test-long (CI)
def test_a_client_that_never_reads_is_dropped_and_a_30_tube_campaign_passes(
    tmp_path: Path,
) -> None:
    """The whole campaign the issue names (30 tubes, one to two minutes of wall time) runs while a
    client of the station's control port sends requests and never reads a reply."""
    runs = tmp_path / "runs"
    stop = threading.Event()
    seen: dict[str, object] = {}

    def never_read() -> None:
        station_file = runs / "latest" / "station.json"
        while not stop.is_set() and not (
            station_file.exists() and (runs / "latest" / "bench.json").exists()
        ):
            time.sleep(0.05)
        if stop.is_set():
            return
        run_dir = (runs / "latest").resolve()
        seen["run_dir"] = run_dir
        # Its replies must be big enough to fill the outbox: a client whose replies are small
        # is not stalling anyone and is kept. So it starts once the station holds packets.
        watcher = LineClient(station_address(run_dir), read_token(run_dir))
        try:
            while (
                not stop.is_set()
                and int(watcher.ask({"op": "status"}).get("received", 0)) < BIG_REPLY_PACKETS
            ):
                time.sleep(0.2)
        finally:
            watcher.close()
        client = LineClient(station_address(run_dir), read_token(run_dir))
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = json.dumps({"op": "packets", "since": 0, "limit": 5000}).encode() + b"\n"
        client.sock.settimeout(None)  # blocked by a station that stops reading is not dropped
        started = time.monotonic()
        sent = 0
        try:
            while not stop.is_set():
                client.sock.sendall(request * 10)  # never a reply read
                sent += 10
        except OSError as exc:
            seen["dropped_after"] = sent  # the station closed the connection
            seen["how"] = f"{exc!r} after {time.monotonic() - started:.1f} s, {sent} requests"
        finally:
            client.close()

    slow = threading.Thread(target=never_read, daemon=True)
    slow.start()
    lines: list[str] = []
    try:
        summary = run_campaign(tubes=30, seed=7, runs_dir=runs, log=lines.append)
    finally:
        stop.set()
        slow.join(30)
    assert summary["ok"], f"{summary['verdict']}\n" + "\n".join(lines[-10:])
    assert summary["tubes_loaded"] == 30
    assert "dropped_after" in seen, "the station never dropped the client that does not read"
    log = (Path(str(seen["run_dir"])) / "logs" / "ground.out").read_text()
    how = seen.get("how")
    assert "does not read its replies" in log and "disconnected" in log, f"{how}\n{log}"


# ---------------------------------------------------------------------------- the core alone


class Core:
    """A :class:`ControlServer` in this process, served between a test's steps."""

    def __init__(self, **options: object) -> None:
        self.token = "ab" * 32
        self.logged: list[str] = []
        self.now = 0.0
        self.seen: list[dict[str, object]] = []
        self.server = ControlServer(
            self.handle, token=self.token, name="core", log=self.logged.append,
            wall=lambda: self.now, **options,  # type: ignore[arg-type]
        )  # fmt: skip

    def handle(self, conn: Connection, request: dict[str, object]) -> dict[str, object] | None:
        self.seen.append(request)
        if request.get("op") == "hold":
            self.server.hold(conn)
            return None
        if request.get("op") == "bug":
            raise KeyError("a bug")
        return {"echo": request.get("op")}

    def turn(self, times: int = 20) -> None:
        for _ in range(times):
            self.server.serve(0.01)

    def client(self, token: bool = True) -> socket.socket:
        sock = socket.create_connection(self.server.address, timeout=5)
        if token:
            sock.sendall(json.dumps({"token": self.token}).encode() + b"\n")
            self.turn()
            assert sock.recv(100) == b'{"ok": true}\n'
        return sock

    def close(self) -> None:
        self.server.close()


def read_lines(sock: socket.socket, count: int, core: Core) -> list[dict[str, object]]:
    data = bytearray()
    sock.setblocking(False)
    for _ in range(200):
        core.turn(1)
        try:
            data += sock.recv(1 << 20)
        except BlockingIOError:
            pass
        if data.count(b"\n") >= count:
            break
    sock.setblocking(True)
    return [json.loads(line) for line in bytes(data).splitlines()]


def test_a_held_client_waits_and_its_next_lines_are_answered_after_release() -> None:
    core = Core()
    try:
        sock = core.client()
        sock.sendall(b'{"op": "hold"}\n{"op": "after"}\n')
        core.turn()
        assert [r.get("op") for r in core.seen] == ["hold"]  # the next line waits
        (conn,) = core.server.connections.values()
        core.server.send(conn, {"held": "answered"})
        core.server.release(conn)
        assert read_lines(sock, 2, core) == [{"held": "answered"}, {"echo": "after"}]
        sock.close()
    finally:
        core.close()


def test_a_client_that_does_not_read_is_dropped_with_a_log_line() -> None:
    core = Core(max_outbox=64 * 1024)
    try:
        sock = core.client()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = b'{"op": "' + b"x" * 30_000 + b'"}\n'  # a reply of 30 kB each
        pending = bytearray()
        sock.setblocking(False)
        for _ in range(3000):  # up to 90 MB of replies asked for, none read
            pending += request
            try:
                del pending[: sock.send(pending)]
            except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                pass
            core.turn(1)
            if not core.server.connections:
                break
        assert not core.server.connections
        assert any("does not read its replies" in line for line in core.logged), core.logged
    finally:
        sock.close()
        core.close()


def test_a_handler_bug_is_answered_and_logged_and_the_port_goes_on() -> None:
    core = Core()
    try:
        sock = core.client()
        sock.sendall(b'{"op": "bug"}\n{"op": "next"}\n')
        replies = read_lines(sock, 2, core)
        assert replies[0]["ok"] is False and "internal error" in str(replies[0]["error"])
        assert replies[1] == {"echo": "next"}
        assert any("KeyError" in line for line in core.logged)
        sock.close()
    finally:
        core.close()


def test_a_connection_that_presents_no_token_in_time_is_closed() -> None:
    core = Core(hello_timeout=5.0)
    try:
        sock = core.client(token=False)
        core.turn(2)
        assert core.server.connections  # still waiting for its token
        core.now = 5.0
        core.turn(2)
        assert not core.server.connections
        assert json.loads(sock.makefile("rb").readline()) == REFUSED
        sock.close()
    finally:
        core.close()


def test_the_connection_limit_turns_extras_away_with_one_line() -> None:
    core = Core(max_clients=2)
    try:
        kept = [core.client(), core.client()]
        extra = socket.create_connection(core.server.address, timeout=5)
        core.turn()
        assert json.loads(extra.makefile("rb").readline()) == BUSY
        assert len(core.server.connections) == 2
        for sock in [*kept, extra]:
            sock.close()
    finally:
        core.close()
