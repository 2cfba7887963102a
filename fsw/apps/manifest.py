"""The OS's manifest on a node that takes the Orbiting Sample container after the lander: which
tube is in which slot, where the OS is, and whether each tube is still there (decision 0053).

The lander's inventory (:mod:`fsw.apps.custody`) follows each tube through the arm into the OS.
When the OS leaves the lander its manifest goes with it: the ground relays the lander's custody
reports to the MAV (``manifest.load``), and later the MAV's to the orbiter. From then on the
node that holds the OS keeps the manifest in its non-volatile store, moves every tube with the
OS as its sequencing app says the OS moves (the software bus topic :data:`TOPIC`: the MAV's
launch sequencer publishes ``in_orbit`` when it lets the OS go; the orbiter's CCRS publishes
``captured``, ``primary_containment_vessel`` and ``ees``), and checks the manifest against the
OS's slot switches (read through the MAV's latch, or the orbiter's capture mechanism) while it
holds the OS, at the first cycle of its rate group ``manifest.check_period`` seconds after the
last read (the group's own wakes: an idle group runs every 5 s, so the reads add no round to the
lockstep):

========================  ==========================================================
the slot switches say     what the node does
========================  ==========================================================
a tube's slot is empty    the tube is ``missing``: event ``manifest.tube_missing``
                          (which tube, which slot, where the OS is) and its custody
                          report; it stays missing until its slot reads full again
                          (``manifest.tube_back``)
a slot no tube lists      event ``manifest.unexpected`` (once per slot)
is full
========================  ==========================================================

Every change of a tube (loaded, moved with the OS, missing, back) sends that tube's custody
report, TM[165,128] (:mod:`fsw.dictionary.custody`); ``manifest.report`` sends every tube's.
The state is written to the store before it counts in memory; a write the store refuses is
reported (``core.store_failed``) and the node goes on with what it knows. A stored manifest that
does not parse is not used (``manifest.restore``): the ground loads it again.

Subclasses name the node's places (:attr:`Manifest.holds`: the first is where a load puts the
OS; the node senses the OS in :attr:`Manifest.sensed`) and how the slot switches are read
(:meth:`Manifest.read_slots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from fsw.apps.base import App, OperationFailed
from fsw.core.component import CommandContext, CommandError
from fsw.dictionary.custody import (
    NO_SLOT,
    STATUSES,
    CustodyRow,
    ManifestError,
    encode_custody,
    parse_manifest,
)
from fsw.dictionary.files import TOPIC_PUT, FilePut
from fsw.dictionary.mav import MAV_HOLDS
from fsw.dictionary.orbiter import ORBITER_HOLDS
from hal.devices.capture import CaptureClient
from hal.devices.mav_avionics import MavAvionicsClient
from hal.errors import HalError

__all__ = [
    "HELD",
    "IN_TRANSIT",
    "TOPIC",
    "Manifest",
    "MavManifest",
    "OrbiterManifest",
    "TubeRecord",
]

MANIFEST_FILE: Final = "manifest.csv"
"""The name of the manifest's file, sent to the ground at every change (decision 0056)."""
TOPIC: Final = "os.place"
"""The software bus topic on which an app says where the OS went: ``(place, mission time)``."""
IN_TRANSIT: Final = "in_transit"
"""The place an app names when it carries the OS away from the mechanism that reads its slot
switches (the gantry pulling the vessel out of the capture mechanism): checks pause."""
HELD: Final = "held"
"""The place an app names when a carry it started ends where it began: checks go on."""
MAX_SLOTS: Final = 32
"""Slots the switches report (a 32-bit word): a manifest naming a slot beyond is refused."""


@dataclass(frozen=True)
class TubeRecord:
    """One tube of the manifest: its slot and its history on this node, oldest first: each
    step ``(place, status, since)`` (the last is where it is now)."""

    serial: int
    slot: int
    history: tuple[tuple[str, str, float], ...]

    @property
    def place(self) -> str:
        return self.history[-1][0]

    @property
    def status(self) -> str:
        return self.history[-1][1]

    @property
    def since(self) -> float:
        return self.history[-1][2]

    def then(self, place: str, status: str, since: float) -> TubeRecord:
        """The tube with one more step."""
        return TubeRecord(self.serial, self.slot, (*self.history, (place, status, since)))

    def to_json(self) -> list[Any]:
        """The stored form: ``[serial, slot, [[place, status, since], ...]]``."""
        return [self.serial, self.slot, [list(step) for step in self.history]]


