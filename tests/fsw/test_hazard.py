"""The onboard hazardous-command gate (fsw/core/hazard.py), tested as operator procedures.

Arm then fire within the window, one fire per arm; independent inhibits; modes and preconditions
checked onboard; only a source carrying the ground's confirmation arms, removes an inhibit or
fires, and fault protection never does (decision 0024); and a Hypothesis state machine showing
that no sequence of commands fires a hazardous command without a valid confirmed arm within its
window.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fsw.core.hazard import EVENTS, CommandSource, GateError, HazardGate, HazardSpec, SourceKind

GROUND = CommandSource.ground(confirmed=True)
UNCONFIRMED = CommandSource.ground()
SEQUENCE = CommandSource.sequence("mav_launch")
SEQUENCE_CONFIRMED = CommandSource.sequence("mav_launch", confirmed=True)
SCHEDULE = CommandSource.schedule(name="7")
SCHEDULE_CONFIRMED = CommandSource.schedule(confirmed=True, name="8")
FDIR = CommandSource.fdir("overload")
SOURCES = [GROUND, UNCONFIRMED, SEQUENCE, SEQUENCE_CONFIRMED, SCHEDULE, SCHEDULE_CONFIRMED, FDIR]

SRM1 = HazardSpec(
    name="mav.fire_srm1",
    window=10.0,
    inhibits=("pyro_inhibit_1", "pyro_inhibit_2"),
    modes=("critical",),
)
OS_RELEASE = HazardSpec(
    name="os.release",
    window=30.0,
    inhibits=("os_release_inhibit", "pyro_inhibit_1"),  # shares pyro_inhibit_1 with the SRM
    modes=("critical", "nominal"),
)
EES_RELEASE = HazardSpec(
    name="ees.release", window=5.0, inhibits=("ees_inhibit",), modes=("critical",)
)
SPECS = (SRM1, OS_RELEASE, EES_RELEASE)
GO = {"igniter_continuity": True, "tank_pressure_ok": True}


class Recorder:
    """Collects the events the gate emits."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, name: str, detail: str) -> None:
        self.events.append((name, detail))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def make_gate() -> tuple[HazardGate, Recorder]:
    recorder = Recorder()
    return HazardGate(SPECS, emit=recorder), recorder


def clear_inhibits(gate: HazardGate, spec: HazardSpec, now: float = 0.0) -> None:
    for inhibit in spec.inhibits:
        gate.remove_inhibit(inhibit, now, GROUND)


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(GateError) as caught:
        call(*args, **kwargs)
    return caught.value.reason


def fire(gate: HazardGate, now: float, *, name: str = "mav.fire_srm1",
         source: CommandSource = GROUND,
         mode: str = "critical", preconditions: dict[str, bool] | None = None) -> None:  # fmt: skip
    gate.check_fire(name, now, source, mode, GO if preconditions is None else preconditions)


def fire_refusal(gate: HazardGate, now: float, **kwargs) -> str:
    return refusal(fire, gate, now, **kwargs)


# -- power-on ------------------------------------------------------------------------------------


def test_a_node_comes_up_with_every_inhibit_in_place_and_nothing_armed():
    gate, _ = make_gate()
    assert gate.inhibits == {
        "pyro_inhibit_1": True,
        "pyro_inhibit_2": True,
        "os_release_inhibit": True,
        "ees_inhibit": True,
    }
    assert gate.armed(0.0) == {}


# -- arm, fire, window ---------------------------------------------------------------------------


def test_an_arm_then_a_fire_within_the_window_passes_once():
    gate, events = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert gate.armed(100.0) == {"mav.fire_srm1": 110.0}
    fire(gate, 105.0)
    assert gate.armed(105.0) == {}
    assert "hazard_fired" in events.names()
    assert fire_refusal(gate, 106.0) == "not_armed"


def test_a_fire_without_an_arm_is_rejected_as_not_armed():
    gate, events = make_gate()
    clear_inhibits(gate, SRM1)
    assert fire_refusal(gate, 0.0) == "not_armed"
    assert events.events[-1][0] == "hazard_rejected"
    assert "mav.fire_srm1" in events.events[-1][1]
    assert "not_armed" in events.events[-1][1]


