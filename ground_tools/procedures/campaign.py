"""The nominal Mars Sample Return campaign, as an operator procedure (``msr run`` or
``msr campaign``).

From a bench that is up: load every tube into the Orbiting Sample container, close and latch
the lid, hand the OS over to the MAV, condition, arm and launch the MAV, release the OS in orbit;
the orbiter searches, captures, orients (the ground checks the image), contains, brazes, seals,
transfers into the Earth Entry System, stows and releases it.

``msr campaign`` hands in ``TUBES`` (how many to load; default: until the OS is full or every
source is empty) and ``phase(name)`` (a progress line). Waits are in simulated seconds.
"""

# ruff: noqa: F821 - the procedure's names (cmd, wait_check, ...) are handed in by the runner

from fsw.dictionary.mav import LAUNCH_STATES

TUBES = globals().get("TUBES", 30)
phase = globals().get("phase", print)
SOURCES = {"depot": 1, "rover_cache": 0, "ground_near_lander": 2}
NOMINAL, CRITICAL = 2, 3

# ---------------------------------------------------------------- every node: cruise housekeeping
phase("all nodes: core housekeeping every 10 s (the apps report at their own periods)")
for node, sids in (("lander", (1, 2, 3)), ("mav", (1, 2, 3, 20)), ("orbiter", (1, 2, 3, 30))):
    for sid in sids:
        cmd(node, "hk.set_period", sid=sid, period=10.0)

# ---------------------------------------------------------------- lander: load the OS
phase("lander: prepare")
cmd("lander", "modes.set", mode=NOMINAL)
cmd("lander", "igloo.condition", setpoint=5.0)
cmd("lander", "sta.open_lid", timeout=120)

phase(f"lander: load {TUBES} tubes")
loaded = 0
for source in ("depot", "rover_cache", "ground_near_lander"):
    while loaded < TUBES:
        result = cmd("lander", "sta.load_tube", source=SOURCES[source], timeout=1800,
                     check=False)  # fmt: skip
        if result.ok:
            loaded += 1
            phase(f"lander: tube {loaded}/{TUBES} loaded")
            continue
        if "no_tube" in result.final_reason:
            break  # this source is empty: the next one
        if "not_seated" in result.final_reason or "grasp_slip" in result.final_reason:
            continue  # set down near the lander: picked up again from there later
        raise CommandFailed(str(result))
    if loaded >= TUBES:
        break
check(f"lander.sta.status.tubes_loaded == {loaded}")

phase("lander: close the OS and hand it over")
cmd("lander", "sta.close_lid", timeout=600)
cmd("lander", "igloo.open_door")  # the OS goes into the MAV's nose inside the igloo
wait(60)
cmd("lander", "sta.hand_over")
cmd("lander", "sta.report_custody")
cmd("lander", "igloo.close_door")
wait_check(f"lander.sta.status.tubes_in_mav == {loaded}", timeout=30)

# ---------------------------------------------------------------- MAV: condition, arm, launch
phase("mav: thermal conditioning")
cmd("mav", "modes.set", mode=NOMINAL)
cmd("mav", "launch.condition", timeout=7200)
cmd("mav", "launch.verify_load", timeout=60)

phase("mav: arm")
cmd("mav", "modes.set", mode=CRITICAL)
cmd("mav", "gate.remove_inhibit", inhibit=INHIBITS["mav"].index("arm"))
cmd("mav", "gate.arm", command=command_key("mav", "launch.arm"))
cmd("mav", "launch.arm", confirm=Confirm("campaign: OS loaded, igloo in limits"), timeout=120)
wait(10)  # the state events of the arming are reported before the ascent's quick ones
wait_check(f"mav.launch.status.state == {LAUNCH_STATES.index('armed')}", timeout=30)

phase("mav: launch, ascent, OS release")
cmd("mav", "gate.remove_inhibit", inhibit=INHIBITS["mav"].index("launch"))
cmd("mav", "gate.arm", command=command_key("mav", "launch.launch"))
cmd("mav", "launch.launch", confirm=Confirm("campaign: launch"), timeout=3600)
wait_check(f"mav.launch.status.state == {LAUNCH_STATES.index('released')}", timeout=30)
cmd("mav", "modes.set", mode=NOMINAL)

# ---------------------------------------------------------------- orbiter: capture and return
phase("orbiter: search, track, capture")
cmd("orbiter", "modes.set", mode=NOMINAL)
cmd("orbiter", "ccrs.search", timeout=40000)

phase("orbiter: orient")
cmd("orbiter", "ccrs.orient", timeout=1800)
image = wait_event("orbiter", "ccrs.image", timeout=600)
cmd("orbiter", "ccrs.confirm_orientation", ok=1, timeout=600)

phase("orbiter: contain and braze")
cmd("orbiter", "ccrs.contain", timeout=1800)
cmd("orbiter", "modes.set", mode=CRITICAL)
braze = INHIBITS["orbiter"].index("braze")
cmd("orbiter", "gate.remove_inhibit", inhibit=braze)
cmd("orbiter", "gate.arm", command=command_key("orbiter", "ccrs.braze"))
cmd("orbiter", "ccrs.braze", confirm=Confirm("campaign: OS contained"), timeout=7200)

phase("orbiter: transfer to the EES")
cmd("orbiter", "ccrs.transfer", timeout=3600)
cmd("orbiter", "ccrs.stow", timeout=1800)
release = INHIBITS["orbiter"].index("ees_release")
cmd("orbiter", "gate.remove_inhibit", inhibit=release)
cmd("orbiter", "gate.arm", command=command_key("orbiter", "ccrs.release_ees"))
cmd("orbiter", "ccrs.release_ees", confirm=Confirm("campaign: EES released"), timeout=600)
cmd("orbiter", "modes.set", mode=NOMINAL)
phase("campaign: complete")
