"""The boards and the world, coupled: procedures run on the emulators directly (no ptys), each
command a real telecommand through the board's ICD, time moved by hand.

The arm's stations come from the STA ICD's mechanical interface; the world model is the judge of
where every tube is."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hal.protocol.devices import icd as common
from hal.protocol.devices import sta_arm as arm_icd
from hal.protocol.pus import PusTc
from sim_hardware.coupling import Coupling, CouplingConfig
from sim_hardware.devices.base import BoardEmulator
from sim_hardware.devices.capture import Capture
from sim_hardware.devices.mav_avionics import MavAvionics
from sim_hardware.simulator import EMULATORS
from sim_hardware.world import Location, OsLocation, Place, Reason, Refused, World, WorldConfig


def reported(board: BoardEmulator, device: str, now: float = 0.0) -> dict[str, Any]:
    """A device's status report as the board puts it on the wire (ICD-encoded), decoded."""
    dev = board.icd.device(device)
    return dev.status.decode(board.status_data(dev, now))


class Bench:
    """Every board emulated, coupled to one world; ``t`` moves only through :meth:`run`."""

    def __init__(self, capacity: int = 30, config: CouplingConfig | None = None) -> None:
        self.world = World(WorldConfig(capacity=capacity))
        self.boards: dict[str, BoardEmulator] = {}
        for name, kind in EMULATORS.items():
            rng = random.Random(f"7/{name}")
            if name == "os_container":
                self.boards[name] = kind(rng, capacity=capacity, lid_open=True)  # type: ignore[call-arg]
            else:
                self.boards[name] = kind(rng)
        self.coupling = Coupling(self.world, self.boards, config, random.Random(7))
        self.t = 0.0

    def command(self, board: str, device: str, name: str, **values: Any) -> None:
        """Send one command; it must complete (TM[1,7])."""
        emulator = self.boards[board]
        dev = emulator.icd.device(device)
        message = dev.command(name)
        tc = PusTc(dev.apid, message.service, message.subtype, app_data=message.encode(**values))
        replies = emulator.handle(tc, self.t)
        assert [(r.service, r.subtype) for r in replies] == [
            (common.SERVICE_VERIFICATION, common.SUBTYPE_COMPLETED)
        ], f"{board}.{device}.{name} failed: {replies}"
        self.coupling.sync(self.t)

    def run(self, seconds: float, step: float = 0.1) -> None:
        """Advance every board and the coupling, tick by tick."""
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t = min(end, self.t + step)
            for board in self.boards.values():
                board.advance(self.t)
            self.coupling.sync(self.t)

    def go(self, pose: tuple[float, ...]) -> None:
        """Move the arm to a pose and wait until it is there."""
        self.command("sta_arm", "arm", "move_all", angles=list(pose), rate=5.0)
        for _ in range(2000):
            self.run(0.5)
            arm = self.boards["sta_arm"]
            if all(abs(t - a) < 1e-6 for t, a in zip(arm.target, arm.angle, strict=True)):
                return
        raise AssertionError("the arm never arrived")

    def load(self, source: str, slot: int) -> int:
        """Pick the first tube at ``source``, read its serial, put it in ``slot``."""
        self.go(arm_icd.PICKUP_STATIONS[source])
        self.command("sta_arm", "gripper", "open")
        self.run(3.0)
        self.command("sta_arm", "gripper", "close", force=20.0)
        self.run(4.0)
        serial = self.world.gripper
        assert serial is not None
        self.command("sta_vision", "cameras", "read_serial", min_confidence=0.8)
        assert self.boards["sta_vision"].serial == serial  # the cameras read the tube held
        self.go(arm_icd.slot_pose(slot))
        self.command("sta_arm", "gripper", "open")
        self.run(3.0)
        return serial


def test_a_tube_goes_from_the_depot_into_a_slot_with_its_custody() -> None:
    bench = Bench()
    first = bench.world.tubes_at(Location.DEPOT)[0]
    serial = bench.load("depot", 4)
    assert serial == first
    assert bench.world.where(serial).location == Location.OS_SLOT
    assert bench.world.where(serial).slot == 4
    assert bench.boards["os_container"].tubes[4] == serial
    seated = bench.boards["os_container"].status_slots(bench.t)["seated"]
    assert seated[4] and sum(seated) == 1
    events = [entry.event for entry in bench.world.custody(serial)]
    assert events == ["initial", "pick_up", "insert"]
    bench.world.check()


