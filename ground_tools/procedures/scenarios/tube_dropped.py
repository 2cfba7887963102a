"""Scenario: a tube is dropped on the way to its slot (``msr campaign --scenario tube_dropped``).

The arm has lifted the first tube from the depot, read its serial and checked it held
(``sta.load_tube`` progress 3), and swings it towards its OS slot; on the way the tube falls
from the fingers (the ``grasp_slip`` fault on the gripper, for two seconds, while the arm
swings). The arm app finds the hand empty over the slot, records the tube on the ground near
the lander in its inventory (custody step ``slipped``), reports ``sta.grasp_slip`` naming the
slot it was carried to, and the load fails ``grasp_slip``. The ground loads it again from where
it fell, and the campaign goes on to the released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.lander import SOURCES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()

phase("scenario: the first tube falls from the fingers on the way to its slot")
load = send("lander", "sta.load_tube", source=SOURCES.index("depot"))
wait_progress(load, 3, timeout=900)  # lifted, read, held: on its way to the slot
fault("sta_arm.gripper", "grasp_slip", duration=2.0)
result = wait_command(load, timeout=900, check=False)
check(lambda: "grasp_slip" in result.final_reason and "on the way to slot" in result.final_reason,
      f"load: {result}")  # fmt: skip
dropped = wait_event("lander", "sta.grasp_slip", timeout=60, contains="on the way to slot")
serial = dropped.values["detail"].split()[1]

phase("scenario: the ground loads it again from the ground near the lander")
cmd("lander", "sta.load_tube", source=SOURCES.index("ground_near_lander"), timeout=1800)
wait_event("lander", "sta.tube_loaded", timeout=60, contains=f"tube {serial} ")
campaign.load_tubes()
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
