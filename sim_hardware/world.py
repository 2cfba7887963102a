"""The world model: what the emulated boards share (sample tubes, the OS, the MAV, the orbits).

One :class:`World` lives in the simulator process. The board emulators (the Sample Transfer Arm,
the OS container, the MAV, the orbiter's capture, brazing and EES gantry) call into it to move
things and ask where things are; it is the single source of truth for custody. It is a pure
object: no I/O, no clock, no threads, no randomness. Every operation takes an optional ``at``,
the simulated time (seconds) the caller stamps it with; the world only records it.

The model
---------
* A **tube** (:class:`Tube`) is known by its laser-etched serial number and never changes; what
  changes is its *direct place* in the tube table: the rover's cache, the Three Forks depot, the
  ground near the lander, the arm's gripper, an OS slot, or *lost* (fallen out of the OS in
  flight or in orbit, :meth:`World.lose_tube`: nobody holds it, and nothing brings it back).
  Nothing else holds a tube directly.
* The **Orbiting Sample container** (OS) is a container with ``capacity`` slots, a lid
  (:class:`LidState`: open, closed, latched) and its own location (:class:`OsLocation`): on the
  lander, in the MAV nose, in orbit, captured by the orbiter, in the primary containment vessel
  (PCV), in the Earth Entry System (EES). A tube in a slot is *in the OS* and its **effective
  location** (:class:`Location`, what :meth:`World.where` answers) follows the OS: ``os_slot``
  while the OS is on the lander, then ``in_mav``, ``in_orbit``, ``captured``,
  ``primary_containment_vessel``, ``ees``; the slot index is kept throughout. The nesting of the
  return (entry vehicle > containment vessels > PCV > OS > tubes) is therefore a chain of
  containers, and only the OS moves the tubes it holds.
* The **custody chain** of each tube is a list of :class:`CustodyEntry` (step, time, effective
  location, slot, event). An entry is appended whenever the tube's effective location changes:
  when the tube itself moves, and for every tube in the OS when the OS moves.
* Every successful operation is one **step** (a counter from 0, the initial placement) and one
  :class:`WorldEvent` in :attr:`World.history`. Updating an orbit record is not a step: orbits
  are data the MAV and orbiter emulators write and read as often as they like.
* The slot table and the gripper are kept apart from the tube table, so that :meth:`World.check`
  can cross-check two independent views (a tube in a slot must say so, and the slot must hold it).
  The slot table's occupancy as a bit mask is what the OS's slot switches read
  (:meth:`World.os_slot_mask`).

Operations
----------
==================  =============================================================================
the arm             :meth:`~World.pick_up`, :meth:`~World.place_on_ground`, :meth:`~World.insert`,
                    :meth:`~World.take_from_slot`, :meth:`~World.helicopter_transfer`
the OS lid          :meth:`~World.close_lid`, :meth:`~World.open_lid`, :meth:`~World.latch_lid`,
                    :meth:`~World.unlatch_lid`
the OS's journey    :meth:`~World.load_into_mav`, :meth:`~World.launch_mav`,
                    :meth:`~World.release_os`, :meth:`~World.capture_os`,
                    :meth:`~World.contain_os`, :meth:`~World.seal_pcv`,
                    :meth:`~World.transfer_to_ees`, :meth:`~World.release_ees`
faults              :meth:`~World.slip` (the gripper's tube falls near the lander),
                    :meth:`~World.lose_tube` (a tube falls out of the OS: lost)
orbits (no step)    :meth:`~World.set_os_orbit`, :meth:`~World.set_orbiter_orbit`
==================  =============================================================================

Refusals
--------
An operation the physical state does not allow raises :class:`Refused` with a :class:`Reason`
and changes nothing (not even the step counter). When several preconditions fail, the first in
the order listed in the operation's docstring is reported. The world refuses only what cannot
happen physically; what flight software *should not* do (launch an empty MAV) is allowed, and
guarding against it is the flight software's job.

Exceptions::

    WorldError
    +-- Refused              the operation is impossible in the current state; nothing changed
    +-- InvariantViolation   check() found the world inconsistent (a bug, never a refusal)
    +-- WorldConfigError     a tube, orbit or configuration that cannot exist (also ValueError)
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, NamedTuple

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_ORBITER_ORBIT",
    "DEFAULT_OS_ORBIT",
    "PICKUP_SOURCES",
    "THREE_FORKS_DEPOT",
    "CustodyEntry",
    "InvariantViolation",
    "LidState",
    "Location",
    "Orbit",
    "OsLocation",
    "Place",
    "Reason",
    "Refused",
    "Tube",
    "TubeKind",
    "World",
    "WorldConfig",
    "WorldConfigError",
    "WorldError",
    "WorldEvent",
    "rover_cache_tubes",
]

MAX_TUBE_MASS_G: Final = 57.0
"""Every Perseverance tube, sealed with its sample, weighs less than this (grams)."""

DEFAULT_CAPACITY: Final = 30
"""Slots of the Orbiting Sample container (public reporting says 30)."""

MARS_RADIUS_KM: Final = 3389.5
"""Mean radius of Mars (km), from which orbit altitudes are counted."""

MARS_GM_KM3_S2: Final = 42_828.37
"""Gravitational parameter of Mars (km^3/s^2)."""

SAMPLE_ID: Final = re.compile(r"M2020-(\d{5})-(\d{2})")
"""Perseverance sample ids: ``M2020-<sol, 5 digits>-<sample number, 2 digits>``."""


# --- errors ------------------------------------------------------------------------------------


class WorldError(Exception):
    """Base of every error raised by the world model.

    Attributes:
        reason: a short snake_case name of what went wrong.
    """

    default_reason = "world_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason: str = reason or self.default_reason


class Reason(StrEnum):
    """Why an operation was refused (the ``reason`` of :class:`Refused`)."""

    UNKNOWN_TUBE = "unknown_tube"
    BAD_TIME = "bad_time"
    NOT_A_PICKUP_SOURCE = "not_a_pickup_source"
    TUBE_NOT_AT_SOURCE = "tube_not_at_source"
    GRIPPER_FULL = "gripper_full"
    GRIPPER_EMPTY = "gripper_empty"
    BAD_SLOT = "bad_slot"
    SLOT_OCCUPIED = "slot_occupied"
    SLOT_EMPTY = "slot_empty"
    OS_NOT_ON_LANDER = "os_not_on_lander"
    LID_NOT_OPEN = "lid_not_open"
    LID_NOT_CLOSED = "lid_not_closed"
    LID_LATCHED = "lid_latched"
    LID_NOT_LATCHED = "lid_not_latched"
    MAV_LAUNCHED = "mav_launched"
    MAV_NOT_LAUNCHED = "mav_not_launched"
    OS_NOT_IN_MAV = "os_not_in_mav"
    OS_NOT_IN_ORBIT = "os_not_in_orbit"
    OS_NOT_CAPTURED = "os_not_captured"
    OS_NOT_IN_PCV = "os_not_in_pcv"
    PCV_SEALED = "pcv_sealed"
    PCV_NOT_SEALED = "pcv_not_sealed"
    OS_NOT_IN_EES = "os_not_in_ees"
    EES_RELEASED = "ees_released"
    TUBE_NOT_IN_OS = "tube_not_in_os"


class Refused(WorldError):
    """An operation the current state of the world does not allow; nothing was changed.

    Attributes:
        reason: the :class:`Reason`, also a plain string.
    """

    default_reason = "refused"

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}", reason=reason)
        self.reason: Reason = reason


class InvariantViolation(WorldError):
    """:meth:`World.check` found the world inconsistent.

    Attributes:
        problems: one line per inconsistency found.
    """

    default_reason = "invariant"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems: list[str] = problems


class WorldConfigError(WorldError, ValueError):
    """A tube, orbit or world configuration that cannot exist."""

    default_reason = "config"


# --- where things are --------------------------------------------------------------------------


class Location(StrEnum):
    """The effective location of a tube, as :meth:`World.where` and the custody chain give it.

    The first six are direct places (a tube is put there, or falls there); the last five are
    where the OS is, for a tube in one of its slots.
    """

    ROVER_CACHE = "rover_cache"
    """On the Perseverance rover, in its own sample cache."""
    DEPOT = "depot"
    """On the ground at the Three Forks depot."""
    GROUND_NEAR_LANDER = "ground_near_lander"
    """On the ground in reach of the arm (brought by a helicopter, set down, or dropped)."""
    GRIPPER = "gripper"
    """Held by the Sample Transfer Arm's gripper."""
    OS_SLOT = "os_slot"
    """In a slot of the OS, the OS on the lander."""
    LOST = "lost"
    """Lost from the OS: the tube fell out of it, in flight or in orbit; nobody holds it."""
    IN_MAV = "in_mav"
    """In the OS, the OS in the MAV nose (on the pad or ascending)."""
    IN_ORBIT = "in_orbit"
    """In the OS, the OS released by the MAV in Mars orbit."""
    CAPTURED = "captured"
    """In the OS, the OS captured by the orbiter's capture mechanism."""
    PCV = "primary_containment_vessel"
    """In the OS, the OS inside the primary containment vessel."""
    EES = "ees"
    """In the OS, the OS (in its sealed PCV) inside the Earth Entry System."""


