"""The physical ties between the emulated boards and the world model.

Each board emulator models its own hardware; what one board does to another, or to the sample
tubes, happens in the world, not on a wire. :class:`Coupling` carries it, after every ``advance``
and every handled packet (:meth:`Coupling.sync`), reading the boards' states and calling the
world's operations and the other boards' hooks. It is a pure object like the emulators: no I/O, no
clock; randomness only from the generator handed in.

============================  ====================================================================
what happens on a board       what the coupling does
============================  ====================================================================
arm at a pickup station,      the first tube there is offered to the fingers
gripper empty                 (``StaArm.presented_tube``) and shown to the cameras
                              (``StaVision.present_tube``)
arm at OS slot ``n``, empty   the tube in slot ``n`` (if any) is offered and shown (to reseat it)
fingers close on a tube       ``World.pick_up`` (or ``take_from_slot`` and
                              ``OsContainer.remove_tube``)
tube held                     shown to the cameras close up, for the serial read
fingers open at slot ``n``    ``OsContainer.insert_tube`` and ``World.insert``; anywhere else, or
                              when the OS refuses it (lid not open, slot taken), the tube falls:
                              ``World.place_on_ground``
tube slips (``grasp_slip``)   ``World.slip``: on the ground near the lander
OS lid shut / open / latched  ``World.close_lid`` / ``open_lid`` / ``latch_lid``, and once latched
                              ``World.load_into_mav`` (the OS sits in the MAV's nose: hand-over)
pyro toss, SRM1, SRM2 fired   ``MavAvionics.toss`` (and ``World.launch_mav``), ``ignite_srm1``,
                              ``ignite_srm2``
igloo thermistors (any time)   ``MavAvionics.umbilical_readings``: the lander-MAV umbilical
                              carries the propellant and heater-zone readings (decision 0018)
MAV opens the OS latch        ``World.release_os`` into the orbit the ascent model reached; the
                              orbiter's approach starts: ``NacCamera.set_approach`` and
                              ``Capture.os_arrives`` at contact
OS drifts out of the cone     re-approach: the orbiter's guidance (not emulated) brings it back
                              ``reapproach_delay`` later, from ``reapproach_range_km``
capture lid shut on the OS    ``World.capture_os``; the OS's orientation in the mechanism is drawn
braze heater first on         ``World.contain_os`` (the PCV is closed on the OS to be brazed)
seal check passes             ``World.seal_pcv``
gantry reaches the EES        ``World.transfer_to_ees``
EES release fired             ``World.release_ees``
OS in the MAV (any time)      ``MavAvionics.os_slots`` is ``World.os_slot_mask()``: the OS's slot
                              switches through the latch's connector (0 while the OS is elsewhere)
OS captured or in the PCV     ``Capture.os_slots`` is ``World.os_slot_mask()``: the same switches
(any time)                    through the capture mechanism's contact (0 while the OS is elsewhere)
============================  ====================================================================

A tube lost from the OS (the back door's ``lose_tube``, a fault) goes through
:meth:`Coupling.lose_tube`: ``World.lose_tube``, logged like the rules above, and the tube's bit
cleared at once in whichever mechanism holds the OS.

A world operation the state does not allow is refused by the world and changes nothing; the
coupling records it in :attr:`Coupling.log` (the bench shows it) and goes on. A board that is not
emulated on this bench (a real one) is simply not coupled.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hal.protocol.devices import sta_arm as arm_icd
from sim_hardware.devices.base import BoardEmulator
from sim_hardware.devices.sta_arm import TUBE_DIAMETER_MM
from sim_hardware.relative_motion import mean_motion
from sim_hardware.world import (
    LidState,
    Orbit,
    OsLocation,
    Place,
    Reason,
    Refused,
    World,
    WorldConfigError,
)

__all__ = ["Coupling", "CouplingConfig", "CouplingEvent"]

HELD_POSE: Final = (0.12, 0.0, 0.05, 0.0)
"""Where a tube in the gripper is seen by the cameras (x, y, z m; yaw deg)."""
LOG_MAX: Final = 10_000


@dataclass(frozen=True)
class CouplingConfig:
    """The figures of the couplings (defaults; a bench may change them).

    Attributes:
        approach_range_km: range of the OS when the orbiter's camera search starts.
        closing_rate_km_s: how fast the orbiter closes on the OS.
        reapproach_delay: seconds after the OS drifted out of the cone until it is back in reach.
        reapproach_range_km: range from which the re-approach closes.
        pickup_distance: distance (m) from the cameras to a tube offered at a pickup station.
    """

    approach_range_km: float = 1200.0
    closing_rate_km_s: float = 0.2
    reapproach_delay: float = 600.0
    reapproach_range_km: float = 2.0
    pickup_distance: float = 0.3


@dataclass(frozen=True)
class CouplingEvent:
    """One thing the coupling did or was refused: time, rule, outcome (``ok`` or the reason)."""

    time: float
    rule: str
    outcome: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "time": self.time,
            "rule": self.rule,
            "outcome": self.outcome,
            "detail": self.detail,
        }


class Coupling:
    """Keeps the world and the boards consistent with each other.

    Args:
        world: the world model.
        boards: the emulated boards by name (any subset of the mission's).
        config: the coupling figures.
        rng: seeded generator (the captured OS's orientation).
    """

    def __init__(
        self,
        world: World,
        boards: Mapping[str, BoardEmulator],
        config: CouplingConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.world = world
        self.boards = dict(boards)
        self.config = config or CouplingConfig()
        self.rng = rng or random.Random(0)  # noqa: S311 - a simulation, not cryptography
        self.log: list[CouplingEvent] = []
        self.refusals = 0
        self._offered_at: str | None = None  # the station whose tube the fingers were offered
        self._fired: set[str] = set()
        self._approached = False
        self.ascent: dict[str, Any] = {}
        """The orbit the OS was released into beside the bench's target (decision 0057):
        ``reached``, ``target``, ``error`` per element, ``within``, ``misses``; empty before."""

    def sync(self, now: float) -> None:
        """Carry what the boards did by ``now`` into the world and the other boards."""
        self._arm(now)
        self._lid(now)
        self._mav(now)
        self._umbilical(now)
        self._orbiter(now)
        self._slot_switches()

    def lose_tube(self, serial: int, now: float) -> Place:
        """Fault: tube ``serial`` falls out of the OS at ``now`` (``World.lose_tube``), logged
        as the rule ``lose_tube``; the slot switches of the mechanism holding the OS read it
        gone at once.

        Returns:
            The effective place it was lost from (where the OS was, and the slot).

        Raises:
            Refused: as ``World.lose_tube`` (unknown tube, not in the OS); logged and counted
                among :attr:`refusals` too, and nothing changed.
        """
        try:
            lost_from = self.world.lose_tube(serial, at=now)
        except Refused as refused:
            self.refusals += 1
            self._note(now, "lose_tube", str(refused.reason), f"tube {serial}: {refused}")
            raise
        where = f"{lost_from.location} slot {lost_from.slot}"
        self._note(now, "lose_tube", "ok", f"tube {serial} from {where}")
        self._slot_switches()
        return lost_from

    # ------------------------------------------------------------------ lander

    def _arm(self, now: float) -> None:
        arm = self.boards.get("sta_arm")
        if arm is None:
            return
        vision = self.boards.get("sta_vision")
        world = self.world
        for _ in arm.slipped:
            self._do(now, "slip", lambda: world.slip(at=now))
        arm.slipped.clear()
        moving = any(abs(t - a) > 1e-6 for t, a in zip(arm.target, arm.angle, strict=True))
        station = None if moving else arm_icd.station_at(arm.angle, world.capacity)
        held = world.gripper
        if arm.held_tube is not None and held is None:
            self._grip(arm, now)
        elif arm.held_tube is None and held is not None and arm.presented_tube == held:
            self._release(arm, station, held, now)
        if arm.held_tube is not None:
            if vision is not None:
                vision.present_tube(arm.held_tube, HELD_POSE)
            return
        offer = self._offer(station)
        if offer is not None and offer != arm.presented_tube and arm.opening <= TUBE_DIAMETER_MM:
            offer = None  # fingers closed narrower than a tube: nothing gets between them
        arm.presented_tube = offer
        self._offered_at = station if offer is not None else None
        if vision is not None:
            if offer is None:
                if vision.tube is not None:
                    vision.clear_view()
            else:
                vision.present_tube(offer, self._pose(offer))

    def _offer(self, station: str | None) -> int | None:
        if station is None:
            return None
        if station in arm_icd.PICKUP_STATIONS:
            tubes = self.world.tubes_at(station)
            return tubes[0] if tubes else None
        if station.startswith("slot_"):
            return self.world.slots[int(station[5:])]
        return None

    def _pose(self, serial: int) -> tuple[float, float, float, float]:
        yaw = (serial * 37) % 360 - 180.0  # as the tube happens to lie
        return (self.config.pickup_distance, 0.0, -0.05, float(yaw))

    def _grip(self, arm: Any, now: float) -> None:
        serial = arm.held_tube
        station = self._offered_at or ""
        if station.startswith("slot_"):
            slot = int(station[5:])
            container = self.boards.get("os_container")

            def take() -> None:
                self.world.take_from_slot(slot, at=now)
                if container is not None:
                    container.remove_tube(slot, at=now)

            self._do(now, "take_from_slot", take, f"tube {serial} from slot {slot}")
        else:
            self._do(
                now, "pick_up", lambda: self.world.pick_up(serial, station, at=now),
                f"tube {serial} at {station or 'no station'}",
            )  # fmt: skip
        if self.world.gripper != serial:  # the world refused: the fingers closed on nothing real
            arm.held_tube = None

    def _release(self, arm: Any, station: str | None, serial: int, now: float) -> None:
        arm.presented_tube = None
        container = self.boards.get("os_container")
        if station is not None and station.startswith("slot_"):
            slot = int(station[5:])

            def insert() -> None:
                if container is not None and container.position < 100.0:
                    raise Refused(Reason.LID_NOT_OPEN, f"the lid is at {container.position:.0f} %")
                self.world.insert(slot, at=now)
                if container is not None:
                    container.insert_tube(slot, serial, at=now)

            if self._do(now, "insert", insert, f"tube {serial} into slot {slot}"):
                return
        self._do(now, "place_on_ground", lambda: self.world.place_on_ground(at=now),
                 f"tube {serial} let go at {station or 'no station'}")  # fmt: skip

    def _lid(self, now: float) -> None:
        container = self.boards.get("os_container")
        if container is None or self.world.os_location is not OsLocation.ON_LANDER:
            return
        world = self.world
        lid = world.lid
        if container.latched and lid is not LidState.LATCHED:
            if lid is LidState.OPEN:
                self._do(now, "close_lid", lambda: world.close_lid(at=now))
            self._do(now, "latch_lid", lambda: world.latch_lid(at=now))
            self._do(now, "load_into_mav", lambda: world.load_into_mav(at=now))
        elif container.position <= 0.0 and lid is LidState.OPEN:
            self._do(now, "close_lid", lambda: world.close_lid(at=now))
        elif container.position > 0.0 and lid is LidState.CLOSED:
            self._do(now, "open_lid", lambda: world.open_lid(at=now))

    # ------------------------------------------------------------------ MAV

    def _mav(self, now: float) -> None:
        pyro = self.boards.get("mav_pyro")
        avionics = self.boards.get("mav_avionics")
        world = self.world
        if pyro is not None:
            for channel, at in sorted(pyro.fired_at.items(), key=lambda item: item[1]):
                if channel in self._fired:
                    continue
                self._fired.add(channel)
                if channel == "toss" and not world.mav_launched:
                    self._do(at, "launch_mav", lambda at=at: world.launch_mav(at=at))
                if avionics is not None:
                    hook = {"toss": avionics.toss, "srm1": avionics.ignite_srm1,
                            "srm2": avionics.ignite_srm2}[channel]  # fmt: skip
                    hook(at)
        if avionics is None or avionics.os_released_at is None:
            return
        if world.os_location is OsLocation.IN_MAV and world.mav_launched:
            at = avionics.os_released_at
            elements = avionics.orbit()
            try:
                orbit: Orbit | None = Orbit(
                    altitude_km=elements.altitude_km, inclination_deg=elements.inclination_deg,
                    eccentricity=elements.eccentricity, epoch=at,
                )  # fmt: skip
            except WorldConfigError:
                orbit = None  # not an orbit (the ascent failed): the world's default is recorded
            self._do(at, "release_os", lambda: world.release_os(orbit, at=at), str(orbit))
            error = avionics.orbit_error(elements)
            target = avionics.target
            self.ascent = {
                "reached": {"periapsis_km": elements.periapsis_km,
                            "apoapsis_km": elements.apoapsis_km,
                            "inclination_deg": elements.inclination_deg, "at": at},
                "target": {"periapsis_km": target.periapsis_km, "apoapsis_km": target.apoapsis_km,
                           "inclination_deg": target.inclination_deg,
                           "tolerance": {"periapsis_km": target.periapsis_tolerance_km,
                                         "apoapsis_km": target.apoapsis_tolerance_km,
                                         "inclination_deg": target.inclination_tolerance_deg}},
                "error": {"periapsis_km": error.periapsis_km, "apoapsis_km": error.apoapsis_km,
                          "inclination_deg": error.inclination_deg},
                "within": error.within, "misses": list(error.misses),
            }  # fmt: skip

    def _umbilical(self, now: float) -> None:
        """The igloo's propellant and zone thermistor readings, through the umbilical to the MAV
        avionics (which ignore them once the toss has broken the umbilical)."""
        igloo = self.boards.get("igloo")
        avionics = self.boards.get("mav_avionics")
        if igloo is None or avionics is None:
            return
        zones = igloo.status_heaters(now)["temperature"]
        avionics.umbilical_readings(igloo.status_propellant(now)["temperature"], zones, at=now)

    # ------------------------------------------------------------------ orbiter

    def _orbiter(self, now: float) -> None:
        world = self.world
        capture = self.boards.get("capture")
        nac = self.boards.get("nac_camera")
        cfg = self.config
        if world.os_location is OsLocation.IN_ORBIT and not self._approached:
            self._approached = True
            start = max(self._released_at(), 0.0)
            contact = start + cfg.approach_range_km / cfg.closing_rate_km_s
            if nac is not None:  # the glideslope in the orbiter's own orbit (decision 0055)
                nac.mean_motion = mean_motion(world.orbiter_orbit.altitude_km)
                nac.set_approach(cfg.approach_range_km, cfg.closing_rate_km_s, at=start)
            if capture is not None:
                capture.os_arrives(contact)
            self._note(now, "approach", "ok", f"contact at {contact:.1f} s")
        if capture is None or world.os_location is not OsLocation.IN_ORBIT:
            self._contain(now)
            return
        if capture.os_escaped and capture.arrival is not None:
            back = capture.now + cfg.reapproach_delay
            contact = back + cfg.reapproach_range_km / cfg.closing_rate_km_s
            if nac is not None:
                nac.set_approach(cfg.reapproach_range_km, cfg.closing_rate_km_s, at=back)
            capture.os_arrives(contact)
            self._note(now, "reapproach", "ok", f"contact at {contact:.1f} s")
        if capture.captured:
            self._do(now, "capture_os", lambda: world.capture_os(at=now))
            orient = self.boards.get("orient")
            if orient is not None:
                orient.os_orientation = self.rng.uniform(0.0, 360.0)
        self._contain(now)

    def _released_at(self) -> float:
        for event in reversed(self.world.history):
            if event.event == "release_os" and event.at is not None:
                return event.at
        return 0.0

    def _contain(self, now: float) -> None:
        world = self.world
        braze = self.boards.get("braze")
        gantry = self.boards.get("ees_gantry")
        where = world.os_location
        if braze is not None:
            if braze.on and where is OsLocation.CAPTURED:
                self._do(now, "contain_os", lambda: world.contain_os(at=now))
            if (
                braze.checked
                and braze.sealed
                and where is OsLocation.IN_PCV
                and not world.pcv_sealed
            ):
                self._do(now, "seal_pcv", lambda: world.seal_pcv(at=now))
        if gantry is not None:
            if gantry.vessel_in_ees and where is OsLocation.IN_PCV:
                self._do(now, "transfer_to_ees", lambda: world.transfer_to_ees(at=now))
            if gantry.released_at is not None and where is OsLocation.IN_EES:
                if not world.ees_released:
                    at = gantry.released_at
                    self._do(at, "release_ees", lambda: world.release_ees(at=at))

    # ------------------------------------------------------------------ the OS's slot switches

    def _slot_switches(self) -> None:
        """The OS's slot switches, read by whichever mechanism holds the OS: the MAV's latch
        connector while it is in the MAV, the capture mechanism's contact while captured and in
        the PCV. Constant time: the world keeps its slot mask up to date."""
        where = self.world.os_location
        avionics = self.boards.get("mav_avionics")
        if avionics is not None:
            avionics.os_slots = self.world.os_slot_mask() if where is OsLocation.IN_MAV else 0
        capture = self.boards.get("capture")
        if capture is not None:
            held = where is OsLocation.CAPTURED or where is OsLocation.IN_PCV
            capture.os_slots = self.world.os_slot_mask() if held else 0

    # ------------------------------------------------------------------ the log

    def _do(self, now: float, rule: str, operation: Any, detail: str = "") -> bool:
        """Run one world operation; log it; return True when the world accepted it."""
        try:
            operation()
        except Refused as refused:
            self.refusals += 1
            self._note(now, rule, str(refused.reason), f"{detail}: {refused}".strip(": "))
            return False
        self._note(now, rule, "ok", detail)
        return True

    def _note(self, now: float, rule: str, outcome: str, detail: str) -> None:
        if len(self.log) >= LOG_MAX:
            del self.log[: LOG_MAX // 2]
        time = now if math.isfinite(now) else 0.0
        self.log.append(CouplingEvent(time, rule, outcome, detail))
