"""System test: ``msr sil`` end to end, as an operator runs it, in separate processes.

The simulator is started by command line, the ground side talks to the emulated board through a
real pseudo-terminal, and everything that crossed the wire is in the run folder's captures.
"""

from __future__ import annotations

import json
import subprocess
import sys

from hal.links import PcapReader
from hal.protocol import PusPacket


def run_msr(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ground_tools.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_msr_sil_passes_and_leaves_a_complete_run_folder(tmp_path):
    runs = tmp_path / "runs"
    result = run_msr("sil", "--runs-dir", str(runs), "--seed", "7", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
    latest = runs / "latest"
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["ok"] is True
    assert summary["seed"] == 7
    assert summary["wall_seconds"] > 0 and "sim_seconds" in summary
    assert all(phase["ok"] and phase["answered"] == phase["sent"] for phase in summary["phases"])
    rejects = summary["simulator"]["test_board"]["deframer"]["rejects"]
    assert rejects.get("crc", 0) > 0  # the bit-flipped frames were seen and refused
    assert (latest / "logs" / "sim_hardware.log").exists()

    captures = {p.name for p in (latest / "captures").glob("*.pcap")}
    assert {"ground-test_board.tx.pcap", "ground-test_board.rx.pcap"} <= captures
    assert {"sim-test_board.tx.pcap", "sim-test_board.rx.pcap"} <= captures
    ground_rx = list(PcapReader(latest / "captures" / "ground-test_board.rx.pcap"))
    sim_tx = list(PcapReader(latest / "captures" / "sim-test_board.tx.pcap"))
    assert [f for _, f in ground_rx] == [f for _, f in sim_tx]  # what one sent, the other got
    assert len(ground_rx) == summary["ground_link"]["frames_in"]
    for _, data in ground_rx:
        PusPacket.from_raw(data[4:])


def test_msr_without_a_command_is_a_one_line_usage_error(tmp_path):
    result = run_msr(cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    result = run_msr("fly-to-mars", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'fly-to-mars'" in result.stderr
    assert "Traceback" not in result.stderr
