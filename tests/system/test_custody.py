"""System test: a tube falls out of the OS in flight, and the ground knows which, and where,
from telemetry alone (decision 0053).

A whole campaign of three tubes on a real bench (the simulator, three nodes, the station, all
processes), flown by an operator procedure that is the nominal one but for one thing: once the
MAV coasts after its first stage, the tube in the lowest slot falls out of the OS (the
simulator's back door, the world's truth). The MAV's manifest, checked against the OS's slot
switches every ``manifest.check_period`` (10 s), reports it missing; the ground relays to the
orbiter only the tubes the MAV still has, and the campaign carries the other two to the Earth
Entry System. Then, as a mission assurance engineer reads it:

* the ground's ledger (``msr custody``, built from the archived custody reports) has the tube
  missing from its slot in the MAV, reported within one check period of the loss;
* the summary's ``chain_ok`` is false and its one difference names the tube and where it went
  missing; the other two tubes' ledger chains are whole and equal the truth;
* on the nominal part of the same run, every transfer of every tube is in the ledger, from its
  source to the EES, each with the node and the report it rests on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ground_tools.campaign import DEFAULT_BENCH, run_campaign
from ground_tools.custody import Ledger
from tests.system.operator import msr

CHECK_PERIOD = 10.0
"""``manifest.check_period``'s default: the MAV reads the slot switches this often."""

PROCEDURE = '''
"""The nominal campaign, but a tube falls out of the OS while the MAV coasts."""
# ruff: noqa: F821 - the procedure's names are handed in by the runner
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=TUBES, phase=phase)
campaign.housekeeping()
campaign.load_os()
campaign.condition_mav()
campaign.arm_mav()
in_mav = campaign.custody("mav", "in_mav", TUBES)
check(lambda: len(in_mav) == TUBES, f"the MAV's manifest lists {TUBES} tubes: {in_mav}")
serial, slot = in_mav[0]

phase("test: the MAV launches; a tube falls out of the OS in the coast")
campaign.gate("mav", "launch", "launch.launch")
sent = send("mav", "launch.launch", confirm=Confirm("test: launch"))
wait_event("mav", "launch.state", timeout=900, contains="-> coast")
lost = lose_tube(serial)
check(lambda: (lost["from"], lost["slot"]) == ("in_mav", slot), f"lost from {lost}")
lost_at = bench.now()
missing = wait_event("mav", "manifest.tube_missing", timeout=60, contains=f"tube {serial} ")
with open(OUT, "w") as out:
    out.write(f"{serial} {slot} {lost_at} {missing.time}")
wait_command(sent, 3600)
bench.wait_check("mav.launch.status.os_released == True", timeout=30)
campaign.cmd("mav", "modes.set", mode=2)
left = campaign.custody("mav", "in_orbit", TUBES - 1)
check(lambda: serial not in dict(left), f"the tube lost is not relayed: {left}")
campaign.relay_manifest("orbiter", left)
campaign.capture_and_return()
'''


@pytest.mark.long  # make test-long (CI): make test stays under 15 minutes
def test_a_tube_lost_in_flight_is_reported_missing_and_breaks_the_chain(tmp_path: Path):
    procedure = tmp_path / "lose_a_tube.py"
    out = tmp_path / "lost.txt"
    procedure.write_text(PROCEDURE.replace("OUT", repr(str(out))), encoding="utf-8")
    summary = run_campaign(DEFAULT_BENCH, tubes=3, runs_dir=tmp_path / "runs",
                           procedure=procedure, log=lambda line: None)  # fmt: skip
    assert summary["verdict"].startswith("PASS"), summary["verdict"]
    serial, slot, lost_at, reported_at = out.read_text(encoding="utf-8").split()
    serial, slot, lost_at, reported_at = int(serial), int(slot), float(lost_at), float(reported_at)
    run_dir = Path(summary["run_dir"])

    # The ledger, from the archive's telemetry: missing from its slot in the MAV, in time.
    ledger = Ledger.from_path(run_dir / "archive.sqlite")
    (missing,) = ledger.missing()
    assert (missing.serial, missing.node, missing.place, missing.slot) == (
        serial, "mav", "in_mav", slot,
    )  # fmt: skip
    assert lost_at <= missing.reported <= lost_at + CHECK_PERIOD + 0.2
    assert reported_at == missing.reported
    assert ledger.places(serial) == ("depot", "gripper", "os_slot", "in_mav")

    # The summary: chain_ok false, and it says which tube and where.
    assert summary["ok"] is False and summary["chain_ok"] is False
    (difference,) = summary["custody"]["differences"]
    assert difference.startswith(f"tube {serial}: MISSING: last reported in in_mav slot {slot}")
    by_serial = {t["serial"]: t for t in summary["tubes_detail"]}
    assert by_serial[serial]["final_location"] == "lost"
    assert by_serial[serial]["ledger"]["agree"] is True  # the ledger says what happened
    assert by_serial[serial]["chain_ok"] is False
    others = [t for s, t in by_serial.items() if s != serial]
    assert len(others) == 2
    full = ["depot", "gripper", "os_slot", "in_mav", "in_orbit", "captured",
            "primary_containment_vessel", "ees"]  # fmt: skip
    for tube in others:
        assert tube["chain_ok"] and tube["final_location"] == "ees"
        assert tube["ledger"]["ledger"] == tube["ledger"]["truth"] == full
        transfers = ledger.transfers(tube["serial"])
        assert [t["to"] for t in transfers] == full
        assert [t["node"] for t in transfers] == ["lander"] * 4 + ["mav"] + ["orbiter"] * 3
        assert all("custody report stamped" in t["evidence"] for t in transfers)

    # msr custody, as the operator reads it.
    shown = msr("custody", "--run-dir", str(run_dir), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"3 tubes, 1 missing; tube {serial} missing from in_mav slot {slot}" in shown.stdout
    listed = msr("custody", "--run-dir", str(run_dir), "--json", cwd=tmp_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["serial"]: r["now"]["status"] for r in rows} == {
        t: "missing" if t == serial else "present" for t in by_serial
    }
