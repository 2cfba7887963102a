"""A live bench for the control-port and access tests of ``tests/security``, and raw clients
of its two control ports (the ground station's and the simulator's back door)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ground_tools.api import Session, connect
from ground_tools.archive import Archive, ArchiveError
from ground_tools.bench_ctl import BenchUp, bench_down, bench_up
from hal.bench import default_bench_path
from hal.control import hello, read_token

HOSTILE = "hostile"
"""The ``source`` every hostile command names: none may reach the command history."""


@contextmanager
def live_bench(runs: Path) -> Iterator[BenchUp]:
    """The default bench, every board emulated, at full speed; brought down whatever happens."""
    up = bench_up(default_bench_path(), runs_dir=runs, pace="fast", run_id="run")
    try:
        yield up
    finally:
        bench_down(up.run_dir)


def station_address(run_dir: Path) -> tuple[str, int]:
    info = json.loads((run_dir / "station.json").read_text(encoding="utf-8"))
    return str(info["host"]), int(info["port"])


def backdoor_address(run_dir: Path) -> tuple[str, int]:
    door = json.loads((run_dir / "ports.json").read_text(encoding="utf-8"))["backdoor"]
    return str(door["host"]), int(door["port"])


def pid(run_dir: Path, name: str) -> int:
    """A bench process's id (``ground``: the station, ``sim_hardware``: the simulator)."""
    return int(json.loads((run_dir / "bench.json").read_text(encoding="utf-8"))["pids"][name])


def rss_kib(process: int) -> int:
    """A process's resident memory now, KiB."""
    for line in Path(f"/proc/{process}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {process}")


def open_fds(process: int) -> int:
    return len(list(Path(f"/proc/{process}/fd").iterdir()))


class LineClient:
    """A raw JSON-line client (no checks of its own, to send what a real client would not)."""

    def __init__(self, address: tuple[str, int], token: str | None, timeout: float = 30.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.stream = self.sock.makefile("rb")
        if token is not None:
            hello(self.sock, token)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ask(self, request: dict[str, Any] | bytes) -> dict[str, Any]:
        line = request if isinstance(request, bytes) else json.dumps(request).encode()
        self.send(line + b"\n")
        return self.reply()

    def reply(self) -> dict[str, Any]:
        line = self.stream.readline()
        assert line, "the server closed the connection"
        return dict(json.loads(line))

    def at_end(self) -> bool:
        """Whether the server has closed the connection (and sent nothing more)."""
        return self.stream.readline() == b""

    def close(self) -> None:
        self.stream.close()
        self.sock.close()

    def __enter__(self) -> LineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def station(run_dir: Path) -> LineClient:
    """An authorised raw client of the station's control port."""
    return LineClient(station_address(run_dir), read_token(run_dir))


def backdoor(run_dir: Path) -> LineClient:
    """An authorised raw client of the simulator's back door."""
    return LineClient(backdoor_address(run_dir), read_token(run_dir))


def transmitted(session: Session) -> dict[str, int]:
    """Frames the station has sent up, per node."""
    return {n: int(v["transmitted"]) for n, v in session.status()["nodes"].items()}


def assert_nothing_done(run_dir: Path, before: dict[str, int]) -> None:
    """Nothing went up to a node since ``before`` (:func:`transmitted`), no command from a
    hostile client is in the command history, and the simulator has no fault."""
    with connect(run_dir, source="security check") as session:
        assert transmitted(session) == before
    with backdoor(run_dir) as door:
        faults = door.ask({"op": "faults"})
        assert faults["ok"] and faults["faults"] == [], faults
    deadline = time.monotonic() + 10.0
    while True:  # the archive is written by the station: read it as it stands
        try:
            with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
                sources = {c.source for c in archive.commands()}
            break
        except ArchiveError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert HOSTILE not in sources, sources


def assert_every_node_answers(run_dir: Path) -> None:
    """The bench still works: a ``core.ping`` to every node completes."""
    with connect(run_dir, source="security check") as session:
        nodes = list(session.status()["nodes"])
        assert nodes
        for node in nodes:
            assert session.cmd(f"{node} core.ping", timeout=60).ok, node
