"""Emulated lines at their baud rate (issue 18, decision 0033), seen from outside the simulator
process: a client keeps a board's serial line, then a node's space link, busier than the line
can carry, in lockstep, and the simulator's own captures (stamped in simulated time) show what
the line let through by each moment: never more than its rate allows, 10 bits an octet, plus
one tick of credit. On the wall clock, a board served alone (as a stand-in board is) keeps to
its rate the same way, by its host's clock."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hal.bench import DEFAULT_EPOCH, default_bench_path
from hal.links import Link, open_link
from hal.links.channel import PacketChannel
from hal.links.pcap import PcapReader
from hal.links.timing import TimingClient, timing_channel
from hal.protocol.devices import icd as common
from hal.protocol.devices import igloo
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.tc_frame import TcFrame
from sim_hardware.devices.igloo import Igloo
from sim_hardware.host import PtyHost

TICK = 0.1  # the default bench's tick: a line's credit
UNTIL = 5.0  # simulated seconds of saturation


class Simulator:
    """``python -m sim_hardware`` on the default bench, with the test as its participants."""

    def __init__(self, run_dir: Path, participants: tuple[str, ...], bench: str) -> None:
        self.run_dir = run_dir
        bench_file = run_dir.parent / f"{run_dir.name}.toml"
        bench_file.write_text(bench, encoding="utf-8")
        args = [sys.executable, "-m", "sim_hardware", "--bench", str(bench_file), "--run-dir",
                str(run_dir), "--register-timeout", "10", "--until", str(UNTIL)]  # fmt: skip
        for name in participants:
            args += ["--participant", name]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        first = json.loads(self.proc.stdout.readline())
        assert "ports" in first, first
        self.ports: dict[str, Any] = json.loads(Path(first["ports"]).read_text())
        self.links: list[Link] = []

    def open(self, path: str) -> Link:
        link = open_link(path)
        self.links.append(link)
        return link

    def participant(self, name: str) -> TimingClient:
        client = TimingClient(timing_channel(self.open(self.ports["timing"][name])), name)
        client.register()
        return client

    def stats(self) -> dict[str, Any]:
        """Wait for the end (``--until``); the statistics it printed."""
        out, _ = self.proc.communicate(timeout=60)
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert "stats" in lines[-1], lines[-1]
        return lines[-1]["stats"]

    def close(self) -> None:
        for link in self.links:
            link.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def start(*participants: str, bench: str | None = None) -> Simulator:
        text = bench or default_bench_path().read_text(encoding="utf-8")
        sim = Simulator(tmp_path / f"run{len(started)}", participants, text)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.close()


def run_cycles(clients: list[TimingClient], each: Callable[[float], None]) -> None:
    """Every participant's cycles until the simulator stops them, ``each(t)`` in every one."""
    while True:
        ticks = [client.wait_tick(10.0) for client in clients]
        if None in ticks:
            assert all(tick is None for tick in ticks), "only some participants were stopped"
            return
        assert len({tick.time_us for tick in ticks if tick is not None}) == 1
        each(ticks[0].time)  # type: ignore[union-attr]
        for client in clients:
            client.done()


def carried_by(capture: Path) -> list[tuple[float, int]]:
    """(simulated time, octets the line had carried by then) at each record of a capture (a
    bench's stamps are the mission epoch plus simulated time, decision 0042; a bare host's,
    its clock)."""
    total, out, epoch = 0, [], DEFAULT_EPOCH.timestamp()
    with PcapReader(capture) as records:
        for stamp, frame in records:
            total += len(frame)
            out.append((round(stamp - epoch, 6) if stamp >= epoch else stamp, total))
    return out


def assert_at_most_the_line_rate(carried: list[tuple[float, int]], baud: int) -> None:
    rate = baud / 10  # octets per second: start bit, 8 data bits, stop bit
    for stamp, total in carried:
        assert total <= rate * stamp + rate * TICK, f"{total} octets by t = {stamp} s"


