"""Scenario: a partial capture (``msr campaign --scenario partial_capture``).

The orbiter closes in and arms the capture; the trigger trips and the lid closes, but only one
of the two capture-confirmed switches closes (the ``partial_capture`` fault on the capture
board while the OS is in the cone): the OS is not seated in the mechanism. The CCRS does not
take half a capture: it reports ``ccrs.partial_capture``, opens the lid to let the OS go, and
re-approaches; the second pass seats it with both switches. The campaign goes on to the
released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.orbiter import CCRS_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.launch()

phase("scenario: only switch A sees the OS on the first pass")
cmd("orbiter", "modes.set", mode=2)
search = send("orbiter", "ccrs.search")
wait_check(f"orbiter.ccrs.status.state == {CCRS_STATES.index('capture_armed')}", timeout=40000)
half = fault("capture", "partial_capture", switch="a")
wait_event("orbiter", "ccrs.partial_capture", timeout=1800, contains="opening the lid")
clear_fault(half)
wait_command(search, timeout=40000)
wait_check(f"orbiter.ccrs.status.state == {CCRS_STATES.index('captured')}", timeout=60)
check("orbiter.ccrs.status.capture_attempts == 2")

campaign.orient()
campaign.contain_and_braze()
campaign.return_to_earth()
