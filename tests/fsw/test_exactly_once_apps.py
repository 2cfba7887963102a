"""The flight apps act on the truth a driver reports after a lost reply (decision 0022), on the
mav node and its emulated boards: a fire whose reply is lost is confirmed by the channel's status
and the ascent goes on, SRM1 fired once; a fire that never reaches the board is reported not
done, taken back out of the sequencer's fired mask, and the vehicle is made safe with nothing
fired after the toss."""

from __future__ import annotations

import pytest

from fsw.apps.launch import CHANNEL_BITS
from tests.fsw.mission_rig import MissionRig
from tests.fsw.test_launch_sequencer import (
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
