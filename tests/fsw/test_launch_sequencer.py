"""The MAV launch sequencer (fsw/apps/launch.py), tested as the campaign's operator procedures on
the mav node and its emulated boards: a nominal launch from a cold propellant to the OS in orbit,
the refusals of the hazardous-command gate and of the sequencer's own guards, every abort (each
ending safe, with its reason, and nothing firing after it), resets before and after the toss, and
a Hypothesis state machine that sends the sequencer's and the gate's commands in random order and
checks that no pyro channel ever fires unless every guard held."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fsw.core.nvstore import NvError
from fsw.dictionary.mav import ABORT_REASONS, INHIBITS, LAUNCH_STATES
from sim_hardware.world import OsLocation
from tests.fsw.mission_rig import MissionRig

ARM = 170 << 8 | 3  # launch.arm, as gate.arm names it
LAUNCH = 170 << 8 | 4  # launch.launch
NOMINAL, CRITICAL, SAFE = 2, 3, 1
ASCENT = 1000.0  # simulated seconds a launch command is given (the ascent takes about 580)


# ---------------------------------------------------------------------- the operator's helpers


def pad(rig: MissionRig) -> None:
    """The pad as the campaign leaves it: the OS container shut and latched on the lander (the
    coupling then loads the OS into the MAV nose) and the arm plug put in by hand."""
    with rig.lock:
        container = rig.sim.emulators["os_container"]
        container.position = container.lid_target = 0.0
        container.latched = True
        rig.sim.emulators["mav_pyro"].insert_arm_plug()
    rig.run(1.0)
    assert rig.sim.world.os_location is OsLocation.IN_MAV


@pytest.fixture
def rig(tmp_path):
    with MissionRig(tmp_path, "mav") as rig:
        pad(rig)
        yield rig


def status(rig: MissionRig) -> dict:
    """``launch.status`` with the state and the abort reason by name."""
    hk = rig.hk("launch.status")
    return {
        **hk,
        "state": LAUNCH_STATES[hk["state"]],
        "abort_reason": ABORT_REASONS[hk["abort_reason"]],
    }


def ok(stages: list[str]) -> bool:
    return stages[-1] == "completed"


def critical(rig: MissionRig) -> None:
    """From safe through nominal to critical."""
    assert ok(rig.command("modes.set", mode=NOMINAL))
    assert ok(rig.command("modes.set", mode=CRITICAL))


def load(rig: MissionRig) -> None:
    """Nominal mode, thermal conditioning, the OS verified in the nose."""
    assert ok(rig.command("modes.set", mode=NOMINAL))
    assert ok(rig.command("launch.condition", timeout=3600))
    assert ok(rig.command("launch.verify_load"))


def arm(rig: MissionRig) -> list[str]:
    """Critical mode, the onboard ``arm`` inhibit removed, the gate armed, launch.arm."""
    assert ok(rig.command("modes.set", mode=CRITICAL))
    assert ok(rig.command("gate.remove_inhibit", inhibit=INHIBITS.index("arm")))
    assert ok(rig.command("gate.arm", command=ARM))
    return rig.command("launch.arm", timeout=30)


def launch(rig: MissionRig, timeout: float = ASCENT) -> list[str]:
    """The go/no-go poll (ten seconds), the ``launch`` inhibit removed, the gate armed, launch."""
    rig.run(10.0)
    assert status(rig)["state"] == "armed"
    assert ok(rig.command("gate.remove_inhibit", inhibit=INHIBITS.index("launch")))
    assert ok(rig.command("gate.arm", command=LAUNCH))
    return rig.command("launch.launch", timeout=timeout)


def pyro(rig: MissionRig):
    return rig.sim.emulators["mav_pyro"]


def fired(rig: MissionRig) -> list[str]:
    """The pyro channels that fired, in order."""
    return [c for c, _ in sorted(pyro(rig).fired_at.items(), key=lambda item: item[1])]


def launch_events(rig: MissionRig) -> list[tuple[str, str]]:
    return [e for e in rig.events() if e[0].startswith("launch.")]


def assert_safe_after(rig: MissionRig, reason: str, channels: list[str]) -> None:
    """The vehicle is safe: state safe with ``reason``, the event, every pyro inhibit back in
    place, the node safe and disarmed; and nothing fires afterwards."""
    hk = status(rig)
    assert hk["state"] == "safe" and hk["abort_reason"] == reason
    assert hk["inhibits_removed"] == 0 and not any(pyro(rig).removed.values())
    aborts = [d for n, d in launch_events(rig) if n == "launch.abort"]
    assert aborts and aborts[-1].startswith(f"{reason}: ")
    assert rig.node.modes.mode == "safe" and not rig.node.gate.armed(rig.now())
    rig.run(700.0)  # long enough for any ascent step to have come due
    assert fired(rig) == channels
    assert rig.sim.emulators["mav_avionics"].latched  # the OS was never let go


# ---------------------------------------------------------------------- the nominal launch


def test_nominal_launch_from_a_cold_propellant_to_the_os_released_in_orbit(rig):
    # the propellant a little under its launch temperature, the lander's heaters on full
    with rig.lock:
        igloo = rig.sim.emulators["igloo"]
        igloo.propellant = -20.3
        igloo.duty = [100.0] * 16
    assert ok(rig.command("modes.set", mode=NOMINAL))
    started = rig.now()
    stages = rig.command("launch.condition", timeout=3600)
    assert ok(stages) and "progress" in stages  # it waited for the propellant
    assert rig.now() - started > 600
    hk = status(rig)
    assert hk["state"] == "conditioned" and hk["propellant_temp"] >= -20.0
    assert -40.0 <= hk["zone_min"] <= hk["zone_max"] <= 40.0
    assert ok(rig.command("launch.verify_load"))
    assert status(rig)["state"] == "os_loaded"

    assert arm(rig) == ["accepted", "started", "progress", "progress", "completed"]
    hk = status(rig)
    assert hk["state"] == "armed" and hk["inhibits_removed"] == 0b011
    assert pyro(rig).removed == {"inhibit_1": True, "inhibit_2": True, "inhibit_3": False}

    stages = launch(rig)
    assert stages == ["accepted", "started"] + ["progress"] * 9 + ["completed"]
    hk = status(rig)
    assert hk["state"] == "released" and hk["abort_reason"] == "none" and hk["os_released"]
    assert 300 < hk["altitude"] < 400 and hk["speed"] > 3300 and hk["spin"] == pytest.approx(200)
    assert fired(rig) == ["toss", "srm1", "srm2"]
    world = rig.sim.world
    assert world.os_location is OsLocation.IN_ORBIT and world.mav_launched
    assert 300 < world.os_orbit.altitude_km < 400

    events = launch_events(rig)
    transitions = [d for n, d in events if n == "launch.state"]
    assert transitions == [
        "safe -> conditioning", "conditioning -> conditioned", "conditioned -> os_loaded",
        "os_loaded -> armed", "armed -> toss", "toss -> srm1_ignition",
        "srm1_ignition -> srm1_burn", "srm1_burn -> coast", "coast -> spin_up",
        "spin_up -> srm2_burn", "srm2_burn -> os_release", "os_release -> released",
    ]  # fmt: skip
    names = [n for n, _ in events]
    assert names.count("launch.ignition") == 2 and names[-1] == "launch.released"
    ignitions = [d for n, d in events if n == "launch.ignition"]
    assert ignitions[0].startswith("srm1 confirmed") and ignitions[1].startswith("srm2 confirmed")
    assert names.index("launch.ignition") < names.index("launch.released")
    assert "launch.abort" not in names


def test_a_single_rate_upset_is_ridden_through(rig):
    load(rig)
    assert ok(arm(rig))
    stages = launch(rig, timeout=20.0)  # into the SRM1 burn
    assert stages[-1] == "progress" and status(rig)["state"] == "srm1_burn"
    with rig.lock:  # one upset sample in the next quarter second (every other report)
        rig.sim.emulators["mav_avionics"].inject(
            "imu_rate_spike", "imu", axis=1, size=500.0, until=rig.now() + 0.25
        )
    rig.run(120.0)
    hk = status(rig)
    assert hk["state"] in ("coast", "spin_up") and hk["abort_reason"] == "none"


# ---------------------------------------------------------------------- refusals


def test_the_gate_and_the_sequencer_refuse_what_is_out_of_order(rig):
    assert rig.command("launch.condition") == [
        "acceptance_failed wrong_mode: launch.condition needs nominal/critical"
    ]
    assert ok(rig.command("modes.set", mode=NOMINAL)) and ok(
        rig.command("modes.set", mode=CRITICAL)
    )
    stages = rig.command("launch.verify_load")
    assert (
        stages[-1] == "completion_failed precondition: launch.verify_load needs state "
        "conditioned, the sequencer is safe"
    )
    # the launch without its ground arm
    assert rig.command("launch.launch") == ["acceptance_failed hazard:not_armed: launch.launch"]
    # arming before the OS is loaded: the sequencer's own precondition, named
    assert ok(rig.command("gate.remove_inhibit", inhibit=INHIBITS.index("arm")))
    assert ok(rig.command("gate.arm", command=ARM))
    assert rig.command("launch.arm") == [
        "acceptance_failed hazard:precondition:os_loaded: launch.arm"
    ]
    # with the onboard inhibit back in place (which also disarms it)
    assert ok(rig.command("gate.restore_inhibit", inhibit=INHIBITS.index("arm")))
    assert ok(rig.command("gate.arm", command=ARM))
    assert rig.command("launch.arm") == ["acceptance_failed hazard:inhibit:arm: launch.arm"]
    # a hazardous command in nominal mode
    assert ok(rig.command("gate.remove_inhibit", inhibit=INHIBITS.index("arm")))
    assert ok(rig.command("modes.set", mode=NOMINAL))
    assert rig.command("launch.arm") == ["acceptance_failed hazard:mode:nominal: launch.arm"]
    # loaded and critical, but the arm plug out
    assert ok(rig.command("launch.condition")) and ok(rig.command("launch.verify_load"))
    assert ok(rig.command("modes.set", mode=CRITICAL))
    with rig.lock:
        pyro(rig).remove_arm_plug()
    assert rig.command("launch.arm") == [
        "acceptance_failed hazard:precondition:arm_plug_in: launch.arm"
    ]
    # armed, but the launch with the launch inhibit in place, then in nominal mode
    with rig.lock:
        pyro(rig).insert_arm_plug()
    assert ok(rig.command("launch.arm", timeout=30))
    assert ok(rig.command("gate.arm", command=LAUNCH))
    assert rig.command("launch.launch") == [
        "acceptance_failed hazard:inhibit:launch: launch.launch"
    ]
    assert fired(rig) == [] and status(rig)["state"] == "armed"
    assert not pyro(rig).removed["inhibit_3"]


# ---------------------------------------------------------------------- aborts


def test_an_srm1_that_does_not_light_in_its_window_aborts_and_nothing_else_fires(rig):
    rig.inject("mav_pyro.srm1", "igniter_no_fire")
    load(rig)
    assert ok(arm(rig))
    stages = launch(rig)
    assert stages[-1].startswith("completion_failed ignition_timeout: srm1 not confirmed by +2.0 s")
    assert [channel for channel, _ in pyro(rig).misfired] == ["srm1"]
    assert_safe_after(rig, "ignition_timeout", ["toss"])
    # the MAV was tossed and fell back: nothing may start again
    assert rig.sim.world.mav_launched and rig.sim.world.os_location is OsLocation.IN_MAV
    assert ok(rig.command("modes.set", mode=NOMINAL))
    assert rig.command("launch.condition")[-1].startswith("completion_failed launched:")


def test_a_heater_zone_out_of_limits_during_conditioning_aborts(rig):
    with rig.lock:
        rig.sim.emulators["igloo"].propellant = -30.0  # conditioning has to wait
    assert ok(rig.command("modes.set", mode=NOMINAL))
    stages = rig.command("launch.condition", timeout=100)
    assert stages[-1] == "progress" and status(rig)["state"] == "conditioning"
    rig.inject("igloo.heaters", "heater_zone_failure", index=5, mode="thermistor")
    stages = rig.command("launch.condition", timeout=1)  # refused: the first one still runs
    assert stages[-1].startswith("completion_failed precondition:")
    assert rig.run_until(lambda: status(rig)["state"] == "safe", timeout=120)
    hk = status(rig)
    assert hk["abort_reason"] == "temperature" and hk["zone_min"] == -150.0
    detail = [d for n, d in launch_events(rig) if n == "launch.abort"][-1]
    assert detail.startswith("temperature: heater zones -150.0..") and "(in conditioning)" in detail
    assert_safe_after(rig, "temperature", [])


def test_a_heater_zone_out_of_limits_while_armed_aborts_and_restores_the_inhibits(rig):
    load(rig)
    assert ok(arm(rig))
    rig.inject("igloo.heaters", "heater_zone_failure", index=11, mode="thermistor")
    assert rig.run_until(lambda: status(rig)["state"] == "safe", timeout=10)
    assert_safe_after(rig, "temperature", [])


def test_a_pyro_inhibit_that_stays_in_place_aborts_the_arming(rig):
    rig.inject("mav_pyro.inhibit_2", "stuck", field="removed")  # reads in place, whatever it is
    load(rig)
    stages = arm(rig)
    assert stages[-1] == (
        "completion_failed inhibit_mismatch: after removing inhibit 2 the inhibits read "
        "removed [1], expected [1, 2]"
    )
    assert_safe_after(rig, "inhibit_mismatch", [])


def test_an_attitude_rate_over_its_limit_aborts_the_ascent_before_srm2(rig):
    load(rig)
    assert ok(arm(rig))
    rig.inject("mav_avionics.imu", "imu_rate_spike", axis=1, size=500.0)
    stages = launch(rig)
    assert stages[-1].startswith("completion_failed attitude_rate: 3 of the last 5 rate samples")
    assert_safe_after(rig, "attitude_rate", ["toss", "srm1"])
    assert rig.sim.world.os_location is OsLocation.IN_MAV  # never released


def test_the_operator_safes_the_vehicle_before_the_toss(rig):
    load(rig)
    assert ok(arm(rig))
    assert ok(rig.command("launch.safe"))
    assert_safe_after(rig, "operator", [])
    # and launch.safe while conditioning ends the conditioning
    with rig.lock:
        rig.sim.emulators["igloo"].propellant = -30.0
    assert ok(rig.command("modes.set", mode=NOMINAL))
    assert rig.command("launch.condition", timeout=5)[-1] == "progress"
    assert ok(rig.command("launch.safe"))
    assert status(rig)["abort_reason"] == "operator"
    assert rig.node.components["launch"].last_failure.startswith("condition: operator:")


def test_a_state_the_store_cannot_keep_is_reported_and_the_sequence_goes_on(rig, monkeypatch):
    def full_disk(section: str, value: object) -> None:
        raise NvError("mav: cannot write: No space left on device")

    monkeypatch.setattr(rig.node.nv, "put", full_disk)
    since = len(rig.packets)
    assert ok(rig.command("modes.set", mode=NOMINAL))
    assert ok(rig.command("launch.condition", timeout=3600))  # the vehicle does what it must
    failures = [d for n, d in rig.events(since) if n == "core.store_failed"]
    assert failures and failures[0] == "launch: mav: cannot write: No space left on device"


def test_the_node_going_safe_takes_the_sequencer_with_it(rig):
    load(rig)
    assert ok(rig.command("modes.set", mode=SAFE))
    hk = status(rig)
    assert hk["state"] == "safe" and hk["abort_reason"] == "safe_mode"


# ---------------------------------------------------------------------- resets


def test_a_reset_before_arming_comes_back_safe(rig):
    load(rig)
    rig.boot()
    hk = status(rig)
    assert hk["state"] == "safe" and hk["abort_reason"] == "reset"
    assert [d for n, d in launch_events(rig) if n == "launch.abort"][-1].startswith(
        "reset: the node restarted in state os_loaded"
    )
    load(rig)  # the campaign starts the sequence again
    assert status(rig)["state"] == "os_loaded"


def test_a_reset_while_armed_puts_the_pyro_inhibits_back(rig):
    load(rig)
    assert ok(arm(rig))
    rig.boot()
    hk = status(rig)
    assert hk["state"] == "safe" and hk["abort_reason"] == "reset"
    assert hk["inhibits_removed"] == 0 and not any(pyro(rig).removed.values())


def test_a_reset_after_the_toss_never_fires_anything_again(rig):
    load(rig)
    assert ok(arm(rig))
    assert launch(rig, timeout=5.0)[-1] == "progress"
    assert status(rig)["state"] == "srm1_burn" and fired(rig) == ["toss", "srm1"]
    rig.boot()
    hk = status(rig)
    assert hk["state"] == "safe" and hk["abort_reason"] == "reset"
    rig.run(700.0)
    assert fired(rig) == ["toss", "srm1"] and not any(pyro(rig).removed.values())
    assert ok(rig.command("modes.set", mode=NOMINAL)) and ok(
        rig.command("modes.set", mode=CRITICAL)
    )
    assert rig.command("launch.condition")[-1].startswith("completion_failed launched:")
    assert ok(rig.command("gate.remove_inhibit", inhibit=0))
    assert ok(rig.command("gate.remove_inhibit", inhibit=1))
    assert ok(rig.command("gate.arm", command=LAUNCH))
    assert rig.command("launch.launch") == [
        "acceptance_failed hazard:precondition:not_launched: launch.launch"
    ]
    assert ok(rig.command("launch.safe"))  # safing is always accepted
    assert fired(rig) == ["toss", "srm1"]


# ---------------------------------------------------------------------- the state machine

COMMANDS = ("launch.condition", "launch.verify_load", "launch.arm", "launch.launch", "launch.safe")
PROCEDURE = (
    ("modes.set", {"mode": NOMINAL}), ("launch.condition", {}), ("launch.verify_load", {}),
    ("modes.set", {"mode": CRITICAL}), ("gate.remove_inhibit", {"inhibit": 0}),
    ("gate.arm", {"command": ARM}), ("launch.arm", {}), ("gate.remove_inhibit", {"inhibit": 1}),
    ("gate.arm", {"command": LAUNCH}), ("launch.launch", {}),
)  # fmt: skip
WINDOWS = {ARM: 120.0, LAUNCH: 60.0}
NAMED_BY = {0: (ARM, LAUNCH), 1: (LAUNCH,)}  # the commands naming each onboard inhibit


class LaunchMachine(RuleBasedStateMachine):
    """The sequencer's and the gate's commands in any order, the arm plug in or out, time
    passing. A ground-side model records what each guard was when each hazardous command was
    sent; the invariant is that no pyro channel fires unless every guard held."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.rig = MissionRig(Path(self.dir.name), "mav")
        pad(self.rig)
        self.phase = "safe"  # the sequence as the ground has seen it complete
        self.removed = {0: False, 1: False}  # the gate's onboard inhibits
        self.armed: dict[int, float] = {}  # gate arms: command -> time
        self.plug = True
        self.mode = "safe"
        self.launches: list[tuple[float, bool]] = []  # accepted launch.launch: time, guards held
        self.arms: list[bool] = []  # accepted launch.arm: guards held

    def teardown(self) -> None:
        self.rig.close()
        self.dir.cleanup()

    # -------------------------------------------------------------- the ground's model

    def _gate_ok(self, code: int) -> bool:
        now = self.rig.now()
        at = self.armed.get(code)
        inhibits = [0] if code == ARM else [0, 1]
        return (
            at is not None and now <= at + WINDOWS[code] + 0.5  # lenient: the command's cycle
            and all(self.removed[i] for i in inhibits) and self.rig.node.modes.mode == "critical"
            and self.plug
        )  # fmt: skip

    def send(self, name: str, timeout: float = 30.0, **args: int) -> list[str]:
        guards = None
        if name == "launch.arm":
            guards = self.phase == "os_loaded" and self._gate_ok(ARM)
        elif name == "launch.launch":
            guards = self.phase == "armed" and self._gate_ok(LAUNCH)
        sent = self.rig.now()
        stages = self.rig.command(name, timeout=timeout, **args)
        accepted = stages[0] == "accepted"
        done = stages[-1] == "completed"
        if name == "gate.arm" and done:
            self.armed[args["command"]] = sent
        elif name in ("gate.remove_inhibit", "gate.restore_inhibit") and done:
            self.removed[args["inhibit"]] = name == "gate.remove_inhibit"
            if name == "gate.restore_inhibit":  # a restore disarms what names the inhibit
                for code in NAMED_BY[args["inhibit"]]:
                    self.armed.pop(code, None)
        elif name == "launch.arm" and accepted:
            self.armed.pop(ARM, None)
            self.arms.append(bool(guards))
            self.phase = "armed" if done else "safe"
        elif name == "launch.launch" and accepted:
            self.armed.pop(LAUNCH, None)
            self.launches.append((sent, bool(guards)))
            self.phase = "launched"
        elif name == "launch.condition" and self.phase != "launched":
            self.phase = "conditioned" if done else self.phase
        elif name == "launch.verify_load" and done:
            self.phase = "os_loaded"
        elif name == "launch.safe" and done and self.phase != "launched":
            self.phase = "safe"
        self._observe()
        return stages

    def _observe(self) -> None:
        mode = self.rig.node.modes.mode
        if mode == "safe" and self.mode != "safe":
            self.armed.clear()  # entering safe mode disarms the gate
        if mode == "safe" and self.phase != "launched":
            self.phase = "safe"
        self.mode = mode

    # -------------------------------------------------------------- rules

    @rule(command=st.sampled_from(COMMANDS))
    def sequencer(self, command: str) -> None:
        self.send(command, timeout=3.0 if command == "launch.launch" else 30.0)

    @rule(mode=st.sampled_from([SAFE, NOMINAL, CRITICAL]))
    def set_mode(self, mode: int) -> None:
        self.send("modes.set", mode=mode)

    @rule(inhibit=st.sampled_from([0, 1]), remove=st.booleans())
    def gate_inhibit(self, inhibit: int, remove: bool) -> None:
        self.send("gate.remove_inhibit" if remove else "gate.restore_inhibit", inhibit=inhibit)

    @rule(code=st.sampled_from([ARM, LAUNCH]))
    def gate_arm(self, code: int) -> None:
        self.send("gate.arm", command=code)

    @rule(inserted=st.booleans())
    def arm_plug(self, inserted: bool) -> None:
        with self.rig.lock:
            if inserted:
                pyro(self.rig).insert_arm_plug()
            else:
                pyro(self.rig).remove_arm_plug()
        self.plug = inserted

    @rule(seconds=st.sampled_from([1.0, 10.0, 100.0]))
    def wait(self, seconds: float) -> None:
        self.rig.run(seconds)
        self._observe()

    @rule(steps=st.integers(1, len(PROCEDURE)))
    def procedure(self, steps: int) -> None:
        """The first steps of the nominal ground procedure, to get deep into the sequence."""
        for name, args in PROCEDURE[:steps]:
            self.send(name, timeout=3.0 if name == "launch.launch" else 30.0, **args)

    # -------------------------------------------------------------- invariants

    @invariant()
    def the_state_is_always_a_known_one(self) -> None:
        hk = self.rig.hk("launch.status")
        assert 0 <= hk["state"] < len(LAUNCH_STATES)
        assert 0 <= hk["abort_reason"] < len(ABORT_REASONS)

    @invariant()
    def hazardous_commands_run_only_when_every_guard_held(self) -> None:
        assert all(self.arms) and all(guards for _, guards in self.launches)

    @invariant()
    def no_pyro_fires_unless_every_guard_held(self) -> None:
        times = pyro(self.rig).fired_at
        if "toss" in times:
            assert any(sent <= times["toss"] and guards for sent, guards in self.launches)
        if "srm1" in times:
            assert times["toss"] < times["srm1"]
        if "srm2" in times:
            assert times["srm1"] < times["srm2"]
        misfired = [c for c, _ in pyro(self.rig).misfired]
        assert not misfired

    @invariant()
    def pyro_inhibits_are_in_place_unless_armed(self) -> None:
        sequencer = self.rig.node.components["launch"]
        state = LAUNCH_STATES[self.rig.hk("launch.status")["state"]]
        if any(pyro(self.rig).removed.values()):
            assert sequencer.running or state not in ("safe", "conditioning", "conditioned",
                                                      "os_loaded")  # fmt: skip


TestLaunchMachine = LaunchMachine.TestCase
TestLaunchMachine.settings = settings(max_examples=20, stateful_step_count=12, deadline=None)