class Manifest(App):
    """The manifest component (module docstring); see :class:`MavManifest` and
    :class:`OrbiterManifest`."""

    name = "manifest"
    holds: ClassVar[tuple[str, ...]] = ()
    """The places the OS goes through on this node, in order; a load puts it at the first."""
    sensed: ClassVar[frozenset[str]] = frozenset()
    """The places in which the node can read the OS's slot switches."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.place = ""
        self.tubes: dict[int, TubeRecord] = {}
        self.unexpected: set[int] = set()
        self.next_check = 0.0
        self.reads_failed = 0
        self.in_transit = False

    # ------------------------------------------------------------------ start and store

    def start(self, now: float) -> None:
        """Restore the manifest; subscribe to the OS's moves."""
        super().start(now)
        if self.pipe is not None:
            self.ctx.bus.subscribe(TOPIC, self.pipe)
        stored = self.ctx.nv.get(self.name)
        if stored:
            try:
                self.place, self.tubes, self.unexpected = _parse_stored(stored, self.holds)
            except (ValueError, TypeError, KeyError) as exc:
                self.ctx.emit("manifest.restore", str(exc)[:100])
        self.next_check = now

    def _commit(self, place: str, tubes: dict[int, TubeRecord], unexpected: set[int]) -> None:
        """Write the new state, then take it (a refused write: reported, still taken)."""
        value = {
            "place": place, "tubes": [t.to_json() for t in tubes.values()],
            "unexpected": sorted(unexpected),
        }  # fmt: skip
        self.persist_or_report(lambda: self.ctx.nv.put(self.name, value))
        self.place, self.tubes, self.unexpected = place, tubes, unexpected
        self.ctx.bus.publish(TOPIC_PUT, FilePut(MANIFEST_FILE, self.manifest_file()))

    def manifest_file(self) -> bytes:
        """The manifest as a file for the ground (decision 0056): CSV, a header line then one
        line per tube, ``serial,slot,place,status,since,steps``, and the unexpected slots."""
        lines = [f"# {self.ctx.node} manifest: the OS is {self.place or 'not here'}",
                 "serial,slot,place,status,since,steps"]  # fmt: skip
        for tube in sorted(self.tubes.values(), key=lambda t: t.serial):
            lines.append(f"{tube.serial},{tube.slot},{tube.place},{tube.status},"
                         f"{tube.since:.1f},{len(tube.history)}")  # fmt: skip
        lines.extend(f"# unexpected tube in slot {slot}" for slot in sorted(self.unexpected))
        return ("\n".join(lines) + "\n").encode("ascii")

    # ------------------------------------------------------------------ commands

    def do_load(self, cmd: CommandContext, now: float) -> None:
        """``manifest.load``: take the manifest (it replaces one held); the OS is where the
        node's app last said it went, else at the first of :attr:`holds`."""
        try:
            entries = parse_manifest(bytes(cmd.args["data"]), capacity=MAX_SLOTS)
        except ManifestError as exc:
            raise CommandError(f"bad_manifest: {exc}") from None
        place = self.place or self.holds[0]
        tubes = {}
        for serial, slot in entries:  # a tube loaded again keeps its history here
            known = self.tubes.get(serial)
            if known is not None and known.slot == slot and known.place == place:
                tubes[serial] = known
            else:
                tubes[serial] = TubeRecord(serial, slot, ((place, "present", now),))
        self._commit(place, tubes, set())
        self._report(list(tubes.values()))
        self.next_check = now  # the switches are read at once
        confirmed = self._check(now)
        seen = "not read" if confirmed is None else f"{confirmed} confirmed by the slot switches"
        self.ctx.emit("manifest.loaded", f"{len(tubes)} tubes, OS {place}; {seen}")

    def do_report(self, cmd: CommandContext, now: float) -> None:
        """``manifest.report``: every tube's custody report of each of its steps here, oldest
        first (the ground's ledger fills in what the downlink lost)."""
        self._report(list(self.tubes.values()), every_step=True)

    # ------------------------------------------------------------------ the cycle

    def monitor(self, now: float) -> None:
        """Take the OS's moves from the bus; read the slot switches when due."""
        if self.pipe is not None:
            for _topic, message in self.pipe.drain():
                self._moved(message, now)
        due = now + 1e-9 >= self.next_check
        if self.tubes and self.place in self.sensed and not self.in_transit and due:
            self._check(now)

    def _moved(self, message: Any, now: float) -> None:
        """An app says the OS moved: every tube goes with it (one write, a report each). An
        app carrying the OS away from the mechanism whose contact reads its slot switches
        says :data:`IN_TRANSIT` first (the CCRS's gantry): no reading is taken for a check until
        the OS arrives somewhere (or :data:`HELD` again)."""
        try:
            place, at = message
            at = float(at)
        except (TypeError, ValueError):
            return
        if place in (IN_TRANSIT, HELD):
            self.in_transit = place == IN_TRANSIT
            return
        self.in_transit = False
        if place not in self.holds or (
            self.place in self.holds and self.holds.index(place) <= self.holds.index(self.place)
        ):
            return  # the OS only goes forward
        if not math.isfinite(at):
            at = now
        if not self.tubes:  # no manifest yet: a load takes this place
            self._commit(place, {}, self.unexpected)
            return
        tubes = {  # a tube found missing stays where it went missing: it is not in the OS
            s: t if t.status == "missing" else t.then(place, "present", at)
            for s, t in self.tubes.items()
        }
        self._commit(place, tubes, self.unexpected)
        self._report([tube for tube in tubes.values() if tube.place == place])
        missing = sum(t.status == "missing" for t in tubes.values())
        self.ctx.emit("manifest.moved", f"the OS is {place}: {len(tubes)} tubes, {missing} "
                      "missing")  # fmt: skip
        self.next_check = now

    def _check(self, now: float) -> int | None:
        """Read the slot switches and compare; return how many tubes read present (None:
        not read now)."""
        self.next_check = now + self.param("check_period") - 1e-6  # the wake a period on
        if self.place not in self.sensed:
            return None
        try:
            mask = self.read_slots()
        except (HalError, OperationFailed):
            self.reads_failed += 1
            return None
        tubes = dict(self.tubes)
        changed: list[TubeRecord] = []
        for serial, tube in self.tubes.items():
            if tube.place != self.place:
                continue  # missing where the OS no longer is
            status = "present" if mask >> tube.slot & 1 else "missing"
            if status != tube.status:
                tubes[serial] = tube.then(tube.place, status, now)
                changed.append(tubes[serial])
        listed = {t.slot for t in self.tubes.values()}
        full = {slot for slot in range(MAX_SLOTS) if mask >> slot & 1}
        unexpected = full - listed
        new_unexpected = unexpected - self.unexpected
        if changed or unexpected != self.unexpected:
            self._commit(self.place, tubes, unexpected)
        self._report(changed)
        for tube in changed:
            if tube.status == "missing":
                self.ctx.emit("manifest.tube_missing", f"tube {tube.serial} is not in slot "
                              f"{tube.slot} (the OS is {self.place})")  # fmt: skip
            else:
                self.ctx.emit("manifest.tube_back", f"tube {tube.serial} reads in slot "
                              f"{tube.slot} again")  # fmt: skip
        for slot in sorted(new_unexpected):
            self.ctx.emit("manifest.unexpected", f"slot {slot} holds a tube the manifest does "
                          f"not list (the OS is {self.place})")  # fmt: skip
        return sum(t.status == "present" for t in tubes.values())

    def read_slots(self) -> int:
        """The OS's slot switches now, bit n for slot n (the subclass's board)."""
        raise OperationFailed("no_board: this node cannot read the OS's slot switches")

    # ------------------------------------------------------------------ telemetry

    def _report(self, tubes: list[TubeRecord], every_step: bool = False) -> None:
        """Custody reports, TM[165,128], of these tubes: each one's latest step, or (with
        ``every_step``) every step of its history here, oldest first."""
        rows = [
            CustodyRow(tube.serial, place, tube.slot if tube.slot < NO_SLOT else None, status,
                       step, since)
            for tube in tubes
            for step, (place, status, since) in enumerate(tube.history, start=1)
            if every_step or step == len(tube.history)
        ]  # fmt: skip
        report = self.ctx.dictionary.report("manifest.custody")
        for data in encode_custody(report, rows):
            self.ctx.send_tm(report.service, report.subtype, data)

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``manifest.status``: where the OS is, tubes, missing, unexpected slots."""
        place = self.holds.index(self.place) + 1 if self.place in self.holds else 0
        return {
            "manifest.status": {
                "place": place, "tubes": len(self.tubes),
                "missing": sum(t.status == "missing" for t in self.tubes.values()),
                "unexpected": len(self.unexpected),
            }
        }  # fmt: skip


class MavManifest(Manifest):
    """The MAV's manifest: the OS in its nose (slot switches through the latch's connector)
    until the launch sequencer lets it go in orbit."""

    holds = MAV_HOLDS
    sensed = frozenset({"in_mav"})

    def read_slots(self) -> int:
        """The slot switches through the OS latch (``mav_avionics`` ``os_latch``)."""
        return self.board("mav_avionics", MavAvionicsClient).read_os_slots()


class OrbiterManifest(Manifest):
    """The orbiter's manifest: the OS in orbit until captured, then held by the capture
    mechanism (its contact reads the slot switches), inside the primary containment vessel, and
    in the Earth Entry System."""

    holds = ORBITER_HOLDS
    sensed = frozenset({"captured", "primary_containment_vessel"})

    def read_slots(self) -> int:
        """The slot switches through the capture mechanism (``capture`` ``confirm``)."""
        return self.board("capture", CaptureClient).read_os_slots()


def _parse_stored(
    stored: Any, holds: tuple[str, ...]
) -> tuple[str, dict[int, TubeRecord], set[int]]:
    """The stored manifest, checked (ValueError naming what is wrong)."""
    place = stored["place"]
    if place not in (*holds, ""):
        raise ValueError(f"stored place {place!r} is not one of {', '.join(holds)}")
    tubes: dict[int, TubeRecord] = {}
    for item in stored["tubes"]:
        serial, slot, history = item
        steps = tuple((str(p), str(st), float(t)) for p, st, t in history)
        ok = (
            type(serial) is int and type(slot) is int and serial not in tubes
            and 0 <= slot < NO_SLOT and steps
            and all(p in holds and st in STATUSES and math.isfinite(t) for p, st, t in steps)
        )  # fmt: skip
        ok = ok and slot < MAX_SLOTS
        if not ok:
            raise ValueError(f"stored tube {item!r} is not a manifest entry")
        tubes[serial] = TubeRecord(serial, slot, steps)
    unexpected = {int(slot) for slot in stored.get("unexpected", [])}
    return place, tubes, unexpected
