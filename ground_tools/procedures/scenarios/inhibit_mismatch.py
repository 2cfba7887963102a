"""Scenario: a pyro inhibit does not read as the sequencer set it (``msr campaign --scenario
inhibit_mismatch``).

The MAV is conditioned and the OS loaded; the arming removes pyro inhibits 1 and 2 and reads
them back, but inhibit 2 keeps reading in place (its readback is stuck: the ``stuck`` fault on
``mav_pyro.inhibit_2``). The sequencer does not arm on a mismatch: it aborts
(``inhibit_mismatch``), puts every inhibit back, and the node goes safe; nothing fires. The
ground finds the readback fixed, conditions and loads again (the sequencer starts over from
safe), arms through the gate once more, and launches. The campaign goes on to the released
Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.mav import ABORT_REASONS, LAUNCH_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.condition_mav()

phase("scenario: pyro inhibit 2 keeps reading in place")
stuck = fault("mav_pyro.inhibit_2", "stuck", field="removed")
cmd("mav", "modes.set", mode=3, confirm=Confirm("scenario: MAV arming"))
campaign.gate("mav", "arm", "launch.arm")
result = cmd("mav", "launch.arm", confirm=Confirm("scenario: arm"), timeout=120, check=False)
check(lambda: "inhibit_mismatch" in result.final_reason, f"arm: {result}")
wait_check(f"mav.launch.status.state == {LAUNCH_STATES.index('safe')}", timeout=30)
wait_check(
    f"mav.launch.status.abort_reason == {ABORT_REASONS.index('inhibit_mismatch')}", timeout=30
)  # the next status report
wait_check("mav.launch.status.inhibits_removed == 0", timeout=30)
check("mav.launch.status.pyros_fired == 0")

phase("scenario: the readback fixed, the ground arms again")
clear_fault(stuck)
campaign.condition_mav()
campaign.arm_mav()
campaign.launch_mav()
campaign.capture_and_return()