def test_a_board_line_saturated_with_requests_carries_at_most_its_baud_rate(simulator):
    sim = simulator("lander")
    lander = sim.participant("lander")
    line = sim.open(sim.ports["boards"]["igloo"]["path"])
    lander.watch(line)  # the simulator takes in every request within its cycle
    board = PacketChannel(line)
    heaters = igloo.BOARD.device("heaters").apid
    sent = 0
    read_by: dict[float, int] = {}  # what the tty held at the start of each cycle, in all
    total = 0

    def cycle(t: float) -> None:
        nonlocal sent, total
        while chunk := line.read(65536, 0):
            total += len(chunk)
        read_by[t] = total
        # ten status reads a tick: 2330 octets of replies for a 1152-octet tick of line
        requests = [PusTc(heaters, common.SERVICE_HK, common.SUBTYPE_REPORT_NOW, b"",
                          seq_count=(sent + n) & 0x3FFF) for n in range(10)]  # fmt: skip
        board.send_many(requests)
        sent += len(requests)

    run_cycles([lander], cycle)
    stats = sim.stats()
    replies = carried_by(sim.run_dir / "captures" / "sim-igloo.tx.pcap")
    assert_at_most_the_line_rate(replies, 115200)
    assert replies[-1][1] >= 11520 * (UNTIL - 0.5)  # saturated: the line carried its rate
    assert_at_most_the_line_rate(carried_by(sim.run_dir / "captures" / "sim-igloo.rx.pcap"), 115200)
    line_stats = stats["boards"]["igloo"]["line"]
    assert line_stats["from_board"]["applied"]["throttled"] > 0
    assert line_stats["from_board"]["bytes_out"] == replies[-1][1]  # what the path let out
    # once the line is backed up every reply leaves at a tick, before the tick is sent: the
    # cycle finds on the tty exactly what the line let through by its time, in every run
    for t, octets in read_by.items():
        if t >= 0.5:
            assert octets == max(n for stamp, n in replies if stamp <= t + 1e-9), t


def test_a_space_link_saturated_with_frames_carries_at_most_its_radio_rate(simulator):
    bench = default_bench_path().read_text(encoding="utf-8")
    head, _, tail = bench.partition("[nodes.lander]\n")
    sim = simulator("lander", "ground", bench=f"{head}[nodes.lander]\nradio_baud = 57600\n{tail}")
    lander, ground = sim.participant("lander"), sim.participant("ground")
    station = sim.open(sim.ports["space_links"]["lander"]["ground"])
    radio = sim.open(sim.ports["space_links"]["lander"]["radio"])
    ground.watch(station)
    frame = ASM + TcFrame(0x2A1, 0, bytes(900)).pack()  # 911 octets: 576 fit in a tick
    got = bytearray()

    def cycle(t: float) -> None:
        station.write(frame * 2)  # twice the radio's rate, every tick
        got.extend(radio.read(65536, 0))

    run_cycles([lander, ground], cycle)
    stats = sim.stats()
    delivered = carried_by(sim.run_dir / "captures" / "space-lander-radio.tx.pcap")
    assert_at_most_the_line_rate(delivered, 57600)
    assert delivered[-1][1] >= 5760 * (UNTIL - 0.5)  # saturated: the link carried its rate
    assert stats["space_links"]["lander"]["up"]["applied"]["throttled"] > 0
    assert got.count(frame) >= 20 and got.startswith(frame)  # whole frames, in order


def test_a_board_served_on_the_wall_clock_carries_at_most_its_baud_rate(tmp_path):
    start = time.monotonic()
    host = PtyHost([Igloo(random.Random(1))], lambda: time.monotonic() - start,
                   capture_dir=str(tmp_path), bauds={"igloo": 115200})  # fmt: skip
    stop = threading.Event()
    server = threading.Thread(
        target=lambda: [host.serve_once(0.05) for _ in iter(stop.is_set, True)]
    )
    server.start()
    try:
        heaters = igloo.BOARD.device("heaters").apid
        with PacketChannel(open_link(host.boards[0].path)) as board:
            sent = replies = 0
            while replies < 100:  # eight requests outstanding: the replies queue on the line
                while sent - replies < 8:
                    board.send(PusTc(heaters, common.SERVICE_HK, common.SUBTYPE_REPORT_NOW, b"",
                                     seq_count=sent))  # fmt: skip
                    sent += 1
                assert board.receive(5.0) is not None, "the board stopped answering"
                replies += 1
    finally:
        stop.set()
        server.join(10)
        host.close()
    carried = carried_by(tmp_path / "sim-igloo.tx.pcap")  # stamped with the host's clock
    assert carried[-1][1] >= 100 * 233
    assert_at_most_the_line_rate(carried, 115200)  # from the host's time 0, a full credit
