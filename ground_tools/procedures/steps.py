"""The campaign's steps, in mission order, as one procedure library: the nominal campaign
(:file:`campaign.py`) calls them one after the other, and each fault scenario
(:file:`scenarios/`) calls them around the moment it puts its fault in.

Each step is written with the scripting API on the bench's session (``bench`` in a procedure)
and says its phase through ``phase`` (``msr campaign`` prints it with the wall time)::

    from ground_tools.procedures.steps import Campaign

    campaign = Campaign(bench, tubes=TUBES, phase=phase)
    campaign.load_os()              # lander: prepare, load the tubes, close, hand over
    campaign.launch()               # MAV: condition, arm, launch, release the OS in orbit
    campaign.capture_and_return()   # orbiter: capture, orient, contain, braze, EES

The steps only ask what the flight software reports (commands, telemetry, events): loading
goes on from the tubes already seated, so a scenario may load some tubes its own way first.
Waits are in simulated seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fsw.dictionary import node_dictionary
from fsw.dictionary.custody import build_manifest
from fsw.dictionary.files import image_file_name
from fsw.dictionary.lander import SOURCES
from fsw.dictionary.mav import LAUNCH_STATES
from fsw.dictionary.orbiter import SID_IMAGE
from ground_tools.api import (
    CheckError,
    CommandFailed,
    CommandResult,
    Confirm,
    Session,
    command_key,
    inhibits,
)
from ground_tools.custody import CUSTODY, Ledger
from ground_tools.files import estimate_orientation, parse_pgm
from ground_tools.telemetry import Received

__all__ = ["LOAD_ORDER", "Campaign"]

NOMINAL: Final = 2
CRITICAL: Final = 3
"""The modes the campaign uses (the core's MODES index)."""
LOAD_ORDER: Final = ("depot", "rover_cache", "ground_near_lander")
"""Where tubes are taken from, in turn: the depot's ten first, then the rover's own cache, then
any left on the ground near the lander."""
SET_DOWN: Final = ("grasp_slip", "not_seated")
"""Load failures that leave the tube near the lander (slipped, or rejected by its slot): the
next load picks it up from there."""
MAX_FAILED_LOADS: Final = 5
"""Loads in a row that may fail before the procedure stops (a fault that persists)."""
LOAD_TIMEOUT: Final = 1800.0
"""Simulated seconds one tube's load may take (moves, retries, a wait for the ground)."""
HK_PERIOD: Final = 10.0
"""Seconds between the core housekeeping reports while the campaign runs."""
CUSTODY_ASKS: Final = 3
"""How often the ground asks for the lander's custody reports (``sta.report_custody``, one
report per tube) when some did not come (frames the downlink lost), before the check fails."""
IMAGE_ASKS: Final = 3
"""How often the ground asks for the orientation image's summary again (``hk.report``) when
it did not come (a frame the downlink lost), before the procedure stops."""
IMAGE_WAIT: Final = 30.0
"""Simulated seconds the summary is waited for, after the orient and after each ask."""
IMAGE_FILE_WAIT: Final = 300.0
"""Simulated seconds the orientation image's file is waited for (CFDP recovers losses and
blackouts: a NAK or an EOF again every 10 s)."""
ORIENT_DECISIONS: Final = 4
"""Images the ground reads before the procedure gives up on the orientation."""
TIME_RATE: Final = 6
"""Time reports (PUS 9) every 2**6 = 64 s while the campaign runs: enough to correlate the
clocks, and the bench no longer steps every node once a second for them (1 s at boot)."""


class Campaign:
    """The campaign's steps on a bench (module docstring).

    Args:
        bench: the session (``bench`` in a procedure).
        tubes: how many tubes to carry (default: the OS capacity, 30).
        phase: told the name of each phase as it starts.
    """

    def __init__(
        self, bench: Session, *, tubes: int = 30, phase: Callable[[str], None] = print
    ) -> None:
        self.bench = bench
        self.tubes = tubes
        self.phase = phase
        self.relayed: dict[str, int] = {}
        """Tubes of the manifest the ground relayed to each node (``manifest.load``)."""
        self.orientations: list[dict[str, Any]] = []
        """The ground's reading of each orientation image (:meth:`read_image`)."""

    def cmd(self, target: str, name: str, **kwargs: Any) -> CommandResult:
        """``bench.cmd`` (for brevity in the steps), after resynchronising any node that
        reports it needs it (:meth:`resync_if_needed`)."""
        self.resync_if_needed()
        return self.bench.cmd(target, name, **kwargs)

    def resync_if_needed(self) -> list[str]:
        """Resynchronise the uplink of every node that reports a pending challenge (its
        anti-replay store was lost, corrupt or new: decision 0023); return their names."""
        needed = self.bench.resync_needed()
        if needed:
            self.phase(f"{', '.join(needed)}: uplink resync (anti-replay store lost)")
            self.bench.resync(*needed)
        return needed

    # ---------------------------------------------------------------- every node

    def housekeeping(self) -> None:
        """Core housekeeping of every node every 10 s, and the apps' status of the MAV and
        the orbiter too (the lander's arm reports at its own period); time reports every
        64 s."""
        self.phase(f"all nodes: core housekeeping every {HK_PERIOD:g} s, time every "
                   f"{2**TIME_RATE} s")  # fmt: skip
        for node, sids in (("lander", (1, 2, 3)), ("mav", (1, 2, 3, 20)),
                           ("orbiter", (1, 2, 3, 30))):  # fmt: skip
            for sid in sids:
                self.cmd(node, "hk.set_period", sid=sid, period=HK_PERIOD)
            self.cmd(node, "time.set_rate", rate=TIME_RATE)

    # ---------------------------------------------------------------- lander

    def load_os(self) -> None:
        """Prepare the lander, load the tubes, close the OS and hand it over to the MAV."""
        self.prepare_lander()
        self.load_tubes()
        self.close_and_hand_over()

    def prepare_lander(self) -> None:
        """Nominal mode, the igloo held at 5 degC, the OS lid open."""
        self.phase("lander: prepare")
        self.cmd("lander", "modes.set", mode=NOMINAL)
        self.cmd("lander", "igloo.condition", setpoint=5.0)
        self.cmd("lander", "sta.open_lid", timeout=120)

    def loaded(self) -> int:
        """Tubes seated in the OS now, as the lander reports them."""
        self.bench.wait_check("lander.sta.status.tubes_loaded >= 0", timeout=30)
        return int(self.bench.tlm("lander.sta.status.tubes_loaded"))

    def load_one(self, source: str) -> CommandResult:
        """One ``sta.load_tube`` from ``source`` (a name of :data:`SOURCES`); its result,
        failed or not."""
        return self.bench.cmd("lander", "sta.load_tube", source=SOURCES.index(source),
                              timeout=LOAD_TIMEOUT, check=False)  # fmt: skip

    def load_tubes(self) -> int:
        """Load until :attr:`tubes` are seated (counting those already in) or every source is
        empty; return how many are seated.

        A tube that slipped or would not seat lies near the lander: the next load takes it
        from there. A source that reports ``no_tube`` is done with; ``os_full`` (a slot the
        arm no longer uses) ends the loading.

        Raises:
            CommandFailed: a load failed otherwise, or :data:`MAX_FAILED_LOADS` in a row.
        """
        loaded = self.loaded()
        self.phase(f"lander: load {self.tubes - loaded} tubes ({loaded} already in)")
        sources = iter(LOAD_ORDER)
        source = next(sources)
        fell, failed = False, 0
        while loaded < self.tubes:
            here = "ground_near_lander" if fell else source
            result = self.load_one(here)
            if result.ok:
                loaded += 1
                fell, failed = False, 0
                self.phase(f"lander: tube {loaded}/{self.tubes} loaded")
                continue
            reason = result.final_reason
            failed += 1
            if failed > MAX_FAILED_LOADS:
                raise CommandFailed(f"{result}: {failed} loads failed in a row")
            if "os_full" in reason:
                break
            if any(kind in reason for kind in SET_DOWN):
                fell = True
            elif "no_tube" in reason and fell:
                fell = False
            elif "no_tube" in reason:
                source = next(sources, "")
                if not source:
                    break
            else:
                raise CommandFailed(str(result))
        self.bench.check(f"lander.sta.status.tubes_loaded == {loaded}")
        return loaded

    def close_and_hand_over(self) -> None:
        """Close and latch the lid, open the igloo, hand the OS over into the MAV's nose."""
        self.phase("lander: close the OS and hand it over")
        loaded = self.loaded()
        self.cmd("lander", "sta.close_lid", timeout=600)
        self.cmd("lander", "igloo.open_door")  # the OS goes into the MAV's nose in the igloo
        self.bench.wait(60)
        self.cmd("lander", "sta.hand_over")
        in_mav = self.custody("lander", "in_mav", loaded)
        self.bench.check(lambda: len(in_mav) == loaded,
                         f"the onboard inventory reports the {loaded} tubes in the MAV "
                         f"(reported: {[serial for serial, _ in in_mav]})")  # fmt: skip
        self.relay_manifest("mav", in_mav)
        self.cmd("lander", "igloo.close_door")
        self.bench.wait_check(f"lander.sta.status.tubes_in_mav == {loaded}", timeout=30)

    # ---------------------------------------------------------------- custody

    def custody(self, node: str, place: str, expected: int) -> list[tuple[int, int]]:
        """``(serial, slot)`` of the tubes ``node`` reports present at ``place``: its custody
        reports (every step of each tube: TM[160,128] on ``sta.report_custody`` from the
        lander, TM[165,128] on ``manifest.report`` from the MAV and the orbiter) are asked for,
        and asked again while fewer than ``expected`` tubes are reported or a step is missing
        (frames the downlink lost, 0052): the archive then holds every step for the ground's
        ledger (0053)."""
        report, ask = CUSTODY[node]
        ledger = Ledger()
        for _ in range(CUSTODY_ASKS):
            mark = int(self.bench.status()["received"])
            self.cmd(node, ask)  # its reports come before its completion
            for packet in self.packets_since(mark):
                if packet.node == node and packet.name == report and not packet.error:
                    ledger.add_report(node, packet.values, packet.time)
            if len(ledger.reported_by(node)) >= expected and not ledger.gaps():
                break
        return ledger.manifest(place)

    def relay_manifest(self, node: str, tubes: list[tuple[int, int]]) -> None:
        """Load the manifest of ``tubes`` (``(serial, slot)``) on ``node``, which takes the
        OS next (``manifest.load``, decision 0053); nothing to relay for no tubes."""
        if tubes:
            self.cmd(node, "manifest.load", data=build_manifest(tubes))
        self.relayed[node] = len(tubes)

    def packets_since(self, since: int) -> list[Received]:
        """Every packet the station received after packet ``since``."""
        out: list[Received] = []
        while True:
            packets, since_next = self.bench.packets(since)
            out += packets
            if since_next == since:
                return out
            since = since_next

    # ---------------------------------------------------------------- MAV

    def launch(self) -> None:
        """Condition, arm and launch the MAV; the OS released in orbit."""
        self.condition_mav()
        self.arm_mav()
        self.launch_mav()

    def condition_mav(self) -> None:
        """Thermal conditioning, then the load check (OS in the nose, lid latched)."""
        self.phase("mav: thermal conditioning")
        self.cmd("mav", "modes.set", mode=NOMINAL)
        self.cmd("mav", "launch.condition", timeout=7200)
        self.cmd("mav", "launch.verify_load", timeout=60)

    def arm_mav(self) -> None:
        """Critical mode; the arm inhibit removed and the arming sent through the gate."""
        self.phase("mav: arm")
        self.cmd("mav", "modes.set", mode=CRITICAL, confirm=Confirm("campaign: MAV arming"))
        self.gate("mav", "arm", "launch.arm")
        self.cmd("mav", "launch.arm", confirm=Confirm("campaign: OS loaded, igloo in limits"),
                 timeout=120)  # fmt: skip
        self.bench.wait(10)  # the arming's state events are reported before the ascent's
        self.bench.wait_check(f"mav.launch.status.state == {LAUNCH_STATES.index('armed')}",
                              timeout=30)  # fmt: skip

    def launch_mav(self) -> None:
        """The launch inhibit removed; toss, ignition, ascent, OS release in orbit."""
        self.phase("mav: launch, ascent, OS release")
        self.gate("mav", "launch", "launch.launch")
        self.cmd("mav", "launch.launch", confirm=Confirm("campaign: launch"), timeout=3600)
        self.bench.wait_check(f"mav.launch.status.state == {LAUNCH_STATES.index('released')}",
                              timeout=30)  # fmt: skip
        self.cmd("mav", "modes.set", mode=NOMINAL)
        in_orbit = self.custody("mav", "in_orbit", self.relayed.get("mav", 0))
        self.relay_manifest("orbiter", in_orbit)

    def gate(self, node: str, inhibit: str, command: str) -> None:
        """Remove ``inhibit`` and arm the onboard gate for ``command`` (both hazardous: they
        carry the operator's confirmation, decision 0024)."""
        self.cmd(node, "gate.remove_inhibit", inhibit=inhibits(node).index(inhibit),
                 confirm=Confirm(f"campaign: {inhibit} inhibit off for {command}"))  # fmt: skip
        self.cmd(node, "gate.arm", command=command_key(node, command),
                 confirm=Confirm(f"campaign: arm {command}"))  # fmt: skip

    # ---------------------------------------------------------------- orbiter

    def capture_and_return(self) -> None:
        """Capture the OS, orient it, contain and braze it, carry it into the EES, release."""
        self.capture()
        self.orient()
        self.contain_and_braze()
        self.return_to_earth()

    def capture(self) -> None:
        """Search, detect, track, close in, capture (``ccrs.search``)."""
        self.phase("orbiter: search, track, capture")
        self.cmd("orbiter", "modes.set", mode=NOMINAL)
        self.cmd("orbiter", "ccrs.search", timeout=40000)

    def orient(self) -> None:
        """Orient the OS; the ground reads the downlinked image and confirms."""
        self.phase("orbiter: orient")
        started = self.bench.now()
        self.cmd("orbiter", "ccrs.orient", timeout=1800)
        self.image_since(started)
        self.decide_orientation()

    def decide_orientation(self) -> dict[str, Any]:
        """Decide the OS's orientation from the downlinked image itself, as the CCRS is
        operated (decision 0056): the image file comes down by CFDP, the ground reads the
        fiducial mark on it (:func:`~ground_tools.files.estimate_orientation`); within
        ``ccrs.orientation_tolerance`` of the target it confirms, otherwise it sends its
        measurement (``ccrs.correct_orientation``: the OS is turned and imaged again) or, when
        the mark cannot be seen, asks for another rotation (``ok=0``). Returns the last
        reading (also kept in :attr:`orientations`)."""
        tolerance = _parameter_default("orbiter", "ccrs.orientation_tolerance")
        for _ in range(ORIENT_DECISIONS):
            reading = self.read_image()
            again = self.bench.now()
            if reading["within"]:
                self.cmd("orbiter", "ccrs.confirm_orientation", ok=1, timeout=600)
                return reading
            if reading["ground"] is not None:
                self.cmd("orbiter", "ccrs.correct_orientation", measured=reading["ground"],
                         timeout=600)  # fmt: skip
            else:
                self.cmd("orbiter", "ccrs.confirm_orientation", ok=0, timeout=600, check=False)
            self.image_since(again)
        raise CheckError(f"orient: no image within {tolerance:g} deg of the target after "
                         f"{ORIENT_DECISIONS} decisions: {self.orientations[-1]}")  # fmt: skip

    def read_image(self) -> dict[str, Any]:
        """The ground's reading of the last orientation image (its file, by CFDP)."""
        image_id = int(self.bench.tlm("orbiter.ccrs.image.image_id"))
        target = float(self.bench.tlm("orbiter.ccrs.image.target"))
        board = self.bench.tlm("orbiter.ccrs.image.orientation")
        name = image_file_name(image_id)
        data = self.bench.file("orbiter", name, timeout=IMAGE_FILE_WAIT)
        estimate = estimate_orientation(parse_pgm(data))
        tolerance = _parameter_default("orbiter", "ccrs.orientation_tolerance")
        within = estimate.orientation is not None and abs(
            (estimate.orientation - target + 180.0) % 360.0 - 180.0) <= tolerance  # fmt: skip
        reading = {"file": name, "image_id": image_id, "target": target, "board": board,
                   "ground": estimate.orientation, "within": within,
                   **estimate.as_dict()}  # fmt: skip
        self.orientations.append(reading)
        seen = (
            estimate.reason if estimate.orientation is None else f"{estimate.orientation:.1f} deg"
        )
        self.phase(f"ground: image {name}: {seen} (target {target:.0f}, board "
                   f"{board:.1f}): {'confirm' if within else 'not confirmed'}")  # fmt: skip
        return reading

    def image_since(self, since: float) -> None:
        """The summary of an orientation image taken after ``since`` (``ccrs.image``), which
        the orbiter sends once when it takes the image (then every 600 s): a frame the
        downlink's bit errors lost is asked for again (``hk.report``), as an operator would."""
        check = f"orbiter.ccrs.image.taken_at >= {since}"
        for _ in range(IMAGE_ASKS):
            try:
                self.bench.wait_check(check, timeout=IMAGE_WAIT)
                return
            except CheckError:
                self.cmd("orbiter", "hk.report", sid=SID_IMAGE)
        self.bench.wait_check(check, timeout=IMAGE_WAIT)

    def contain_and_braze(self) -> None:
        """Into the primary containment vessel; break the chain by brazing (hazardous)."""
        self.phase("orbiter: contain and braze")
        self.cmd("orbiter", "ccrs.contain", timeout=1800)
        self.cmd("orbiter", "modes.set", mode=CRITICAL, confirm=Confirm("campaign: brazing"))
        self.gate("orbiter", "braze", "ccrs.braze")
        self.cmd("orbiter", "ccrs.braze", confirm=Confirm("campaign: OS contained"),
                 timeout=7200)  # fmt: skip

    def return_to_earth(self) -> None:
        """Transfer into the EES, stow, release the EES (hazardous)."""
        self.phase("orbiter: transfer to the EES")
        self.cmd("orbiter", "ccrs.transfer", timeout=3600)
        self.custody("orbiter", "ees", self.relayed.get("orbiter", 0))  # every step archived
        self.cmd("orbiter", "ccrs.stow", timeout=1800)
        self.gate("orbiter", "ees_release", "ccrs.release_ees")
        self.cmd("orbiter", "ccrs.release_ees", confirm=Confirm("campaign: EES released"),
                 timeout=600)  # fmt: skip
        self.cmd("orbiter", "modes.set", mode=NOMINAL)
        self.phase("campaign: complete")


def _parameter_default(node: str, name: str) -> float:
    """A parameter's default from the node's dictionary (the campaign never changes it)."""
    return float(node_dictionary(node).parameter(name).default)
