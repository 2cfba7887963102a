"""Scenario: an arm joint's encoder glitches (``msr campaign --scenario encoder_glitch``).

The arm has grasped its first tube and lifts it when the elbow's encoder reads 45 degrees off
for a few seconds (the ``bias`` fault on the arm's ``angle`` reading, joint 1). A joint cannot
move that far between two readings (the drives turn at most 5 deg/s): the arm app does not
use the reading, reports ``sta.encoder_glitch`` and reads again; the encoder comes back and the
move finishes on good readings (three implausible readings in a row would have stopped the
arm). The tube is seated and the campaign goes on to the released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.lander import SOURCES
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()

phase("scenario: the elbow's encoder glitches while the arm lifts the first tube")
load = send("lander", "sta.load_tube", source=SOURCES.index("depot"))
wait_progress(load, 2, timeout=900)  # grasped and read: lifting
fault("sta_arm.arm", "bias", field="angle", index=1, offset=45.0, duration=6.0)
wait_event("lander", "sta.encoder_glitch", timeout=60, contains="joint 1 read")
wait_command(load, timeout=1800)
wait_check("lander.sta.status.tubes_loaded == 1", timeout=10)

campaign.load_tubes()
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