def test_the_vision_sees_the_tube_offered_at_a_pickup_station_and_nothing_elsewhere() -> None:
    bench = Bench()
    vision = bench.boards["sta_vision"]
    bench.go(arm_icd.PICKUP_STATIONS["rover_cache"])
    assert vision.detected and vision.tube == bench.world.tubes_at(Location.ROVER_CACHE)[0]
    bench.go(arm_icd.STOW)
    assert not vision.detected


def test_a_grasp_slip_drops_the_tube_near_the_lander() -> None:
    bench = Bench()
    bench.go(arm_icd.PICKUP_STATIONS["depot"])
    bench.command("sta_arm", "gripper", "close", force=20.0)
    bench.run(4.0)
    serial = bench.world.gripper
    assert serial is not None
    bench.boards["sta_arm"].inject("grasp_slip", "gripper")
    bench.run(0.2)
    assert bench.world.gripper is None
    assert bench.world.where(serial).location == Location.GROUND_NEAR_LANDER
    assert bench.world.custody(serial)[-1].event == "slip"
    bench.boards["sta_arm"].clear(kind="grasp_slip")
    # recovery: the arm picks it up again from the ground near the lander
    bench.go(arm_icd.PICKUP_STATIONS["ground_near_lander"])
    bench.command("sta_arm", "gripper", "open")
    bench.run(3.0)
    bench.command("sta_arm", "gripper", "close", force=20.0)
    bench.run(4.0)
    assert bench.world.gripper == serial


def test_a_tube_let_go_with_the_lid_shut_falls_and_is_not_in_the_os() -> None:
    bench = Bench()
    bench.command("os_container", "lid", "close")
    bench.run(40.0)
    assert bench.world.lid.value == "closed"
    bench.go(arm_icd.PICKUP_STATIONS["depot"])
    bench.command("sta_arm", "gripper", "close", force=20.0)
    bench.run(4.0)
    serial = bench.world.gripper
    bench.go(arm_icd.slot_pose(0))
    bench.command("sta_arm", "gripper", "open")
    bench.run(1.0)
    assert serial is not None
    assert bench.world.where(serial).location == Location.GROUND_NEAR_LANDER
    assert bench.boards["os_container"].tubes[0] is None
    assert any(e.rule == "insert" and e.outcome == "lid_not_open" for e in bench.coupling.log)


def test_a_tube_that_did_not_seat_is_taken_out_and_reseated() -> None:
    bench = Bench()
    container = bench.boards["os_container"]
    fault = container.inject("not_seated", "slots", index=2)
    serial = bench.load("depot", 2)
    assert not container.status_slots(bench.t)["seated"][2]  # in the slot, switch open
    container.clear(fault)
    bench.command("sta_arm", "gripper", "close", force=20.0)  # still at slot 2: take it out
    bench.run(4.0)
    assert bench.world.gripper == serial and container.tubes[2] is None
    bench.command("sta_arm", "gripper", "open")
    bench.run(3.0)
    assert container.status_slots(bench.t)["seated"][2]
    assert [e.event for e in bench.world.custody(serial)][-2:] == ["take_from_slot", "insert"]


