"""The ground's custody ledger (ground_tools/custody.py, decision 0053): built from the nodes'
custody reports only, a record per change of a tube's place or status, in time-stamp order from
an archive; set beside the truth it says per tube whether the two agree and whether custody is
whole; it gives the manifest the ground relays to the next node. And the manifest's wire layout
(fsw/dictionary/custody.py), built and parsed by one declaration, refusing what breaks it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsw.dictionary.custody import (
    BATCH,
    COLUMNS,
    PLACES,
    STATUSES,
    ManifestError,
    build_manifest,
    parse_manifest,
)
from ground_tools.archive import Archive
from ground_tools.custody import Ledger

FULL = ("depot", "gripper", "os_slot", "in_mav", "in_orbit", "captured",
        "primary_containment_vessel", "ees")  # fmt: skip


STEPS = [("lander", 1, "depot"), ("lander", 2, "gripper"), ("lander", 3, "os_slot"),
         ("lander", 4, "in_mav"), ("mav", 1, "in_mav"), ("mav", 2, "in_orbit"),
         ("orbiter", 1, "in_orbit"), ("orbiter", 2, "captured"),
         ("orbiter", 3, "primary_containment_vessel"), ("orbiter", 4, "ees")]  # fmt: skip
"""Each custody report of a tube's nominal custody: node, its step there, place."""


def report(serial: int, place: str, slot: int | None = None, status: str = "present",
           since: float = 0.0, steps: int = 1) -> dict[str, int]:  # fmt: skip
    """A custody report's decoded fields."""
    return {"serial": serial, "place": PLACES.index(place), "slot": 255 if slot is None else slot,
            "status": STATUSES.index(status), "steps": steps, "since": int(since)}  # fmt: skip


def packet(*rows: dict[str, int]) -> dict[str, object]:
    """A custody report's decoded fields for these rows (the columns padded as on the wire)."""
    pad = BATCH - len(rows)
    return {"count": len(rows),
            **{c: [r[c] for r in rows] + [0] * pad for c in COLUMNS}}  # fmt: skip


def whole_chain(ledger: Ledger, serial: int, slot: int, t0: float = 0.0) -> None:
    """The reports of one tube's nominal custody, from the three nodes."""
    for i, (node, step, place) in enumerate(STEPS):
        in_os = place not in ("depot", "gripper")
        ledger.add(node, report(serial, place, slot if in_os else None, since=t0 + i, steps=step),
                   t0 + i)  # fmt: skip


def test_a_tube_followed_by_three_nodes_has_one_record_per_change_and_agrees_with_the_truth():
    ledger = Ledger()
    whole_chain(ledger, 266, 0)
    assert ledger.places(266) == FULL
    assert [r.node for r in ledger.records(266)] == ["lander"] * 4 + ["mav"] + ["orbiter"] * 3
    assert ledger.add("orbiter", report(266, "ees", 0, since=9, steps=4), 99.0) is None  # again
    (compared,) = ledger.compare({266: ["depot", *FULL]}, "ees")  # the truth's repeats fold
    assert compared.ok and compared.text == "at ees slot 0 (orbiter at 9 s)"
    assert [t["to"] for t in ledger.transfers(266)] == list(FULL)


def test_a_tube_reported_missing_agrees_with_a_truth_that_lost_it_and_breaks_custody():
    ledger = Ledger()
    whole_chain(ledger, 266, 0)
    for t, place in enumerate(FULL[:4]):
        ledger.add("lander", report(272, place, None if t < 2 else 1, since=t, steps=t + 1), t)
    ledger.add("mav", report(272, "in_mav", 1, since=5), 5.0)
    ledger.add("mav", report(272, "in_mav", 1, "missing", since=500, steps=2), 500.0)
    (missing,) = ledger.missing()
    assert (missing.serial, missing.node, missing.place, missing.slot) == (272, "mav", "in_mav", 1)
    assert ledger.manifest("in_mav") == []  # nothing present there: nothing to relay
    truth = {266: list(FULL), 272: [*FULL[:4], "lost"]}
    whole, lost = ledger.compare(truth, "ees")
    assert whole.ok
    assert lost.agree and not lost.complete and not lost.ok
    assert lost.text == "MISSING: last reported in in_mav slot 1 (missing, mav at 500 s)"


def test_what_differs_from_the_truth_is_said_in_words():
    ledger = Ledger()
    ledger.add("lander", report(266, "depot"), 1.0)
    ledger.add("lander", report(266, "os_slot", 0, since=2, steps=3), 2.0)  # step 2 was lost
    assert ledger.gaps() == [(266, "lander", [2])]
    (compared,) = ledger.compare({266: ["depot", "gripper", "os_slot"]}, "os_slot")
    assert not compared.agree and compared.complete
    assert compared.text.endswith("the truth has it os_slot by depot > gripper > os_slot, "
                                  "the ledger by depot > os_slot")  # fmt: skip
    (unknown,) = Ledger().compare({266: list(FULL)}, "ees")
    assert not unknown.ok and unknown.status == "unknown"
    assert unknown.text.startswith("never reported by any node")
    (ghost,) = ledger.compare({}, "os_slot")
    assert not ghost.ok and ghost.text.endswith("the truth has no such tube")


