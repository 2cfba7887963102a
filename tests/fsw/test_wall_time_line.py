"""The wall-clock bench's one time line (decision 0031): a node on the wall clock reads the
simulator's epoch from the port map, and a port map whose epoch is not a number is one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from hal.bench import default_bench_path
from hal.clock import Clock, WallClock


def test_processes_given_one_epoch_read_one_time_line():
    ticks = iter([1000.0, 1000.25, 1003.5])  # one monotonic source, as the host's is
    node = WallClock.since(990.0, source=lambda: next(ticks))
    simulator = WallClock.since(990.0, source=lambda: 1000.0)
    assert isinstance(node, Clock)
    assert node.now() == simulator.now() == 10.0
    assert (node.now(), node.now()) == (10.25, 13.5)


def test_a_node_refuses_a_port_map_whose_epoch_is_not_a_number(tmp_path: Path):
    text = default_bench_path().read_text(encoding="utf-8")
    bench = tmp_path / "wall.toml"
    bench.write_text(re.sub(r'(?m)^clock = "sim"', 'clock = "wall"', text), encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for epoch in ("soon", True, [1.0]):
        (run_dir / "ports.json").write_text(json.dumps({"clock": {"mode": "wall", "epoch": epoch}}))
        node = subprocess.run(
            [sys.executable, "-m", "fsw", "--node", "lander", "--bench", str(bench),
             "--run-dir", str(run_dir)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert node.returncode == 2, node.stderr
        assert node.stderr.count("\n") == 1 and "clock.epoch: not a number" in node.stderr