def _launch_and_release(bench: Bench, slots: int) -> None:
    """Shut, latch and hand the OS over (its slot switches, ``slots``, seen by the MAV through
    the latch), launch, reach orbit and open the latch."""
    bench.command("os_container", "lid", "close")
    bench.run(40.0)
    assert reported(bench.boards["mav_avionics"], "os_latch")["slots"] == 0  # not in the MAV yet
    bench.command("os_container", "lid", "latch")
    bench.run(5.0)
    assert bench.world.lid.value == "latched"
    assert bench.world.os_location is OsLocation.IN_MAV
    assert reported(bench.boards["mav_avionics"], "os_latch") == {"latched": True, "slots": slots}
    pyro = bench.boards["mav_pyro"]
    pyro.insert_arm_plug()
    for n in (1, 2, 3):
        bench.command("mav_pyro", f"inhibit_{n}", "remove")
    bench.command("mav_pyro", "toss", "fire", pulse=50)
    bench.run(0.5)
    assert bench.world.mav_launched
    bench.command("mav_pyro", "srm1", "fire", pulse=50)
    avionics = bench.boards["mav_avionics"]
    while avionics.separated_at is None:
        bench.run(1.0, step=0.5)
    while avionics.vr > 40.0 or avionics.phase != "coast":
        bench.run(1.0, step=0.5)
    bench.command("mav_pyro", "srm2", "fire", pulse=50)
    while avionics.phase != "orbit":
        bench.run(5.0, step=0.5)
    bench.command("mav_avionics", "os_latch", "release")
    bench.run(1.0)
    assert reported(bench.boards["mav_avionics"], "os_latch") == {"latched": False, "slots": 0}


def test_the_whole_journey_from_the_lander_to_the_released_ees() -> None:
    bench = Bench(capacity=2, config=CouplingConfig(approach_range_km=20.0, closing_rate_km_s=1.0))
    loaded = [bench.load("depot", 0), bench.load("depot", 1)]
    _launch_and_release(bench, slots=0b11)
    world = bench.world
    assert world.os_location is OsLocation.IN_ORBIT
    assert world.os_orbit is not None and 200 < world.os_orbit.altitude_km < 600
    capture = bench.boards["capture"]
    assert reported(capture, "confirm")["slots"] == 0  # free in orbit: nothing holds the OS
    bench.command("capture", "trigger", "arm")
    bench.command("nac_camera", "nac", "start_tracking", frame_period=1.0)
    bench.run(25.0)
    assert world.os_location is OsLocation.CAPTURED
    assert reported(capture, "confirm") == {
        "switch_a": True, "switch_b": True, "confirmed": True, "slots": 0b11,
    }  # fmt: skip
    braze = bench.boards["braze"]
    bench.command("braze", "heater", "set_power", power=1500.0)
    bench.command("braze", "heater", "on")
    bench.run(1.0)
    assert world.os_location is OsLocation.IN_PCV
    assert reported(capture, "confirm")["slots"] == 0b11
    while not braze.brazed:
        bench.run(10.0)
    bench.command("braze", "heater", "off")
    while max(braze.truth()) > 60.0:
        bench.run(60.0, step=1.0)
    bench.command("braze", "seal", "check", duration=30.0)
    bench.run(31.0)
    assert world.pcv_sealed
    bench.command("ees_gantry", "gantry", "move", position=900.0, rate=20.0)
    bench.run(50.0)
    assert world.os_location is OsLocation.IN_EES
    assert reported(capture, "confirm")["slots"] == 0  # the EES holds it now
    bench.command("ees_gantry", "gantry", "stow")
    bench.run(100.0)
    bench.command("ees_gantry", "release", "release")
    bench.run(1.0)
    assert world.ees_released
    for serial in loaded:
        chain = [e.location for e in world.custody(serial)]
        assert chain[-1] == Location.EES
        assert Location.IN_ORBIT in chain and Location.CAPTURED in chain
    world.check()
    assert bench.coupling.refusals == 0, bench.coupling.log


def test_a_missed_trigger_lets_the_os_drift_out_and_the_orbiter_comes_back() -> None:
    config = CouplingConfig(approach_range_km=10.0, closing_rate_km_s=1.0, reapproach_delay=30.0,
                            reapproach_range_km=1.0)  # fmt: skip
    bench = Bench(capacity=1, config=config)
    bench.load("depot", 0)
    _launch_and_release(bench, slots=0b1)
    capture = bench.boards["capture"]
    bench.command("capture", "trigger", "arm")
    miss = capture.inject("trigger_miss", "trigger")
    bench.run(20.0)  # contact at 10 s, out of the cone 5 s later: re-approach scheduled
    assert bench.world.os_location is OsLocation.IN_ORBIT and capture.trips == 0
    assert [e.rule for e in bench.coupling.log].count("reapproach") == 1
    capture.clear(miss)
    bench.run(40.0)
    assert bench.world.os_location is OsLocation.CAPTURED
    assert [e.rule for e in bench.coupling.log].count("reapproach") == 1