def test_a_fire_exactly_at_the_end_of_the_window_still_passes():
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    fire(gate, 110.0)


def test_a_fire_after_the_window_is_rejected_as_expired_and_needs_a_new_arm():
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert gate.armed(110.5) == {}
    assert fire_refusal(gate, 110.5) == "expired"
    assert fire_refusal(gate, 110.6) == "not_armed"  # the stale arm was cleared
    gate.arm("mav.fire_srm1", 111.0, GROUND)
    fire(gate, 115.0)


def test_a_re_arm_while_armed_is_refused_and_keeps_the_first_window():
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert refusal(gate.arm, "mav.fire_srm1", 108.0, GROUND) == "already_armed"
    assert gate.armed(108.0) == {"mav.fire_srm1": 110.0}  # not extended
    assert fire_refusal(gate, 112.0) == "expired"


def test_a_re_arm_after_the_window_has_passed_opens_a_new_window():
    gate, _ = make_gate()
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    gate.arm("mav.fire_srm1", 120.0, GROUND)
    assert gate.armed(120.0) == {"mav.fire_srm1": 130.0}


def test_a_clock_that_goes_back_never_stretches_a_window():
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert gate.armed(95.0) == {}
    assert fire_refusal(gate, 95.0) == "expired"


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_an_arm_or_fire_at_a_time_that_is_not_finite_is_refused(now):
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    assert refusal(gate.arm, "mav.fire_srm1", now, GROUND) == "bad_time"
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, now) == "bad_time"
    fire(gate, 101.0)  # the refusal kept the arm


# -- inhibits, modes, preconditions --------------------------------------------------------------


@pytest.mark.parametrize("inhibit", ["pyro_inhibit_1", "pyro_inhibit_2"])
def test_each_inhibit_in_place_blocks_the_fire_on_its_own(inhibit):
    gate, _ = make_gate()
    for other in SRM1.inhibits:
        if other != inhibit:
            gate.remove_inhibit(other, 0.0, GROUND)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, 101.0) == f"inhibit:{inhibit}"
    gate.remove_inhibit(inhibit, 102.0, GROUND)
    fire(gate, 103.0)


def test_the_first_inhibit_in_place_is_the_one_named():
    gate, _ = make_gate()
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, 101.0) == "inhibit:pyro_inhibit_1"


def test_restoring_an_inhibit_disarms_every_command_that_names_it_and_no_other():
    gate, events = make_gate()
    for spec in SPECS:
        clear_inhibits(gate, spec)
        gate.arm(spec.name, 100.0, GROUND)
    gate.restore_inhibit("pyro_inhibit_1", 101.0)
    assert gate.inhibits["pyro_inhibit_1"] is True
    assert gate.armed(101.0) == {"ees.release": 105.0}
    assert events.names().count("hazard_disarmed") == 2
    assert "inhibit_restored" in events.names()
    gate.remove_inhibit("pyro_inhibit_1", 102.0, GROUND)
    assert fire_refusal(gate, 102.0) == "not_armed"  # removing it again does not re-arm


def test_restoring_an_inhibit_already_in_place_still_disarms():
    gate, events = make_gate()
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    gate.restore_inhibit("pyro_inhibit_2", 101.0)
    assert gate.armed(101.0) == {}
    assert "inhibit_restored" not in events.names()  # no change of state, no state event


def test_a_fire_in_a_mode_not_allowed_is_rejected_naming_the_mode():
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, 101.0, mode="nominal") == "mode:nominal"
    assert fire_refusal(gate, 101.0, mode="safe") == "mode:safe"


def test_the_first_false_precondition_is_named_in_the_order_given():
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    checks = {"igniter_continuity": True, "tank_pressure_ok": False, "igloo_open": False}
    assert fire_refusal(gate, 101.0, preconditions=checks) == "precondition:tank_pressure_ok"


def test_a_precondition_that_is_not_true_fails_even_if_truthy_or_unknown():
    gate, _ = make_gate()
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, 101.0, preconditions={"a": None}) == "precondition:a"  # type: ignore[dict-item]
    assert fire_refusal(gate, 101.0, preconditions={"b": 1}) == "precondition:b"


