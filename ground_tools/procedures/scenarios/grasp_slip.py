"""Scenario: a tube slips from the gripper (``msr campaign --scenario grasp_slip``).

The arm has grasped its first tube at the depot and lifts it when it slips out of the fingers
(the ``grasp_slip`` fault on the gripper, for two seconds). The arm finds its hand empty at the
transit posture (or over the slot), reports ``sta.grasp_slip``, and the inventory records the
tube on the ground near the lander. The tube is picked up again from there and seated, and the
campaign goes on to the Earth Entry System with the tube's custody chain showing the detour.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.lander import SOURCES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()

phase("scenario: the first tube slips from the gripper")
loading = send("lander", "sta.load_tube", source=SOURCES.index("depot"))
wait_check("lander.sta.status.holding != 0", timeout=600)  # grasped: lifting
fault("sta_arm.gripper", "grasp_slip", duration=2.0)
slip = wait_event("lander", "sta.grasp_slip", timeout=300)
serial = slip.values["detail"].split()[1]
result = wait_command(loading, timeout=1800, check=False)
if not result.ok:  # it slipped on the way to the slot: the ground loads it from where it fell
    check(lambda: "grasp_slip" in result.final_reason, "the load ended grasp_slip")
    cmd("lander", "sta.load_tube", source=SOURCES.index("ground_near_lander"), timeout=1800)
wait_event("lander", "sta.tube_loaded", timeout=60, contains=f"tube {serial} ")
wait_check("lander.sta.status.tubes_loaded == 1", timeout=10)  # the next status report
check("lander.sta.status.retries >= 1")

campaign.load_tubes()
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
