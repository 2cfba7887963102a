"""The nominal Mars Sample Return campaign, as an operator procedure (``msr run`` or
``msr campaign``).

From a bench that is up: load every tube into the Orbiting Sample container, close and latch
the lid, hand the OS over to the MAV, condition, arm and launch the MAV, release the OS in orbit;
the orbiter searches, captures, orients (the ground checks the image), contains, brazes, seals,
transfers into the Earth Entry System, stows and releases it. Each step is in
:mod:`ground_tools.procedures.steps`.

``msr campaign`` hands in ``TUBES`` (how many to load; default: until the OS is full or every
source is empty) and ``phase(name)`` (a progress line). Waits are in simulated seconds.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.load_os()
campaign.launch()
campaign.capture_and_return()
