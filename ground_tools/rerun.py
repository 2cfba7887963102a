"""``msr campaign --rerun RUN_DIR``: run a campaign again from its run folder, and say whether it
came out the same, byte for byte (architecture.md §4, decision 0034).

A run folder holds everything a SIL campaign depends on: its bench file (``bench.toml``: seed,
fault schedule, clock), its key file and nonce seed (``keys.json``, ``nonce_seed.key``: the
secrets behind every MAC and resync challenge) and what the campaign was asked
(``campaign.json``: scenario and tube count). :func:`rerun_campaign` starts a new run with the
same four, then :func:`compare_runs` reads both folders:

* every capture (``captures/*.pcap``): the same records (time stamp and octets) in the same
  order, on every link, on both sides of every link. The one exception is the lockstep's own
  keep-alive, TM[130,5] *holding* on the timing links: the ground station sends it every few
  wall seconds while a procedure computes (:mod:`hal.protocol.timing`), so how many there are
  is the wall clock's; they carry counts of their own and move nothing else;
* the archive (``archive.sqlite``): the same rows in every table, in the same order, but for
  ``frames.wall_time`` (when the ground archived a frame, on the wall clock: the one column
  that is not simulated).

A difference is named by the first place it shows (``captures/fsw-lander-radio.rx.pcap: record
812: time 2041.3 s against 2041.4 s``), which is where to start looking.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any, Final

from ground_tools.api import GroundError
from hal.errors import ProtocolError
from hal.links.pcap import CaptureError, PcapReader
from hal.protocol.framing import ASM
from hal.protocol.timing import Holding, decode_raw

__all__ = [
    "CAMPAIGN_FILE",
    "PROCEDURE_COPY",
    "Difference",
    "RunComparison",
    "compare_runs",
    "rerun_campaign",
]

CAMPAIGN_FILE: Final = "campaign.json"
"""What the campaign was asked, in its run folder: ``{"scenario", "tubes", "seed"}``, and when it
had them, ``"procedure"`` (its copy in the run folder, ``procedure/NAME.py``) and ``"resets"``
(``[[node, simulated time], ...]``)."""
PROCEDURE_COPY: Final = "procedure"
"""The folder of a run folder that holds the copy of a campaign's own operator procedure
(``run_campaign(procedure=...)``), under its own file name: the commands it sends are named
after it (``procedure NAME.py``), in the rerun too."""
ARCHIVE_FILE: Final = "archive.sqlite"
ARCHIVE_TABLES: Final = {
    "frames": "node, direction, sim_time, raw",  # not wall_time: the one wall-clock column
    "parameters": "name, node, packet, field",
    "points": "parameter_id, sim_time, value",
    "events": "node, sim_time, event_id, name, severity, detail",
    "commands": "node, sim_time, name, args, request_id, source",
    "stages": "command_id, node, request_id, sim_time, stage, code, reason",
    "limits": "node, point, sim_time, old_level, new_level, value, state, mode, limit_set",
}
"""The archive's tables and the columns compared (decision 0034)."""
SHOWN: Final = 20
"""Differences printed at most (the first of each capture or table)."""


@dataclass(frozen=True)
class Difference:
    """The first place where two runs part.

    Attributes:
        where: the capture (``captures/NAME.pcap``) or archive table (``archive.sqlite:TABLE``).
        detail: what differs there, first record first.
    """

    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