def test_steps_asked_for_again_fill_in_what_the_downlink_lost_in_their_order():
    ledger = Ledger()
    sent = [(node, step, place) for node, step, place in STEPS]
    for i in (0, 3, 4, 9):  # the first reports that came: depot, in_mav, in_mav, ees
        node, step, place = sent[i]
        ledger.add(node, report(266, place, None if i < 2 else 0, since=i, steps=step), i)
    assert ledger.places(266) == ("depot", "in_mav", "ees")
    assert ledger.gaps() == [(266, "lander", [2, 3]), (266, "orbiter", [1, 2, 3])]
    whole_chain(ledger, 266, 0)  # every node asked: every step again, later
    assert ledger.places(266) == FULL and ledger.gaps() == []
    assert len(ledger.records(266)) == len(FULL)


def test_reports_that_name_no_tube_are_refused_and_counted():
    ledger = Ledger()
    assert ledger.add("lander", report(0, "depot"), 1.0) is None  # serial 0: not a number
    assert ledger.add("lander", {**report(266, "depot"), "place": 200}, 1.0) is None
    assert ledger.add("lander", {"serial": 266}, 1.0) is None
    assert ledger.add("heli1", report(266, "depot"), 1.0) is None  # no such custody report
    assert (ledger.reports, ledger.refused, ledger.serials()) == (4, 4, [])


def test_the_manifest_relayed_is_the_tubes_present_at_a_place_with_their_slots():
    ledger = Ledger()
    for serial, slot in ((300, 2), (266, 0), (272, 1)):
        ledger.add("mav", report(serial, "in_orbit", slot, steps=2), 10.0)
    ledger.add("mav", report(310, "in_mav", 3, "missing", steps=2), 10.0)
    assert ledger.manifest("in_orbit") == [(266, 0), (272, 1), (300, 2)]
    assert ledger.reported_by("mav") == {266, 272, 300, 310}  # the missing one too
    assert ledger.reported_by("orbiter") == set()


def test_the_ledger_of_an_archive_reads_every_node_in_time_stamp_order(tmp_path):
    path = tmp_path / "archive.sqlite"
    with Archive(path) as archive:  # the orbiter's report archived first, stamped last
        archive.add_packet("orbiter", "manifest.custody", 30.0,
                           packet(report(266, "captured", 0, since=30),
                                  report(272, "captured", 1, since=30)))  # fmt: skip
        archive.add_packet(
            "lander", "sta.custody", 10.0, packet(report(266, "in_mav", 0, since=10))
        )
        archive.add_packet("mav", "manifest.custody", 20.0,
                           packet(report(266, "in_orbit", 0, since=20)))  # fmt: skip
        archive.add_packet("lander", "core.status", 5.0, {"mode": 2})
    ledger = Ledger.from_path(path)
    assert ledger.places(266) == ("in_mav", "in_orbit", "captured")
    assert ledger.places(272) == ("captured",)
    assert [r.reported for r in ledger.records(266)] == [10.0, 20.0, 30.0]
    assert ledger.records(266)[1].evidence == "mav's custody report stamped 20.0 s"


@given(st.dictionaries(st.integers(1, 999999), st.integers(0, 254), min_size=1, max_size=64))
def test_a_manifest_parses_back_to_what_was_built(tubes):
    if len(set(tubes.values())) != len(tubes):
        with pytest.raises(ManifestError, match="duplicate"):
            build_manifest(list(tubes.items()))
        return
    assert parse_manifest(build_manifest(list(tubes.items()))) == list(tubes.items())


def test_a_manifest_beyond_the_capacity_or_its_layout_is_refused():
    data = build_manifest([(266, 29)])
    assert parse_manifest(data, capacity=30) == [(266, 29)]
    with pytest.raises(ManifestError, match=r"bad_slot: item 0: slot 29 is outside 0\.\.19"):
        parse_manifest(data, capacity=20)
    with pytest.raises(ManifestError, match="bad_length"):
        parse_manifest(data + b"\x00")
    with pytest.raises(ManifestError, match="too_many"):
        parse_manifest(bytes([65]) + bytes(5 * 65))
    # built: refused before an octet is built, naming the item
    with pytest.raises(ManifestError, match="bad_serial: item 1: serial 0"):
        build_manifest([(266, 0), (0, 1)])
    with pytest.raises(ManifestError, match="bad_slot: item 0: slot 255"):
        build_manifest([(266, 255)])
    with pytest.raises(ManifestError, match="too_many"):
        build_manifest([])
