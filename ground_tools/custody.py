"""The ground's custody ledger: where every tube is, by serial, as the spacecraft reported it,
built only from telemetry, never from the simulator (decision 0053).

Each node that has custody of tubes reports each tube when it changes and when asked: the
lander's inventory (``sta.custody``, TM[160,128]) from the tube's pickup to the hand-over into
the MAV, then the manifest that travels with the OS (``manifest.custody``, TM[165,128]) on the
MAV until the OS is released in orbit, and on the orbiter from its capture to the Earth Entry
System (:mod:`fsw.dictionary.custody`). Each report names the step of the tube's history on its
node (``steps``: 1 its first there); a node asked for its custody sends every step again, so the
ledger fills in a report the downlink lost (:meth:`Ledger.gaps` says which are still missing).
The ledger keeps a :class:`Record` per tube per change of place or status (time, node, place,
slot, status, evidence), ordered by the node's time of the change (a tie by the order custody
passes the nodes, then by step); a step it already has adds nothing.

:meth:`Ledger.compare` sets the ledger beside the truth the simulator keeps (at the end of a
campaign: the world's custody chains) and says, per tube, whether they agree; a campaign's
``chain_ok`` holds only when every tube's ledger chain is complete (from its source to where the
campaign ends), reports it present, and equals the truth's.

The manifests the ground relays from node to node (``manifest.load``) come from here too
(:meth:`Ledger.manifest`): the tubes the last holder reports present, with their slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fsw.dictionary.custody import COLUMNS, NO_SLOT, PLACES, STATUSES, custody_rows
from ground_tools.archive import Archive, ArchiveError

__all__ = ["CUSTODY", "Ledger", "Record", "TubeComparison"]

CUSTODY: Final = {
    "lander": ("sta.custody", "sta.report_custody"),
    "mav": ("manifest.custody", "manifest.report"),
    "orbiter": ("manifest.custody", "manifest.report"),
}
"""Each node with custody, in the order custody passes through them: its custody report and
the command that asks for every step again (a tie of time stamps is ordered by this order)."""
NODE_ORDER: Final = {node: index for index, node in enumerate(CUSTODY)}


@dataclass(frozen=True)
class Record:
    """One change of one tube, as a node reported it.

    Attributes:
        serial: the tube's serial number.
        node: the node that reported it.
        place: where it is (a name of :data:`fsw.dictionary.custody.PLACES`).
        slot: its OS slot, or None.
        status: ``present`` or ``missing`` (its slot read empty).
        since: the node's time of the change (whole mission seconds).
        reported: the report's time stamp (the node's clock, simulated seconds).
        steps: the custody steps the node had recorded for it.
    """

    serial: int
    node: str
    place: str
    slot: int | None
    status: str
    since: float
    reported: float
    steps: int

    @property
    def evidence(self) -> str:
        """What the record rests on, in words."""
        return f"{self.node}'s custody report stamped {self.reported:.1f} s"

    def describe(self) -> str:
        """``in_mav slot 3 (missing, mav at 1234 s)``."""
        slot = "" if self.slot is None else f" slot {self.slot}"
        missing = "missing, " if self.status == "missing" else ""
        return f"{self.place}{slot} ({missing}{self.node} at {self.since:.0f} s)"

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data (with its evidence)."""
        return {
            "serial": self.serial, "node": self.node, "place": self.place, "slot": self.slot,
            "status": self.status, "since": self.since, "reported": self.reported,
            "steps": self.steps, "evidence": self.evidence,
        }  # fmt: skip


@dataclass(frozen=True)
class TubeComparison:
    """One tube's ledger beside the truth (:meth:`Ledger.compare`).

    Attributes:
        serial: the tube.
        ledger: the places of its ledger chain (consecutive repeats folded).
        truth: the places of the truth's chain (likewise); empty when the truth has no such
            tube.
        status: the ledger's last status of it (``present``, ``missing``; ``unknown`` when the
            ledger never heard of it).
        agree: the ledger's chain equals the truth's, and a tube the ledger reports missing is
            one the truth has lost.
        complete: the ledger follows it from a source to ``ends_in``, present.
        text: what differs, or where it is, in words.
    """

    serial: int
    ledger: tuple[str, ...]
    truth: tuple[str, ...]
    status: str
    agree: bool
    complete: bool
    text: str

    @property
    def ok(self) -> bool:
        """Its custody is whole: complete and agreeing with the truth."""
        return self.agree and self.complete

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "serial": self.serial, "ledger": list(self.ledger), "truth": list(self.truth),
            "status": self.status, "agree": self.agree, "complete": self.complete,
            "ok": self.ok, "text": self.text,
        }  # fmt: skip