def test_the_checks_come_in_order_not_armed_then_inhibit_then_mode_then_precondition():
    gate, _ = make_gate()
    bad = {"mode": "safe", "preconditions": {"igloo_open": False}}
    assert fire_refusal(gate, 100.0, **bad) == "not_armed"
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, 101.0, **bad) == "inhibit:pyro_inhibit_1"
    clear_inhibits(gate, SRM1)
    assert fire_refusal(gate, 101.0, **bad) == "mode:safe"
    assert fire_refusal(gate, 101.0, preconditions={"igloo_open": False}) == (
        "precondition:igloo_open"
    )
    assert fire_refusal(gate, 111.0, **bad) == "expired"


@pytest.mark.parametrize(
    "setup,bad_fire",
    [
        (lambda gate: None, {}),  # an inhibit still in place
        (lambda gate: clear_inhibits(gate, SRM1), {"mode": "nominal"}),
        (lambda gate: clear_inhibits(gate, SRM1), {"preconditions": {"igloo_open": False}}),
    ],
    ids=["inhibit", "mode", "precondition"],
)
def test_a_failed_check_keeps_a_valid_arm(setup, bad_fire):
    gate, _ = make_gate()
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    setup(gate)
    fire_refusal(gate, 101.0, **bad_fire)
    assert gate.armed(101.0) == {"mav.fire_srm1": 110.0}
    clear_inhibits(gate, SRM1, 102.0)
    fire(gate, 102.0)


# -- stored sequences ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", [UNCONFIRMED, SEQUENCE, SCHEDULE])
def test_a_source_without_the_grounds_confirmation_cannot_arm_remove_an_inhibit_or_fire(source):
    gate, events = make_gate()
    assert refusal(gate.arm, "mav.fire_srm1", 100.0, source) == "unconfirmed"
    assert refusal(gate.remove_inhibit, "pyro_inhibit_1", 100.0, source) == "unconfirmed"
    assert gate.armed(100.0) == {} and all(gate.inhibits.values())
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, 101.0, source=source) == "unconfirmed"
    assert gate.armed(101.0) == {"mav.fire_srm1": 110.0}  # the refusal consumed nothing
    rejected = [detail for name, detail in events.events if name == "hazard_rejected"]
    assert len(rejected) == 3 and all("confirmation" in detail for detail in rejected)
    assert all(str(source) in detail for detail in rejected)


def test_fault_protection_can_never_arm_remove_an_inhibit_or_fire_but_may_safe():
    gate, events = make_gate()
    assert refusal(gate.arm, "mav.fire_srm1", 100.0, FDIR) == "fdir_not_safing"
    assert refusal(gate.remove_inhibit, "pyro_inhibit_1", 100.0, FDIR) == "fdir_not_safing"
    clear_inhibits(gate, SRM1)
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    assert fire_refusal(gate, 101.0, source=FDIR) == "fdir_not_safing"
    gate.restore_inhibit("pyro_inhibit_1", 102.0)  # safing: always allowed
    assert gate.armed(102.0) == {}
    assert "only make things safer" in events.events[-3][1]
    with pytest.raises(ValueError):
        CommandSource(SourceKind.FDIR, confirmed=True)


@pytest.mark.parametrize("source", [SEQUENCE_CONFIRMED, SCHEDULE_CONFIRMED])
def test_a_sequence_or_schedule_entry_loaded_with_the_confirmation_arms_and_fires(source):
    gate, events = make_gate()
    for inhibit in SRM1.inhibits:
        gate.remove_inhibit(inhibit, 99.0, source)
    gate.arm("mav.fire_srm1", 100.0, source)
    fire(gate, 104.0, source=source)
    fired = [detail for name, detail in events.events if name == "hazard_fired"]
    assert f"fired by {source}" in fired[0] and f"armed by {source}" in fired[0]


def test_a_sequence_fire_with_a_ground_arm_passes_and_without_one_is_refused():
    gate, events = make_gate()
    clear_inhibits(gate, SRM1)
    assert fire_refusal(gate, 99.0, source=SEQUENCE_CONFIRMED) == "not_armed"
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    fire(gate, 104.0, source=SEQUENCE_CONFIRMED)
    fired = [detail for name, detail in events.events if name == "hazard_fired"]
    assert "sequence:mav_launch (confirmed)" in fired[0]
    assert "armed by ground (confirmed)" in fired[0]


