"""The nominal campaign as a benchmark: wall seconds, simulated seconds, their ratio, and the
peak memory of every process of the bench together.

``msr campaign`` runs in a child process; every 0.2 s the resident memory (``VmRSS`` from
``/proc``) of it and all its descendants (the simulator, the three nodes, the ground station)
is summed; the peak of that sum is the figure. The campaign's own ``summary.json`` gives the
simulated and wall seconds, and the ticks on the ground's timing link (its capture) the lockstep's
rounds: the campaign's wall time per round is the lockstep's cost per round with everything it
does in a real run (issue 18).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SAMPLE = 0.2


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out.setdefault(int(fields[1]), []).append(int(entry.name))
    return out


def _rss_tree(root: int) -> int:
    """Resident bytes of ``root`` and every descendant."""
    children = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run(tubes: int = 30) -> dict[str, Any]:
    """Run the nominal campaign once and measure it."""
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "ground_tools.cli", "campaign", "--tubes", str(tubes),
                   "--runs-dir", runs]  # fmt: skip
        start = time.monotonic()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _rss_tree(child.pid))
            time.sleep(SAMPLE)
        wall = time.monotonic() - start
        summaries = sorted(Path(runs).glob("*/summary.json"))
        summary = json.loads(summaries[-1].read_text()) if summaries else {}
        rounds = _rounds(summaries[-1].parent) if summaries else 0
    sim = float(summary.get("sim_seconds", 0.0))
    campaign_wall = float(summary.get("wall_seconds", wall))
    return {
        "ok": bool(summary.get("ok")),
        "tubes": tubes,
        "sim_seconds": sim,
        "wall_seconds": float(summary.get("wall_seconds", wall)),
        "wall_seconds_with_start_and_stop": wall,
        "sim_per_wall": sim / wall if wall > 0 else 0.0,
        "peak_memory_bytes": peak,
        "peak_memory_mib": peak / (1 << 20),
        "exit_code": child.returncode,
        "rounds": rounds,
        "ms_per_round": campaign_wall * 1e3 / rounds if rounds else 0.0,
    }


def _rounds(run_dir: Path) -> int:
    """The lockstep's rounds: the ticks the simulator sent the ground (0: no capture)."""
    from hal.errors import HalError
    from hal.links.pcap import PcapReader

    try:
        with PcapReader(run_dir / "captures" / "timing-ground.tx.pcap") as ticks:
            return sum(1 for _ in ticks)
    except (HalError, OSError):
        return 0
