"""Scenario: an arm joint stalls (``msr campaign --scenario joint_stall``).

The lander loads its first tube; on the way to the depot the shoulder (joint 1) stalls (the
``stall`` fault on the arm). The arm app stops the arm at once and reports ``sta.arm_fault``;
the load fails ``arm_fault`` and the lander goes safe: a stalled arm moves nothing more on its
own. The ground has the obstruction cleared (the fault cleared), clears the joint's latched
fault (``sta.clear_fault joint=1``), puts the lander back in nominal and loads again from where
the tubes are. The campaign goes on to the released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.lander import SOURCES, STA_STATES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()

phase("scenario: the shoulder stalls on the way to the depot")
stall = fault("sta_arm.arm", "stall", index=1)
result = cmd("lander", "sta.load_tube", source=SOURCES.index("depot"), timeout=600, check=False)
check(lambda: "arm_fault" in result.final_reason, f"load: {result}")
wait_event("lander", "sta.arm_fault", timeout=60, contains="joint 1")
wait_check(f"lander.sta.status.state == {STA_STATES.index('stopped')}", timeout=30)
wait_check("lander.core.status.mode == 1", timeout=30)  # safe

phase("scenario: the obstruction cleared, the ground clears the joint and goes on")
clear_fault(stall)
cmd("lander", "sta.clear_fault", joint=1)
cmd("lander", "modes.set", mode=2)
campaign.load_tubes()
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