@dataclass
class RunComparison:
    """Two run folders compared.

    Attributes:
        first, second: the run folders.
        captures: the capture files compared (those present in either folder).
        records: the capture records compared.
        tables: the archive tables compared.
        rows: the archive rows compared.
        differences: one per capture or table that differs.
    """

    first: Path
    second: Path
    captures: int = 0
    records: int = 0
    tables: int = 0
    rows: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Every record and row is the same."""
        return not self.differences

    def report(self) -> str:
        """What an operator reads: the verdict, then the first differences."""
        counted = (
            f"{self.captures} captures ({self.records:,} records) and {self.tables} archive "
            f"tables ({self.rows:,} rows)"
        )
        if self.identical:
            return f"identical: {counted} of {self.second} match {self.first}"
        lines = [f"DIFFERENT: {len(self.differences)} of {counted} differ from {self.first}"]
        lines += [f"  {d}" for d in self.differences[:SHOWN]]
        if len(self.differences) > SHOWN:
            lines.append(f"  ... and {len(self.differences) - SHOWN} more")
        return "\n".join(lines)


def compare_runs(first: Path, second: Path) -> RunComparison:
    """Compare the captures and the archive of two run folders (module docstring).

    Raises:
        GroundError: a folder is not a run folder (no captures and no archive).
    """
    result = RunComparison(Path(first), Path(second))
    for run in (result.first, result.second):
        if not (run / "captures").is_dir() and not (run / ARCHIVE_FILE).is_file():
            raise GroundError(f"{run}: not a run folder (no captures/, no {ARCHIVE_FILE})")
    names = sorted(
        {p.name for run in (result.first, result.second) for p in (run / "captures").glob("*.pcap")}
    )
    for name in names:
        result.captures += 1
        _compare_capture(result, name)
    _compare_archive(result)
    return result


def _compare_capture(result: RunComparison, name: str) -> None:
    where = f"captures/{name}"
    paths = [run / "captures" / name for run in (result.first, result.second)]
    missing = [str(p.parent.parent) for p in paths if not p.is_file()]
    if missing:
        result.differences.append(Difference(where, f"missing in {', '.join(missing)}"))
        return
    try:
        readers = [PcapReader(path) for path in paths]
    except CaptureError as exc:
        result.differences.append(Difference(where, str(exc).splitlines()[0]))
        return
    records = [iter(reader) for reader in readers]
    if "timing" in name:
        records = [without_holding(r) for r in records]
    try:
        detail = _first_difference(records[0], records[1], _record, result, "record")
    except CaptureError as exc:
        detail = str(exc).splitlines()[0]
    finally:
        for reader in readers:
            reader.close()
    if detail:
        result.differences.append(Difference(where, detail))


def without_holding(records: Iterator[tuple[float, bytes]]) -> Iterator[tuple[float, bytes]]:
    """A timing link's records less its holding reports (module docstring)."""
    for ts, raw in records:
        packet = raw[len(ASM) :] if raw.startswith(ASM) else raw
        try:
            if isinstance(decode_raw(packet), Holding):
                continue
        except ProtocolError:
            pass  # not a timing message: compared as it is
        yield ts, raw


def _record(a: tuple[float, bytes], b: tuple[float, bytes]) -> str:
    if a[0] != b[0]:
        return f"time {a[0]:.6f} s against {b[0]:.6f} s"
    at = next((i for i, (x, y) in enumerate(zip(a[1], b[1], strict=False)) if x != y), None)
    if at is None:
        return f"{len(a[1])} octets against {len(b[1])} (one is the other's start)"
    return f"octet {at} of {len(a[1])}: {a[1][at]:#04x} against {b[1][at]:#04x}"


def _compare_archive(result: RunComparison) -> None:
    paths = [run / ARCHIVE_FILE for run in (result.first, result.second)]
    missing = [str(p.parent) for p in paths if not p.is_file()]
    if missing:
        result.differences.append(Difference(ARCHIVE_FILE, f"missing in {', '.join(missing)}"))
        return
    try:
        conns = [sqlite3.connect(f"file:{p}?mode=ro", uri=True) for p in paths]
    except sqlite3.Error as exc:
        result.differences.append(Difference(ARCHIVE_FILE, f"cannot open: {exc}"))
        return
    try:
        for table, columns in ARCHIVE_TABLES.items():
            result.tables += 1
            where = f"{ARCHIVE_FILE}:{table}"
            sql = f"SELECT {columns} FROM {table} ORDER BY rowid"  # noqa: S608 - our constants
            try:
                rows = [conn.execute(sql) for conn in conns]
                detail = _first_difference(rows[0], rows[1], _row, result, "row", columns)
            except sqlite3.Error as exc:
                detail = f"cannot read: {exc}"
            if detail:
                result.differences.append(Difference(where, detail))
    finally:
        for conn in conns:
            conn.close()


