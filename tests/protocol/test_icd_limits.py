"""The records limits and enumerations are declared with (issue 19, decision 0035):
:func:`enum`, :class:`Field` ``enum``/``limits``, :class:`Limits` and :class:`LimitSet`."""

from __future__ import annotations

import math

import pytest

from hal.errors import EncodeError
from hal.protocol.devices.icd import LEVELS, Field, Limits, LimitSet, enum

MODE = Field("mode", "u8", "-", 0, 3, "node mode", enum=enum("boot", "safe", "nominal", "critical"),
             limits=Limits(yellow_states=("boot", "safe")))  # fmt: skip
TEMP = Field(
    "temp", "f32", "degC", -150, 100, "a temperature",
    limits=Limits(LimitSet(yellow=(-60, 25), red=(-80, 30)),
                  modes=(("critical", LimitSet(yellow=(None, 40), red=(None, 50))),)),
)  # fmt: skip
BOARD = Field(
    "board", "u8", "-", 0, 255, "requests without a reply", enum=((0, "ok"), (255, "lost")),
    limits=Limits(LimitSet(yellow=(None, 0), red=(None, 2)), red_states=("lost",)),
)  # fmt: skip


def test_enum_numbers_names_from_zero_or_a_start():
    assert enum("off", "on") == ((0, "off"), (1, "on"))
    assert enum("a", "b", start=1) == ((1, "a"), (2, "b"))


def test_a_state_has_a_name_and_a_name_has_its_code():
    assert MODE.state(2) == "nominal" and MODE.state(2.0) == "nominal"
    assert MODE.state(9) is None and MODE.state(2.5) is None and MODE.state("x") is None
    assert TEMP.state(3) is None  # not enumerated
    assert MODE.code("critical") == 3
    with pytest.raises(EncodeError, match="boot, safe, nominal, critical"):
        MODE.code("flying")
    with pytest.raises(EncodeError, match="give a number"):
        TEMP.code("hot")


@pytest.mark.parametrize(
    "value,mode,level",
    [
        (20.0, None, "green"), (25.0, None, "green"), (27.0, None, "yellow"),
        (30.5, None, "red"), (-70.0, None, "yellow"), (-90.0, None, "red"),
        (math.nan, None, "red"), (math.inf, None, "red"),
        (27.0, "nominal", "yellow"),  # a mode without a set of its own: the default
        (35.0, "critical", "green"), (45.0, "critical", "yellow"), (55.0, "critical", "red"),
        (-140.0, "critical", "green"),  # the critical set has no low bound
    ],
)  # fmt: skip
def test_a_numeric_level_uses_the_set_of_the_mode(value, mode, level):
    assert TEMP.level(value, mode) == level


def test_a_state_level_is_by_name_and_unnamed_codes_fall_back_on_the_numbers():
    assert [MODE.level(code) for code in range(4)] == ["yellow", "yellow", "green", "green"]
    assert BOARD.level(0) == "green" and BOARD.level(255) == "red"
    assert [BOARD.level(n) for n in (1, 2, 3, 254)] == ["yellow", "yellow", "red", "red"]
    assert Field("x", "u8", "-", 0, 9, "plain").level(200) == "green"  # no limits


def test_a_boolean_counts_as_0_or_1():
    flag = Field(
        "autonomy", "bool", "-", 0, 1, "allowed", limits=Limits(LimitSet(yellow=(1, None)))
    )
    assert flag.level(True) == "green" and flag.level(False) == "yellow"


def test_levels_are_ordered_from_normal_to_out_of_limits():
    assert LEVELS == ("green", "yellow", "red")


def test_limits_describe_themselves_in_one_line():
    assert TEMP.limits.describe() == (
        "yellow -60..25, red -80..30; in critical: yellow ..40, red ..50"
    )
    assert BOARD.limits.describe() == "yellow ..0, red ..2; red when lost"


@pytest.mark.parametrize(
    "make,problem",
    [
        (lambda: LimitSet(yellow=(0, 40), red=(10, 50)), "must contain"),
        (lambda: LimitSet(yellow=(0, 60), red=(-10, 50)), "must contain"),
        (lambda: LimitSet(yellow=(None, 40), red=(-10, 50)), "must contain"),
        (lambda: LimitSet(yellow=(5, 1)), "empty range"),
        (lambda: Field("s", "u8", "-", 0, 1, "s", enum=enum("a", "b", "c")), "outside"),
        (lambda: Field("s", "f32", "-", 0, 9, "s", enum=enum("a")), "outside"),
        (lambda: Field("s", "u8", "-", 0, 9, "s", enum=((0, "a"), (1, "a"))), "repeats"),
        (lambda: Field("s", "u8", "-", 0, 9, "s", enum=enum("a"),
                       limits=Limits(red_states=("b",))), "unknown states"),
    ],
)  # fmt: skip
def test_inconsistent_limits_and_enumerations_are_refused_where_they_are_declared(make, problem):
    with pytest.raises(ValueError, match=problem):
        make()
