"""The capture, containment and return system (orbiter): procedures as the ground would run them,
on the orbiter's emulated boards, the world model the judge of where the OS is.

Each test starts with the OS (holding tube 266, Montdenier) released in Mars orbit: the world is
put in that state directly, and the coupling starts the orbiter's approach. The approaches here
start closer than the bench's default (1200 km at 0.2 km/s, about 6000 s) so that the file stays
fast; the flight software sees the same physics, only shorter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsw.dictionary.orbiter import CCRS_STATES, DECISIONS, INHIBITS, SERVICE_CCRS, SID_IMAGE
from sim_hardware.coupling import CouplingConfig
from sim_hardware.world import LidState, Location, OsLocation
from tests.fsw.mission_rig import MissionRig

MONTDENIER = 266
NOMINAL, CRITICAL = 2, 3
APPROACH = CouplingConfig(approach_range_km=80.0, reapproach_delay=120.0)
"""Contact 400 s after the release; after a miss the OS is back in reach 120 s later."""
CLOSE = CouplingConfig(approach_range_km=20.0, reapproach_delay=120.0)
"""For the tests that start after the capture: contact 100 s after the release."""
GROUND_LOOK = 60.0
"""Seconds between the image reaching the ground and the verdict reaching the orbiter (light-time
both ways and a look at the image; at least one event throttle window)."""


def in_orbit(rig: MissionRig) -> None:
    """Load Montdenier into the OS, latch it, launch the MAV and release the OS in orbit."""
    with rig.lock:
        world, now = rig.sim.world, rig.now()
        if world.lid is not LidState.OPEN:
            world.open_lid(at=now)
        world.pick_up(MONTDENIER, "depot", at=now)
        world.insert(0, at=now)
        world.close_lid(at=now)
        world.latch_lid(at=now)
        world.load_into_mav(at=now)
        world.launch_mav(at=now)
        world.release_os(at=now)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[MissionRig]:
    with MissionRig(tmp_path, "orbiter", coupling_config=APPROACH) as rig:
        in_orbit(rig)
        assert rig.command("modes.set", mode=NOMINAL)[-1] == "completed"
        yield rig


@pytest.fixture
def close_rig(tmp_path: Path) -> Iterator[MissionRig]:
    with MissionRig(tmp_path, "orbiter", coupling_config=CLOSE) as rig:
        in_orbit(rig)
        assert rig.command("modes.set", mode=NOMINAL)[-1] == "completed"
        yield rig


def inject(rig: MissionRig, target: str, kind: str, seconds: float | None = None,
           **params: Any) -> int:  # fmt: skip
    """A fault, as the back door injects it, ending by itself after ``seconds`` if given."""
    return int(rig.inject(target, kind, duration=seconds, **params)["id"])


def clear(rig: MissionRig, fault: int) -> None:
    with rig.lock:
        rig.sim._request({"op": "clear", "id": fault})


def hazardous(rig: MissionRig, name: str, timeout: float) -> list[str]:
    """Critical mode, the command's inhibit removed, armed, fired; then the inhibit back in place
    and the node back to nominal (the stages of the hazardous command are returned)."""
    subtype = rig.node.dictionary.command(name).message.subtype  # type: ignore[union-attr]
    inhibit = INHIBITS.index({"ccrs.braze": "braze", "ccrs.release_ees": "ees_release"}[name])
    assert rig.command("modes.set", mode=CRITICAL)[-1] == "completed"
    assert rig.command("gate.remove_inhibit", inhibit=inhibit)[-1] == "completed"
    assert rig.command("gate.arm", command=SERVICE_CCRS << 8 | subtype)[-1] == "completed"
    stages = rig.command(name, timeout=timeout)
    assert rig.command("gate.restore_inhibit", inhibit=inhibit)[-1] == "completed"
    assert rig.command("modes.set", mode=NOMINAL)[-1] == "completed"
    return stages


def state(rig: MissionRig) -> str:
    return CCRS_STATES[rig.hk("ccrs.status")["state"]]


def transitions(rig: MissionRig, since: int = 0) -> list[str]:
    """The states entered, in order, from the ``ccrs.state`` events."""
    return [detail.split(" -> ")[1].split(":")[0]
            for name, detail in rig.events(since) if name == "ccrs.state"]  # fmt: skip


def named(rig: MissionRig, event: str, since: int = 0) -> list[str]:
    return [detail for name, detail in rig.events(since) if name == event]


def images(rig: MissionRig, since: int = 0) -> list[dict[str, Any]]:
    """Every ``ccrs.image`` packet sent (TM[3,25] SID 31), decoded."""
    packet = rig.node.dictionary.hk_packet(SID_IMAGE)  # type: ignore[union-attr]
    return [packet.decode(tm.source_data) for _, tm in rig.packets[since:]
            if tm.service == 3 and tm.source_data[:2] == SID_IMAGE.to_bytes(2, "big")]  # fmt: skip


def capture_and_contain(rig: MissionRig) -> None:
    assert rig.command("ccrs.search", timeout=3600)[-1] == "completed"
    assert rig.command("ccrs.orient", timeout=600)[-1] == "completed"
    assert rig.command("ccrs.confirm_orientation", ok=1)[-1] == "completed"
    assert rig.command("ccrs.contain", timeout=120)[-1] == "completed"
    assert rig.sim.world.os_location is OsLocation.IN_PCV


# ---------------------------------------------------------------------------------- nominal


def test_from_the_search_to_the_released_ees_the_os_goes_where_the_ground_commands(rig):
    world = rig.sim.world
    assert state(rig) == "idle"
    assert rig.command("ccrs.search", timeout=3600) == ["accepted", "started", "completed"]
    assert world.os_location is OsLocation.CAPTURED
    hk = rig.hk("ccrs.status")
    assert hk["capture_attempts"] == 1 and hk["detections"] == 1 and hk["lid_angle"] == 0.0

    mark = len(rig.packets)
    assert rig.command("ccrs.orient", timeout=600)[-1] == "completed"
    assert state(rig) == "orient_check"
    rig.run(GROUND_LOOK)
    (image,) = images(rig, mark)
    assert DECISIONS[image["decision"]] == "oriented" and abs(image["error"]) <= 2.0
    assert image["brightness"] > 60  # lit by its LED (the disc on a dark cone, decision 0056)
    with rig.lock:
        truth = rig.sim.emulators["orient"].orientation
    assert abs(((truth - image["target"]) + 180) % 360 - 180) < 3.0
    assert rig.command("ccrs.confirm_orientation", ok=1)[-1] == "completed"
    assert rig.command("ccrs.contain", timeout=120)[-1] == "completed"
    assert world.os_location is OsLocation.IN_PCV

    assert hazardous(rig, "ccrs.braze", timeout=3600)[-1] == "completed"
    hk = rig.hk("ccrs.status")
    assert hk["seal_ok"] and hk["seam_max"] >= 500.0 and hk["braze_time_above"] >= 60.0
    assert hk["seam_max"] < 560.0 and hk["braze_attempts"] == 1 and hk["heater_power"] == 0.0
    assert world.pcv_sealed

    assert rig.command("ccrs.transfer", timeout=600)[-1] == "completed"
    assert world.os_location is OsLocation.IN_EES
    assert rig.command("ccrs.stow", timeout=600)[-1] == "completed"
    assert hazardous(rig, "ccrs.release_ees", timeout=60)[-1] == "completed"
    assert world.ees_released and rig.hk("ccrs.status")["ees_released"]

    assert transitions(rig) == [
        "search", "track", "close_in", "capture_armed", "triggered", "captured", "orient",
        "orient_check", "oriented", "contain", "contained", "braze", "seal_check", "sealed",
        "transfer", "transferred", "stow", "stowed", "release", "ees_released",
    ]  # fmt: skip
    ccrs = [name for name, _ in rig.events() if name.startswith("ccrs.") and name != "ccrs.state"]
    assert [n for n in ccrs if n != "ccrs.braze_profile"] == [
        "ccrs.detected", "ccrs.armed", "ccrs.captured", "ccrs.image", "ccrs.oriented",
        "ccrs.contained", "ccrs.seal", "ccrs.transferred", "ccrs.stowed", "ccrs.released",
    ]  # fmt: skip
    assert "ccrs.braze_profile" in ccrs
    chain = [entry.location for entry in world.custody(MONTDENIER)]
    assert chain[-4:] == [Location.IN_ORBIT, Location.CAPTURED, Location.PCV, Location.EES]
    world.check()


# ---------------------------------------------------------------------------------- capture faults


def test_a_missed_trigger_reapproaches_rearms_and_captures(rig):
    inject(rig, "capture.trigger", "trigger_miss", seconds=450.0)  # the first contact only
    assert rig.command("ccrs.search", timeout=3600)[-1] == "completed"
    assert rig.sim.world.os_location is OsLocation.CAPTURED
    (missed,) = named(rig, "ccrs.missed_trigger")
    assert "re-approach" in missed
    assert rig.hk("ccrs.status")["capture_attempts"] == 2
    again = transitions(rig)[4:]  # the re-approach lasts 10 s: one look may find it in arm time
    assert transitions(rig)[:5] == ["search", "track", "close_in", "capture_armed", "track"]
    assert [s for s in again if s != "close_in"][:3] == ["track", "capture_armed", "triggered"]


def test_a_trigger_that_always_misses_ends_the_search_after_the_bounded_attempts(rig):
    inject(rig, "capture.trigger", "trigger_miss")
    stages = rig.command("ccrs.search", timeout=7200)
    assert stages[-1].startswith("completion_failed missed_trigger")
    assert "3 capture attempts" in stages[-1]
    assert len(named(rig, "ccrs.missed_trigger")) == 3
    assert named(rig, "ccrs.search_failed") and state(rig) == "idle"
    assert rig.sim.world.os_location is OsLocation.IN_ORBIT


def test_a_partial_capture_opens_the_lid_and_the_reapproach_captures(rig):
    inject(rig, "capture", "partial_capture", seconds=450.0)
    assert rig.command("ccrs.search", timeout=3600)[-1] == "completed"
    (partial,) = named(rig, "ccrs.partial_capture")
    assert "only switch A" in partial and "opening the lid" in partial
    assert rig.sim.world.os_location is OsLocation.CAPTURED
    assert rig.hk("ccrs.status")["capture_attempts"] == 2


def test_a_partial_capture_every_time_holds_the_os_and_the_ground_retries(rig):
    fault = inject(rig, "capture", "partial_capture", switch="b")
    stages = rig.command("ccrs.search", timeout=7200)
    assert stages[-1].startswith("completion_failed partial_capture: only switch B")
    assert state(rig) == "hold" and rig.hk("ccrs.status")["lid_angle"] == 0.0
    assert rig.sim.world.os_location is OsLocation.IN_ORBIT  # held, but not captured
    assert rig.command("ccrs.orient")[-1].startswith("completion_failed precondition")
    clear(rig, fault)  # the ground's diagnosis: search again (the lid lets the OS go first)
    assert rig.command("ccrs.search", timeout=3600)[-1] == "completed"
    assert rig.sim.world.os_location is OsLocation.CAPTURED and state(rig) == "captured"


# ---------------------------------------------------------------------------------- orientation


def test_an_ambiguous_image_is_retaken_at_another_rotation_with_the_other_camera(close_rig):
    rig = close_rig
    assert rig.command("ccrs.search", timeout=3600)[-1] == "completed"
    inject(rig, "orient.camera_a", "ambiguous_orientation")
    mark = len(rig.packets)
    assert rig.command("ccrs.orient", timeout=600)[-1] == "completed"
    (ambiguous,) = named(rig, "ccrs.orientation_ambiguous", mark)
    assert "camera_a" in ambiguous and "retaking with camera_b" in ambiguous
    (image,) = images(rig, mark)
    assert image["camera"] == 1 and DECISIONS[image["decision"]] == "oriented"
    assert rig.command("ccrs.confirm_orientation", ok=1)[-1] == "completed"
    assert state(rig) == "oriented"


def test_when_every_image_is_ambiguous_the_ground_decides_from_the_last_one(close_rig):
    rig = close_rig
    assert rig.command("ccrs.search", timeout=3600)[-1] == "completed"
    fault = inject(rig, "orient", "ambiguous_orientation")
    mark = len(rig.packets)
    stages = rig.command("ccrs.orient", timeout=600)
    assert stages[-1].startswith("completion_failed ambiguous_orientation: 4 images")
    assert len(named(rig, "ccrs.orientation_ambiguous", mark)) == 4
    (image,) = images(rig, mark)
    assert DECISIONS[image["decision"]] == "ambiguous" and state(rig) == "orient_check"
    clear(rig, fault)
    mark = len(rig.packets)
    assert rig.command("ccrs.confirm_orientation", ok=0, timeout=600)[-1] == "completed"
    (image,) = images(rig, mark)  # re-oriented from another rotation
    assert DECISIONS[image["decision"]] == "oriented" and state(rig) == "orient_check"
    assert rig.command("ccrs.confirm_orientation", ok=1)[-1] == "completed"
    assert state(rig) == "oriented"


# ---------------------------------------------------------------------------------- braze faults


def test_a_seam_under_temperature_is_reheated_at_more_power_and_seals(close_rig):
    rig = close_rig
    capture_and_contain(rig)
    inject(rig, "braze", "braze_under_temperature", coupling=0.75)
    assert hazardous(rig, "ccrs.braze", timeout=3600)[-1] == "completed"
    (under,) = named(rig, "ccrs.braze_under_temperature")
    assert "heat 1" in under and "re-heating up to 1900 W" in under
    hk = rig.hk("ccrs.status")
    assert hk["braze_attempts"] == 2 and hk["seal_ok"] and hk["seam_max"] >= 500.0
    assert rig.sim.world.pcv_sealed


def test_a_seam_that_stays_under_temperature_fails_the_braze_after_the_bounded_heats(close_rig):
    rig = close_rig
    capture_and_contain(rig)
    inject(rig, "braze", "braze_under_temperature")
    stages = hazardous(rig, "ccrs.braze", timeout=7200)
    assert stages[-1].startswith("completion_failed braze_under_temperature: peak")
    assert "after 3 heats up to 2000 W" in stages[-1]
    assert len(named(rig, "ccrs.braze_under_temperature")) == 3
    assert state(rig) == "contained" and not rig.hk("ccrs.status")["seal_ok"]
    with rig.lock:
        assert not rig.sim.emulators["braze"].on  # the heater is off
    assert not rig.sim.world.pcv_sealed


def test_a_leaking_seal_holds_and_is_reported(close_rig):
    rig = close_rig
    capture_and_contain(rig)
    inject(rig, "braze", "seal_leak")
    stages = hazardous(rig, "ccrs.braze", timeout=3600)
    assert stages[-1].startswith("completion_failed seal_leak: leak rate 2.0e-05")
    (leak,) = named(rig, "ccrs.seal_leak")
    assert "holding for the ground" in leak
    assert state(rig) == "hold" and not rig.hk("ccrs.status")["seal_ok"]
    assert rig.hk("ccrs.status")["leak_rate"] == pytest.approx(2e-5)
    assert rig.command("ccrs.transfer")[-1].startswith("completion_failed precondition")
    assert not rig.sim.world.pcv_sealed


# ---------------------------------------------------------------------------------- gantry faults


def test_a_jammed_gantry_fails_the_transfer_by_its_timeout_and_is_stopped(close_rig):
    rig = close_rig
    capture_and_contain(rig)
    assert hazardous(rig, "ccrs.braze", timeout=3600)[-1] == "completed"
    inject(rig, "ees_gantry.gantry", "jam", at=400.0)
    started = rig.now()
    stages = rig.command("ccrs.transfer", timeout=600)
    # 850 mm at 10 mm/s and 5 mm/s2 is 87 s; with the 30 s margin it fails at 117 s (+ a poll)
    assert stages[-1].startswith("completion_failed gantry_timeout: not at the EES end 117 s")
    assert "at 400 mm, EES end switch open, drive blocked at 2.0 A" in stages[-1]
    assert 117.0 <= rig.now() - started < 130.0
    assert state(rig) == "sealed" and rig.hk("ccrs.status")["gantry_position"] == 400.0
    with rig.lock:
        gantry = rig.sim.emulators["ees_gantry"]
        assert gantry.position == 400.0 and gantry.current < 1.0  # stopped: no longer pushing
        assert not gantry.vessel_in_ees
    assert rig.sim.world.os_location is OsLocation.IN_PCV
    assert "ccrs.transferred" not in [name for name, _ in rig.events()]


# ---------------------------------------------------------------------------------- refusals


def test_the_braze_is_refused_without_the_gate(close_rig):
    rig = close_rig
    capture_and_contain(rig)
    refused = rig.command("ccrs.braze")
    assert refused == ["acceptance_failed wrong_mode: ccrs.braze needs critical"]
    assert rig.command("modes.set", mode=CRITICAL)[-1] == "completed"
    assert rig.command("ccrs.braze") == ["acceptance_failed hazard:not_armed: ccrs.braze"]
    assert rig.command("gate.arm", command=SERVICE_CCRS << 8 | 5)[-1] == "completed"
    assert rig.command("ccrs.braze") == ["acceptance_failed hazard:inhibit:braze: ccrs.braze"]
    assert state(rig) == "contained"
    with rig.lock:
        assert rig.sim.emulators["braze"].energy < 2000.0  # only the containment tack


def test_commands_out_of_order_are_refused_with_the_state_named(rig):
    for command in ("ccrs.orient", "ccrs.contain", "ccrs.transfer", "ccrs.stow"):
        stages = rig.command(command)
        assert stages[-1].startswith("completion_failed precondition: the CCRS is idle"), stages
    assert rig.command("ccrs.confirm_orientation", ok=1)[-1].startswith(
        "completion_failed precondition: no image"
    )
    assert state(rig) == "idle"


# ---------------------------------------------------------------------------------- resets


def test_the_release_waits_for_the_stow_and_no_reset_fires_it_twice(close_rig):
    rig = close_rig
    assert rig.command("ccrs.search", timeout=3600)[-1] == "completed"
    rig.boot("reset")
    assert state(rig) == "captured"
    assert any("captured after the reset" in d for d in named(rig, "ccrs.restored"))
    assert rig.command("modes.set", mode=NOMINAL)[-1] == "completed"
    assert rig.command("ccrs.orient", timeout=600)[-1] == "completed"
    assert rig.command("ccrs.confirm_orientation", ok=1)[-1] == "completed"
    assert rig.command("ccrs.contain", timeout=120)[-1] == "completed"
    assert hazardous(rig, "ccrs.braze", timeout=3600)[-1] == "completed"
    assert rig.command("ccrs.transfer", timeout=600)[-1] == "completed"
    stages = hazardous(rig, "ccrs.release_ees", timeout=60)
    assert stages == ["acceptance_failed hazard:precondition:stowed: ccrs.release_ees"]
    assert not rig.sim.world.ees_released
    assert rig.command("ccrs.stow", timeout=600)[-1] == "completed"
    assert hazardous(rig, "ccrs.release_ees", timeout=60)[-1] == "completed"
    with rig.lock:
        fired = rig.sim.emulators["ees_gantry"].released_at
    rig.boot("reset")
    assert state(rig) == "ees_released" and rig.hk("ccrs.status")["ees_released"]
    assert rig.command("modes.set", mode=NOMINAL)[-1] == "completed"
    stages = hazardous(rig, "ccrs.release_ees", timeout=60)
    assert stages[-1].startswith("acceptance_failed hazard:precondition:")
    with rig.lock:
        assert rig.sim.emulators["ees_gantry"].released_at == fired


def test_going_safe_or_a_reset_during_the_braze_leaves_the_heater_off(close_rig):
    rig = close_rig
    capture_and_contain(rig)
    braze = rig.sim.emulators["braze"]
    for interruption in ("safe", "reset"):
        assert rig.command("modes.set", mode=CRITICAL)[-1] == "completed"
        assert (
            rig.command("gate.remove_inhibit", inhibit=INHIBITS.index("braze"))[-1] == "completed"
        )
        assert rig.command("gate.arm", command=SERVICE_CCRS << 8 | 5)[-1] == "completed"
        rig.send("ccrs.braze")
        rig.run(100.0)
        assert state(rig) == "braze"
        with rig.lock:
            assert braze.on
        if interruption == "safe":
            assert rig.command("modes.set", mode=1)[-1] == "completed"
        else:
            rig.boot("reset")
        rig.run(2.0)
        with rig.lock:
            assert not braze.on, interruption
        assert state(rig) == "contained"
        assert rig.command("modes.set", mode=NOMINAL)[-1] == "completed"
    assert not rig.sim.world.pcv_sealed
