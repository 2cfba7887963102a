"""System test: ``msr sil`` / ``msr campaign`` end to end, as an operator runs them: the
simulator, the three nodes and the ground station as processes, the campaign procedure through
the scripting API, and the run folder it leaves.
"""

from __future__ import annotations

import json

import pytest

from ground_tools.api import GroundError
from ground_tools.campaign import SCENARIOS, chain_ok, parse_fault
from tests.system.operator import msr


def test_a_short_campaign_carries_every_tube_into_the_released_ees(tmp_path):
    runs = tmp_path / "runs"
    result = msr("campaign", "--tubes", "2", "--runs-dir", str(runs), "--seed", "7",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK:" in result.stdout and "campaign: complete" in result.stdout
    latest = runs / "latest"
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["ok"] is True and summary["seed"] == 7 and summary["ees_released"]
    assert summary["wall_seconds"] > 0 and summary["sim_seconds"] > 3600
    assert len(summary["tubes_detail"]) == 2
    for tube in summary["tubes_detail"]:
        assert tube["final_location"] == "ees" and tube["chain_ok"]
    # chain_ok from the ground's ledger (telemetry only), equal to the truth tube by tube
    assert summary["chain_ok"] is True and summary["custody"]["differences"] == []
    for tube in summary["tubes_detail"]:
        assert tube["ledger"]["ledger"] == tube["ledger"]["truth"] == [
            "depot", "gripper", "os_slot", "in_mav", "in_orbit", "captured",
            "primary_containment_vessel", "ees",
        ]  # fmt: skip
    assert "custody by the ground's ledger: intact" in result.stdout
    # the three-dimensional ascent reached the bench's target orbit within its tolerance (0057)
    ascent = summary["ascent"]
    assert ascent["within"] is True and ascent["misses"] == []
    for element in ("periapsis_km", "apoapsis_km", "inclination_deg"):
        assert abs(ascent["error"][element]) <= ascent["target"]["tolerance"][element]
    assert ": within the target" in result.stdout and "ascent: OS released into" in result.stdout
    # the orientation image and the manifests came down whole by CFDP (0056)
    whole = {f["name"] for f in summary["files"] if f["ok"]}
    assert "manifest.csv" in whole and any(n.startswith("orient-") for n in whole)
    assert (latest / "archive.sqlite").exists() and (latest / "bench.toml").exists()
    assert {p.name for p in (latest / "logs").iterdir()} >= {"lander.log", "mav.log",
                                                           "orbiter.log"}  # fmt: skip
    assert list((latest / "captures").glob("*.pcap"))


def test_custody_chains_are_checked_step_by_step():
    steps = ["depot", "gripper", "os_slot", "in_mav", "in_orbit", "captured",
             "primary_containment_vessel", "ees"]  # fmt: skip
    chain = [{"location": s} for s in steps]
    assert chain_ok(chain)
    detour = [*chain[:2], {"location": "ground_near_lander"}, {"location": "gripper"}, *chain[2:]]
    assert chain_ok(detour)
    assert not chain_ok(chain[:-1])  # never reached the EES
    assert not chain_ok([chain[0], *chain[3:]])  # never seated
    assert not chain_ok([chain[1], *chain[1:]])  # not from a source


def test_fault_specs_read_or_are_refused_with_the_expected_form():
    assert parse_fault("sta_arm.gripper:grasp_slip@400+30") == {
        "at": 400.0, "target": "sta_arm.gripper", "kind": "grasp_slip", "duration": 30.0,
    }  # fmt: skip
    assert parse_fault("os_container.slots:not_seated,index=3")["params"] == {"index": 3}
    assert parse_fault("link:lander:blackout@600+60,direction=down") == {  # a space link's
        "at": 600.0, "target": "link:lander", "kind": "blackout", "duration": 60.0,
        "params": {"direction": "down"},
    }  # fmt: skip
    for bad in ("grasp_slip", "sta_arm:", "sta_arm:stall@soon", "sta_arm:stall,index",
                "sta_arm:stall@-5"):  # fmt: skip
        with pytest.raises(GroundError, match="fault"):
            parse_fault(bad)


def test_bad_campaign_arguments_are_one_line_errors(tmp_path):
    result = msr("campaign", "--tubes", "0", "--runs-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--tubes 0" in result.stderr
    result = msr("campaign", "--fault", "nonsense", "--runs-dir", str(tmp_path),
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "TARGET:KIND" in result.stderr
    result = msr("campaign", "--fault", "sta_arm:explode", "--runs-dir", str(tmp_path),
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "explode" in result.stderr


def test_msr_without_a_command_is_a_one_line_usage_error(tmp_path):
    result = msr(cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    result = msr("fly-to-mars", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'fly-to-mars'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_scenarios_are_listed_and_an_unknown_one_is_a_one_line_error(tmp_path):
    listed = msr("campaign", "--list-scenarios", cwd=tmp_path)
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == list(SCENARIOS) and "pyro_reply_lost" in names
    result = msr("campaign", "--scenario", "moon_landing", "--runs-dir", str(tmp_path),
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--scenario 'moon_landing': not a scenario" in result.stderr


def test_a_bench_reset_without_a_node_is_a_one_line_error(tmp_path):
    result = msr("bench", "reset", "--run-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "name the node to reset" in result.stderr
