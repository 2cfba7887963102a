"""The flight apps act on the truth a driver reports after a lost reply (decision 0022), on the
mav node and its emulated boards: a fire whose reply is lost is confirmed by the channel's status
and the ascent goes on, SRM1 fired once; a fire that never reaches the board is reported not
done, taken back out of the sequencer's fired mask, and the vehicle is made safe with nothing
fired after the toss. On the orbiter, a brazing power-on whose reply is lost is confirmed by the
drive's status and the seam seals; an EES release the board never got is not counted fired."""

from __future__ import annotations

from typing import Any

import pytest

from fsw.apps.launch import CHANNEL_BITS
from tests.fsw.mission_rig import MissionRig
from tests.fsw.test_ccrs import CLOSE, capture_and_contain, hazardous, in_orbit
from tests.fsw.test_launch_sequencer import (
    NOMINAL,
    arm,
    assert_safe_after,
    fired,
    launch,
    load,
    ok,
    pad,
    pyro,
    status,
)


@pytest.fixture
def rig(tmp_path):
    with MissionRig(tmp_path, "mav") as rig:
        pad(rig)
        load(rig)
        assert ok(arm(rig))
        yield rig


def test_a_lost_reply_to_srm1s_fire_is_confirmed_by_its_status_and_the_mav_reaches_orbit(rig):
    rig.inject("mav_pyro.srm1", "reply_lost", command="fire")
    assert ok(launch(rig))
    assert status(rig)["state"] == "released"
    assert fired(rig) == ["toss", "srm1", "srm2"]
    assert pyro(rig).acted[("srm1", "fire")] == 1
    lost = [d for n, d in rig.events() if n == "health.device_reply_lost"]
    assert any("srm1" in d and "fired = true" in d for d in lost)


def test_a_fire_that_never_reaches_the_board_is_not_counted_fired_and_the_mav_goes_safe(rig):
    rig.inject("mav_pyro.srm1", "request_lost", command="fire", count=100)
    stages = launch(rig)
    assert stages[-1].startswith("completion_failed")
    assert pyro(rig).acted[("srm1", "fire")] == 0
    app = rig.node.components["launch"]
    assert not app.fired & CHANNEL_BITS["srm1"]  # taken back out: its status said not fired
    assert_safe_after(rig, "device_error", ["toss"])


def deaf_after_firing(rig: MissionRig, channel: str) -> None:
    """Once ``channel`` fires, its board loses every reply of that channel's fire (the first
    and the repeats) and of its next status reads: the driver can neither hear the fire nor
    read it."""
    board = pyro(rig)
    handler = getattr(board, f"cmd_{channel}_fire")

    def fire(values: dict[str, Any], now: float) -> None:
        handler(values, now)
        board.inject("reply_lost", channel, command="fire", count=3)
        board.inject("reply_lost", channel, command="status", count=3)

    setattr(board, f"cmd_{channel}_fire", fire)


def test_an_unconfirmed_srm1_fire_is_decided_by_the_accelerometer(rig):
    """SRM1 fires, but neither its fire's reply nor its channel's status comes back: the fire
    stays counted, and the thrust the accelerometer sees carries the ascent on."""
    deaf_after_firing(rig, "srm1")
    assert ok(launch(rig))
    assert status(rig)["state"] == "released"
    assert fired(rig) == ["toss", "srm1", "srm2"] and pyro(rig).acted[("srm1", "fire")] == 1
    (unconfirmed,) = [d for n, d in rig.events() if n == "launch.fire_unconfirmed"]
    assert unconfirmed.startswith("srm1: ")
    ignitions = [d for n, d in rig.events() if n == "launch.ignition"]
    assert ignitions[0].startswith("srm1 confirmed")


def test_an_unconfirmed_toss_is_an_abort(rig):
    deaf_after_firing(rig, "toss")
    assert launch(rig)[-1].startswith("completion_failed")
    assert pyro(rig).acted[("toss", "fire")] == 1
    assert rig.node.components["launch"].fired & CHANNEL_BITS["toss"]  # counted: it may have
    assert_safe_after(rig, "device_error", ["toss"])


# ---------------------------------------------------------------------------------- the CCRS


def test_a_lost_reply_to_the_brazing_power_on_is_confirmed_and_the_seam_seals(tmp_path):
    with MissionRig(tmp_path, "orbiter", coupling_config=CLOSE) as rig:
        in_orbit(rig)
        assert ok(rig.command("modes.set", mode=NOMINAL))
        capture_and_contain(rig)
        braze = rig.sim.emulators["braze"]
        ons = braze.acted[("heater", "on")]
        rig.inject("braze.heater", "reply_lost", command="on")
        assert ok(hazardous(rig, "ccrs.braze", timeout=3600))
        heats = rig.node.components["ccrs"].braze_attempts  # a re-heat switches on anew
        assert braze.acted[("heater", "on")] == ons + heats  # each heat's power-on acted once
        assert rig.hk("ccrs.status")["seal_ok"] and rig.sim.world.pcv_sealed
        lost = [d for n, d in rig.events() if n == "health.device_reply_lost"]
        assert any("heater" in d and "on = true" in d for d in lost)


def test_an_ees_release_the_board_never_got_is_not_counted_fired(tmp_path):
    with MissionRig(tmp_path, "orbiter", coupling_config=CLOSE) as rig:
        in_orbit(rig)
        assert ok(rig.command("modes.set", mode=NOMINAL))
        capture_and_contain(rig)
        assert ok(hazardous(rig, "ccrs.braze", timeout=3600))
        assert ok(rig.command("ccrs.transfer", timeout=600))
        assert ok(rig.command("ccrs.stow", timeout=600))
        rig.inject("ees_gantry.release", "request_lost", command="release", count=100)
        stages = hazardous(rig, "ccrs.release_ees", timeout=60)
        assert stages[-1].startswith("completion_failed device: not_acted")
        assert rig.sim.emulators["ees_gantry"].acted[("release", "release")] == 0
        assert not rig.sim.world.ees_released
        assert not rig.hk("ccrs.status")["ees_released"]
        assert not rig.node.components["ccrs"].release_fired  # free to be fired again
