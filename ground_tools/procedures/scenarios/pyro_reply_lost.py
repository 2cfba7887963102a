"""Scenario: the reply to SRM1's fire is lost (``msr campaign --scenario pyro_reply_lost``).

The tubes are loaded and handed over, the MAV is conditioned and armed, and the launch goes.
SRM1's igniter fires, but its completion report never reaches the MAV's avionics (the
``reply_lost`` fault on ``mav_pyro.srm1``, the ``fire`` command, once). The driver does not fire
again blindly: it reads the channel's status, which shows it fired, and reports the fire done
with the lost reply confirmed by the state (``health.device_reply_lost``). The sequencer goes on
as on a clean line: SRM1 burns once, the MAV ascends and releases the OS in orbit, and the
campaign finishes with every tube in the Earth Entry System (decision 0022).
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.mav import LAUNCH_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.condition_mav()
campaign.arm_mav()

phase("scenario: the reply to SRM1's fire is lost on the serial line")
fault("mav_pyro.srm1", "reply_lost", command="fire", count=1)
before_launch = bench.request(op="status")["received"]  # events are looked for from here
campaign.launch_mav()
wait_event("mav", "health.device_reply_lost", timeout=60, contains="srm1", since=before_launch)
check(f"mav.launch.status.state == {LAUNCH_STATES.index('released')}")
check("mav.launch.status.os_released == True")

campaign.capture_and_return()
