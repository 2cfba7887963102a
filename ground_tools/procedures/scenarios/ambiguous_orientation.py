"""Scenario: the orientation cannot be told on board (``msr campaign --scenario
ambiguous_orientation``).

The OS is captured. The CCRS turns it and images it to confirm its orientation before
containment, but the LEDs' glare washes out every image (the ``ambiguous_orientation`` fault on
both cameras, left on to the end): after four images, two rotations with each camera,
``ccrs.orient`` fails ``ambiguous_orientation`` and the CCRS waits for the ground
(``orient_check``) with the last image's summary (decision ``ambiguous``) and the image itself,
which comes down as a file by CFDP. The ground decides from that file, as the real CCRS is
operated (decision 0056): it masks the glare and reads the OS's fiducial mark. When the mark is
hidden it asks for another rotation; when it sees it, it sends its measurement
(``ccrs.correct_orientation``), the CCRS turns the OS by the error and images it again (still
ambiguous on board), and the ground confirms from the new file. The campaign goes on to the
released Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from fsw.dictionary.orbiter import CCRS_STATES, DECISIONS
from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.launch()
campaign.capture()

phase("scenario: every image of the OS is ambiguous on board (glare)")
fault("orient", "ambiguous_orientation")
started = bench.now()
result = cmd("orbiter", "ccrs.orient", timeout=1800, check=False)
check(lambda: "ambiguous_orientation" in result.final_reason, f"orient: {result}")
campaign.image_since(started)
check(f"orbiter.ccrs.image.decision == {DECISIONS.index('ambiguous')}")
# (up to 2 minutes: the image's file may be coming down through a loss of signal, decision 0056)
wait_check(f"orbiter.ccrs.status.state == {CCRS_STATES.index('orient_check')}", timeout=120)

phase("scenario: the ground decides from the downlinked image")
reading = campaign.decide_orientation()
check(lambda: reading["ground"] is not None and reading["within"], f"decided: {reading}")
check(lambda: all(r["board"] == 0.0 for r in campaign.orientations),
      "every image stayed ambiguous on board: the ground decided alone")  # fmt: skip

campaign.contain_and_braze()
campaign.return_to_earth()