PICKUP_SOURCES: Final = frozenset(
    {Location.ROVER_CACHE, Location.DEPOT, Location.GROUND_NEAR_LANDER}
)
"""Places the arm can pick a tube up from."""

DIRECT_LOCATIONS: Final = frozenset(
    PICKUP_SOURCES | {Location.GRIPPER, Location.OS_SLOT, Location.LOST}
)
"""Places a tube is put (or falls) directly; the others are where the OS holding it is."""


class OsLocation(StrEnum):
    """Where the Orbiting Sample container is. The OS goes through these in this order."""

    ON_LANDER = "on_lander"
    """In its holder on the Sample Retrieval Lander, in reach of the arm."""
    IN_MAV = "in_mav"
    """In the nose of the Mars Ascent Vehicle."""
    IN_ORBIT = "in_orbit"
    """Released by the MAV, free in Mars orbit."""
    CAPTURED = "captured"
    """Held by the orbiter's capture mechanism."""
    IN_PCV = "primary_containment_vessel"
    """Inside the primary containment vessel (open, then brazed shut)."""
    IN_EES = "ees"
    """Inside the Earth Entry System, with its sealed PCV."""


_TUBE_LOCATION_IN_OS: Final[Mapping[OsLocation, Location]] = MappingProxyType(
    {
        OsLocation.ON_LANDER: Location.OS_SLOT,
        OsLocation.IN_MAV: Location.IN_MAV,
        OsLocation.IN_ORBIT: Location.IN_ORBIT,
        OsLocation.CAPTURED: Location.CAPTURED,
        OsLocation.IN_PCV: Location.PCV,
        OsLocation.IN_EES: Location.EES,
    }
)


class LidState(StrEnum):
    """The OS lid: open for loading, closed, then latched for launch."""

    OPEN = "open"
    CLOSED = "closed"
    LATCHED = "latched"


class Place(NamedTuple):
    """A location and, for a tube in the OS, its slot index (``0..capacity-1``), else None."""

    location: Location
    slot: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"location": ..., "slot": ...}`` with plain strings and ints."""
        return {"location": str(self.location), "slot": self.slot}


@dataclass(frozen=True)
class CustodyEntry:
    """One link of a tube's custody chain.

    Attributes:
        step: the world step at which the tube got there (0: the initial placement).
        at: the simulated time (seconds) the operation was stamped with, or None.
        location: the tube's effective location from then on.
        slot: the OS slot, for a tube in the OS; else None.
        event: the operation that moved it (``"initial"``, ``"pick_up"``, ``"load_into_mav"``...).
    """

    step: int
    at: float | None
    location: Location
    slot: int | None
    event: str

    @property
    def place(self) -> Place:
        """Location and slot, comparable with :meth:`World.where`."""
        return Place(self.location, self.slot)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the entry."""
        return {
            "step": self.step,
            "at": self.at,
            "location": str(self.location),
            "slot": self.slot,
            "event": self.event,
        }


