"""Scenario: SRM1 does not ignite (``msr campaign --scenario igniter_failure``).

The tubes are loaded and handed over, the MAV is conditioned and armed, and the launch goes:
the inhibits come out, the lander tosses the MAV, the sequencer fires SRM1's igniter inside its
window, but the igniter does not fire (the ``igniter_no_fire`` fault on ``mav_pyro.srm1``). The
accelerometer never confirms the ignition: the sequencer aborts (``ignition_timeout``), puts
every pyro inhibit back, leaves SRM2 unfired and the OS latched, and the node goes safe. The
campaign ends there: the tubes stay in the MAV, their custody intact up to it.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.mav import ABORT_REASONS, LAUNCH_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.condition_mav()
campaign.arm_mav()

phase("scenario: SRM1's igniter does not fire")
fault("mav_pyro.srm1", "igniter_no_fire")
campaign.gate("mav", "launch", "launch.launch")
result = cmd("mav", "launch.launch", confirm=Confirm("scenario: launch"), timeout=3600,
             check=False)  # fmt: skip
check(
    lambda: result.final == "completion_failed" and "ignition_timeout" in result.final_reason,
    "the launch failed ignition_timeout",
)
wait_event("mav", "launch.abort", timeout=60, contains="ignition_timeout")

phase("scenario: the MAV is safe")
wait(600)  # long past every later step of the ascent: nothing else may fire
check(f"mav.launch.status.state == {LAUNCH_STATES.index('safe')}")
check(f"mav.launch.status.abort_reason == {ABORT_REASONS.index('ignition_timeout')}")
check("mav.launch.status.inhibits_removed == 0")
check("mav.launch.status.os_released == False")
check("mav.core.status.mode == 1")  # safe
