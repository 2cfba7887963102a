"""A campaign's report of its faults (decision 0040), as an operator reads it after ``msr
campaign``: every fault injected, by whom, when, whether it took effect, and what the flight
software did. The README's own example is run as the README writes it (with two tubes, in a
scratch runs folder): the grip fails, the held tube slips, the lander reports
``sta.grasp_slip`` and the tube is loaded again from the ground. A fault that meets nothing
is a warning, and a scenario's back-door fault is listed as the scenario's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.system.operator import msr

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_fault() -> str:
    """The ``--fault`` example of the README's campaign section."""
    found = re.search(r"`--fault\s+([^`\s]+)`", README.read_text(encoding="utf-8"))
    assert found, "the README has no `--fault ...` example"
    return found.group(1)


def _campaign(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    """``msr campaign --tubes 2 ARGS`` in a scratch runs folder: its summary and what it
    printed (as in an operator's pipe: no width set, decision 0037)."""
    done = msr("campaign", "--tubes", "2", "--runs-dir", str(tmp_path / "runs"), *args,
               cwd=tmp_path)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    (summary_file,) = [
        f for f in (tmp_path / "runs").glob("*/summary.json") if not f.parent.is_symlink()
    ]
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert done.returncode == 0 and summary["ok"], f"{summary['verdict']}\n{done.stdout}"
    return summary, done.stdout


def _places(tube: dict[str, Any]) -> list[str]:
    return [step["location"] for step in tube["custody_chain"]]


def test_the_readme_fault_example_slips_a_tube_and_the_flight_software_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "")  # no width: under pytest the C environment holds 80
    spec = _readme_fault()
    target, _, rest = spec.partition(":")
    assert (target, rest.split("@")[0]) == ("sta_arm.gripper", "grasp_slip")
    summary, printed = _campaign(tmp_path, "--fault", spec)

    (fault,) = summary["faults"]
    assert (fault["target"], fault["kind"], fault["by"]) == (target, "grasp_slip", "--fault")
    assert fault["node"] == "lander" and fault["started"] == fault["at"]
    assert fault["took_effect"] is True and fault["effects"] >= 1
    assert fault["started"] <= fault["first_effect"] <= fault["ended"]
    names = [event["name"] for event in fault["response"]]
    assert "sta.grasp_slip" in names, names
    slip = next(e for e in fault["response"] if e["name"] == "sta.grasp_slip")
    assert "attempt(s) left" in slip["detail"]  # the lander retries
    assert summary["warnings"] == []

    # the retry: the slipped tube picked up again from the ground and seated
    (slipped,) = [t for t in summary["tubes_detail"] if "ground_near_lander" in _places(t)]
    assert _places(slipped)[:5] == ["depot", "gripper", "ground_near_lander", "gripper",
                                    "os_slot"]  # fmt: skip
    assert all(t["chain_ok"] and t["final_location"] == "ees" for t in summary["tubes_detail"])
    assert f"{target}:grasp_slip" in printed and "sta.grasp_slip" in printed
    assert "yes, at" in printed and "WARNING" not in printed


def test_a_fault_that_meets_nothing_is_a_warning_and_a_scenario_fault_is_the_scenarios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "")
    idle = "sta_arm.gripper:grasp_slip@0+10"  # the gripper holds nothing in the first 10 s
    late = "sta_arm:stall@900000+10"  # after the campaign's end: never starts
    summary, printed = _campaign(tmp_path, "--scenario", "grasp_slip", "--fault", idle,
                                 "--fault", late)  # fmt: skip
    by = {(f["by"], f["target"], f["at"]): f for f in summary["faults"]}
    assert len(summary["faults"]) == 3, summary["faults"]

    unmet = by[("--fault", "sta_arm.gripper", 0.0)]
    assert unmet["started"] == 0.0 and unmet["took_effect"] is False
    assert unmet["response"] == []
    never = by[("--fault", "sta_arm", 900000.0)]
    assert never["started"] is None

    (scenario,) = [f for f in summary["faults"] if f["by"] == "scenario"]
    assert (scenario["target"], scenario["kind"]) == ("sta_arm.gripper", "grasp_slip")
    assert scenario["took_effect"] is True
    assert "sta.grasp_slip" in [e["name"] for e in scenario["response"]]

    assert len(summary["warnings"]) == 2
    assert any("grasp_slip @0 s +10 s (--fault) never took effect" in w
               for w in summary["warnings"])  # fmt: skip
    assert any("stall @900000 s +10 s (--fault) never started" in w for w in summary["warnings"])
    assert printed.count("WARNING") == 2 and "never took effect" in printed