@dataclass(frozen=True)
class WorldEvent:
    """One successful operation, as :attr:`World.history` records it.

    Attributes:
        step: the step it made (1, 2, ...).
        at: its simulated time stamp (seconds), or None.
        event: the operation's name (the method name, e.g. ``"insert"``).
        serial: the tube it concerned, if one.
        slot: the OS slot it concerned, if one.
    """

    step: int
    at: float | None
    event: str
    serial: int | None = None
    slot: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the event."""
        return {
            "step": self.step,
            "at": self.at,
            "event": self.event,
            "serial": self.serial,
            "slot": self.slot,
        }


# --- tubes -------------------------------------------------------------------------------------


class TubeKind(StrEnum):
    """What a tube holds: a sample (rock, regolith or atmosphere) or nothing (a witness tube)."""

    SAMPLE = "sample"
    WITNESS = "witness"


@dataclass(frozen=True)
class Tube:
    """A Perseverance sample tube: what never changes about it.

    Attributes:
        serial: the laser-etched serial number (the first rock core went into tube 266).
        sample_id: Perseverance sample id ``M2020-<sol 5 digits>-<n 2 digits>``.
        name: the sample's name (e.g. ``"Malay"``).
        kind: sample or witness tube.
        mass_g: mass of the sealed tube with its contents, grams, below 57.
    """

    serial: int
    sample_id: str
    name: str
    kind: TubeKind = TubeKind.SAMPLE
    mass_g: float = 52.0

    def __post_init__(self) -> None:
        if isinstance(self.serial, bool) or not isinstance(self.serial, int) or self.serial <= 0:
            raise WorldConfigError(f"tube serial {self.serial!r} is not a positive integer")
        if not isinstance(self.sample_id, str) or not SAMPLE_ID.fullmatch(self.sample_id):
            raise WorldConfigError(
                f"sample id {self.sample_id!r} of tube {self.serial} is not M2020-<sol>-<n>"
            )
        if not self.name:
            raise WorldConfigError(f"tube {self.serial} has no name")
        if self.kind not in set(TubeKind):
            raise WorldConfigError(f"tube {self.serial} kind {self.kind!r} is not a TubeKind")
        object.__setattr__(self, "kind", TubeKind(self.kind))
        if not 0.0 < self.mass_g < MAX_TUBE_MASS_G:
            raise WorldConfigError(
                f"tube {self.serial} mass {self.mass_g} g is not in 0..{MAX_TUBE_MASS_G} g"
            )

    @property
    def sol(self) -> int:
        """The sol the sample was taken on, from the sample id."""
        return int(self.sample_id[6:11])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the tube's description."""
        return {
            "serial": self.serial,
            "sample_id": self.sample_id,
            "name": self.name,
            "kind": str(self.kind),
            "mass_g": self.mass_g,
        }


THREE_FORKS_DEPOT: Final[tuple[Tube, ...]] = (
    Tube(272, "M2020-00337-08", "Malay", TubeKind.SAMPLE, 54.6),
    Tube(279, "M2020-00579-17", "Mageik", TubeKind.SAMPLE, 54.1),
    Tube(295, "M2020-00639-21", "Crosswind Lake", TubeKind.SAMPLE, 53.8),
    Tube(231, "M2020-00164-02", "Roubion", TubeKind.SAMPLE, 48.7),
    Tube(249, "M2020-00271-06", "Coulettes", TubeKind.SAMPLE, 53.2),
    Tube(266, "M2020-00190-03", "Montdenier", TubeKind.SAMPLE, 54.9),
    Tube(244, "M2020-00516-15", "Bearwallow", TubeKind.SAMPLE, 53.5),
    Tube(287, "M2020-00495-12", "Skyland", TubeKind.SAMPLE, 52.4),
    Tube(258, "M2020-00374-10", "Atsah", TubeKind.SAMPLE, 54.0),
    Tube(210, "M2020-00586-18", "Amalik", TubeKind.WITNESS, 48.2),
)
"""The ten tubes of the Three Forks depot (real sample ids and names; the serials and masses are
invented, except that Montdenier, the first rock core, is in tube 266)."""


def rover_cache_tubes(count: int, *, taken: Iterable[Tube] = ()) -> tuple[Tube, ...]:
    """Generate ``count`` plausible tubes for the rover's cache, deterministically.

    Serials count up from 301 and sample ids from ``M2020-00700-22`` (a later sol and a higher
    sample number for each), skipping any serial or id already used by ``taken``. Names are
    ``"Cache 01"``, ``"Cache 02"``... and masses vary between 50.0 and 55.9 g.

    Raises:
        WorldConfigError: ``count`` is negative.
    """
    if count < 0:
        raise WorldConfigError(f"cannot generate {count} rover tubes")
    used_serials = {tube.serial for tube in taken}
    used_ids = {tube.sample_id for tube in taken}
    tubes: list[Tube] = []
    serial, k = 300, 0
    while len(tubes) < count:
        serial += 1
        if serial in used_serials:
            continue
        sample_id = f"M2020-{700 + 9 * k:05d}-{22 + k % 78:02d}"
        k += 1
        if sample_id in used_ids:
            continue
        n = len(tubes)
        mass = 50.0 + (n * 7 % 60) / 10
        tubes.append(Tube(serial, sample_id, f"Cache {n + 1:02d}", TubeKind.SAMPLE, mass))
    return tuple(tubes)


