"""Scenario: the reply to the OS release is lost (``msr campaign --scenario
os_release_reply_lost``).

The launch goes as usual until the MAV is in orbit and its sequencer releases the Orbiting
Sample: the latch opens, but the avionics board's completion report is lost on the serial line
(the ``reply_lost`` fault on ``mav_avionics.os_latch``, the ``release`` command, once). The
driver reads the latch's status, which shows it open, and reports the release done with the
lost reply confirmed by the state (``health.device_reply_lost``); the latch is never commanded
twice. The orbiter captures the OS and the campaign finishes with every tube in the Earth Entry
System (decision 0022).
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.mav import LAUNCH_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.condition_mav()
campaign.arm_mav()

phase("scenario: the reply to the OS release is lost on the serial line")
fault("mav_avionics.os_latch", "reply_lost", command="release", count=1)
before_launch = bench.request(op="status")["received"]  # events are looked for from here
campaign.launch_mav()
wait_event("mav", "health.device_reply_lost", timeout=60, contains="os_latch",
           since=before_launch)  # fmt: skip
check(f"mav.launch.status.state == {LAUNCH_STATES.index('released')}")
check("mav.launch.status.os_released == True")

campaign.capture_and_return()
