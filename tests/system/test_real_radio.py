"""System test: a node whose radio is real hardware, on a bench where everything else is
emulated. A real radio is modelled by a cable: two serial ports joined by a relay, as a
USB-serial radio and the ground equipment's port would be. The bench names the node's end
(``radio``) and the ground station's end (``ground``); ``msr bench up`` starts the node on the
radio's port and the station on the ground end, and the operator commands the lander through
it as through an emulated link.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ground_tools.api import GroundError, Session, connect
from ground_tools.bench_ctl import bench_down, bench_up
from hal.bench import default_bench_path


class Cable:
    """Two pseudo-terminals joined back to back by a thread: what one end's owner writes, the
    other end's owner reads (a null-modem cable between a radio and the ground equipment)."""

    def __init__(self) -> None:
        self._pairs = [os.openpty(), os.openpty()]
        for _, slave in self._pairs:
            tty.setraw(slave)
        self.ends = [os.ttyname(slave) for _, slave in self._pairs]
        self.carried = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        (a, _), (b, _) = self._pairs
        other = {a: b, b: a}
        while not self._stop.is_set():
            readable, _, _ = select.select([a, b], [], [], 0.05)
            for fd in readable:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(other[fd], data)
                self.carried += len(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for pair in self._pairs:
            for fd in pair:
                os.close(fd)


@pytest.fixture
def cable() -> Iterator[Cable]:
    c = Cable()
    yield c
    c.close()


def bench_with_a_real_lander_radio(tmp_path: Path, radio: str, ground: str | None) -> Path:
    text = default_bench_path().read_text(encoding="utf-8")
    lander = '[nodes.lander]\nradio = "sim"\n'
    assert lander in text
    real = f'[nodes.lander]\nradio = "{radio}"\nradio_baud = 230400\n'
    if ground is not None:
        real += f'ground = "{ground}"\n'
    assert 'clock = "sim"' in text
    text = text.replace('clock = "sim"', 'clock = "wall"', 1)  # a real radio is never paused
    path = tmp_path / "bench.toml"
    path.write_text(text.replace(lander, real), encoding="utf-8")
    return path


@contextmanager
def operating(tmp_path: Path, radio: str, ground: str | None) -> Iterator[tuple[Path, Session]]:
    """The bench with the lander's real radio brought up at real-time pace, and a session on
    its station; brought down afterwards whatever happened."""
    bench = bench_with_a_real_lander_radio(tmp_path, radio, ground)
    up = bench_up(bench, runs_dir=tmp_path / "runs", pace="1", run_id="hil")
    try:
        with connect(up.run_dir) as ops:
            yield up.run_dir, ops
    finally:
        bench_down(up.run_dir)


def test_the_ground_commands_a_node_through_its_real_radio(tmp_path, cable):
    radio, ground = cable.ends
    with operating(tmp_path, radio, ground) as (run_dir, ops):
        ops.cmd("lander core.ping", timeout=30)
        ops.cmd("orbiter core.ping", timeout=30)  # an emulated link beside it
        ops.wait_check("lander.core.status.accepted >= 1", timeout=30)
        ports = (run_dir / "ports.json").read_text(encoding="utf-8")
        assert f'"ground": "{ground}"' in ports
    assert cable.carried > 0  # the lander's frames went through the cable, both ways
    captures = {p.name for p in (run_dir / "captures").glob("*.pcap")}
    assert any(name.startswith("ground-lander") for name in captures)


def test_a_real_radio_without_a_ground_end_is_named_when_commanded(tmp_path, cable):
    radio, _ = cable.ends
    with operating(tmp_path, radio, None) as (_, ops):
        with pytest.raises(GroundError, match=r"lander: a real radio with no ground end"):
            ops.cmd("lander core.ping", timeout=30)
        ops.cmd("mav core.ping", timeout=30)  # the others are still commanded