# -- disarm, unknown names, housekeeping ---------------------------------------------------------


def test_a_disarm_command_disarms_one_and_safe_mode_entry_disarms_all():
    gate, events = make_gate()
    for spec in SPECS:
        gate.arm(spec.name, 100.0, GROUND)
    assert gate.disarm("os.release", 101.0) == ["os.release"]
    assert set(gate.armed(101.0)) == {"mav.fire_srm1", "ees.release"}
    assert gate.disarm("os.release", 101.0) == []  # not armed: nothing to do
    assert sorted(gate.disarm_all(102.0)) == ["ees.release", "mav.fire_srm1"]
    assert gate.armed(102.0) == {}
    assert events.names().count("hazard_disarmed") == 3
    clear_inhibits(gate, SRM1)
    assert fire_refusal(gate, 103.0) == "not_armed"


def test_unknown_commands_and_inhibits_are_refused_with_a_reason():
    gate, _ = make_gate()
    assert refusal(gate.arm, "sta.move", 0.0, GROUND) == "not_hazardous"
    assert fire_refusal(gate, 0.0, name="sta.move") == "not_hazardous"
    assert refusal(gate.disarm, "sta.move", 0.0) == "not_hazardous"
    assert refusal(gate.remove_inhibit, "no_such_inhibit", 0.0, GROUND) == "unknown_inhibit"
    assert refusal(gate.restore_inhibit, "no_such_inhibit", 0.0) == "unknown_inhibit"
    assert all(gate.inhibits.values())  # nothing was lost


def test_the_error_is_one_line_naming_the_command_and_the_reason():
    gate, _ = make_gate()
    with pytest.raises(GateError) as caught:
        fire(gate, 0.0)
    message = str(caught.value)
    assert "\n" not in message
    assert "mav.fire_srm1" in message
    assert "not_armed" in message
    assert caught.value.name == "mav.fire_srm1"


def test_the_snapshot_counts_arms_fires_and_rejections_by_reason():
    gate, _ = make_gate()
    gate.arm("mav.fire_srm1", 100.0, GROUND)
    fire_refusal(gate, 101.0)
    fire_refusal(gate, 101.0)
    clear_inhibits(gate, SRM1)
    fire(gate, 102.0)
    fire_refusal(gate, 103.0)
    refusal(gate.arm, "ees.release", 103.0, SEQUENCE)
    snapshot = gate.snapshot()
    assert snapshot["arms"] == 1
    assert snapshot["fires"] == 1
    assert snapshot["rejections"] == {
        "inhibit:pyro_inhibit_1": 2,
        "not_armed": 1,
        "unconfirmed": 1,
    }
    assert snapshot["inhibits"]["pyro_inhibit_1"] is False
    snapshot["inhibits"]["pyro_inhibit_1"] = True  # a copy: changes nothing onboard
    assert gate.inhibits["pyro_inhibit_1"] is False


def test_every_event_is_declared_with_a_pus5_severity():
    assert set(EVENTS) == {
        "hazard_armed",
        "hazard_disarmed",
        "hazard_fired",
        "hazard_rejected",
        "inhibit_removed",
        "inhibit_restored",
    }
    assert EVENTS["hazard_fired"][0] == "medium"
    assert EVENTS["hazard_rejected"][0] == "medium"
    assert EVENTS["inhibit_removed"][0] == "low"
    assert all(severity in {"info", "low", "medium", "high"} for severity, _ in EVENTS.values())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": ""},
        {"window": 0.0},
        {"window": -1.0},
        {"window": math.nan},
        {"window": math.inf},
        {"inhibits": "pyro_inhibit_1"},  # a string, not a tuple of names
        {"inhibits": ("",)},
        {"modes": ()},
    ],
    ids=str,
)
def test_a_bad_hazard_declaration_is_refused_at_load(kwargs):
    fields = {"name": "x.fire", "window": 1.0, "inhibits": ("i",), "modes": ("critical",)}
    with pytest.raises(ValueError, match="hazard spec"):
        HazardSpec(**(fields | kwargs))


def test_a_command_declared_twice_is_refused_at_load():
    with pytest.raises(ValueError, match="twice"):
        HazardGate([SRM1, SRM1])


