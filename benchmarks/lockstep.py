"""The lockstep's cost per round, and where it goes (issue 18).

A real bench without the ground: the simulator of the default bench runs in this process (so
it can be profiled), its three nodes are the real flight software (``python -m fsw``), each
its own process on its timing link, emulated boards and radio, as ``msr bench up`` starts
them. After a warm-up (the nodes boot and settle), ``ROUNDS`` rounds are timed without the
profiler (wall milliseconds per round, and the simulator's own CPU per round), then as many
again under ``cProfile``, whose top entries (by own time and by cumulative time) are written
beside ``runs/bench.json``. Waiting in ``select`` is the simulator waiting for the nodes'
cycles and the kernel's ptys; the rest is the simulator's own work per round.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROUNDS: Final = 1000
WARM_UP: Final = 100
"""Rounds run before timing: the nodes boot, arm their radios and settle."""
REGISTER_TIMEOUT: Final = 60.0
WAIT_FUNCTIONS: Final = ("select.select", "select.poll", "method poll of")
TOP: Final = 30


def _waiting(stats: pstats.Stats) -> float:
    """Seconds of own time spent blocked in ``select``/``poll`` (waiting for the others)."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    return sum(
        row[2] for (_, _, name), row in table.items() if any(w in name for w in WAIT_FUNCTIONS)
    )


def run(rounds: int = ROUNDS, profile_path: Path | None = None) -> dict[str, Any]:
    """Time ``rounds`` rounds plain and ``rounds`` profiled; write the profile's top entries to
    ``profile_path`` (when given)."""
    from hal.bench import default_bench_path, load_bench, new_key_file_text
    from hal.store import NONCE_SEED_FILE, load_or_create_secret
    from sim_hardware.simulator import Simulator

    bench_path = default_bench_path()
    bench = load_bench(bench_path)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        (run_dir / "logs").mkdir(parents=True)
        key_file = bench.key_file(run_dir)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new_key_file_text(spec.spi for spec in bench.nodes.values()))
        load_or_create_secret(run_dir / NONCE_SEED_FILE)
        sim = Simulator(bench, run_dir)
        nodes: list[subprocess.Popen[bytes]] = []
        try:
            sim.write_port_map()
            for node in bench.nodes:
                with open(run_dir / "logs" / f"{node}.out", "wb") as out:
                    nodes.append(subprocess.Popen(
                        [sys.executable, "-m", "fsw", "--node", node, "--bench", str(bench_path),
                         "--run-dir", str(run_dir)],
                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    ))  # fmt: skip
            lockstep = sim.lockstep
            if lockstep is None:  # pragma: no cover - the default bench has nodes
                raise RuntimeError("the default bench has no lockstep")
            lockstep.register(REGISTER_TIMEOUT)
            lockstep.run(rounds=WARM_UP)
            t0, cpu0, sim0 = time.perf_counter(), time.process_time(), sim.now
            lockstep.run(rounds=rounds)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            simulated = sim.now - sim0
            profiler = cProfile.Profile()
            t1 = time.perf_counter()
            profiler.enable()
            lockstep.run(rounds=rounds)
            profiler.disable()
            profiled_wall = time.perf_counter() - t1
            lockstep.stop()
        finally:
            for proc in nodes:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            sim.close()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    waiting = _waiting(stats)
    if profile_path is not None:
        text = io.StringIO()
        text.write(
            f"The lockstep, {rounds} rounds of the default bench's three nodes under cProfile: "
            f"{profiled_wall * 1e3 / rounds:.2f} ms a round ({wall * 1e3 / rounds:.2f} ms "
            f"without the profiler); {waiting / total:.0%} of the profiled time blocked in "
            "select/poll.\n\n"
        )
        for order in ("tottime", "cumulative"):
            text.write(f"---- top {TOP} by {order}\n")
            pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(TOP)
        profile_path.parent.mkdir(parents=True, exist_ok=True)
        profile_path.write_text(text.getvalue(), encoding="utf-8")
    return {
        "rounds": rounds,
        "ms_per_round": wall * 1e3 / rounds,
        "simulator_cpu_ms_per_round": cpu * 1e3 / rounds,
        "simulated_seconds": simulated,
        "profiled_ms_per_round": profiled_wall * 1e3 / rounds,
        "profiled_wait_fraction": waiting / total if total else 0.0,
        "profile": str(profile_path) if profile_path is not None else None,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(profile_path=Path("runs") / "bench_lockstep_profile.txt"), indent=2))
