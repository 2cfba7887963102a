"""The onboard sample inventory: tubes tracked by serial from where the arm finds them to their
OS slot and the hand-over to the MAV, each move checked, every change on the disk before it
counts, and a restart finding exactly what was there."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fsw.apps.custody import CustodyError, Inventory
from fsw.core.node import NV_DEFAULTS
from fsw.core.nvstore import NvError, NvStore

MALAY, MAGEIK, ROUBION = "M2020-00337-08", "M2020-00579-17", "M2020-00164-02"


def store(path: Path) -> NvStore:
    return NvStore(path / "lander", NV_DEFAULTS, durable=False)


def test_a_tube_goes_from_the_depot_to_a_slot_and_into_the_mav_with_its_whole_chain(tmp_path):
    inventory = Inventory(store(tmp_path), capacity=30)
    inventory.locate(MALAY, "depot", 10.0)
    inventory.grasp(MALAY, 20.0)
    assert inventory.holding == MALAY
    inventory.insert(MALAY, 0, 30.0)
    assert inventory.slots() == {0: MALAY} and inventory.holding is None
    (handed,) = inventory.hand_over(40.0)
    assert handed.place == "in_mav"
    assert handed.chain == (
        ("depot", 10.0, "located"), ("gripper", 20.0, "grasped"),
        ("os_slot:0", 30.0, "inserted"), ("in_mav", 40.0, "handed_over"),
    )  # fmt: skip


def test_after_a_restart_the_inventory_is_exactly_as_the_last_move_left_it(tmp_path):
    inventory = Inventory(store(tmp_path), capacity=30)
    inventory.locate(MALAY, "rover_cache", 1.0)
    inventory.locate(MAGEIK, "depot", 2.0)
    inventory.grasp(MALAY, 3.0)
    inventory.insert(MALAY, 4, 4.0)
    inventory.grasp(MAGEIK, 5.0)
    again = Inventory(store(tmp_path), capacity=30)  # the node was reset mid-loading
    assert again.restore_error == ""
    assert again.tubes() == inventory.tubes()
    assert again.holding == MAGEIK and again.slots() == {4: MALAY}


@pytest.mark.parametrize(
    ("moves", "reason"),
    [
        (lambda i: i.grasp(ROUBION, 1.0), "unknown_tube"),
        (lambda i: i.locate(MALAY, "depot", 1.0), "already_known"),
        (lambda i: i.locate("", "depot", 1.0), "bad_serial"),
        (lambda i: i.locate(ROUBION, "orbit", 1.0), "bad_place"),
        (lambda i: i.insert(MALAY, 0, 1.0), "wrong_place"),  # not held
        (lambda i: (i.grasp(MALAY, 1.0), i.grasp(MAGEIK, 2.0)), "gripper_busy"),
        (lambda i: (i.grasp(MALAY, 1.0), i.insert(MALAY, 30, 2.0)), "bad_slot"),
        (
            lambda i: (
                i.grasp(MALAY, 1.0),
                i.insert(MALAY, 0, 2.0),
                i.grasp(MAGEIK, 3.0),
                i.insert(MAGEIK, 0, 4.0),
            ),
            "slot_taken",
        ),
        (lambda i: i.unseat(MALAY, 1.0), "wrong_place"),
        (lambda i: i.set_down(MALAY, 1.0), "wrong_place"),
        (lambda i: (i.grasp(MALAY, 1.0), i.hand_over(2.0)), "gripper_busy"),
        (
            lambda i: (
                i.grasp(MALAY, 1.0),
                i.insert(MALAY, 1, 2.0),
                i.hand_over(3.0),
                i.unseat(MALAY, 4.0),
            ),
            "handed_over",
        ),
        (lambda i: i.grasp(MALAY, float("nan")), "bad_time"),
    ],
)
def test_a_move_the_arm_cannot_make_is_refused_by_name_and_changes_nothing(tmp_path, moves, reason):
    nv = store(tmp_path)
    inventory = Inventory(nv, capacity=30)
    inventory.locate(MALAY, "depot", 0.0)
    inventory.locate(MAGEIK, "depot", 0.0)
    with pytest.raises(CustodyError) as refused:
        moves(inventory)
    assert refused.value.reason == reason
    assert inventory.violations() == []
    assert Inventory(store(tmp_path), capacity=30).tubes() == inventory.tubes()


def test_a_tube_not_seated_is_reseated_or_rejected_to_the_ground_and_picked_again(tmp_path):
    inventory = Inventory(store(tmp_path), capacity=30)
    inventory.locate(MALAY, "depot", 0.0)
    inventory.grasp(MALAY, 1.0)
    inventory.insert(MALAY, 7, 2.0)
    inventory.unseat(MALAY, 3.0)  # the seat switch did not close: take it out again
    inventory.set_down(MALAY, 4.0, how="rejected")
    assert inventory.tube(MALAY).place == "ground_near_lander"
    inventory.grasp(MALAY, 5.0)
    inventory.insert(MALAY, 8, 6.0)
    hows = [how for _, _, how in inventory.tube(MALAY).chain]
    assert hows == ["located", "grasped", "inserted", "unseated", "rejected", "grasped", "inserted"]


def test_a_move_that_cannot_be_stored_is_refused_and_forgotten(tmp_path, monkeypatch):
    nv = store(tmp_path)
    inventory = Inventory(nv, capacity=30)
    inventory.locate(MALAY, "depot", 0.0)

    def full_disk(*_args, **_kwargs):
        raise NvError("lander: cannot write: No space left on device")

    monkeypatch.setattr(nv, "put", full_disk)
    with pytest.raises(CustodyError, match="store_failed: lander: cannot write"):
        inventory.grasp(MALAY, 1.0)
    assert inventory.tube(MALAY).place == "depot" and inventory.holding is None


def test_a_stored_inventory_that_breaks_the_rules_is_not_used_and_says_why(tmp_path):
    nv = store(tmp_path)
    held = {"place": "gripper", "chain": [["gripper", 1.0, "grasped"]]}
    nv.put("custody", [{"serial": MALAY, **held}, {"serial": MAGEIK, **held}])
    inventory = Inventory(store(tmp_path), capacity=30)
    assert inventory.tubes() == []
    assert "the gripper holds 2 tubes" in inventory.restore_error
    slot = {"place": "os_slot:40", "chain": [["os_slot:40", 1.0, "inserted"]]}
    nv.put("custody", [{"serial": MALAY, **slot}])
    assert "not a place" in Inventory(store(tmp_path), capacity=30).restore_error
    nv.put("custody", [{"serial": MALAY, **held}, {"serial": MALAY, **held}])
    assert "lists M2020-00337-08 twice" in Inventory(store(tmp_path), capacity=30).restore_error
    nv.put("custody", [{"serial": MALAY, "place": "depot"}])
    assert "malformed" in Inventory(store(tmp_path), capacity=30).restore_error


class CustodyMachine(RuleBasedStateMachine):
    """Any sequence of moves, allowed or not: a tube is always in exactly one place, each slot
    and the gripper hold at most one, and what a restart reads is what memory holds."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.dir = Path(tempfile.mkdtemp())
        self.inventory = Inventory(store(self.dir), capacity=4)
        self.now = 0.0

    serials = st.sampled_from([MALAY, MAGEIK, ROUBION, "M2020-00271-06", "M2020-00190-03"])

    def _try(self, move) -> None:
        self.now += 1.0
        try:
            move()
        except CustodyError:
            pass

    @rule(serial=serials, source=st.sampled_from(["rover_cache", "depot", "ground_near_lander"]))
    def locate(self, serial, source):
        self._try(lambda: self.inventory.locate(serial, source, self.now))

    @rule(serial=serials)
    def grasp(self, serial):
        self._try(lambda: self.inventory.grasp(serial, self.now))

    @rule(serial=serials, slot=st.integers(-1, 5))
    def insert(self, serial, slot):
        self._try(lambda: self.inventory.insert(serial, slot, self.now))

    @rule(serial=serials)
    def unseat(self, serial):
        self._try(lambda: self.inventory.unseat(serial, self.now))

    @rule(serial=serials)
    def set_down(self, serial):
        self._try(lambda: self.inventory.set_down(serial, self.now, "slipped"))

    @precondition(lambda self: self.now > 20)
    @rule()
    def hand_over(self):
        self._try(lambda: self.inventory.hand_over(self.now))

    @invariant()
    def one_place_each_and_the_disk_agrees(self):
        assert self.inventory.violations() == []
        places = [t.place for t in self.inventory.tubes()]
        slots = [p for p in places if p.startswith("os_slot:")]
        assert len(slots) == len(set(slots)) and places.count("gripper") <= 1
        assert Inventory(store(self.dir), capacity=4).tubes() == self.inventory.tubes()


TestCustodyMachine = CustodyMachine.TestCase
TestCustodyMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