# --- orbits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Orbit:
    """A Mars orbit, as simple as the emulators need.

    Attributes:
        altitude_km: mean altitude above the mean radius of Mars (semi-major axis minus 3389.5 km).
        inclination_deg: inclination to the Mars equator, 0..180 degrees.
        eccentricity: 0 for circular, below 1.
        epoch: simulated time (seconds) the elements hold at, or None.
    """

    altitude_km: float
    inclination_deg: float
    eccentricity: float = 0.0
    epoch: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.altitude_km) and self.altitude_km > 0):
            raise WorldConfigError(f"orbit altitude {self.altitude_km} km is not positive")
        if not 0.0 <= self.inclination_deg <= 180.0:
            raise WorldConfigError(f"orbit inclination {self.inclination_deg} is not in 0..180")
        if not 0.0 <= self.eccentricity < 1.0:
            raise WorldConfigError(f"orbit eccentricity {self.eccentricity} is not in 0..1")
        if self.epoch is not None and not math.isfinite(self.epoch):
            raise WorldConfigError(f"orbit epoch {self.epoch} is not a finite time")

    @property
    def semi_major_axis_km(self) -> float:
        """Semi-major axis, km."""
        return MARS_RADIUS_KM + self.altitude_km

    @property
    def periapsis_km(self) -> float:
        """Lowest altitude, km."""
        return self.semi_major_axis_km * (1 - self.eccentricity) - MARS_RADIUS_KM

    @property
    def apoapsis_km(self) -> float:
        """Highest altitude, km."""
        return self.semi_major_axis_km * (1 + self.eccentricity) - MARS_RADIUS_KM

    @property
    def period_s(self) -> float:
        """Orbital period, seconds (about 6,900 s at 343 km)."""
        return 2 * math.pi * math.sqrt(self.semi_major_axis_km**3 / MARS_GM_KM3_S2)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the elements."""
        return {
            "altitude_km": self.altitude_km,
            "inclination_deg": self.inclination_deg,
            "eccentricity": self.eccentricity,
            "epoch": self.epoch,
        }


DEFAULT_OS_ORBIT: Final = Orbit(altitude_km=343.0, inclination_deg=25.0, eccentricity=0.002)
"""Where the MAV leaves the OS unless told otherwise: a near-circular orbit of about 343 km."""

DEFAULT_ORBITER_ORBIT: Final = Orbit(altitude_km=380.0, inclination_deg=25.0)
"""The Earth Return Orbiter's orbit before rendezvous, a little above the OS."""


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldConfig:
    """What the world starts as. Every number is a default, never a constant in code.

    Attributes:
        capacity: slots in the OS (30 by default).
        depot_tubes: tubes on the ground at the Three Forks depot.
        rover_tubes: tubes in the rover's cache; None generates
            ``max(0, capacity - len(depot_tubes))`` of them with :func:`rover_cache_tubes`, so
            that by default depot and rover together fill the OS exactly.
        ground_tubes: tubes already on the ground near the lander (dropped by a helicopter).
        lid: the OS lid at the start (open, ready for loading).
        os_orbit: the orbit the OS is released into when the MAV names none.
        orbiter_orbit: the orbiter's orbit at the start.

    Raises:
        WorldConfigError: capacity below 1, or two tubes sharing a serial or a sample id.
    """

    capacity: int = DEFAULT_CAPACITY
    depot_tubes: tuple[Tube, ...] = THREE_FORKS_DEPOT
    rover_tubes: tuple[Tube, ...] | None = None
    ground_tubes: tuple[Tube, ...] = ()
    lid: LidState = LidState.OPEN
    os_orbit: Orbit = DEFAULT_OS_ORBIT
    orbiter_orbit: Orbit = DEFAULT_ORBITER_ORBIT

    def __post_init__(self) -> None:
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int):
            raise WorldConfigError(f"OS capacity {self.capacity!r} is not an integer")
        if self.capacity < 1:
            raise WorldConfigError(f"OS capacity {self.capacity} is below 1")
        tubes = [tube for tube, _ in self.initial_tubes()]
        for what, values in (
            ("serial", [tube.serial for tube in tubes]),
            ("sample id", [tube.sample_id for tube in tubes]),
        ):
            twice = sorted(str(v) for v, n in Counter(values).items() if n > 1)
            if twice:
                raise WorldConfigError(f"tubes share a {what}: {', '.join(twice)}")

    def resolved_rover_tubes(self) -> tuple[Tube, ...]:
        """The rover's tubes: as given, or generated to fill the OS with the depot's."""
        if self.rover_tubes is not None:
            return tuple(self.rover_tubes)
        count = max(0, self.capacity - len(self.depot_tubes))
        return rover_cache_tubes(count, taken=(*self.depot_tubes, *self.ground_tubes))

    def initial_tubes(self) -> list[tuple[Tube, Location]]:
        """Every tube with its starting place: depot, then rover cache, then near the lander."""
        return [
            *((tube, Location.DEPOT) for tube in self.depot_tubes),
            *((tube, Location.ROVER_CACHE) for tube in self.resolved_rover_tubes()),
            *((tube, Location.GROUND_NEAR_LANDER) for tube in self.ground_tubes),
        ]


# --- the world ---------------------------------------------------------------------------------


