"""Scenario: a heater zone's thermistor opens in the igloo (``msr campaign --scenario
igloo_temperature``).

The MAV is conditioned and the OS loaded; it waits in its igloo, its sequencer checking the
temperatures every ``launch.monitor_period``. Zone 5's thermistor opens (the
``heater_zone_failure`` fault on the igloo's heaters, ``mode=thermistor``): the zone reads
-150 degC through the umbilical, below the propellant's -40 degC limit. The sequencer does not
go on with a zone it cannot trust: it aborts (``temperature``) and the node goes safe. The
ground has the thermistor back (the fault cleared) and conditions again; the MAV is armed and
launched, and the campaign goes on to the released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.mav import ABORT_REASONS, LAUNCH_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.condition_mav()

phase("scenario: a heater zone's thermistor opens while the MAV waits, loaded")
open_zone = fault("igloo.heaters", "heater_zone_failure", index=5, mode="thermistor")
wait_event("mav", "launch.abort", timeout=600, contains="temperature")
wait_check(f"mav.launch.status.state == {LAUNCH_STATES.index('safe')}", timeout=30)
wait_check(f"mav.launch.status.abort_reason == {ABORT_REASONS.index('temperature')}",
           timeout=30)  # fmt: skip
check("mav.launch.status.zone_min < -40")

phase("scenario: the thermistor back, the ground conditions again")
clear_fault(open_zone)
campaign.condition_mav()
campaign.arm_mav()
campaign.launch_mav()
campaign.capture_and_return()
