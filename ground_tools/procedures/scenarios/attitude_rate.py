"""Scenario: the MAV tumbles in the first-stage burn (``msr campaign --scenario attitude_rate``).

The MAV is tossed and SRM1 lights; in the burn the IMU reads a transverse rate far over the
limit, sample after sample (the ``imu_rate_spike`` fault on the MAV avionics' IMU, held). The
sequencer aborts (``attitude_rate``: M of N samples over ``launch.rate_limit``), fires nothing
more, keeps the OS latched, and the node goes safe. The campaign ends there: the tubes are in
the OS in the MAV, their custody intact up to it, and the ground's ledger says so.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.mav import ABORT_REASONS, LAUNCH_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.condition_mav()
campaign.arm_mav()

phase("scenario: the MAV tumbles in the SRM1 burn")
campaign.gate("mav", "launch", "launch.launch")
launch = send("mav", "launch.launch", confirm=Confirm("scenario: launch"))
wait_check(f"mav.launch.status.state == {LAUNCH_STATES.index('srm1_burn')}", timeout=120)
fault("mav_avionics.imu", "imu_rate_spike", axis=1, size=500.0)
result = wait_command(launch, timeout=600, check=False)
check(lambda: "attitude_rate" in result.final_reason, f"launch: {result}")
wait_event("mav", "launch.abort", timeout=60, contains="attitude_rate")

phase("scenario: the MAV is safe, the OS latched")
wait(600)  # long past every later step of the ascent: nothing else may fire
check(f"mav.launch.status.state == {LAUNCH_STATES.index('safe')}")
check(f"mav.launch.status.abort_reason == {ABORT_REASONS.index('attitude_rate')}")
check("mav.launch.status.os_released == False")
campaign.custody("mav", "in_mav", campaign.tubes)  # every step of the manifest, for the ledger