class World:
    """Every tube, the OS, the MAV, the PCV, the EES and the orbits, in one consistent state.

    Operations move things and raise :class:`Refused` (changing nothing) when the state does not
    allow them; queries never change anything. See the module docstring for the model.

    Args:
        config: the starting state; :class:`WorldConfig` defaults when None.
    """

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config: WorldConfig = config or WorldConfig()
        self._tubes: dict[int, Tube] = {}
        self._place: dict[int, Place] = {}  # tube table: serial -> direct place
        self._slots: list[int | None] = [None] * self.config.capacity  # slot table
        self._gripper: int | None = None
        self._custody: dict[int, list[CustodyEntry]] = {}
        self._history: list[WorldEvent] = []
        self._step = 0
        self._os_location = OsLocation.ON_LANDER
        self._lid = LidState(self.config.lid)
        self._mav_launched = False
        self._pcv_sealed = False
        self._ees_released = False
        self._os_orbit: Orbit | None = None
        self._orbiter_orbit = self.config.orbiter_orbit
        for tube, location in self.config.initial_tubes():
            self._tubes[tube.serial] = tube
            self._place[tube.serial] = Place(location)
            self._custody[tube.serial] = [CustodyEntry(0, None, location, None, "initial")]

    # --- queries -------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Number of OS slots."""
        return len(self._slots)

    @property
    def step(self) -> int:
        """Successful operations so far (0 before the first)."""
        return self._step

    @property
    def tubes(self) -> Mapping[int, Tube]:
        """Every tube by serial number (read-only)."""
        return MappingProxyType(self._tubes)

    def tube(self, serial: int) -> Tube:
        """The tube with this serial number.

        Raises:
            Refused: ``unknown_tube``.
        """
        return self._known(serial)

    def serial_of(self, key: str) -> int:
        """The serial number of the tube with this sample id or name (e.g. ``"Malay"``).

        Raises:
            Refused: ``unknown_tube``, no tube has that id or name.
        """
        for tube in self._tubes.values():
            if key in (tube.sample_id, tube.name):
                return tube.serial
        raise Refused(Reason.UNKNOWN_TUBE, f"no tube has the sample id or name {key!r}")

    def where(self, serial: int) -> Place:
        """The effective location of a tube (a tube in the OS is where the OS is), with its slot.

        Raises:
            Refused: ``unknown_tube``.
        """
        self._known(serial)
        return self._effective(self._place[serial])

    def tubes_at(self, location: Location | str, slot: int | None = None) -> list[int]:
        """Serial numbers of the tubes whose effective location is ``location``, ascending.

        ``slot``, when given, keeps only the tube in that OS slot.
        """
        where = Location(location)
        return sorted(
            serial
            for serial, place in self._place.items()
            if (eff := self._effective(place)).location is where
            and (slot is None or eff.slot == slot)
        )

    @property
    def slots(self) -> tuple[int | None, ...]:
        """The serial number in each OS slot, None where it is free."""
        return tuple(self._slots)

    def free_slots(self) -> list[int]:
        """Indices of the free OS slots, ascending."""
        return [index for index, serial in enumerate(self._slots) if serial is None]

    def os_tubes(self) -> list[int]:
        """Serial numbers of the tubes in the OS, in slot order."""
        return [serial for serial in self._slots if serial is not None]

    def os_slot_mask(self) -> int:
        """The OS's slot switches as a bit mask: bit ``n`` set when slot ``n`` holds a tube.

        Wherever the OS is; the boards that read it through a connector carry 32 bits
        (``u32``), enough for every OS the container board can be fitted with.
        """
        return sum(1 << index for index, serial in enumerate(self._slots) if serial is not None)

    @property
    def gripper(self) -> int | None:
        """The serial number of the tube in the arm's gripper, or None."""
        return self._gripper

    def custody(self, serial: int) -> tuple[CustodyEntry, ...]:
        """The custody chain of a tube, oldest first; the last entry is where it is now.

        Raises:
            Refused: ``unknown_tube``.
        """
        self._known(serial)
        return tuple(self._custody[serial])

    @property
    def history(self) -> tuple[WorldEvent, ...]:
        """Every successful operation, in order."""
        return tuple(self._history)

    @property
    def os_location(self) -> OsLocation:
        """Where the Orbiting Sample container is."""
        return self._os_location

    @property
    def lid(self) -> LidState:
        """The OS lid."""
        return self._lid

    @property
    def mav_launched(self) -> bool:
        """True once the MAV has left the lander."""
        return self._mav_launched

    @property
    def pcv_sealed(self) -> bool:
        """True once the primary containment vessel has been brazed shut."""
        return self._pcv_sealed

    @property
    def ees_released(self) -> bool:
        """True once the orbiter has released the Earth Entry System."""
        return self._ees_released

    @property
    def os_orbit(self) -> Orbit | None:
        """The orbit the OS was released into (kept after capture), or None before release."""
        return self._os_orbit

    @property
    def orbiter_orbit(self) -> Orbit:
        """The Earth Return Orbiter's orbit."""
        return self._orbiter_orbit

    # --- the arm: tubes one at a time ----------------------------------------------------------

    def pick_up(self, serial: int, source: Location | str, *, at: float | None = None) -> None:
        """Grip a tube at a pickup source (rover cache, depot, ground near the lander).

        Refused, in this order: ``bad_time``, ``unknown_tube``, ``not_a_pickup_source``,
        ``gripper_full``, ``tube_not_at_source``.
        """
        self._check_time(at)
        self._known(serial)
        where = _location_or_none(source)
        if where not in PICKUP_SOURCES:
            raise Refused(Reason.NOT_A_PICKUP_SOURCE, f"the arm cannot pick up from {source!r}")
        self._gripper_empty()
        if self._place[serial] != Place(where):
            raise Refused(
                Reason.TUBE_NOT_AT_SOURCE,
                f"tube {serial} is not at {where} but at {self.where(serial).location}",
            )
        step = self._begin("pick_up", at, serial=serial)
        self._move(serial, Place(Location.GRIPPER), step, at, "pick_up")

    def place_on_ground(self, *, at: float | None = None) -> int:
        """Set the gripper's tube down on the ground near the lander; return its serial.

        Refused, in this order: ``bad_time``, ``gripper_empty``.
        """
        return self._to_ground("place_on_ground", at)

    def slip(self, *, at: float | None = None) -> int:
        """Fault: the gripper's tube slips and falls to the ground near the lander; its serial.

        Refused, in this order: ``bad_time``, ``gripper_empty``.
        """
        return self._to_ground("slip", at)

    def insert(self, slot: int, *, at: float | None = None) -> int:
        """Put the gripper's tube into an OS slot; return its serial.

        Refused, in this order: ``bad_time``, ``bad_slot``, ``gripper_empty``,
        ``os_not_on_lander``, ``lid_not_open``, ``slot_occupied``.
        """
        self._check_time(at)
        self._check_slot(slot)
        serial = self._gripper_held()
        self._os_open_on_lander()
        if self._slots[slot] is not None:
            raise Refused(
                Reason.SLOT_OCCUPIED, f"slot {slot} already holds tube {self._slots[slot]}"
            )
        step = self._begin("insert", at, serial=serial, slot=slot)
        self._move(serial, Place(Location.OS_SLOT, slot), step, at, "insert")
        return serial

    def take_from_slot(self, slot: int, *, at: float | None = None) -> int:
        """Take the tube in an OS slot into the gripper; return its serial.

        Refused, in this order: ``bad_time``, ``bad_slot``, ``gripper_full``,
        ``os_not_on_lander``, ``lid_not_open``, ``slot_empty``.
        """
        self._check_time(at)
        self._check_slot(slot)
        self._gripper_empty()
        self._os_open_on_lander()
        serial = self._slots[slot]
        if serial is None:
            raise Refused(Reason.SLOT_EMPTY, f"slot {slot} holds no tube")
        step = self._begin("take_from_slot", at, serial=serial, slot=slot)
        self._move(serial, Place(Location.GRIPPER), step, at, "take_from_slot")
        return serial

    def lost_from(self, serial: int) -> Place:
        """Where tube ``serial`` would fall from if lost now (:meth:`lose_tube`), changing
        nothing.

        Raises:
            Refused: ``unknown_tube``; ``tube_not_in_os`` (the tube is in no slot).
        """
        self._known(serial)
        place = self._place[serial]
        if place.location is not Location.OS_SLOT:
            raise Refused(
                Reason.TUBE_NOT_IN_OS,
                f"tube {serial} is in no OS slot but at {self._effective(place).location}",
            )
        return self._effective(place)

    def lose_tube(self, serial: int, *, at: float | None = None) -> Place:
        """Fault: a tube falls out of its OS slot, in flight or in orbit (or on the lander), and
        is lost: nobody holds it and no operation brings it back. Its slot is freed.

        Returns:
            The effective place it was lost from: where the OS was, and the slot
            (``Place(Location.IN_MAV, 3)``, or ``Place(Location.OS_SLOT, 3)`` on the lander).

        Refused, in this order: ``bad_time``, ``unknown_tube``, ``tube_not_in_os`` (the tube is
        in no slot).
        """
        self._check_time(at)
        lost_from = self.lost_from(serial)
        place = self._place[serial]
        step = self._begin("lose_tube", at, serial=serial, slot=place.slot)
        self._move(serial, Place(Location.LOST), step, at, "lost")
        return lost_from

    def helicopter_transfer(self, serial: int, *, at: float | None = None) -> None:
        """A sample recovery helicopter brings a depot tube to the ground near the lander.

        Refused, in this order: ``bad_time``, ``unknown_tube``, ``tube_not_at_source`` (not in
        the depot).
        """
        self._check_time(at)
        self._known(serial)
        if self._place[serial] != Place(Location.DEPOT):
            raise Refused(Reason.TUBE_NOT_AT_SOURCE, f"tube {serial} is not in the depot")
        step = self._begin("helicopter_transfer", at, serial=serial)
        self._move(serial, Place(Location.GROUND_NEAR_LANDER), step, at, "helicopter_transfer")

    # --- the OS lid ----------------------------------------------------------------------------

    def close_lid(self, *, at: float | None = None) -> None:
        """Close the OS lid. Refused: ``bad_time``, ``os_not_on_lander``, ``lid_not_open``."""
        self._lid_change("close_lid", LidState.OPEN, LidState.CLOSED, at)

    def open_lid(self, *, at: float | None = None) -> None:
        """Open the closed (not latched) OS lid.

        Refused, in this order: ``bad_time``, ``os_not_on_lander``, ``lid_latched``,
        ``lid_not_closed``.
        """
        self._lid_change("open_lid", LidState.CLOSED, LidState.OPEN, at)

    def latch_lid(self, *, at: float | None = None) -> None:
        """Latch the closed OS lid for launch.

        Refused, in this order: ``bad_time``, ``os_not_on_lander``, ``lid_latched``,
        ``lid_not_closed``.
        """
        self._lid_change("latch_lid", LidState.CLOSED, LidState.LATCHED, at)

    def unlatch_lid(self, *, at: float | None = None) -> None:
        """Release the latch (lid stays closed), only while the OS is on the lander.

        Refused, in this order: ``bad_time``, ``os_not_on_lander``, ``lid_not_latched``.
        """
        self._lid_change("unlatch_lid", LidState.LATCHED, LidState.CLOSED, at)

    # --- the OS, from the lander to the Earth Entry System -------------------------------------

    def load_into_mav(self, *, at: float | None = None) -> None:
        """Move the OS, lid latched, from the lander into the MAV nose.

        Refused, in this order: ``bad_time``, ``os_not_on_lander``, ``lid_not_latched``,
        ``mav_launched``.
        """
        self._check_time(at)
        self._os_at(OsLocation.ON_LANDER, Reason.OS_NOT_ON_LANDER)
        if self._lid is not LidState.LATCHED:
            raise Refused(Reason.LID_NOT_LATCHED, f"the OS lid is {self._lid}, not latched")
        if self._mav_launched:
            raise Refused(Reason.MAV_LAUNCHED, "the MAV has already left the lander")
        self._move_os(OsLocation.IN_MAV, "load_into_mav", at)

    def launch_mav(self, *, at: float | None = None) -> None:
        """The MAV leaves the lander, with the OS if it was loaded (an empty launch is allowed).

        Refused, in this order: ``bad_time``, ``mav_launched``.
        """
        self._check_time(at)
        if self._mav_launched:
            raise Refused(Reason.MAV_LAUNCHED, "the MAV has already been launched")
        self._begin("launch_mav", at)
        self._mav_launched = True

    def release_os(self, orbit: Orbit | None = None, *, at: float | None = None) -> None:
        """The MAV releases the OS in orbit (``orbit``, or the configured default).

        Refused, in this order: ``bad_time``, ``os_not_in_mav``, ``mav_not_launched``.
        """
        self._check_time(at)
        self._os_at(OsLocation.IN_MAV, Reason.OS_NOT_IN_MAV)
        if not self._mav_launched:
            raise Refused(Reason.MAV_NOT_LAUNCHED, "the MAV is still on the lander")
        self._move_os(OsLocation.IN_ORBIT, "release_os", at)
        self._os_orbit = orbit if orbit is not None else self.config.os_orbit

    def capture_os(self, *, at: float | None = None) -> None:
        """The orbiter's capture mechanism closes on the OS.

        Refused, in this order: ``bad_time``, ``os_not_in_orbit``.
        """
        self._check_time(at)
        self._os_at(OsLocation.IN_ORBIT, Reason.OS_NOT_IN_ORBIT)
        self._move_os(OsLocation.CAPTURED, "capture_os", at)

    def contain_os(self, *, at: float | None = None) -> None:
        """Move the captured OS into the primary containment vessel.

        Refused, in this order: ``bad_time``, ``os_not_captured``.
        """
        self._check_time(at)
        self._os_at(OsLocation.CAPTURED, Reason.OS_NOT_CAPTURED)
        self._move_os(OsLocation.IN_PCV, "contain_os", at)

    def seal_pcv(self, *, at: float | None = None) -> None:
        """Break the chain: braze the primary containment vessel shut around the OS.

        Refused, in this order: ``bad_time``, ``os_not_in_pcv``, ``pcv_sealed``.
        """
        self._check_time(at)
        self._os_at(OsLocation.IN_PCV, Reason.OS_NOT_IN_PCV)
        if self._pcv_sealed:
            raise Refused(Reason.PCV_SEALED, "the primary containment vessel is already sealed")
        self._begin("seal_pcv", at)
        self._pcv_sealed = True

    def transfer_to_ees(self, *, at: float | None = None) -> None:
        """The gantry moves the sealed PCV, with the OS, into the Earth Entry System.

        Refused, in this order: ``bad_time``, ``os_not_in_pcv``, ``pcv_not_sealed``.
        """
        self._check_time(at)
        self._os_at(OsLocation.IN_PCV, Reason.OS_NOT_IN_PCV)
        if not self._pcv_sealed:
            raise Refused(Reason.PCV_NOT_SEALED, "the primary containment vessel is not sealed")
        self._move_os(OsLocation.IN_EES, "transfer_to_ees", at)

    def release_ees(self, *, at: float | None = None) -> None:
        """The orbiter releases the Earth Entry System (about 3 days before entry).

        Refused, in this order: ``bad_time``, ``os_not_in_ees``, ``ees_released``.
        """
        self._check_time(at)
        self._os_at(OsLocation.IN_EES, Reason.OS_NOT_IN_EES)
        if self._ees_released:
            raise Refused(Reason.EES_RELEASED, "the Earth Entry System is already released")
        self._begin("release_ees", at)
        self._ees_released = True

    # --- orbits (data, not steps) --------------------------------------------------------------

    def set_os_orbit(self, orbit: Orbit) -> None:
        """Update the free OS's orbit (the MAV or orbiter emulator's estimate).

        Refused: ``os_not_in_orbit``.
        """
        self._os_at(OsLocation.IN_ORBIT, Reason.OS_NOT_IN_ORBIT)
        self._os_orbit = orbit

    def set_orbiter_orbit(self, orbit: Orbit) -> None:
        """Update the orbiter's orbit."""
        self._orbiter_orbit = orbit

    # --- consistency ---------------------------------------------------------------------------

    def check(self) -> None:
        """Cross-check the tube table against the slot table, the gripper and the custody chains.

        Raises:
            InvariantViolation: naming every inconsistency found: a tube nowhere or in two
                places, a slot or gripper that disagrees with the tube table, a custody chain
                whose last entry is not where the tube is, an OS state that cannot be reached.
        """
        problems: list[str] = []
        serials = set(self._tubes)
        if set(self._place) != serials:
            problems.append(f"tubes nowhere: {sorted(serials - set(self._place))}")
        if set(self._custody) != serials:
            problems.append("custody chains do not match the tubes")
        if len(self._slots) != self.config.capacity:
            problems.append(f"{len(self._slots)} slots for capacity {self.config.capacity}")

        slotted = Counter(serial for serial in self._slots if serial is not None)
        for serial, count in slotted.items():
            if count > 1:
                problems.append(f"tube {serial} is in {count} slots")
        for index, serial in enumerate(self._slots):
            if serial is not None and self._place.get(serial) != Place(Location.OS_SLOT, index):
                problems.append(f"slot {index} holds tube {serial}, which is elsewhere")

        held = [s for s, p in self._place.items() if p.location is Location.GRIPPER]
        if len(held) > 1:
            problems.append(f"tubes {sorted(held)} are all in the gripper")
        if held != ([] if self._gripper is None else [self._gripper]):
            problems.append(f"gripper holds {self._gripper}, tube table says {held}")

        for serial, place in self._place.items():
            if place.location not in DIRECT_LOCATIONS:
                problems.append(f"tube {serial} is directly at {place.location}")
            elif place.location is Location.OS_SLOT:
                if place.slot is None or not 0 <= place.slot < len(self._slots):
                    problems.append(f"tube {serial} is in slot {place.slot}, out of range")
                elif self._slots[place.slot] != serial:
                    problems.append(f"tube {serial} says slot {place.slot}, the slot disagrees")
            elif place.slot is not None:
                problems.append(f"tube {serial} has slot {place.slot} outside the OS")
            chain = self._custody.get(serial, [])
            if not chain or chain[-1].place != self._effective(place):
                problems.append(f"custody chain of tube {serial} does not end where it is")
            if any(a.step > b.step for a, b in itertools.pairwise(chain)):
                problems.append(f"custody chain of tube {serial} goes back in steps")

        os_at = self._os_location
        if os_at is not OsLocation.ON_LANDER and self._lid is not LidState.LATCHED:
            problems.append(f"the OS left the lander with its lid {self._lid}")
        beyond_mav = os_at not in (OsLocation.ON_LANDER, OsLocation.IN_MAV)
        if beyond_mav and not self._mav_launched:
            problems.append(f"the OS is {os_at} but the MAV never launched")
        if beyond_mav and self._os_orbit is None:
            problems.append(f"the OS is {os_at} with no orbit recorded")
        if self._pcv_sealed and os_at not in (OsLocation.IN_PCV, OsLocation.IN_EES):
            problems.append(f"the PCV is sealed but the OS is {os_at}")
        if os_at is OsLocation.IN_EES and not self._pcv_sealed:
            problems.append("the OS is in the EES in an unsealed PCV")
        if self._ees_released and os_at is not OsLocation.IN_EES:
            problems.append("the EES was released without the OS")
        if problems:
            raise InvariantViolation(problems)

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain JSON-ready data (strings, numbers, None, lists, dicts)."""
        return {
            "step": self._step,
            "capacity": len(self._slots),
            "gripper": self._gripper,
            "os": {
                "location": str(self._os_location),
                "lid": str(self._lid),
                "slots": list(self._slots),
                "orbit": None if self._os_orbit is None else self._os_orbit.to_json(),
            },
            "mav": {"launched": self._mav_launched},
            "pcv": {"sealed": self._pcv_sealed},
            "ees": {"released": self._ees_released},
            "orbiter": {"orbit": self._orbiter_orbit.to_json()},
            "tubes": [
                {
                    **tube.to_json(),
                    **self._effective(self._place[serial]).to_json(),
                    "custody": [entry.to_json() for entry in self._custody[serial]],
                }
                for serial, tube in sorted(self._tubes.items())
            ],
            "history": [event.to_json() for event in self._history],
        }

    # --- internals -----------------------------------------------------------------------------

    def _known(self, serial: int) -> Tube:
        tube = self._tubes.get(serial) if isinstance(serial, int) else None
        if tube is None:
            raise Refused(Reason.UNKNOWN_TUBE, f"no tube has the serial number {serial!r}")
        return tube

    def _effective(self, place: Place) -> Place:
        if place.location is Location.OS_SLOT:
            return Place(_TUBE_LOCATION_IN_OS[self._os_location], place.slot)
        return place

    @staticmethod
    def _check_time(at: float | None) -> None:
        if at is not None and not (isinstance(at, int | float) and math.isfinite(at)):
            raise Refused(Reason.BAD_TIME, f"time stamp {at!r} is not a finite number")

    def _check_slot(self, slot: int) -> None:
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < len(self._slots):
            raise Refused(Reason.BAD_SLOT, f"slot {slot!r} is not in 0..{len(self._slots) - 1}")

    def _gripper_empty(self) -> None:
        if self._gripper is not None:
            raise Refused(Reason.GRIPPER_FULL, f"the gripper already holds tube {self._gripper}")

    def _gripper_held(self) -> int:
        if self._gripper is None:
            raise Refused(Reason.GRIPPER_EMPTY, "the gripper holds no tube")
        return self._gripper

    def _os_at(self, where: OsLocation, reason: Reason) -> None:
        if self._os_location is not where:
            raise Refused(reason, f"the OS is {self._os_location}, not {where}")

    def _os_open_on_lander(self) -> None:
        self._os_at(OsLocation.ON_LANDER, Reason.OS_NOT_ON_LANDER)
        if self._lid is not LidState.OPEN:
            raise Refused(Reason.LID_NOT_OPEN, f"the OS lid is {self._lid}")

    def _lid_change(self, event: str, before: LidState, after: LidState, at: float | None) -> None:
        self._check_time(at)
        self._os_at(OsLocation.ON_LANDER, Reason.OS_NOT_ON_LANDER)
        if self._lid is not before:
            if before is LidState.OPEN:
                reason = Reason.LID_NOT_OPEN
            elif before is LidState.LATCHED:
                reason = Reason.LID_NOT_LATCHED
            elif self._lid is LidState.LATCHED:
                reason = Reason.LID_LATCHED
            else:
                reason = Reason.LID_NOT_CLOSED
            raise Refused(reason, f"the OS lid is {self._lid}, not {before}")
        self._begin(event, at)
        self._lid = after

    def _to_ground(self, event: str, at: float | None) -> int:
        self._check_time(at)
        serial = self._gripper_held()
        step = self._begin(event, at, serial=serial)
        self._move(serial, Place(Location.GROUND_NEAR_LANDER), step, at, event)
        return serial

    def _begin(
        self, event: str, at: float | None, *, serial: int | None = None, slot: int | None = None
    ) -> int:
        """Count a step that every precondition has passed; from here nothing may refuse."""
        self._step += 1
        self._history.append(WorldEvent(self._step, at, event, serial, slot))
        return self._step

    def _move(self, serial: int, to: Place, step: int, at: float | None, event: str) -> None:
        """Move one tube between direct places, keeping the slot table and gripper in step."""
        old = self._place[serial]
        if old.location is Location.GRIPPER:
            self._gripper = None
        elif old.location is Location.OS_SLOT and old.slot is not None:
            self._slots[old.slot] = None
        if to.location is Location.GRIPPER:
            self._gripper = serial
        elif to.location is Location.OS_SLOT and to.slot is not None:
            self._slots[to.slot] = serial
        self._place[serial] = to
        now = self._effective(to)
        self._custody[serial].append(CustodyEntry(step, at, now.location, now.slot, event))

    def _move_os(self, to: OsLocation, event: str, at: float | None) -> None:
        """Move the OS; every tube in its slots (read from the slot table) moves with it."""
        step = self._begin(event, at)
        self._os_location = to
        location = _TUBE_LOCATION_IN_OS[to]
        for slot, serial in enumerate(self._slots):
            if serial is not None:
                self._custody[serial].append(CustodyEntry(step, at, location, slot, event))


def _location_or_none(value: Location | str) -> Location | None:
    try:
        return Location(value)
    except ValueError:
        return None