def _row(a: tuple[Any, ...], b: tuple[Any, ...], columns: str = "") -> str:
    names = [c.strip() for c in columns.split(",")]
    parts = [
        f"{name} {x!r} against {y!r}" for name, x, y in zip(names, a, b, strict=False) if x != y
    ]
    return "; ".join(parts)


def _first_difference(
    first: Iterator[Any], second: Iterator[Any], describe: Callable[..., str],
    result: RunComparison, unit: str, *extra: str,
) -> str:  # fmt: skip
    """Walk two sequences together; the first difference described, or ``""``."""
    count = 0
    for count, (a, b) in enumerate(zip_longest(first, second), start=1):
        if unit == "record":
            result.records += 1
        else:
            result.rows += 1
        if a is None or b is None:
            which = "second" if b is None else "first"
            return f"{unit} {count}: the {which} run ends here"
        if a != b:
            return f"{unit} {count}: {describe(a, b, *extra)}"
    return ""


def campaign_request(run_dir: Path) -> dict[str, Any]:
    """What the campaign of ``run_dir`` was asked (``campaign.json``).

    Raises:
        GroundError: the folder does not hold what a rerun needs (each missing file named).
    """
    run_dir = Path(run_dir)
    needed = [run_dir / name for name in ("bench.toml", CAMPAIGN_FILE, "nonce_seed.key")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise GroundError(
            f"{run_dir}: cannot rerun: not a campaign's run folder (missing {', '.join(missing)})"
        )
    try:
        asked = json.loads((run_dir / CAMPAIGN_FILE).read_text(encoding="utf-8"))
        scenario, tubes = str(asked["scenario"]), int(asked["tubes"])
        resets = [(str(node), float(at)) for node, at in asked.get("resets", [])]
        procedure = asked.get("procedure")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroundError(f"{run_dir / CAMPAIGN_FILE}: unreadable: {exc}") from None
    if procedure is not None:
        copy = run_dir / str(procedure)
        if Path(str(procedure)).parent != Path(PROCEDURE_COPY) or not copy.is_file():
            raise GroundError(f"{run_dir}: cannot rerun: its procedure {procedure} is missing")
        procedure = copy
    return {"scenario": scenario, "tubes": tubes, "resets": resets, "procedure": procedure}


def rerun_campaign(
    run_dir: Path, *, runs_dir: Path | None = None, log: Callable[[str], None] = print,
    quiet: bool = True,
) -> tuple[dict[str, Any], RunComparison]:  # fmt: skip
    """Run the campaign of ``run_dir`` again (same bench file, seed, faults, secrets, scenario
    and tubes) into a new run folder beside it (or in ``runs_dir``); its summary and the
    comparison of the two folders.

    Raises:
        GroundError: ``run_dir`` is not a campaign's run folder, or the bench does not come up.
    """
    from ground_tools.campaign import run_campaign  # campaign imports this module's constant

    run_dir = Path(run_dir).resolve()
    asked = campaign_request(run_dir)
    summary = run_campaign(
        run_dir / "bench.toml", tubes=asked["tubes"], scenario=asked["scenario"],
        runs_dir=runs_dir if runs_dir is not None else run_dir.parent, inherit=run_dir,
        log=log, quiet=quiet, resets=asked["resets"], procedure=asked["procedure"],
    )  # fmt: skip
    return summary, compare_runs(run_dir, Path(summary["run_dir"]))