def _loaded(world: World, slots: dict[int, str]) -> dict[str, int]:
    """Tubes put into the OS by the world's own operations (no arm), then the OS shut and
    latched; their serials by name."""
    serials = {}
    for slot, name in slots.items():
        serials[name] = world.serial_of(name)
        world.pick_up(serials[name], Location.DEPOT)
        world.insert(slot)
    world.close_lid()
    world.latch_lid()
    return serials


def test_the_mav_reads_the_os_slot_switches_through_its_latch_and_a_lost_tube_clears_its_bit():
    world = World()
    avionics, capture = MavAvionics(), Capture()
    coupling = Coupling(world, {"mav_avionics": avionics, "capture": capture})
    tubes = _loaded(world, {0: "Malay", 5: "Montdenier", 29: "Atsah"})
    coupling.sync(0.0)
    assert reported(avionics, "os_latch") == {"latched": True, "slots": 0}  # on the lander
    world.load_into_mav(at=1.0)
    coupling.sync(1.0)
    assert reported(avionics, "os_latch") == {"latched": True, "slots": 1 | 1 << 5 | 1 << 29}
    assert reported(capture, "confirm")["slots"] == 0
    # shaken out during the ascent: the MAV sees the slot empty at once
    assert coupling.lose_tube(tubes["Montdenier"], 2.0) == Place(Location.IN_MAV, 5)
    assert reported(avionics, "os_latch") == {"latched": True, "slots": 1 | 1 << 29}
    assert world.where(tubes["Montdenier"]) == Place(Location.LOST)
    last = coupling.log[-1]
    assert (last.rule, last.outcome) == ("lose_tube", "ok") and "slot 5" in last.detail
    coupling.sync(3.0)
    assert reported(avionics, "os_latch")["slots"] == 1 | 1 << 29
    # a tube that is not in the OS is refused by the world: logged, counted, nothing changed
    with pytest.raises(Refused) as refused:
        coupling.lose_tube(tubes["Montdenier"], 4.0)
    assert refused.value.reason is Reason.TUBE_NOT_IN_OS
    assert (coupling.log[-1].outcome, coupling.refusals) == ("tube_not_in_os", 1)
    assert reported(avionics, "os_latch")["slots"] == 1 | 1 << 29
    world.check()


def test_the_capture_mechanism_reads_the_os_slot_switches_while_it_holds_the_os():
    world = World()
    avionics, capture = MavAvionics(), Capture()
    coupling = Coupling(world, {"mav_avionics": avionics, "capture": capture})
    tubes = _loaded(world, {2: "Malay", 3: "Montdenier"})
    world.load_into_mav()
    world.launch_mav()
    world.release_os()
    coupling.sync(10.0)
    assert reported(avionics, "os_latch")["slots"] == 0  # the OS has left the MAV
    assert reported(capture, "confirm")["slots"] == 0  # free in orbit
    world.capture_os()
    coupling.sync(20.0)
    assert reported(capture, "confirm")["slots"] == 0b1100
    assert coupling.lose_tube(tubes["Malay"], 25.0) == Place(Location.CAPTURED, 2)
    assert reported(capture, "confirm")["slots"] == 0b1000
    world.contain_os()
    coupling.sync(30.0)
    assert reported(capture, "confirm")["slots"] == 0b1000  # in the PCV, still in the mechanism
    world.seal_pcv()
    world.transfer_to_ees()
    coupling.sync(40.0)
    assert reported(capture, "confirm")["slots"] == 0  # handed over to the EES
    world.check()


@pytest.mark.parametrize("board", ["sta_arm", "os_container", "mav_pyro", "capture"])
def test_a_bench_without_a_board_is_simply_not_coupled_to_it(board: str) -> None:
    bench = Bench()
    del bench.boards[board]
    bench.coupling = Coupling(bench.world, bench.boards)
    bench.run(5.0)
    bench.world.check()
