"""Scenario: the lander resets in the middle of loading (``msr campaign --scenario
lander_reset``).

One tube is seated; the arm has grasped the second when the lander's computer resets (its
flight-software process is killed, as by a power cut, and starts again: ``reset_node``). The
node boots safe, and the Sample Transfer Arm restores its inventory from the non-volatile store:
the seated tube in its slot, the second still in the gripper, each where the last recorded move
left it. The ground brings the lander back to nominal; the next load inserts the held tube
before it takes another, and the campaign goes on to the Earth Entry System with every custody
chain intact.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.lander import SOURCES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()
check(lambda: campaign.load_one("depot").ok, "the first tube loaded")

phase("scenario: the lander resets with a tube in the gripper")
loading = send("lander", "sta.load_tube", source=SOURCES.index("depot"))
wait_check("lander.sta.status.holding != 0", timeout=600)
held = tlm("lander.sta.status.holding")
reset_node("lander")
wait_event("lander", "core.boot", timeout=120, contains="(restart)")

phase("scenario: the inventory after the restart")
wait(10)  # a housekeeping period of the new boot: every value below is the restarted node's
check("lander.core.status.mode == 1")  # booted safe
check(f"lander.sta.status.holding == {held}")
check("lander.sta.status.tubes_loaded == 1")
check("lander.sta.status.violations == 0")
cmd("lander", "sta.report_custody")

campaign.prepare_lander()
result = campaign.load_one("depot")  # the held tube goes in first
check(lambda: result.ok, "the held tube loaded")
wait_event("lander", "sta.tube_loaded", timeout=60, contains=f"tube {held} seated")
wait_check("lander.sta.status.tubes_loaded == 2", timeout=10)  # the next status report

campaign.load_tubes()
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
