"""Scenario: the replies to the brazing power-ons are lost (``msr campaign --scenario
braze_power_reply_lost``).

The OS is captured and oriented. The brazing board then loses the completion reports of the
induction heater's next two power-ons on the serial line (the ``reply_lost`` fault on
``braze.heater``, the ``on`` command, twice): the one that closes the primary containment vessel
and the one that brazes its seam. Each time the drive comes on, and the driver, instead of
switching it on again blindly, reads the drive's status, which shows it on, and reports the
power-on done with the lost reply confirmed by the state (``health.device_reply_lost``). The
seam brazes and seals and the campaign finishes with every tube in the Earth Entry System
(decision 0022).
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.launch()
campaign.capture()
campaign.orient()

phase("scenario: the replies to the brazing power-ons are lost on the serial line")
fault("braze.heater", "reply_lost", command="on", count=2)
before = bench.request(op="status")["received"]  # events are looked for from here
campaign.contain_and_braze()
wait_event("orbiter", "health.device_reply_lost", timeout=60, contains="heater", since=before)
wait_check("orbiter.ccrs.status.seal_ok == True", timeout=30)  # the next status report

campaign.return_to_earth()
