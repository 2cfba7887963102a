"""Scenario: the capture trigger misses (``msr campaign --scenario missed_capture_trigger``).

The orbiter closes in on the Orbiting Sample and arms the capture; the trigger does not trip as
the OS passes the cone (the ``trigger_miss`` fault, while the capture is armed). With a one-way
light-time of minutes the ground cannot help: the CCRS sees no trip after the contact, reports
``ccrs.missed_trigger``, disarms, goes back to tracking for the re-approach and arms again; the
trigger works the second time. The campaign goes on to the released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.orbiter import CCRS_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.launch()

phase("scenario: the capture trigger misses on the first pass")
cmd("orbiter", "modes.set", mode=2)
search = send("orbiter", "ccrs.search")
wait_check(f"orbiter.ccrs.status.state == {CCRS_STATES.index('capture_armed')}", timeout=40000)
miss = fault("capture.trigger", "trigger_miss")
wait_event("orbiter", "ccrs.missed_trigger", timeout=1800, contains="re-approach")
clear_fault(miss)
wait_command(search, timeout=40000)
wait_check(f"orbiter.ccrs.status.state == {CCRS_STATES.index('captured')}", timeout=60)
check("orbiter.ccrs.status.capture_attempts == 2")

campaign.orient()
campaign.contain_and_braze()
campaign.return_to_earth()
