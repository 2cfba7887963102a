"""Scenario: the OS lid does not latch (``msr campaign --scenario lid_not_latched``).

Every tube is loaded and the arm closes the lid, but the latch pins jam (the
``lid_not_latched`` fault on the OS container): the latch switch never closes. The arm app
waits ``sta.lid_timeout`` and fails the close (``lid_not_latched``); the hand-over to the MAV is
refused while the lid is not latched, so nothing leaves the lander unlatched. The ground has
the latch freed (the fault cleared) and closes again; the lid latches, the OS goes into the
MAV, and the campaign goes on to the released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()
campaign.load_tubes()

phase("scenario: the latch pins jam")
jam = fault("os_container.lid", "lid_not_latched")
result = cmd("lander", "sta.close_lid", timeout=600, check=False)
check(lambda: "lid_not_latched" in result.final_reason, f"close: {result}")
refused = cmd("lander", "sta.hand_over", timeout=60, check=False)
check(lambda: "not latched" in refused.final_reason, f"hand-over: {refused}")

phase("scenario: the latch freed, the ground closes again")
clear_fault(jam)
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
