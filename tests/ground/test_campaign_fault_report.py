"""The campaign summary's faults (decision 0040), assembled from a fault report and an archive
without processes: who put each fault in (the bench file's own ``[[faults]]`` first, then
``--fault``'s; a back-door fault is the scenario's in a scenario run, the back door's in a
nominal one), the faulted node's events as its response (from its first effect; none for a
fault that never took effect), and a warning for every fault that never started or never took
effect. The summary and its printout name them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ground_tools.archive import Archive
from ground_tools.campaign import (
    DEFAULT_BENCH,
    MAX_RESPONSE,
    RESPONSE_AFTER,
    SCENARIOS,
    _add_faults,
    print_summary,
)  # fmt: skip


def _fault(id_: int, target: str, kind: str, origin: str, at: float, **rest: Any) -> dict[str, Any]:
    entry = {"id": id_, "target": target, "kind": kind, "at": at, "duration": 30.0,
             "params": {}, "origin": origin, "started": at, "ended": at + 30.0,
             "ended_how": "ended", "effects": 1, "first_effect": at + 0.1}  # fmt: skip
    return {**entry, **rest}


NEVER_STARTED: dict[str, Any] = {
    "started": None, "ended": None, "effects": 0, "first_effect": None, "ended_how": None
}  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    shutil.copy(DEFAULT_BENCH, tmp_path / "bench.toml")
    archive = Archive(tmp_path / "archive.sqlite")
    archive.add_event("lander", 100.0, 1, "modes.changed", "info", "before the fault")
    archive.add_event("lander", 466.1, 2, "sta.grasp_slip", "medium", "tube 231 slipped")
    archive.add_event("mav", 466.2, 3, "core.boot", "info", "another node")
    archive.add_event("lander", 480.0 + RESPONSE_AFTER + 1, 4, "late", "info", "too late")
    for i in range(MAX_RESPONSE + 5):
        archive.add_event("orbiter", 2000.0 + i, 5, "cop.alert", "low", f"alert {i}")
    archive.close()
    return tmp_path


def _summary(asked: int) -> dict[str, Any]:
    return {"faults": [{}] * asked, "sim_seconds": 8000.0}


def test_each_fault_says_who_put_it_in_whether_it_took_effect_and_the_response(run_dir):
    report = [
        _fault(1, "igloo.heaters", "heater_zone_failure", "schedule", 10.0, effects=5),
        _fault(2, "sta_arm.gripper", "grasp_slip", "schedule", 450.0),
        _fault(3, "sta_arm.gripper", "grasp_slip", "schedule", 0.0, effects=0, first_effect=None),
        _fault(4, "link:orbiter", "blackout", "inject", 1990.0, effects=None, first_effect=None),
        _fault(5, "sta_arm", "stall", "schedule", 9e5, **NEVER_STARTED),
    ]
    summary = _summary(asked=3)  # the bench file held one; --fault gave three
    _add_faults(summary, run_dir, report, 3, SCENARIOS["nominal"])
    bench, slip, empty, link, late = summary["faults"]

    assert [f["by"] for f in summary["faults"]] == [
        "bench file", "--fault", "--fault", "back door", "--fault"
    ]  # fmt: skip
    assert (slip["node"], slip["took_effect"], slip["first_effect"]) == ("lander", True, 450.1)
    assert [e["name"] for e in slip["response"]] == ["sta.grasp_slip"]  # its node, its window
    assert bench["node"] == "lander"
    assert empty["took_effect"] is False and empty["response"] == []
    assert link["node"] == "orbiter" and link["took_effect"] is None
    assert len(link["response"]) == MAX_RESPONSE and link["response_more"] == 5
    assert late["started"] is None
    assert summary["warnings"] == [
        "fault 3 sta_arm.gripper:grasp_slip @0 s +30 s (--fault) never took effect: the "
        "device never met it while it lasted (0 s to 30 s)",
        "fault 5 sta_arm:stall @900000 s +30 s (--fault) never started (the run ended at "
        "8000 s simulated)",
    ]


def test_a_back_door_fault_in_a_scenario_run_is_the_scenarios(run_dir):
    summary = _summary(asked=0)
    report = [_fault(1, "sta_arm.gripper", "grasp_slip", "inject", 450.0)]
    _add_faults(summary, run_dir, report, 0, SCENARIOS["grasp_slip"])
    assert [f["by"] for f in summary["faults"]] == ["scenario"]
    assert summary["warnings"] == []


def test_an_unreadable_report_lists_the_faults_as_asked_with_a_warning(run_dir):
    summary = {"faults": [{"at": 450.0, "target": "sta_arm.gripper", "kind": "grasp_slip"}],
               "sim_seconds": 10.0}  # fmt: skip
    _add_faults(summary, run_dir, None, 1, SCENARIOS["nominal"])
    assert summary["faults"][0]["by"] == "--fault" and summary["faults"][0]["took_effect"] is None
    assert "fault report could not be read" in summary["warnings"][0]


def test_the_printout_names_every_fault_and_warning(run_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    report = [
        _fault(1, "sta_arm.gripper", "grasp_slip", "schedule", 450.0),
        _fault(2, "sta_arm.gripper", "grasp_slip", "schedule", 0.0, effects=0, first_effect=None),
    ]
    summary = {**_summary(asked=2), "scenario": "nominal", "tubes_loaded": 0, "seed": 1,
               "tubes_detail": [], "ok": True, "verdict": "PASS", "wall_seconds": 1.0,
               "ends_in": "ees", "ees_released": True, "run_dir": str(run_dir)}  # fmt: skip
    _add_faults(summary, run_dir, report, 2, SCENARIOS["nominal"])
    print_summary(summary)
    out = capsys.readouterr().out
    assert "sta_arm.gripper:grasp_slip" in out and "yes, at 450.1 s" in out
    assert "sta.grasp_slip (466.1 s)" in out
    assert out.count("WARNING") == 1 and "never took effect" in out