class Ledger:
    """Every tube's custody records (module docstring)."""

    def __init__(self) -> None:
        self._steps: dict[int, dict[tuple[str, int], Record]] = {}
        self._chains: dict[int, list[Record]] = {}  # derived from _steps, made when read
        self.reports = 0
        """Rows taken (each a step of one tube)."""
        self.refused = 0

    # ------------------------------------------------------------------ building

    def add(self, node: str, values: Mapping[str, Any], reported: float) -> Record | None:
        """Take one row of a custody report of ``node`` (``{column: code}``); return the new
        record, or None when it adds nothing (a step the ledger has) or names no tube (counted
        in :attr:`refused`: a serial 0, a code outside its list, a node with no custody)."""
        self.reports += 1
        try:
            serial = int(values["serial"])
            place = PLACES[int(values["place"])]
            status = STATUSES[int(values["status"])]
            slot = int(values["slot"])
            record = Record(
                serial, node, place, None if slot >= NO_SLOT else slot, status,
                float(values["since"]), float(reported), int(values["steps"]),
            )  # fmt: skip
        except (KeyError, IndexError, TypeError, ValueError):
            self.refused += 1
            return None
        if serial <= 0 or node not in NODE_ORDER:
            self.refused += 1
            return None
        steps = self._steps.setdefault(serial, {})
        if (node, record.steps) in steps:
            return None  # a step the ledger has (asked again, or sent twice)
        steps[(node, record.steps)] = record
        self._chains.pop(serial, None)
        return record

    def _chain(self, serial: int) -> list[Record]:
        """A tube's records: its steps in the order of the nodes' times, one per change of
        place, slot or status."""
        chain = self._chains.get(serial)
        if chain is None:
            ordered = sorted(self._steps.get(serial, {}).values(),
                             key=lambda r: (r.since, NODE_ORDER[r.node], r.steps))  # fmt: skip
            chain = []
            for r in ordered:
                if not chain or (chain[-1].place, chain[-1].slot, chain[-1].status) != (
                    r.place, r.slot, r.status,
                ):  # fmt: skip
                    chain.append(r)
            self._chains[serial] = chain
        return chain

    def reported_by(self, node: str) -> set[int]:
        """The tubes ``node`` sent at least one step of."""
        return {s for s, steps in self._steps.items() if any(who == node for who, _ in steps)}

    def gaps(self) -> list[tuple[int, str, list[int]]]:
        """``(serial, node, [step, ...])``: the steps of a tube a node reported later ones of
        but that never came (the downlink lost them): ask the node again."""
        out = []
        for serial, steps in sorted(self._steps.items()):
            for node in NODE_ORDER:
                have = {n for (who, n) in steps if who == node}
                if have:
                    lost = sorted(set(range(1, max(have) + 1)) - have)
                    if lost:
                        out.append((serial, node, lost))
        return out

    def add_report(self, node: str, values: Mapping[str, Any], reported: float) -> list[Record]:
        """Take one custody report of ``node`` (its decoded fields: ``count`` and the columns,
        :func:`fsw.dictionary.custody.custody_rows`); return the records it added."""
        added = [self.add(node, row, reported) for row in custody_rows(values)]
        return [record for record in added if record is not None]

    @classmethod
    def from_archive(cls, archive: Archive) -> Ledger:
        """The ledger of every custody report in ``archive``, in time-stamp order (a report
        is archived as a point per field and row: ``serial[0]``...).

        Raises:
            ArchiveError: the archive cannot be read.
        """
        ledger = cls()
        known = set(archive.parameters())
        rows: list[tuple[float, int, str, dict[str, Any]]] = []
        for node, (report, _) in CUSTODY.items():
            order = NODE_ORDER[node]
            prefix = f"{node}.{report}."
            if f"{prefix}count" not in known:
                continue
            counts = archive.points(f"{prefix}count")
            widest = max((int(str(c)) for _, c in counts), default=0)
            columns: dict[str, list[list[Any]]] = {}
            for column in COLUMNS:
                columns[column] = [
                    [v for _, v in archive.points(f"{prefix}{column}[{i}]")]
                    if f"{prefix}{column}[{i}]" in known else []
                    for i in range(widest)
                ]  # fmt: skip
            for n, (stamp, count) in enumerate(counts):  # one report: one point of each field
                for i in range(min(int(str(count)), widest)):
                    try:
                        row = {column: columns[column][i][n] for column in COLUMNS}
                    except IndexError:  # a report archived without this row: not a report
                        ledger.refused += 1
                        continue
                    rows.append((stamp, order, node, row))
        rows.sort(key=lambda row: (row[0], row[1]))  # by time stamp; a tie by node order
        for stamped, _, node, values in rows:
            ledger.add(node, values, stamped)
        return ledger

    @classmethod
    def from_path(cls, path: Any) -> Ledger:
        """The ledger of the archive file at ``path`` (ArchiveError when unreadable)."""
        with Archive.open_readonly(path) as archive:
            return cls.from_archive(archive)

    # ------------------------------------------------------------------ reading

    def serials(self) -> list[int]:
        """Every tube the ledger has a record of, ascending."""
        return sorted(self._steps)

    def records(self, serial: int) -> list[Record]:
        """A tube's records, oldest first (empty for a tube never reported)."""
        return list(self._chain(serial))

    def last(self, serial: int) -> Record | None:
        """A tube's latest record."""
        chain = self._chain(serial)
        return chain[-1] if chain else None

    def places(self, serial: int) -> tuple[str, ...]:
        """The places of a tube's chain, consecutive repeats folded."""
        return _fold(r.place for r in self._chain(serial))

    def missing(self) -> list[Record]:
        """The latest record of every tube reported missing now."""
        chains = (self._chain(s) for s in self.serials())
        return [c[-1] for c in chains if c[-1].status == "missing"]

    def manifest(self, place: str) -> list[tuple[int, int]]:
        """``(serial, slot)`` of every tube last reported at ``place``, present and in a slot:
        what the ground relays to the node that takes the OS next."""
        return sorted(
            (r.serial, r.slot) for r in (self._chain(s)[-1] for s in self.serials())
            if r.place == place and r.status == "present" and r.slot is not None
        )  # fmt: skip

    def transfers(self, serial: int) -> list[dict[str, Any]]:
        """Each change of place of a tube: ``{"time", "from", "to", "node", "evidence"}``
        (the first from None)."""
        out: list[dict[str, Any]] = []
        before: str | None = None
        for r in self._chain(serial):
            if r.place != before or r.status == "missing":
                to = r.place if r.status == "present" else f"missing ({r.place})"
                out.append({"time": r.since, "from": before, "to": to, "node": r.node,
                            "evidence": r.evidence})  # fmt: skip
            before = r.place
        return out

    def to_json(self) -> dict[str, Any]:
        """Every tube's records and where it is now."""
        return {
            "tubes": [
                {"serial": s, "now": self._chain(s)[-1].describe(),
                 "status": self._chain(s)[-1].status,
                 "records": [r.to_json() for r in self._chain(s)]}
                for s in self.serials()
            ],
            "reports": self.reports, "refused": self.refused,
        }  # fmt: skip

    # ------------------------------------------------------------------ the truth

    def compare(
        self, truth: Mapping[int, Sequence[str]], ends_in: str, serials: Iterable[int] = ()
    ) -> list[TubeComparison]:
        """Each tube of ``truth`` (serial -> the places of its chain), of ``serials`` and of
        the ledger that reached an OS slot, beside its ledger chain. ``ends_in``: where the
        campaign leaves the tubes (a place of :data:`PLACES`)."""
        wanted = set(serials) | {s for s, p in truth.items() if "os_slot" in p}
        wanted |= {s for s in self.serials() if "os_slot" in self.places(s)}
        return [self._compare(s, _fold(truth.get(s, ())), ends_in) for s in sorted(wanted)]

    def _compare(self, serial: int, truth: tuple[str, ...], ends_in: str) -> TubeComparison:
        ledger = self.places(serial)
        last = self.last(serial)
        status = last.status if last is not None else "unknown"
        lost = bool(truth) and truth[-1] == "lost"
        if lost:  # the ledger can only say where it went missing: the place it was lost from
            agree = status == "missing" and ledger == truth[:-1]
        else:
            agree = status == "present" and ledger == truth
        complete = (
            status == "present" and len(ledger) > 1 and ledger[0] in PLACES[:3]
            and ledger[-1] == ends_in
        )  # fmt: skip
        if last is None:
            text = "never reported by any node"
        elif status == "missing":
            text = f"MISSING: last reported in {last.describe()}"
        else:
            text = f"at {last.describe()}"
        if not truth:
            text += "; the truth has no such tube"
        elif not agree:
            where = "lost from " + truth[-2] if lost and len(truth) > 1 else truth[-1]
            text += f"; the truth has it {where} by {' > '.join(truth)}"
            text += f", the ledger by {' > '.join(ledger) or 'nothing'}"
        elif not complete and status == "present":
            text += f"; custody does not reach {ends_in}"
        return TubeComparison(serial, ledger, truth, status, agree, complete, text)


def _fold(places: Iterable[str]) -> tuple[str, ...]:
    """Consecutive repeats folded into one."""
    out: list[str] = []
    for place in places:
        if not out or out[-1] != place:
            out.append(place)
    return tuple(out)


def ledger_or_error(path: Any) -> tuple[Ledger | None, str]:
    """The ledger of an archive file, or None and why not (for a summary)."""
    try:
        return Ledger.from_path(path), ""
    except ArchiveError as exc:
        return None, str(exc).splitlines()[0]
