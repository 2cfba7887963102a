"""The nominal campaign as a benchmark: wall seconds, simulated seconds, their ratio, and the
peak memory of every process of the bench together.

``msr campaign`` runs in a child process; every 0.2 s the resident memory (``VmRSS`` from
``/proc``) of it and all its descendants (the simulator, the three nodes, the ground station)
is summed; the peak of that sum is the figure. The campaign's own ``summary.json`` gives the
simulated and wall seconds, and the ticks on the ground's timing link (its capture) the lockstep's
rounds: the campaign's wall time per round is the lockstep's cost per round with everything it
does in a real run (issue 18). Every process's CPU (utime + stime from ``/proc/PID/stat``, the
last sample before it ended) is summed per role (the simulator, each node, the station, the
procedure: ``msr campaign`` itself) and divided by the rounds.

``before_and_after`` runs the same campaign twice in one bench run: from the commit before the
faster-campaign work (decision 0050, :data:`BASELINE_COMMIT`, checked out in a temporary ``git
worktree`` and run with the same interpreter), then from this checkout. Without that commit
(a shallow clone, no git) the "before" figure is reported unavailable, never made up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SAMPLE = 0.2
BASELINE_COMMIT = "a0ffe3115529aea22c0a9a1874b8f477af8bc53a"
"""The commit before the faster-campaign work (decision 0050): the "before" of the figures."""
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fsw", "hal", "sim_hardware", "ground_tools")
"""The project's packages (their bytecode compiled as ``make bytecode`` does)."""


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


def _rss_tree(root: int, cpu: dict[int, tuple[str, float]] | None = None) -> int:
    """Resident bytes of ``root`` and every descendant; with ``cpu``, each one's role and CPU
    seconds so far (utime + stime from ``/proc/PID/stat``) recorded there by pid."""
    children = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            if cpu is not None:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                seconds = (int(fields[11]) + int(fields[12])) / TICKS
                role = cpu[pid][0] if pid in cpu else _role(pid, root)
                cpu[pid] = (role, seconds)
        except (OSError, IndexError, ValueError):
            continue
    return total


TICKS = os.sysconf("SC_CLK_TCK")


def _role(pid: int, root: int) -> str:
    """What a process of the bench is: ``procedure`` (the ``msr campaign`` client itself),
    ``simulator``, ``station``, ``node:NAME``, or its command name."""
    if pid == root:
        return "procedure"
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in argv if a]
    if "fsw" in words and "--node" in words:
        return "node:" + words[words.index("--node") + 1]
    for word in words:
        if word.startswith("sim_hardware"):
            return "simulator"
        if "station" in word:
            return "station"
    return " ".join(words[:3])


def run(tubes: int = 30, root: Path | None = None) -> dict[str, Any]:
    """Run the nominal campaign once and measure it; ``root``: the source tree to run it from
    (by default this one)."""
    env = None
    if root is not None:
        env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "ground_tools.cli", "campaign", "--tubes", str(tubes),
                   "--runs-dir", runs]  # fmt: skip
        start = time.monotonic()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 cwd=root, env=env)  # fmt: skip
        peak = 0
        cpu: dict[int, tuple[str, float]] = {}
        while child.poll() is None:
            peak = max(peak, _rss_tree(child.pid, cpu))
            time.sleep(SAMPLE)
        wall = time.monotonic() - start
        summaries = sorted(Path(runs).glob("*/summary.json"))
        summary = json.loads(summaries[-1].read_text()) if summaries else {}
        rounds = _rounds(summaries[-1].parent) if summaries else 0
    by_role = _by_role(cpu)
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
        "cpu_seconds": by_role,
        "cpu_ms_per_round": {role: s * 1e3 / max(rounds, 1) for role, s in by_role.items()},
    }


def before_and_after(tubes: int = 30) -> dict[str, Any]:
    """The campaign from :data:`BASELINE_COMMIT` (``before``, ``None`` with ``why`` when that
    commit is not at hand) and from this checkout (``after``), one after the other."""
    out: dict[str, Any] = {"baseline_commit": BASELINE_COMMIT, "before": None, "why": ""}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        made = subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), BASELINE_COMMIT],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            out["why"] = (made.stderr.strip().splitlines() or ["git worktree add failed"])[-1]
        else:
            try:  # compiled as make compiles this checkout: the same start cost for both
                subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=tree,
                               capture_output=True, check=False)  # fmt: skip
                out["before"] = run(tubes, root=tree)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(tree)], capture_output=True, check=False)  # fmt: skip
    out["after"] = run(tubes)
    return out


def _by_role(cpu: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per role (the last sample of each process: up to ``SAMPLE`` before it ended)."""
    out: dict[str, float] = {}
    for role, seconds in cpu.values():
        out[role] = out.get(role, 0.0) + seconds
    return dict(sorted(out.items()))


def _rounds(run_dir: Path) -> int:
    """The lockstep's rounds: the highest tick number any participant was sent (its timing
    link's capture; a participant may sit out a round, decision 0050; 0: no capture)."""
    from hal.errors import HalError
    from hal.links.pcap import PcapReader
    from hal.protocol.framing import ASM_SIZE
    from hal.protocol.timing import Tick, decode_raw

    highest = 0
    for path in sorted((run_dir / "captures").glob("*timing*")):
        if not (path.name.startswith("timing-") and path.name.endswith(".tx.pcap")) and not (
            path.name.startswith("fsw-") and path.name.endswith("-timing.rx.pcap")
        ):
            continue
        try:
            with PcapReader(path) as records:
                for _, raw in records:
                    try:
                        message = decode_raw(raw[ASM_SIZE:])
                    except HalError:
                        continue
                    if isinstance(message, Tick):
                        highest = max(highest, message.number)
        except (HalError, OSError):
            continue
    return highest
