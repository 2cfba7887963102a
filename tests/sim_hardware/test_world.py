"""The world model: custody of every tube from the rover or the depot to the Earth Entry System."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sim_hardware.world import (
    DEFAULT_OS_ORBIT,
    DIRECT_LOCATIONS,
    PICKUP_SOURCES,
    THREE_FORKS_DEPOT,
    CustodyEntry,
    InvariantViolation,
    LidState,
    Location,
    Orbit,
    OsLocation,
    Place,
    Reason,
    Refused,
    Tube,
    TubeKind,
    World,
    WorldConfig,
    WorldConfigError,
    WorldEvent,
    rover_cache_tubes,
)

DEPOT_IDS = {
    "M2020-00337-08": "Malay",
    "M2020-00579-17": "Mageik",
    "M2020-00639-21": "Crosswind Lake",
    "M2020-00164-02": "Roubion",
    "M2020-00271-06": "Coulettes",
    "M2020-00190-03": "Montdenier",
    "M2020-00516-15": "Bearwallow",
    "M2020-00495-12": "Skyland",
    "M2020-00374-10": "Atsah",
    "M2020-00586-18": "Amalik",
}


def checked(world: World) -> World:
    world.check()
    return world


def ready_for_launch(world: World, names: tuple[str, ...] = ("Malay",)) -> list[int]:
    """Load the named depot tubes into slots 0, 1, ... and latch the lid; return their serials."""
    serials = []
    for slot, name in enumerate(names):
        serial = world.serial_of(name)
        world.pick_up(serial, Location.DEPOT)
        world.insert(slot)
        serials.append(serial)
    world.close_lid()
    world.latch_lid()
    return serials


def in_orbit(world: World) -> list[int]:
    serials = ready_for_launch(world)
    world.load_into_mav()
    world.launch_mav()
    world.release_os()
    return serials


# --- the default set ---------------------------------------------------------------------------


def test_the_default_world_has_the_ten_depot_tubes_and_fills_the_os_from_the_rover():
    world = checked(World())
    assert world.capacity == 30 and world.free_slots() == list(range(30))
    depot = world.tubes_at(Location.DEPOT)
    rover = world.tubes_at(Location.ROVER_CACHE)
    assert len(depot) == 10 and len(rover) == 20 and len(world.tubes) == 30
    assert {world.tube(s).sample_id: world.tube(s).name for s in depot} == DEPOT_IDS
    assert [world.tube(s).name for s in depot if world.tube(s).kind is TubeKind.WITNESS] == [
        "Amalik"
    ]
    assert world.tube(world.serial_of("Montdenier")).serial == 266  # the first rock core
    assert all(0 < t.mass_g < 57 for t in world.tubes.values())
    assert len({t.sample_id for t in world.tubes.values()}) == 30
    assert world.where(world.serial_of("M2020-00337-08")) == Place(Location.DEPOT)
    assert World().snapshot() == world.snapshot()  # deterministic


@pytest.mark.parametrize(("capacity", "rover"), [(12, 2), (10, 0), (4, 0), (43, 33)])
def test_the_capacity_is_configuration_and_the_rover_fills_what_the_depot_leaves(capacity, rover):
    world = checked(World(WorldConfig(capacity=capacity)))
    assert world.capacity == capacity and len(world.slots) == capacity
    assert len(world.tubes_at(Location.DEPOT)) == 10
    assert len(world.tubes_at(Location.ROVER_CACHE)) == rover


def test_the_tube_set_is_configuration():
    mine = (Tube(900, "M2020-01000-40", "Test core", TubeKind.SAMPLE, 50.0),)
    helicopter = (Tube(901, "M2020-01001-41", "Dropped", TubeKind.SAMPLE, 51.0),)
    world = checked(
        World(WorldConfig(capacity=5, depot_tubes=(), rover_tubes=mine, ground_tubes=helicopter))
    )
    assert world.tubes_at(Location.ROVER_CACHE) == [900]
    assert world.tubes_at(Location.GROUND_NEAR_LANDER) == [901]
    assert world.tubes_at(Location.DEPOT) == []


def test_generated_rover_tubes_avoid_the_serials_and_ids_already_used():
    clash = (Tube(301, "M2020-00700-22", "Squatter"),)
    tubes = rover_cache_tubes(100, taken=clash)
    assert len({t.serial for t in tubes} | {301}) == 101
    assert len({t.sample_id for t in tubes} | {"M2020-00700-22"}) == 101
    assert rover_cache_tubes(100, taken=clash) == tubes


@pytest.mark.parametrize(
    "make",
    [
        lambda: Tube(0, "M2020-00001-01", "Zero"),
        lambda: Tube(1, "M2020-1-1", "Short id"),
        lambda: Tube(1, "M2020-00001-01", ""),
        lambda: Tube(1, "M2020-00001-01", "Heavy", TubeKind.SAMPLE, 57.0),
        lambda: Tube(1, "M2020-00001-01", "Odd", "rock"),
        lambda: WorldConfig(capacity=0),
        lambda: WorldConfig(rover_tubes=(THREE_FORKS_DEPOT[0],)),
        lambda: WorldConfig(
            depot_tubes=(Tube(1, "M2020-00001-01", "A"), Tube(2, "M2020-00001-01", "B"))
        ),
        lambda: Orbit(altitude_km=-1, inclination_deg=25),
        lambda: Orbit(altitude_km=343, inclination_deg=200),
        lambda: Orbit(altitude_km=343, inclination_deg=25, eccentricity=1.0),
    ],
)
def test_things_that_cannot_exist_are_refused_at_configuration(make: Callable[[], object]):
    with pytest.raises(WorldConfigError):
        make()


def test_orbits_are_plain_data_with_plausible_defaults():
    world = World()
    assert world.os_orbit is None
    assert 340 < DEFAULT_OS_ORBIT.altitude_km < 350
    assert 6800 < DEFAULT_OS_ORBIT.period_s < 7000  # about 1.9 hours
    assert DEFAULT_OS_ORBIT.periapsis_km < 343 < DEFAULT_OS_ORBIT.apoapsis_km
    world.set_orbiter_orbit(Orbit(altitude_km=360.0, inclination_deg=25.0, epoch=10.0))
    assert world.orbiter_orbit.altitude_km == 360.0 and world.step == 0


# --- procedures --------------------------------------------------------------------------------


def test_malay_goes_from_the_depot_to_the_earth_entry_system():
    world = World()
    malay = world.serial_of("Malay")
    rover_tube = world.tubes_at(Location.ROVER_CACHE)[0]

    world.pick_up(malay, Location.DEPOT, at=10.0)
    assert world.gripper == malay and world.where(malay) == Place(Location.GRIPPER)
    assert world.insert(0, at=20.0) == malay
    world.pick_up(rover_tube, "rover_cache", at=30.0)
    world.insert(1, at=40.0)
    assert world.tubes_at(Location.OS_SLOT) == sorted([malay, rover_tube])
    assert world.free_slots() == list(range(2, 30)) and world.gripper is None
    world.close_lid(at=50.0)
    world.latch_lid(at=51.0)
    world.load_into_mav(at=60.0)
    assert world.where(malay) == Place(Location.IN_MAV, 0)
    assert world.where(rover_tube) == Place(Location.IN_MAV, 1)
    world.launch_mav(at=100.0)
    world.release_os(at=400.0)
    assert world.os_orbit == DEFAULT_OS_ORBIT
    world.set_os_orbit(Orbit(altitude_km=340.0, inclination_deg=25.1, epoch=500.0))
    world.capture_os(at=1000.0)
    world.contain_os(at=1100.0)
    world.seal_pcv(at=1200.0)
    world.transfer_to_ees(at=1300.0)
    world.release_ees(at=2000.0)
    checked(world)

    assert world.where(malay) == Place(Location.EES, 0)
    assert world.os_location is OsLocation.IN_EES and world.pcv_sealed and world.ees_released
    assert [(e.location, e.slot, e.at) for e in world.custody(malay)] == [
        (Location.DEPOT, None, None),
        (Location.GRIPPER, None, 10.0),
        (Location.OS_SLOT, 0, 20.0),
        (Location.IN_MAV, 0, 60.0),
        (Location.IN_ORBIT, 0, 400.0),
        (Location.CAPTURED, 0, 1000.0),
        (Location.PCV, 0, 1100.0),
        (Location.EES, 0, 1300.0),
    ]
    assert [e.event for e in world.custody(malay)][-1] == "transfer_to_ees"
    assert world.step == len(world.history) == 14  # orbit updates are data, not steps
    # the tubes left behind stayed where they were
    assert len(world.tubes_at(Location.DEPOT)) == 9
    assert len(world.tubes_at(Location.ROVER_CACHE)) == 19
    assert world.custody(world.tubes_at(Location.DEPOT)[0])[-1].event == "initial"

    summary = json.loads(json.dumps(world.snapshot()))
    assert summary["os"] == {
        "location": "ees",
        "lid": "latched",
        "slots": [malay, rover_tube] + [None] * 28,
        "orbit": {
            "altitude_km": 340.0,
            "inclination_deg": 25.1,
            "eccentricity": 0.0,
            "epoch": 500.0,
        },
    }
    (entry,) = [t for t in summary["tubes"] if t["name"] == "Malay"]
    assert (entry["location"], entry["slot"], len(entry["custody"])) == ("ees", 0, 8)


def test_a_slipped_tube_falls_near_the_lander_and_is_picked_up_again():
    world = World()
    skyland = world.serial_of("Skyland")
    world.pick_up(skyland, Location.DEPOT)
    assert world.slip(at=5.0) == skyland
    assert world.where(skyland) == Place(Location.GROUND_NEAR_LANDER) and world.gripper is None
    world.pick_up(skyland, Location.GROUND_NEAR_LANDER)
    world.insert(7)
    assert [e.event for e in world.custody(skyland)] == [
        "initial",
        "pick_up",
        "slip",
        "pick_up",
        "insert",
    ]
    checked(world)


def test_a_helicopter_brings_a_depot_tube_within_reach_and_a_tube_can_be_set_down():
    world = World()
    atsah = world.serial_of("Atsah")
    world.helicopter_transfer(atsah, at=1.0)
    assert world.tubes_at(Location.GROUND_NEAR_LANDER) == [atsah]
    world.pick_up(atsah, Location.GROUND_NEAR_LANDER)
    assert world.place_on_ground() == atsah
    assert world.where(atsah) == Place(Location.GROUND_NEAR_LANDER)
    checked(world)


def test_a_tube_can_be_taken_out_of_its_slot_and_moved_to_another():
    world = World()
    malay = world.serial_of("Malay")
    world.pick_up(malay, Location.DEPOT)
    world.insert(3)
    assert world.take_from_slot(3) == malay and world.slots[3] is None
    world.insert(4)
    assert world.slots[4] == malay and world.where(malay) == Place(Location.OS_SLOT, 4)
    checked(world)


def test_the_lid_can_be_reopened_until_the_os_leaves_the_lander():
    world = World()
    world.close_lid()
    world.open_lid()
    world.close_lid()
    world.latch_lid()
    world.unlatch_lid()
    world.latch_lid()
    world.load_into_mav()
    with pytest.raises(Refused) as refused:
        world.unlatch_lid()
    assert refused.value.reason is Reason.OS_NOT_ON_LANDER
    assert world.lid is LidState.LATCHED


def test_an_empty_mav_may_launch_and_the_os_then_stays_on_the_lander():
    world = World()
    world.launch_mav()
    with pytest.raises(Refused) as refused:
        world.release_os()
    assert refused.value.reason is Reason.OS_NOT_IN_MAV
    assert world.os_location is OsLocation.ON_LANDER
    checked(world)


# --- a tube lost from the OS ------------------------------------------------------------------


def _stay_on_the_lander(world: World) -> None:
    pass


def _to_the_mav(world: World) -> None:
    world.load_into_mav()


def _to_orbit(world: World) -> None:
    world.load_into_mav()
    world.launch_mav()
    world.release_os()


def _to_capture(world: World) -> None:
    _to_orbit(world)
    world.capture_os()


def _to_the_pcv(world: World) -> None:
    _to_capture(world)
    world.contain_os()


def _to_the_ees(world: World) -> None:
    _to_the_pcv(world)
    world.seal_pcv()
    world.transfer_to_ees()


@pytest.mark.parametrize(
    ("journey", "location"),
    [
        (_stay_on_the_lander, Location.OS_SLOT),
        (_to_the_mav, Location.IN_MAV),
        (_to_orbit, Location.IN_ORBIT),
        (_to_capture, Location.CAPTURED),
        (_to_the_pcv, Location.PCV),
        (_to_the_ees, Location.EES),
    ],
    ids=["on_lander", "in_mav", "in_orbit", "captured", "in_pcv", "in_ees"],
)
def test_a_tube_lost_from_the_os_wherever_it_is_says_where_it_fell_from_and_frees_its_slot(
    journey: Callable[[World], None], location: Location
):
    world = World()
    malay, montdenier = ready_for_launch(world, ("Malay", "Montdenier"))
    journey(world)
    assert world.os_slot_mask() == 0b11
    step = world.step
    assert world.lose_tube(montdenier, at=500.0) == Place(location, 1)
    assert world.where(montdenier) == Place(Location.LOST)
    assert world.tubes_at(Location.LOST) == [montdenier]
    assert world.slots[:2] == (malay, None) and 1 in world.free_slots()
    assert world.os_tubes() == [malay] and world.os_slot_mask() == 0b01
    lost = CustodyEntry(step + 1, 500.0, Location.LOST, None, "lost")
    assert world.custody(montdenier)[-1] == lost
    assert world.history[-1] == WorldEvent(step + 1, 500.0, "lose_tube", montdenier, 1)
    assert world.where(malay) == Place(location, 0)  # the other tube stays in the OS
    checked(world)


def test_a_lost_tube_stays_lost_while_the_os_goes_on_without_it():
    world = World()
    malay, montdenier = ready_for_launch(world, ("Malay", "Montdenier"))
    world.load_into_mav(at=60.0)
    world.launch_mav(at=100.0)
    assert world.lose_tube(malay, at=150.0) == Place(Location.IN_MAV, 0)  # shaken out in ascent
    world.release_os(at=400.0)
    for operation in (world.capture_os, world.contain_os, world.seal_pcv, world.transfer_to_ees):
        operation()
    assert world.where(malay) == Place(Location.LOST)
    assert world.where(montdenier) == Place(Location.EES, 1)
    chain = [(e.location, e.event) for e in world.custody(malay)]
    assert chain[-2:] == [(Location.IN_MAV, "load_into_mav"), (Location.LOST, "lost")]
    assert world.os_slot_mask() == 0b10
    summary = json.loads(json.dumps(world.snapshot()))
    (entry,) = [t for t in summary["tubes"] if t["serial"] == malay]
    assert (entry["location"], entry["slot"]) == ("lost", None)
    assert summary["os"]["slots"][:2] == [None, montdenier]
    checked(world)


def test_lost_is_a_direct_place_and_not_a_pickup_source():
    assert Location.LOST in DIRECT_LOCATIONS and Location.LOST not in PICKUP_SOURCES
    assert Location("lost") is Location.LOST
    world = World()
    (malay,) = ready_for_launch(world)
    world.lose_tube(malay)
    with pytest.raises(Refused) as refused:
        world.pick_up(malay, Location.LOST)
    assert refused.value.reason is Reason.NOT_A_PICKUP_SOURCE


@pytest.mark.parametrize("capacity", [1, 5, 30, 32])
def test_the_slot_mask_has_bit_n_set_when_slot_n_holds_a_tube(capacity: int):
    world = World(WorldConfig(capacity=capacity))
    assert world.os_slot_mask() == 0
    reach = world.tubes_at(Location.DEPOT) + world.tubes_at(Location.ROVER_CACHE)
    slots = sorted({0, capacity // 2, capacity - 1})
    for slot, serial in zip(slots, reach, strict=False):
        world.pick_up(serial, world.where(serial).location)
        world.insert(slot)
    assert world.os_slot_mask() == sum(1 << slot for slot in slots)
    assert world.os_slot_mask().bit_length() == capacity  # the last slot is the highest bit
    world.take_from_slot(slots[0])
    assert world.os_slot_mask() == sum(1 << slot for slot in slots[1:])
    world.insert(slots[0])  # back where it was
    world.close_lid()
    world.latch_lid()
    world.load_into_mav()
    world.lose_tube(world.slots[slots[-1]])  # type: ignore[arg-type]
    assert world.os_slot_mask() == sum(1 << slot for slot in slots[:-1])
    checked(world)


# --- refusals ----------------------------------------------------------------------------------


def _malay(world: World) -> int:
    return world.serial_of("Malay")


def _grip_malay(world: World) -> None:
    world.pick_up(_malay(world), Location.DEPOT)


def _malay_in_slot_0(world: World) -> None:
    _grip_malay(world)
    world.insert(0)


def _nothing(world: World) -> None:
    pass


REFUSALS: list[tuple[str, Callable[[World], None], Callable[[World], object], Reason]] = [
    ("unknown tube", _nothing, lambda w: w.pick_up(9999, Location.DEPOT), Reason.UNKNOWN_TUBE),
    (
        "bad time",
        _nothing,
        lambda w: w.pick_up(_malay(w), "depot", at=float("nan")),
        Reason.BAD_TIME,
    ),
    (
        "not a source",
        _nothing,
        lambda w: w.pick_up(_malay(w), Location.OS_SLOT),
        Reason.NOT_A_PICKUP_SOURCE,
    ),
    (
        "not a location",
        _nothing,
        lambda w: w.pick_up(_malay(w), "moon"),
        Reason.NOT_A_PICKUP_SOURCE,
    ),
    (
        "wrong source",
        _nothing,
        lambda w: w.pick_up(_malay(w), Location.ROVER_CACHE),
        Reason.TUBE_NOT_AT_SOURCE,
    ),
    (
        "gripper full",
        _grip_malay,
        lambda w: w.pick_up(w.serial_of("Atsah"), "depot"),
        Reason.GRIPPER_FULL,
    ),
    ("nothing to set down", _nothing, lambda w: w.place_on_ground(), Reason.GRIPPER_EMPTY),
    ("nothing to slip", _nothing, lambda w: w.slip(), Reason.GRIPPER_EMPTY),
    ("nothing to insert", _nothing, lambda w: w.insert(0), Reason.GRIPPER_EMPTY),
    ("slot out of range", _grip_malay, lambda w: w.insert(30), Reason.BAD_SLOT),
    ("negative slot", _grip_malay, lambda w: w.insert(-1), Reason.BAD_SLOT),
    (
        "slot occupied",
        lambda w: (_malay_in_slot_0(w), w.pick_up(w.serial_of("Atsah"), "depot")),
        lambda w: w.insert(0),
        Reason.SLOT_OCCUPIED,
    ),
    (
        "lid closed",
        lambda w: (_grip_malay(w), w.close_lid()),
        lambda w: w.insert(0),
        Reason.LID_NOT_OPEN,
    ),
    ("slot empty", _nothing, lambda w: w.take_from_slot(0), Reason.SLOT_EMPTY),
    (
        "gripper full for slot",
        lambda w: (_malay_in_slot_0(w), w.pick_up(w.serial_of("Atsah"), "depot")),
        lambda w: w.take_from_slot(0),
        Reason.GRIPPER_FULL,
    ),
    (
        "lid latched for slot",
        lambda w: (_malay_in_slot_0(w), w.close_lid(), w.latch_lid()),
        lambda w: w.take_from_slot(0),
        Reason.LID_NOT_OPEN,
    ),
    (
        "os in mav",
        lambda w: (
            ready_for_launch(w),
            w.load_into_mav(),
            w.pick_up(w.serial_of("Atsah"), "depot"),
        ),
        lambda w: w.insert(1),
        Reason.OS_NOT_ON_LANDER,
    ),
    (
        "not in depot",
        _grip_malay,
        lambda w: w.helicopter_transfer(_malay(w)),
        Reason.TUBE_NOT_AT_SOURCE,
    ),
    ("close closed lid", lambda w: w.close_lid(), lambda w: w.close_lid(), Reason.LID_NOT_OPEN),
    ("open open lid", _nothing, lambda w: w.open_lid(), Reason.LID_NOT_CLOSED),
    (
        "open latched lid",
        lambda w: (w.close_lid(), w.latch_lid()),
        lambda w: w.open_lid(),
        Reason.LID_LATCHED,
    ),
    ("latch open lid", _nothing, lambda w: w.latch_lid(), Reason.LID_NOT_CLOSED),
    (
        "latch twice",
        lambda w: (w.close_lid(), w.latch_lid()),
        lambda w: w.latch_lid(),
        Reason.LID_LATCHED,
    ),
    ("unlatch unlatched", _nothing, lambda w: w.unlatch_lid(), Reason.LID_NOT_LATCHED),
    (
        "load unlatched",
        lambda w: w.close_lid(),
        lambda w: w.load_into_mav(),
        Reason.LID_NOT_LATCHED,
    ),
    (
        "load after launch",
        lambda w: (w.close_lid(), w.latch_lid(), w.launch_mav()),
        lambda w: w.load_into_mav(),
        Reason.MAV_LAUNCHED,
    ),
    ("launch twice", lambda w: w.launch_mav(), lambda w: w.launch_mav(), Reason.MAV_LAUNCHED),
    (
        "release on the pad",
        lambda w: (ready_for_launch(w), w.load_into_mav()),
        lambda w: w.release_os(),
        Reason.MAV_NOT_LAUNCHED,
    ),
    ("capture on mars", _nothing, lambda w: w.capture_os(), Reason.OS_NOT_IN_ORBIT),
    ("contain uncaptured", in_orbit, lambda w: w.contain_os(), Reason.OS_NOT_CAPTURED),
    ("seal empty pcv", in_orbit, lambda w: w.seal_pcv(), Reason.OS_NOT_IN_PCV),
    (
        "transfer unsealed",
        lambda w: (in_orbit(w), w.capture_os(), w.contain_os()),
        lambda w: w.transfer_to_ees(),
        Reason.PCV_NOT_SEALED,
    ),
    (
        "seal twice",
        lambda w: (in_orbit(w), w.capture_os(), w.contain_os(), w.seal_pcv()),
        lambda w: w.seal_pcv(),
        Reason.PCV_SEALED,
    ),
    ("release no ees", _nothing, lambda w: w.release_ees(), Reason.OS_NOT_IN_EES),
    (
        "release ees twice",
        lambda w: (
            in_orbit(w),
            w.capture_os(),
            w.contain_os(),
            w.seal_pcv(),
            w.transfer_to_ees(),
            w.release_ees(),
        ),
        lambda w: w.release_ees(),
        Reason.EES_RELEASED,
    ),
    (
        "lose at a bad time",
        _malay_in_slot_0,
        lambda w: w.lose_tube(9999, at=float("inf")),
        Reason.BAD_TIME,
    ),
    ("lose an unknown tube", _malay_in_slot_0, lambda w: w.lose_tube(9999), Reason.UNKNOWN_TUBE),
    (
        "lose a serial that is no number",
        _nothing,
        lambda w: w.lose_tube("272"),
        Reason.UNKNOWN_TUBE,
    ),
    (
        "lose a tube in the depot",
        _nothing,
        lambda w: w.lose_tube(_malay(w)),
        Reason.TUBE_NOT_IN_OS,
    ),
    (
        "lose a tube in the gripper",
        _grip_malay,
        lambda w: w.lose_tube(_malay(w)),
        Reason.TUBE_NOT_IN_OS,
    ),
    (
        "lose a lost tube",
        lambda w: (_malay_in_slot_0(w), w.lose_tube(_malay(w))),
        lambda w: w.lose_tube(_malay(w)),
        Reason.TUBE_NOT_IN_OS,
    ),
    (
        "orbit of a captured os",
        lambda w: (in_orbit(w), w.capture_os()),
        lambda w: w.set_os_orbit(DEFAULT_OS_ORBIT),
        Reason.OS_NOT_IN_ORBIT,
    ),
]


@pytest.mark.parametrize(
    ("setup", "operation", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_refused_operation_names_its_reason_and_changes_nothing(setup, operation, reason):
    world = World()
    setup(world)
    before = world.snapshot()
    with pytest.raises(Refused) as refused:
        operation(world)
    assert refused.value.reason is reason
    assert str(reason) in str(refused.value)
    assert world.snapshot() == before
    checked(world)


def test_unknown_tubes_are_refused_by_queries_too():
    world = World()
    for query in (lambda: world.where(1), lambda: world.custody(1), lambda: world.serial_of("X")):
        with pytest.raises(Refused) as refused:
            query()
        assert refused.value.reason is Reason.UNKNOWN_TUBE


# --- the invariant check is not trivially true -------------------------------------------------


def _corrupt_slot_table(world: World) -> None:
    world._slots[5] = world.serial_of("Malay")  # in the depot and in a slot


def _corrupt_gripper(world: World) -> None:
    world._gripper = world.serial_of("Malay")


def _lose_a_tube(world: World) -> None:
    del world._place[world.serial_of("Malay")]


def _fork_custody(world: World) -> None:
    world._place[world.serial_of("Malay")] = Place(Location.GROUND_NEAR_LANDER)


def _direct_in_orbit(world: World) -> None:
    world._place[world.serial_of("Malay")] = Place(Location.IN_ORBIT)


def _one_tube_two_slots(world: World) -> None:
    _malay_in_slot_0(world)
    world._slots[1] = world._slots[0]


def _os_gone_unlatched(world: World) -> None:
    world._os_location = OsLocation.IN_MAV


def _lost_with_a_slot(world: World) -> None:
    _malay_in_slot_0(world)
    world.lose_tube(_malay(world))
    world._place[_malay(world)] = Place(Location.LOST, 0)


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_slot_table,
        _corrupt_gripper,
        _lose_a_tube,
        _fork_custody,
        _direct_in_orbit,
        _one_tube_two_slots,
        _os_gone_unlatched,
        _lost_with_a_slot,
    ],
)
def test_check_finds_a_corrupted_world(corrupt: Callable[[World], None]):
    world = World()
    corrupt(world)
    with pytest.raises(InvariantViolation) as found:
        world.check()
    assert found.value.problems


# --- random operations -------------------------------------------------------------------------


class WorldMachine(RuleBasedStateMachine):
    """Random operations, valid or not; after each step every tube is in exactly one place."""

    world: World
    total: int
    fill: int

    @initialize(capacity=st.integers(1, 32), fill=st.integers(0, 10))
    def start(self, capacity: int, fill: int) -> None:
        self.world = World(WorldConfig(capacity=capacity))
        self.total = len(self.world.tubes)
        self.fill = min(fill, capacity)  # tubes the campaign loads before it closes the lid

    def _attempt(self, operation: Callable[[], object]) -> None:
        before = self.world.snapshot()
        try:
            operation()
        except Refused as refused:
            assert isinstance(refused.reason, Reason)
            assert self.world.snapshot() == before
        else:
            assert self.world.step == before["step"] + 1

    @rule(i=st.integers(0, 99), source=st.sampled_from(sorted(Location)))
    def pick_up_any(self, i: int, source: Location) -> None:
        serials = sorted(self.world.tubes)
        self._attempt(lambda: self.world.pick_up(serials[i % len(serials)], source))

    @rule(i=st.integers(0, 99))
    def pick_up_one_in_reach(self, i: int) -> None:
        reach = [
            s for s in sorted(self.world.tubes) if self.world.where(s).location in PICKUP_SOURCES
        ]
        if reach:
            serial = reach[i % len(reach)]
            self._attempt(lambda: self.world.pick_up(serial, self.world.where(serial).location))

    @rule(slot=st.integers(-1, 33))
    def insert_anywhere(self, slot: int) -> None:
        self._attempt(lambda: self.world.insert(slot))

    @rule(i=st.integers(0, 99))
    def insert_in_a_free_slot(self, i: int) -> None:
        free = self.world.free_slots()
        if free:
            self._attempt(lambda: self.world.insert(free[i % len(free)]))

    @rule(slot=st.integers(-1, 33))
    def take_from_slot(self, slot: int) -> None:
        self._attempt(lambda: self.world.take_from_slot(slot))

    @rule(i=st.integers(0, 99))
    def helicopter(self, i: int) -> None:
        serials = sorted(self.world.tubes)
        self._attempt(lambda: self.world.helicopter_transfer(serials[i % len(serials)]))

    @rule(
        name=st.sampled_from(
            [
                "place_on_ground",
                "slip",
                "close_lid",
                "open_lid",
                "latch_lid",
                "unlatch_lid",
                "load_into_mav",
                "launch_mav",
                "release_os",
                "capture_os",
                "contain_os",
                "seal_pcv",
                "transfer_to_ees",
                "release_ees",
            ]
        ),
        at=st.none() | st.floats(0, 1e6),
    )
    def operate(self, name: str, at: float | None) -> None:
        self._attempt(lambda: getattr(self.world, name)(at=at))

    @rule(i=st.integers(0, 99), at=st.none() | st.floats(0, 1e6))
    def lose_any(self, i: int, at: float | None) -> None:
        serials = sorted(self.world.tubes)
        self._attempt(lambda: self.world.lose_tube(serials[i % len(serials)], at=at))

    @rule(i=st.integers(0, 99))
    def lose_one_in_the_os(self, i: int) -> None:
        inside = self.world.os_tubes()
        if inside:
            self._attempt(lambda: self.world.lose_tube(inside[i % len(inside)]))

    @rule(slot=st.integers(0, 31))
    def insert_in_any_slot(self, slot: int) -> None:
        self._attempt(lambda: self.world.insert(slot % self.world.capacity))

    @rule(i=st.integers(0, 99), at=st.none() | st.floats(0, 1e6))
    def next_campaign_step(self, i: int, at: float | None) -> None:
        """The operation a campaign would do next (random ones rarely line up): load ``fill``
        tubes, close and latch the lid, and take the OS all the way to the EES."""
        world = self.world
        reach = [s for s in sorted(world.tubes) if world.where(s).location in PICKUP_SOURCES]
        loading = world.os_location is OsLocation.ON_LANDER and world.lid is LidState.OPEN
        if loading and len(world.os_tubes()) < self.fill and world.gripper is not None:
            free = world.free_slots()
            self._attempt(lambda: world.insert(free[i % len(free)], at=at))
            return
        if loading and len(world.os_tubes()) < self.fill and reach:
            serial = reach[i % len(reach)]
            self._attempt(lambda: world.pick_up(serial, world.where(serial).location, at=at))
            return
        if world.os_location is OsLocation.ON_LANDER:
            name = {"open": "close_lid", "closed": "latch_lid", "latched": "load_into_mav"}[
                world.lid
            ]
        elif world.os_location is OsLocation.IN_MAV:
            name = "release_os" if world.mav_launched else "launch_mav"
        elif world.os_location is OsLocation.IN_PCV:
            name = "transfer_to_ees" if world.pcv_sealed else "seal_pcv"
        else:
            name = {
                OsLocation.IN_ORBIT: "capture_os",
                OsLocation.CAPTURED: "contain_os",
                OsLocation.IN_EES: "release_ees",
            }[world.os_location]
        self._attempt(lambda: getattr(world, name)(at=at))

    @invariant()
    def consistent(self) -> None:
        world = self.world
        world.check()
        serials = sorted(world.tubes)
        assert len(serials) == self.total  # counts conserved
        # every tube in exactly one place, counted from the locations' side
        seen = Counter(s for location in Location for s in world.tubes_at(location))
        assert seen == Counter(serials)
        # slot occupancy: the slot table, the free slots and the tubes in the OS agree
        occupied = [i for i, s in enumerate(world.slots) if s is not None]
        assert sorted(occupied + world.free_slots()) == list(range(world.capacity))
        assert sorted(world.os_tubes()) == sorted(
            s for s in serials if world.where(s).slot is not None
        )
        for index in occupied:
            assert world.where(world.slots[index]).slot == index
        assert world.os_slot_mask() == sum(1 << index for index in occupied)
        held = [s for s in serials if world.where(s).location is Location.GRIPPER]
        assert held == ([] if world.gripper is None else [world.gripper])
        for serial in serials:
            assert world.custody(serial)[-1].place == world.where(serial)


WorldMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=50, deadline=None)
test_random_operations_keep_every_tube_in_exactly_one_place = WorldMachine.TestCase