# -- the safety property, on arbitrary command sequences -----------------------------------------

COMMANDS = [spec.name for spec in SPECS] + ["sta.move"]
INHIBITS = sorted({name for spec in SPECS for name in spec.inhibits})
BY_NAME = {spec.name: spec for spec in SPECS}


FIRE_ARGUMENTS = {
    "source": st.sampled_from(SOURCES),
    "mode": st.sampled_from(["critical", "critical", "nominal", "safe"]),
    "preconditions": st.one_of(
        st.just(GO),
        st.dictionaries(
            st.sampled_from(["igniter_continuity", "tank_pressure_ok", "igloo_open"]),
            st.booleans(),
            max_size=3,
        ),
    ),
}


class HazardGateMachine(RuleBasedStateMachine):
    """Arbitrary arms, fires, clock steps, inhibit changes and disarms against a model.

    The model keeps the last *ground* arm time per command and predicts every outcome. Separately,
    a history of everything that happened checks the safety property on each fire that passes:
    the last thing that happened to that command was a ground arm within its window, and the
    inhibits, mode and preconditions were all good.
    """

    def __init__(self) -> None:
        super().__init__()
        self.events = Recorder()
        self.gate = HazardGate(SPECS, emit=self.events)
        self.now = 1000.0
        self.inhibits = dict.fromkeys(INHIBITS, True)
        self.arms: dict[str, float] = {}  # command -> ground arm time (unused, not disarmed)
        self.history: list[tuple[str, str, float]] = []  # (what, command, time)
        self.fires = 0

    def valid_arm(self, name: str) -> bool:
        armed_at = self.arms.get(name)
        return armed_at is not None and armed_at <= self.now <= armed_at + BY_NAME[name].window

    def outcome(self, call, *args) -> str | None:
        before = len(self.events.events)
        try:
            call(*args)
        except GateError as error:
            assert self.events.events[before:] == [
                ("hazard_rejected", self.events.events[before][1])
            ]
            assert error.reason in self.events.events[before][1]
            return error.reason
        assert all(name in EVENTS for name in self.events.names()[before:])
        return None

    @rule(
        name=st.sampled_from(COMMANDS),
        source=st.sampled_from([GROUND, *SOURCES]),
    )
    def arm(self, name: str, source: CommandSource) -> None:
        if name not in BY_NAME:
            expected = "not_hazardous"
        elif source.kind is SourceKind.FDIR:
            expected = "fdir_not_safing"
        elif not source.confirmed:
            expected = "unconfirmed"
        elif self.valid_arm(name):
            expected = "already_armed"
        else:
            expected = None
        assert self.outcome(self.gate.arm, name, self.now, source) == expected
        if expected is None:
            self.arms[name] = self.now
            self.history.append(("arm", name, self.now))

    @initialize(removed=st.sets(st.sampled_from(INHIBITS)))
    def some_inhibits_removed_at_the_start(self, removed: set[str]) -> None:
        for inhibit in sorted(removed):
            self.remove_inhibit(inhibit)

    @rule(name=st.sampled_from(COMMANDS), **FIRE_ARGUMENTS)
    def fire(
        self, name: str, source: CommandSource, mode: str, preconditions: dict[str, bool]
    ) -> None:
        self.fire_and_check(name, source, mode, preconditions)

    @precondition(lambda self: self.arms)
    @rule(data=st.data(), **FIRE_ARGUMENTS)
    def fire_a_command_the_ground_armed(
        self,
        data: st.DataObject,
        source: CommandSource,
        mode: str,
        preconditions: dict[str, bool],
    ) -> None:
        name = data.draw(st.sampled_from(sorted(self.arms)), label="name")
        self.fire_and_check(name, source, mode, preconditions)

    def fire_and_check(
        self, name: str, source: CommandSource, mode: str, preconditions: dict[str, bool]
    ) -> None:
        expected = self.expected_fire(name, source, mode, preconditions)
        reason = self.outcome(self.gate.check_fire, name, self.now, source, mode, preconditions)
        assert reason == expected
        if reason == "expired":
            del self.arms[name]
            self.history.append(("expired", name, self.now))
        if reason is None:
            self.check_safety(name, mode, preconditions)
            del self.arms[name]
            self.history.append(("fire", name, self.now))
            self.fires += 1

    def expected_fire(
        self, name: str, source: CommandSource, mode: str, preconditions: dict[str, bool]
    ) -> str | None:
        if name not in BY_NAME:
            return "not_hazardous"
        if source.kind is SourceKind.FDIR:
            return "fdir_not_safing"
        if not source.confirmed:
            return "unconfirmed"
        if name not in self.arms:
            return "not_armed"
        if not self.valid_arm(name):
            return "expired"
        spec = BY_NAME[name]
        for inhibit in spec.inhibits:
            if self.inhibits[inhibit]:
                return f"inhibit:{inhibit}"
        if mode not in spec.modes:
            return f"mode:{mode}"
        for condition, value in preconditions.items():
            if not value:
                return f"precondition:{condition}"
        return None

    def check_safety(self, name: str, mode: str, preconditions: dict[str, bool]) -> None:
        """A fire passed: it must have had a fresh ground arm and every check good."""
        spec = BY_NAME[name]
        last = [entry for entry in self.history if entry[1] == name]
        assert last, f"{name} fired with no arm ever"
        what, _, armed_at = last[-1]
        assert what == "arm", f"{name} fired after {what} with no new arm"
        assert armed_at <= self.now <= armed_at + spec.window, f"{name} fired outside its window"
        assert not any(self.inhibits[inhibit] for inhibit in spec.inhibits)
        assert mode in spec.modes
        assert all(preconditions.values())

    @rule(
        seconds=st.one_of(
            st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
            st.floats(min_value=0.0, max_value=40.0, allow_nan=False),
        )
    )
    def advance_time(self, seconds: float) -> None:
        self.now += seconds

    @rule(seconds=st.sampled_from([0.5, 3.0]))
    def clock_goes_back(self, seconds: float) -> None:
        self.now -= seconds

    @rule(inhibit=st.sampled_from(INHIBITS))
    def remove_inhibit(self, inhibit: str) -> None:
        assert self.outcome(self.gate.remove_inhibit, inhibit, self.now, GROUND) is None
        self.inhibits[inhibit] = False

    @rule(inhibit=st.sampled_from(INHIBITS), source=st.sampled_from(SOURCES[1:]))
    def remove_inhibit_from_another_source(self, inhibit: str, source: CommandSource) -> None:
        expected = None if source.confirmed else (
            "fdir_not_safing" if source.kind is SourceKind.FDIR else "unconfirmed"
        )  # fmt: skip
        assert self.outcome(self.gate.remove_inhibit, inhibit, self.now, source) == expected
        if expected is None:
            self.inhibits[inhibit] = False

    @rule(name=st.sampled_from(COMMANDS[:-1]))
    def remove_every_inhibit_of(self, name: str) -> None:
        for inhibit in BY_NAME[name].inhibits:
            self.remove_inhibit(inhibit)

    @rule(inhibit=st.sampled_from(INHIBITS))
    def restore_inhibit(self, inhibit: str) -> None:
        assert self.outcome(self.gate.restore_inhibit, inhibit, self.now) is None
        self.inhibits[inhibit] = True
        for spec in SPECS:
            if inhibit in spec.inhibits:
                self.arms.pop(spec.name, None)
                self.history.append(("disarm", spec.name, self.now))

    @rule(name=st.sampled_from([*COMMANDS[:-1], None]))
    def disarm(self, name: str | None) -> None:
        assert self.outcome(self.gate.disarm, name, self.now) is None
        for command in BY_NAME if name is None else [name]:
            self.arms.pop(command, None)
            self.history.append(("disarm", command, self.now))

    @invariant()
    def the_gate_agrees_with_the_model(self) -> None:
        expected = {
            name: armed_at + BY_NAME[name].window
            for name, armed_at in self.arms.items()
            if self.valid_arm(name)
        }
        assert self.gate.armed(self.now) == expected
        assert self.gate.inhibits == self.inhibits
        assert self.gate.snapshot()["fires"] == self.fires
        assert self.events.names().count("hazard_fired") == self.fires


HazardGateMachine.TestCase.settings = settings(max_examples=500, stateful_step_count=40)
test_no_sequence_of_commands_fires_without_a_valid_ground_arm = HazardGateMachine.TestCase
