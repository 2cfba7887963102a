"""PUS 20 parameters as the ground and the node both check them: each value's validator, the
cross-checks where one parameter bounds another, and the layouts of the service's telecommands
(decision 0026). Pure declarations: no flight runtime, importable by the ground tools.

Wire layouts (big-endian, after the PUS-C TC header):

=============  =====================  ====================================================
TC             name                   data
=============  =====================  ====================================================
[20,1]         params.report          N uint8 | N x parameter id uint16
[20,3]         params.load            N uint8 | N x (parameter id uint16 | value float64)
[20,132]       params.rollback        parameter id uint16 | to uint8 (0 its previous active
                                      value, 1 its power-on default)
=============  =====================  ====================================================

A value is valid (:func:`refusal`) when it is a finite number, of the parameter's kind (an
``int`` or ``bool`` one a whole number, a ``bool`` one 0 or 1) and within its declared range. A
table is valid (:func:`table_refusal`) when, besides, every :class:`Bound` between two of its
parameters holds: ``lower < upper`` (or ``<=``), e.g. the delay before SRM1 is fired shorter than
the window in which its ignition must be confirmed.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from fsw.dictionary.core import PARAMETER_ENTRY
from fsw.dictionary.model import Parameter

__all__ = [
    "BOUNDS",
    "ENTRY",
    "ID",
    "ROLLBACK_TO",
    "Bound",
    "bounds_of",
    "build_load",
    "build_report_request",
    "refusal",
    "table_refusal",
]

ENTRY: Final = PARAMETER_ENTRY
"""One value in TC[20,3] loads and TM[20,2] reports: id uint16 | value float64."""
ID: Final = struct.Struct(">H")
"""One parameter id in TC[20,1]."""
ROLLBACK_TO: Final = ("previous", "default")
"""What ``params.rollback`` returns a parameter to, by its ``to`` code."""


@dataclass(frozen=True)
class Bound:
    """One parameter that bounds another: ``lower < upper`` (``<=`` unless ``strict``).

    Attributes:
        lower, upper: the two parameters' names.
        strict: the two may not be equal.
        why: what breaks when the bound does not hold (for the operator).
    """

    lower: str
    upper: str
    strict: bool
    why: str

    def holds(self, values: Mapping[str, float]) -> bool:
        """Whether the bound holds for these values (True when either is absent)."""
        if self.lower not in values or self.upper not in values:
            return True
        low, high = float(values[self.lower]), float(values[self.upper])
        return low < high if self.strict else low <= high

    def describe(self, values: Mapping[str, float]) -> str:
        """``lower = a must be < upper = b: why``."""
        op = "<" if self.strict else "<="
        return (
            f"{self.lower} = {values[self.lower]:g} must be {op} {self.upper} = "
            f"{values[self.upper]:g}: {self.why}"
        )


def _b(lower: str, upper: str, why: str, strict: bool = True) -> Bound:
    return Bound(lower, upper, strict, why)


BOUNDS: Final[tuple[Bound, ...]] = (
    # core
    _b("dispatch.max_per_cycle", "dispatch.queue_size", "a cycle cannot execute more "
       "telecommands than the queue holds", strict=False),
    # lander: the arm and the igloo
    _b("sta.min_grip_force", "sta.grip_force", "a grasp at grip_force must count as good",
       strict=False),
    _b("sta.poll", "sta.move_timeout", "a move is read at least once before it times out"),
    _b("igloo.zone_low", "igloo.zone_high", "the zones' band of temperatures is not empty"),
    # mav: the launch sequencer
    _b("launch.zone_low", "launch.zone_high", "the heater zones' band is not empty"),
    _b("launch.srm1_delay", "launch.srm1_window", "SRM1 is fired before the window in which "
       "its ignition must be confirmed closes"),
    _b("launch.srm1_burn", "launch.burn_timeout", "the burn timeout is longer than the nominal "
       "SRM1 burn, or every launch aborts"),
    _b("launch.rate_count", "launch.rate_window", "M samples out of N: M <= N", strict=False),
    _b("launch.pitch_end", "launch.pitch_start", "the pitch programme lowers the nose",
       strict=False),
    _b("launch.srm2_climb", "launch.spin_start_climb", "the second stage spins up before the "
       "SRM2 point (the climb slows from spin_start_climb to srm2_climb)"),
    _b("launch.condition_poll", "launch.condition_timeout", "conditioning reads the igloo "
       "before it times out"),
    _b("launch.coast_poll", "launch.coast_timeout", "the coast is read before it times out"),
    # orbiter: the CCRS
    _b("ccrs.arm_time", "ccrs.close_in_time", "the capture is armed after closing in"),
    _b("ccrs.close_poll", "ccrs.search_poll", "polls are faster once closing in",
       strict=False),
    _b("ccrs.search_timeout", "ccrs.approach_timeout", "the search is part of the approach",
       strict=False),
    _b("ccrs.braze_min_temp", "ccrs.braze_target", "the set-point is at least the braze "
       "temperature", strict=False),
    _b("ccrs.braze_target", "ccrs.braze_max_temp", "the set-point is under the hottest "
       "thermocouple limit"),
    _b("ccrs.cool_temp", "ccrs.braze_min_temp", "the seam cools below the braze temperature "
       "before the seal check"),
    _b("ccrs.braze_power", "ccrs.braze_power_limit", "the first ceiling is within the "
       "drive's maximum", strict=False),
    _b("ccrs.braze_hold_power", "ccrs.braze_power_limit", "the hold power is within the "
       "drive's maximum", strict=False),
    _b("ccrs.braze_poll", "ccrs.braze_hold", "the hold is polled at least once"),
    _b("ccrs.gantry_poll", "ccrs.gantry_margin", "a gantry move is read again within its "
       "margin", strict=False),
)  # fmt: skip
"""Every bound between two declared parameters (a node holds those whose two it declares)."""


def bounds_of(parameters: Iterable[Parameter]) -> tuple[Bound, ...]:
    """The bounds that apply to a node declaring ``parameters``."""
    names = {p.name for p in parameters}
    return tuple(b for b in BOUNDS if b.lower in names and b.upper in names)


def refusal(declared: Parameter, value: object) -> str | None:
    """Why ``value`` is not valid for ``declared`` (one line), or None when it is."""
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int | float):
        return f"{declared.name}: {value!r} is not a number"
    if not math.isfinite(value):
        return f"{declared.name}: {value!r} is not a finite number"
    if declared.kind in ("int", "bool") and int(value) != value:
        return f"{declared.name}: {value!r} is not a whole number (an {declared.kind})"
    if not declared.lo <= value <= declared.hi:
        return (
            f"{declared.name}: {value:g} is outside {declared.lo:g}..{declared.hi:g} "
            f"{declared.unit}"
        )
    return None


def table_refusal(bounds: Iterable[Bound], values: Mapping[str, float]) -> str | None:
    """Why a table of values breaks a bound (the first one), or None when all hold."""
    for bound in bounds:
        if not bound.holds(values):
            return bound.describe(values)
    return None


def build_load(values: Mapping[int, float]) -> bytes:
    """The data of TC[20,3] for ``{id: value}`` (at most 255)."""
    if len(values) > 255:
        raise ValueError("at most 255 parameters in one load")
    return bytes([len(values)]) + b"".join(ENTRY.pack(i, v) for i, v in values.items())


def build_report_request(ids: Iterable[int]) -> bytes:
    """The data of TC[20,1] for these ids (at most 255)."""
    ids = list(ids)
    if len(ids) > 255:
        raise ValueError("at most 255 parameters in one request")
    return bytes([len(ids)]) + b"".join(ID.pack(i) for i in ids)
