"""Scenario: the orientation cannot be told from the images (``msr campaign --scenario
ambiguous_orientation``).

The OS is captured. The CCRS turns it and images it to confirm its orientation before
containment, but every image is ambiguous (the ``ambiguous_orientation`` fault on both
cameras): after four images, two rotations with each camera, ``ccrs.orient`` fails
``ambiguous_orientation`` and the CCRS waits for the ground (``orient_check``) with the last
image's summary downlinked (``ccrs.image``: decision ``ambiguous``). The ground decides from that
image, as the real CCRS is operated: not confirmed (``ccrs.confirm_orientation ok=0``), so the
CCRS turns the OS to another rotation and images it again; the new image is clear, and the
ground confirms it. The campaign goes on to the released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.orbiter import CCRS_STATES, DECISIONS
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.launch()
campaign.capture()

phase("scenario: every image of the OS is ambiguous")
blur = fault("orient", "ambiguous_orientation")
started = bench.now()
result = cmd("orbiter", "ccrs.orient", timeout=1800, check=False)
check(lambda: "ambiguous_orientation" in result.final_reason, f"orient: {result}")
campaign.image_since(started)
check(f"orbiter.ccrs.image.decision == {DECISIONS.index('ambiguous')}")
wait_check(f"orbiter.ccrs.status.state == {CCRS_STATES.index('orient_check')}", timeout=30)

phase("scenario: the ground decides from the image: turn it and look again")
clear_fault(blur)
again = bench.now()
cmd("orbiter", "ccrs.confirm_orientation", ok=0, timeout=600)
campaign.image_since(again)
check(f"orbiter.ccrs.image.decision == {DECISIONS.index('oriented')}")
cmd("orbiter", "ccrs.confirm_orientation", ok=1, timeout=600)

campaign.contain_and_braze()
campaign.return_to_earth()
