"""The telemetry archive of one run: raw frames, decoded telemetry, events and command history.

One SQLite file per run folder (``<run_dir>/archive.sqlite``), in the spirit of Yamcs's archive
without the JVM. Exactly one process writes it (the ground station); any number of others read it
at the same time (``msr`` queries, plots, exports while the bench runs).

Writers and readers
-------------------
The file is in WAL mode: readers never block the writer, the writer never blocks readers, and
each reader statement sees one consistent snapshot of what had been committed when it began. The
writer batches everything it is given into one transaction and commits when :meth:`Archive.tick`
(called once per ground cycle) finds that ``commit_interval`` wall seconds have passed since the
last commit; readers see data at that granularity. A second writer is not supported (SQLite would
serialise it, but the commit cadence and the parameter cache assume one).

Durability: WAL with ``synchronous=NORMAL``
-------------------------------------------
A commit appends the transaction's pages and a commit mark to the ``-wal`` file with ``write(2)``
and returns without ``fsync``; the fsync happens at checkpoints. Once ``write`` returned, the
pages are in the operating system's page cache, which outlives the process: if the writer is
killed (SIGKILL, a crash, the OOM killer) the next opener replays the WAL and every committed
transaction is there, while frames of an unfinished transaction carry no commit mark and are
ignored. So a crash of the writer loses at most what was added since the last commit (at most
``commit_interval`` wall seconds, provided ``tick`` is called every cycle) and never corrupts the
file. Only an operating-system crash or power loss can lose the transactions committed since the
last checkpoint, and even then the file rolls back to an earlier consistent state. ``FULL`` would
fsync every commit to close that gap; a bench run is not worth a disk flush per second, and
``NORMAL`` is SQLite's own recommendation for WAL. The default interval is
:data:`DEFAULT_COMMIT_INTERVAL` (0.1 s): with a writer that ticks at least every 0.05 s (the
ground station's loop does), a SIGKILL loses at most about 0.15 s of archive (decision 0029,
measured by ``tests/ground/test_archive_loss_window.py``); a commit that is only a ``write`` costs
too little to batch longer.

Schema (version 2; ``PRAGMA application_id`` marks the file as an MSR archive)
------------------------------------------------------------------------------
=================  ==================================================================  =========
table              columns                                                             indexes
=================  ==================================================================  =========
``frames``         node, direction (up/down), sim_time, wall_time, raw (BLOB)          time;
                                                                                       node+dir+time
``parameters``     name (``NODE.PACKET.FIELD``, unique), node, packet, field           name
``points``         parameter_id, sim_time, value (untyped: INTEGER, REAL, TEXT, BLOB)  param+time
``events``         node, sim_time, event_id, name, severity, detail                    time;
                                                                                       node+time;
                                                                                       name+time
``commands``       node, sim_time, name, args (JSON), request_id (hex), source         time;
                                                                                       node+time;
                                                                                       node+req
``stages``         command_id (NULL when unmatched), node, request_id, sim_time,       command
                   stage, code, reason
``limits``         node, point (``NODE.PACKET.FIELD[i]``), sim_time, old_level,        time;
                   new_level, value (untyped), state, unit, mode, limit_set            point+time
=================  ==================================================================  =========

Versions are additive: version 2 added the ``limits`` table (limit events, decision 0036). A
reader opens a version-1 file too (it has no limit events); a writer that opens one adds the
table and marks the file version 2. A file of a newer version than the tool's is refused.

Values: booleans are stored as 0/1, integers as INTEGER (those beyond 64 bits as REAL), floats as
REAL (SQLite stores NaN as NULL), strings as TEXT, octets as BLOB, ``None`` as NULL. A list value
``F`` becomes the points ``F[0]``, ``F[1]``...; a nested mapping ``F`` becomes ``F.sub`` (keys
starting with ``_``, such as construct's ``_io``, are skipped). Time ranges are inclusive at both
ends.
"""

from __future__ import annotations

import csv
import difflib
import functools
import json
import math
import os
import sqlite3
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    from hal.protocol.devices.icd import Field

__all__ = [
    "APPLICATION_ID",
    "EXPORT_FORMATS",
    "EXPORT_KINDS",
    "SCHEMA_VERSION",
    "Archive",
    "ArchiveError",
    "CommandRecord",
    "EventRecord",
    "FileRecord",
    "FrameRecord",
    "LimitRecord",
    "StageRecord",
    "Value",
]

APPLICATION_ID: Final = 0x4D535241  # "MSRA" in the SQLite header: this file is an MSR archive
SCHEMA_VERSION: Final = 3
EXPORT_KINDS: Final = ("points", "events", "commands", "frames")
EXPORT_FORMATS: Final = ("csv", "jsonl")
DIRECTIONS: Final = ("up", "down")
_EXPORT_COLUMNS: Final = {
    "points": ("sim_time", "utc", "parameter", "node", "packet", "field", "value", "state",
               "unit"),
    "events": ("sim_time", "utc", "node", "event_id", "name", "severity", "detail"),
    "commands": ("id", "sim_time", "utc", "node", "name", "args", "request_id", "source",
                 "stages"),
    "frames": ("sim_time", "utc", "wall_time", "node", "direction", "raw"),
}  # fmt: skip
_JSON_COLUMNS: Final = frozenset({"args", "stages"})
_LEVELS: Final = ("green", "yellow", "red")
"""A limit level (:data:`hal.protocol.devices.icd.LEVELS`)."""
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

Value = int | float | str | bytes | None
"""A stored telemetry value (booleans come back as 0/1)."""

_SCHEMA: Final = """
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    sim_time REAL NOT NULL,
    wall_time REAL NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX frames_by_time ON frames (sim_time);
CREATE INDEX frames_by_node ON frames (node, direction, sim_time);

CREATE TABLE parameters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    node TEXT NOT NULL,
    packet TEXT NOT NULL,
    field TEXT NOT NULL
);

CREATE TABLE points (
    parameter_id INTEGER NOT NULL REFERENCES parameters (id),
    sim_time REAL NOT NULL,
    value  -- no declared type: no affinity, each value keeps its own storage class
);
CREATE INDEX points_by_parameter ON points (parameter_id, sim_time);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    sim_time REAL NOT NULL,
    event_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    severity TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_by_time ON events (sim_time);
CREATE INDEX events_by_node ON events (node, sim_time);
CREATE INDEX events_by_name ON events (name, sim_time);

CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    sim_time REAL NOT NULL,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    request_id TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX commands_by_time ON commands (sim_time);
CREATE INDEX commands_by_node ON commands (node, sim_time);
CREATE INDEX commands_by_request ON commands (node, request_id);

CREATE TABLE stages (
    id INTEGER PRIMARY KEY,
    command_id INTEGER REFERENCES commands (id),
    node TEXT NOT NULL,
    request_id TEXT NOT NULL,
    sim_time REAL NOT NULL,
    stage TEXT NOT NULL,
    code INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX stages_by_command ON stages (command_id, sim_time);
"""
_TABLES: Final = frozenset({"frames", "parameters", "points", "events", "commands", "stages"})
_LIMITS_VERSION: Final = 2
"""The schema version that added the ``limits`` table (decision 0036)."""
_LIMITS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS limits (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    point TEXT NOT NULL,
    sim_time REAL NOT NULL,
    old_level TEXT NOT NULL,
    new_level TEXT NOT NULL,
    value,
    state TEXT,
    unit TEXT NOT NULL,
    mode TEXT,
    limit_set TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS limits_by_time ON limits (sim_time);
CREATE INDEX IF NOT EXISTS limits_by_point ON limits (point, sim_time);
"""
_FILES_VERSION: Final = 3
"""The schema version that added the ``files`` table (decision 0056)."""
_FILES_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    started REAL NOT NULL,
    sim_time REAL NOT NULL,
    size INTEGER NOT NULL,
    crc32 INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    condition TEXT NOT NULL,
    naks INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_name ON files (node, name, sim_time);
"""


DEFAULT_COMMIT_INTERVAL: Final = 0.1
"""Wall seconds between the writer's commits: at most this much (plus one writer cycle) is lost
when the writer is killed (decision 0029; issue 17 asks for at most 0.2 s)."""


class ArchiveError(Exception):
    """The archive cannot do what was asked: missing or foreign file, bad argument, unknown name,
    a failed write. The message is one line naming the problem."""


@dataclass(frozen=True)
class FrameRecord:
    """One archived frame, exactly as it crossed the space link.

    Attributes:
        node: the node at the other end of the link.
        direction: ``up`` (ground to node) or ``down``.
        sim_time: simulated time, seconds.
        wall_time: wall-clock time (UNIX seconds) when the ground archived it.
        raw: the frame's octets.
    """

    node: str
    direction: str
    sim_time: float
    wall_time: float
    raw: bytes


@dataclass(frozen=True)
class EventRecord:
    """One archived event report.

    Attributes:
        node: the node that reported it.
        sim_time: simulated time, seconds.
        event_id: the event's numeric id.
        name: the event's name (``health.board_lost``...).
        severity: ``info``, ``low``, ``medium`` or ``high``.
        detail: the event's text.
    """

    node: str
    sim_time: float
    event_id: int
    name: str
    severity: str
    detail: str


@dataclass(frozen=True)
class FileRecord:
    """One file that came down by CFDP, or a transfer that failed (decision 0056).

    Attributes:
        node: the node that sent it.
        name: its name.
        seq: the CFDP transaction's sequence number.
        started, sim_time: when the transaction started and ended, simulated seconds.
        size: octets received.
        crc32: CRC-32 of those octets.
        ok: delivered whole (the file's checksum verified).
        condition: the CFDP condition code it ended with (``NO_ERROR`` when delivered).
        naks: NAKs the ground sent for it (segments asked for again).
        data: the file's octets (empty unless ``ok``, or when not asked for).
    """

    node: str
    name: str
    seq: int
    started: float
    sim_time: float
    size: int
    crc32: int
    ok: bool
    condition: str
    naks: int
    data: bytes = b""

    def as_dict(self) -> dict[str, Any]:
        """The record without its data, for ``--json``."""
        return {
            "node": self.node, "name": self.name, "seq": self.seq, "started": self.started,
            "time": self.sim_time, "size": self.size, "crc32": f"{self.crc32:08x}",
            "ok": self.ok, "condition": self.condition, "naks": self.naks,
        }  # fmt: skip


@dataclass(frozen=True)
class LimitRecord:
    """One archived limit event: a telemetry point changed its limit level (decision 0036).

    Attributes:
        node: the node that reported the sample.
        point: ``NODE.PACKET.FIELD``, ``[i]`` for an array's element.
        sim_time: the sample's simulated time, seconds.
        old_level, new_level: ``green``, ``yellow`` or ``red``.
        value: the sample's value.
        state: its state name when the point is enumerated, else None.
        unit: the point's unit.
        mode: the node's mode the sample was judged in (None: not known).
        limit_set: the limit set that applied, in words.
    """

    node: str
    point: str
    sim_time: float
    old_level: str
    new_level: str
    value: Value
    state: str | None
    unit: str
    mode: str | None
    limit_set: str


@dataclass(frozen=True)
class StageRecord:
    """One verification stage of a command (a PUS-1 report).

    Attributes:
        stage: ``accepted``, ``started``, ``completed``, ``completion_failed``...
        sim_time: simulated time of the report, seconds.
        code: the failure code (0 for a success).
        reason: the named reason of a failure ("" for a success).
    """

    stage: str
    sim_time: float
    code: int
    reason: str


@dataclass(frozen=True)
class CommandRecord:
    """One sent command and what the node reported about it.

    Attributes:
        id: the archive's id of the command.
        node: the node it was sent to.
        sim_time: simulated time it was sent, seconds.
        name: the command's name.
        args: its arguments, as sent (decoded from JSON; octets were stored as hex).
        request_id: the telecommand's 4-octet request id, in hex.
        source: who sent it (``msr cmd``, a procedure's name...).
        stages: its verification stages in time order.
    """

    id: int
    node: str
    sim_time: float
    name: str
    args: Any
    request_id: str
    source: str
    stages: tuple[StageRecord, ...]


def _text(what: str, value: object, *, empty: bool = False) -> str:
    """A string argument, checked (ArchiveError otherwise)."""
    if not isinstance(value, str):
        raise ArchiveError(f"{what} must be a string, not {type(value).__name__}")
    if not value and not empty:
        raise ArchiveError(f"{what} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArchiveError(f"{what} is not valid text: {exc.reason}") from None
    return value


def _time(what: str, value: object) -> float:
    """A finite time in seconds, checked (ArchiveError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArchiveError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ArchiveError(f"{what} must be finite, not {value}")
    return float(value)


def _range(start: object, end: object) -> tuple[float | None, float | None]:
    """An optional inclusive time range, checked."""
    lo = None if start is None else _time("start", start)
    hi = None if end is None else _time("end", end)
    if lo is not None and hi is not None and lo > hi:
        raise ArchiveError(f"start {lo} is after end {hi}")
    return lo, hi


def _where(
    clauses: list[str], params: list[object], column: str, start: float | None, end: float | None
) -> None:
    """Append the time-range clauses of ``column``."""
    if start is not None:
        clauses.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{column} <= ?")
        params.append(end)


def _equal(clauses: list[str], params: list[object], column: str, what: str, value: object) -> None:
    """Append ``column = value`` (checked as text named ``what``) unless ``value`` is None."""
    if value is not None:
        clauses.append(f"{column} = ?")
        params.append(_text(what, value))


def _sql_where(clauses: list[str]) -> str:
    """The WHERE part of a query. Its clauses are this module's constant text; every value is
    bound as a parameter (hence the ``noqa: S608`` where queries are assembled)."""
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def _flatten(field: str, value: object, out: list[tuple[str, Value]]) -> None:
    """Append the points of one field: lists become ``F[i]``, mappings ``F.key``."""
    if isinstance(value, bool):
        out.append((field, int(value)))
    elif isinstance(value, int):
        out.append((field, int(value) if _INT64_MIN <= value <= _INT64_MAX else float(value)))
    elif isinstance(value, float) or value is None:
        out.append((field, value))
    elif isinstance(value, str):
        out.append((field, _text(f"value of {field}", value, empty=True)))
    elif isinstance(value, bytes | bytearray | memoryview):
        out.append((field, bytes(value)))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("_"):
                continue  # construct's _io and other private entries
            _flatten(f"{field}.{_text(f'a key of {field}', key)}", item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{field}[{index}]", item, out)
    else:
        raise ArchiveError(f"{field}: cannot archive a value of type {type(value).__name__}")


def _json_default(value: object) -> object:
    """JSON for what :func:`json.dumps` does not know: octets as hex."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError(f"a value of type {type(value).__name__}")


def _json_value(value: object) -> object:
    """A stored value as JSON: octets as hex, non-finite floats as strings (JSON has none)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _csv_value(value: object) -> object:
    """A stored value as a CSV cell: octets as hex, NULL as an empty cell."""
    if isinstance(value, bytes):
        return value.hex()
    return "" if value is None else value


class Archive:
    """The SQLite archive of one run, opened for writing (one process) or reading (any number).

    ``Archive(path)`` opens or creates the file for writing; :meth:`open_readonly` opens an
    existing one for reading. Every method raises :class:`ArchiveError` (one line) on bad input,
    an unknown name, a foreign file or a failed write; nothing already committed is ever lost.
    Usable as a context manager (``close`` on exit).

    Args:
        path: the archive file (``<run_dir>/archive.sqlite``); its folder must exist.
        commit_interval: wall seconds between commits made by :meth:`tick` (at most this much is
            lost if the writer process dies).
        monotonic: the wall clock that paces commits (injected for tests).
        wall_clock: the UNIX-time clock that stamps frames' ``wall_time`` (injected for tests).

    Raises:
        ArchiveError: the folder is missing, the file is not an MSR archive (or is from a newer
            schema), or it cannot be opened in WAL mode.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        interval = _time("commit_interval", commit_interval)
        if interval < 0:
            raise ArchiveError(f"commit_interval must be >= 0, not {interval}")
        self._setup(Path(path), readonly=False, interval=interval, monotonic=monotonic)
        self._wall_clock = wall_clock
        if not self._path.parent.is_dir():
            raise ArchiveError(f"{self._path}: folder {self._path.parent} does not exist")
        self._connect(str(self._path), uri=False)
        self._last_commit = self._monotonic()

    @classmethod
    def open_readonly(cls, path: str | Path) -> Archive:
        """Open an existing archive for reading, alongside a running writer.

        Args:
            path: the archive file.

        Returns:
            An archive on which only the readers and ``export`` work.

        Raises:
            ArchiveError: the file is missing, is not an SQLite file, is shorter than its
                header says (truncated), or is not an MSR archive; the message names the file.
        """
        archive = cls.__new__(cls)
        archive._setup(Path(path), readonly=True, interval=0.0, monotonic=time.monotonic)
        if not archive._path.is_file():
            raise ArchiveError(f"{archive._path}: no such archive")
        _check_file(archive._path)
        archive._connect(f"{archive._path.resolve().as_uri()}?mode=ro", uri=True)
        return archive

    def _setup(
        self, path: Path, *, readonly: bool, interval: float, monotonic: Callable[[], float]
    ) -> None:
        self._path = path
        self._readonly = readonly
        self._interval = interval
        self._monotonic = monotonic
        self._wall_clock: Callable[[], float] = time.time
        self._parameter_ids: dict[str, int] = {}
        self._pending = 0
        self._last_commit = 0.0
        self._conn: sqlite3.Connection | None = None

    def _connect(self, database: str, *, uri: bool) -> None:
        """Open the connection and check (writer: prepare) the file."""
        try:
            conn = sqlite3.connect(database, uri=uri, isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self._path}: cannot open: {_reason(exc)}") from None
        try:
            if self._readonly:
                self._check_format(conn, fresh_ok=False)
            else:
                self._prepare_writer(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise ArchiveError(f"{self._path}: {_reason(exc)}") from None
        except ArchiveError:
            conn.close()
            raise
        self._conn = conn

    def _prepare_writer(self, conn: sqlite3.Connection) -> None:
        """WAL + NORMAL, then the schema (created in one transaction when the file is new)."""
        fresh = self._check_format(conn, fresh_ok=True)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ArchiveError(f"{self._path}: cannot use WAL mode here (journal mode {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if fresh or version < SCHEMA_VERSION:  # new, or an older version: add what is new
            conn.execute("BEGIN IMMEDIATE")
            try:
                schema = (_SCHEMA if fresh else "") + _LIMITS_SCHEMA + _FILES_SCHEMA
                for statement in schema.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _check_format(self, conn: sqlite3.Connection, *, fresh_ok: bool) -> bool:
        """True for an empty file (a new archive, when ``fresh_ok``); ArchiveError when foreign."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
        if app_id == 0 and not tables and fresh_ok:
            return True
        if app_id != APPLICATION_ID:
            raise ArchiveError(f"{self._path}: not an MSR archive")
        if version > SCHEMA_VERSION:
            raise ArchiveError(
                f"{self._path}: archive schema {version} is newer than this tool's "
                f"({SCHEMA_VERSION})"
            )
        missing = _TABLES - tables
        if version >= _LIMITS_VERSION and "limits" not in tables:
            missing = missing | {"limits"}
        if version >= _FILES_VERSION and "files" not in tables:
            missing = missing | {"files"}
        if missing:
            raise ArchiveError(
                f"{self._path}: damaged archive (missing {', '.join(sorted(missing))})"
            )
        return False

    # ------------------------------------------------------------------ state

    @property
    def path(self) -> Path:
        """The archive file."""
        return self._path

    @property
    def readonly(self) -> bool:
        """True when opened with :meth:`open_readonly`."""
        return self._readonly

    @property
    def pending(self) -> int:
        """Rows added since the last commit (lost if the writer dies now)."""
        return self._pending

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self._readonly else "writer"
        return f"Archive({str(self._path)!r}, {mode})"

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise ArchiveError(f"{self._path}: archive is closed")
        return conn

    def _writer(self) -> sqlite3.Connection:
        """The connection, with a write transaction open."""
        conn = self._connection()
        if self._readonly:
            raise ArchiveError(f"{self._path}: archive is open read-only")
        if not conn.in_transaction:
            self._execute(conn, "BEGIN")
        return conn

    def _execute(self, conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> Any:
        """One write statement; an SQLite failure becomes ArchiveError."""
        try:
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            self._after_failure(conn)
            raise ArchiveError(f"{self._path}: write failed: {_reason(exc)}") from None

    def _after_failure(self, conn: sqlite3.Connection) -> None:
        """After a failed statement: if SQLite rolled the transaction back, forget its ids."""
        if not conn.in_transaction:
            self._parameter_ids.clear()
            self._pending = 0

    # ---------------------------------------------------------------- writers

    def add_frame(
        self,
        node: str,
        direction: str,
        sim_time: float,
        raw: bytes,
        *,
        wall_time: float | None = None,
    ) -> None:
        """Archive one raw frame.

        Args:
            node: the node at the other end of the link.
            direction: ``up`` or ``down``.
            sim_time: simulated time, seconds.
            raw: the frame's octets.
            wall_time: UNIX time it crossed the link (default: the archive's wall clock now).

        Raises:
            ArchiveError: a bad argument, a read-only or closed archive, a failed write.
        """
        node = _text("node", node)
        if direction not in DIRECTIONS:
            raise ArchiveError(f"direction must be 'up' or 'down', not {direction!r}")
        t = _time("sim_time", sim_time)
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise ArchiveError(f"raw must be octets, not {type(raw).__name__}")
        wall = _time("wall_time", self._wall_clock() if wall_time is None else wall_time)
        conn = self._writer()
        self._execute(
            conn,
            "INSERT INTO frames (node, direction, sim_time, wall_time, raw) VALUES (?, ?, ?, ?, ?)",
            (node, direction, t, wall, bytes(raw)),
        )
        self._pending += 1

    def add_packet(
        self, node: str, packet: str, sim_time: float, values: Mapping[str, object]
    ) -> int:
        """Archive a decoded telemetry packet: one point per field (``NODE.PACKET.FIELD``).

        A list field ``F`` gives the points ``F[0]``, ``F[1]``...; a nested mapping ``F`` gives
        ``F.sub``. Every value is checked before any is stored: a rejected packet stores nothing.

        Args:
            node: the node that sent it (``lander``).
            packet: the packet's name (``core.status``; it may contain dots).
            sim_time: simulated time of the packet, seconds.
            values: field name to value (numbers, booleans, strings, octets, None, lists).

        Returns:
            The number of points stored.

        Raises:
            ArchiveError: a bad argument or value type, a read-only or closed archive, a failed
                write.
        """
        node = _text("node", node)
        packet = _text("packet", packet)
        t = _time("sim_time", sim_time)
        if not isinstance(values, Mapping):
            raise ArchiveError(f"values must be a mapping, not {type(values).__name__}")
        flat: list[tuple[str, Value]] = []
        for field, value in values.items():
            if isinstance(field, str) and field.startswith("_"):
                continue
            _flatten(_text(f"a field name of {node}.{packet}", field), value, flat)
        if not flat:
            return 0
        conn = self._writer()
        rows = [(self._parameter_id(conn, node, packet, field), t, value) for field, value in flat]
        try:
            conn.executemany(
                "INSERT INTO points (parameter_id, sim_time, value) VALUES (?, ?, ?)", rows
            )
        except sqlite3.Error as exc:
            self._after_failure(conn)
            raise ArchiveError(f"{self._path}: write failed: {_reason(exc)}") from None
        self._pending += len(rows)
        return len(rows)

    def _parameter_id(self, conn: sqlite3.Connection, node: str, packet: str, field: str) -> int:
        name = f"{node}.{packet}.{field}"
        found = self._parameter_ids.get(name)
        if found is not None:
            return found
        self._execute(
            conn,
            "INSERT INTO parameters (name, node, packet, field) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, node, packet, field),
        )
        row = self._execute(conn, "SELECT id FROM parameters WHERE name = ?", (name,)).fetchone()
        self._parameter_ids[name] = row[0]
        return int(row[0])

    def add_event(
        self, node: str, sim_time: float, event_id: int, name: str, severity: str, detail: str
    ) -> None:
        """Archive one event report.

        Args:
            node: the node that reported it.
            sim_time: simulated time, seconds.
            event_id: the event's numeric id.
            name: the event's name.
            severity: ``info``, ``low``, ``medium``, ``high`` (stored as given).
            detail: the event's text ("" when none).

        Raises:
            ArchiveError: a bad argument, a read-only or closed archive, a failed write.
        """
        node = _text("node", node)
        t = _time("sim_time", sim_time)
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            raise ArchiveError(f"event_id must be an integer, not {type(event_id).__name__}")
        if not _INT64_MIN <= event_id <= _INT64_MAX:
            raise ArchiveError(f"event_id {event_id} is out of range")
        name = _text("event name", name)
        severity = _text("severity", severity)
        detail = _text("detail", detail, empty=True)
        conn = self._writer()
        self._execute(
            conn,
            "INSERT INTO events (node, sim_time, event_id, name, severity, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (node, t, event_id, name, severity, detail),
        )
        self._pending += 1

    def add_command(
        self, node: str, sim_time: float, name: str, args: object, request_id: bytes, source: str
    ) -> int:
        """Archive a command as it is sent.

        Args:
            node: the node it is sent to.
            sim_time: simulated time it is sent, seconds.
            name: the command's name.
            args: its arguments (JSON-serialisable; octets are stored as hex).
            request_id: the telecommand's 4-octet request id.
            source: who sends it (``msr cmd``, a procedure's name).

        Returns:
            The archive's id of the command.

        Raises:
            ArchiveError: a bad argument, a read-only or closed archive, a failed write.
        """
        node = _text("node", node)
        t = _time("sim_time", sim_time)
        name = _text("command name", name)
        request = _request_id(request_id)
        source = _text("source", source, empty=True)
        try:
            args_json = json.dumps(args, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise ArchiveError(f"arguments of {name} are not JSON-serialisable: {exc}") from None
        conn = self._writer()
        cursor = self._execute(
            conn,
            "INSERT INTO commands (node, sim_time, name, args, request_id, source) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (node, t, name, args_json, request, source),
        )
        self._pending += 1
        return int(cursor.lastrowid)

    def add_stage(
        self,
        node: str,
        request_id: bytes,
        sim_time: float,
        stage: str,
        code: int = 0,
        reason: str = "",
    ) -> int | None:
        """Archive a verification stage of a command, matched to the most recent command of
        ``node`` with ``request_id``. A stage of no known command is still stored, unlinked
        (request ids wrap, and a command may have been sent by another ground session).

        Args:
            node: the node that reported it.
            request_id: the 4-octet request id the report names.
            sim_time: simulated time of the report, seconds.
            stage: ``accepted``, ``started``, ``completed``, ``completion_failed``...
            code: the failure code (0 for a success).
            reason: the named reason of a failure.

        Returns:
            The id of the command it was matched to, or None.

        Raises:
            ArchiveError: a bad argument, a read-only or closed archive, a failed write.
        """
        node = _text("node", node)
        request = _request_id(request_id)
        t = _time("sim_time", sim_time)
        stage = _text("stage", stage)
        if isinstance(code, bool) or not isinstance(code, int):
            raise ArchiveError(f"code must be an integer, not {type(code).__name__}")
        if not _INT64_MIN <= code <= _INT64_MAX:
            raise ArchiveError(f"code {code} is out of range")
        reason = _text("reason", reason, empty=True)
        conn = self._writer()
        row = self._execute(
            conn,
            "SELECT id FROM commands WHERE node = ? AND request_id = ? ORDER BY id DESC LIMIT 1",
            (node, request),
        ).fetchone()
        command_id = None if row is None else int(row[0])
        self._execute(
            conn,
            "INSERT INTO stages (command_id, node, request_id, sim_time, stage, code, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (command_id, node, request, t, stage, code, reason),
        )
        self._pending += 1
        return command_id

    def add_limit(
        self,
        node: str,
        point: str,
        sim_time: float,
        old_level: str,
        new_level: str,
        value: object,
        *,
        state: str | None = None,
        unit: str = "-",
        mode: str | None = None,
        limit_set: str = "",
    ) -> None:
        """Archive one limit event: a point changed its limit level (decision 0036).

        Args:
            node: the node that reported the sample.
            point: ``NODE.PACKET.FIELD`` (``[i]`` for an array's element).
            sim_time: the sample's simulated time, seconds.
            old_level, new_level: ``green``, ``yellow`` or ``red``.
            value: the sample's value (a number, a boolean, a string or None).
            state: its state name when the point is enumerated.
            unit: the point's unit.
            mode: the node's mode the sample was judged in, or None.
            limit_set: the limit set that applied, in words.

        Raises:
            ArchiveError: a bad argument, a read-only or closed archive, a failed write.
        """
        node = _text("node", node)
        point = _text("point", point)
        t = _time("sim_time", sim_time)
        levels = [_text(what, level) for what, level in (("old_level", old_level),
                                                         ("new_level", new_level))]  # fmt: skip
        for level in levels:
            if level not in _LEVELS:
                raise ArchiveError(f"a limit level is one of {', '.join(_LEVELS)}, not {level!r}")
        flat: list[tuple[str, Value]] = []
        _flatten(point, value, flat)
        if len(flat) != 1:
            raise ArchiveError(f"{point}: a limit event's value is one value, not {len(flat)}")
        state = None if state is None else _text("state", state)
        unit = _text("unit", unit, empty=True)
        mode = None if mode is None else _text("mode", mode)
        limit_set = _text("limit_set", limit_set, empty=True)
        conn = self._writer()
        self._execute(
            conn,
            "INSERT INTO limits (node, point, sim_time, old_level, new_level, value, state, unit, "
            "mode, limit_set) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (node, point, t, *levels, flat[0][1], state, unit, mode, limit_set),
        )
        self._pending += 1

    def add_file(self, record: FileRecord) -> None:
        """Archive a file that came down, or a transfer that failed (decision 0056).

        Raises:
            ArchiveError: a bad argument, a read-only or closed archive, a failed write.
        """
        node = _text("node", record.node)
        name = _text("name", record.name, empty=True)
        t0, t1 = _time("started", record.started), _time("sim_time", record.sim_time)
        conn = self._writer()
        self._execute(
            conn,
            "INSERT INTO files (node, name, seq, started, sim_time, size, crc32, ok, condition, "
            "naks, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (node, name, int(record.seq), t0, t1, int(record.size), int(record.crc32),
             int(bool(record.ok)), _text("condition", record.condition), int(record.naks),
             bytes(record.data)),
        )  # fmt: skip
        self._pending += 1

    def files(
        self, node: str | None = None, name: str | None = None, *, data: bool = False
    ) -> list[FileRecord]:
        """Archived file transfers in the order they ended; none in an archive older than
        version 3.

        Args:
            node: only this node's, or None.
            name: only files of this name, or None.
            data: with each file's octets (else ``data`` is empty).

        Raises:
            ArchiveError: a bad argument, a closed archive.
        """
        clauses: list[str] = []
        params: list[object] = []
        _equal(clauses, params, "node", "node", node)
        _equal(clauses, params, "name", "name", name)
        has_table = self._read(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'files'"
        ).fetchone()[0]
        if not has_table:
            return []
        blob = "data" if data else "x''"
        sql = (
            "SELECT node, name, seq, started, sim_time, size, crc32, ok, condition, naks, "  # noqa: S608
            f"{blob} FROM files{_sql_where(clauses)} ORDER BY sim_time, id"
        )
        return [
            FileRecord(*row[:7], bool(row[7]), row[8], row[9], bytes(row[10]))
            for row in self._rows(sql, params)
        ]

    def tick(self) -> bool:
        """Commit if ``commit_interval`` wall seconds passed since the last commit; the writer
        calls this every cycle.

        Returns:
            True when it committed.

        Raises:
            ArchiveError: the commit failed, or the archive is closed.
        """
        self._connection()
        if self._readonly or not self._pending:
            return False
        if self._monotonic() - self._last_commit < self._interval:
            return False
        self.commit()
        return True

    def commit(self) -> None:
        """Commit everything added so far: readers see it, and a crash can no longer lose it.

        Raises:
            ArchiveError: the commit failed (the rows stay pending when SQLite kept the
                transaction), or the archive is closed.
        """
        conn = self._connection()
        if conn.in_transaction:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._after_failure(conn)
                raise ArchiveError(f"{self._path}: commit failed: {_reason(exc)}") from None
        self._pending = 0
        self._last_commit = self._monotonic()

    def close(self) -> None:
        """Commit what is pending and close; closing twice is harmless.

        Raises:
            ArchiveError: the final commit failed (the file keeps what was committed before).
        """
        conn = self._conn
        if conn is None:
            return
        try:
            if not self._readonly:
                self.commit()
        finally:
            self._conn = None
            conn.close()

    # ---------------------------------------------------------------- readers

    def _read(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        conn = self._connection()
        try:
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self._path}: read failed: {_reason(exc)}") from None

    def _rows(self, sql: str, params: Sequence[object] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of one query, streamed (an SQLite failure midway becomes ArchiveError)."""
        cursor = self._read(sql, params)
        try:
            # not ``yield from``: it would close the cursor on GeneratorExit, and the cursor
            # of a closed archive cannot be closed
            for row in cursor:  # noqa: UP028
                yield row
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self._path}: read failed: {_reason(exc)}") from None
        finally:
            # a generator abandoned midway (a reader gone, ``| head``) may be closed after the
            # archive: its cursor went with the connection
            try:
                cursor.close()
            except sqlite3.ProgrammingError:
                pass

    def parameters(self, prefix: str | None = None) -> list[str]:
        """The names of the archived parameters, sorted.

        Args:
            prefix: only names starting with it (``lander.`` or ``lander.core.status.``).

        Returns:
            Parameter names (``NODE.PACKET.FIELD``).

        Raises:
            ArchiveError: a bad prefix, or the archive is closed.
        """
        if prefix is not None:
            _text("prefix", prefix, empty=True)
        names = [row[0] for row in self._rows("SELECT name FROM parameters ORDER BY name")]
        return names if not prefix else [name for name in names if name.startswith(prefix)]

    def _parameter(self, name: object) -> int:
        """The id of an archived parameter; ArchiveError naming close names otherwise."""
        name = _text("parameter", name)
        row = self._read("SELECT id FROM parameters WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ArchiveError(self._unknown(name))
        return int(row[0])

    def _unknown(self, name: str) -> str:
        # Names share long prefixes (``lander.core.status.``), so every sibling scores high:
        # suggest only those nearly as close as the closest.
        scored = sorted(
            ((difflib.SequenceMatcher(None, name, other).ratio(), other)
             for other in self.parameters()),
            reverse=True,
        )  # fmt: skip
        best = scored[0][0] if scored else 0.0
        close = [other for score, other in scored[:3] if score >= max(0.6, best - 0.05)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"unknown parameter {name!r}{hint}"

    def points(
        self, parameter: str, start: float | None = None, end: float | None = None
    ) -> list[tuple[float, Value]]:
        """The points of one parameter in time order.

        Args:
            parameter: its full name (``lander.core.status.uptime``).
            start: earliest simulated time (inclusive), or None.
            end: latest simulated time (inclusive), or None.

        Returns:
            ``(sim_time, value)`` pairs; empty when none fall in the range.

        Raises:
            ArchiveError: an unknown parameter (naming close ones), a bad range, a closed archive.
        """
        lo, hi = _range(start, end)
        clauses, params = ["parameter_id = ?"], [self._parameter(parameter)]
        _where(clauses, params, "sim_time", lo, hi)
        sql = f"SELECT sim_time, value FROM points{_sql_where(clauses)} ORDER BY sim_time, rowid"  # noqa: S608
        return [(row[0], row[1]) for row in self._rows(sql, params)]

    def latest(self, parameter: str) -> tuple[float, Value]:
        """The most recent point of one parameter.

        Args:
            parameter: its full name.

        Returns:
            ``(sim_time, value)``.

        Raises:
            ArchiveError: an unknown parameter (naming close ones), a closed archive.
        """
        row = self._read(
            "SELECT sim_time, value FROM points WHERE parameter_id = ? "
            "ORDER BY sim_time DESC, rowid DESC LIMIT 1",
            (self._parameter(parameter),),
        ).fetchone()
        if row is None:  # the parameter's points are committed with it; only a damaged file
            raise ArchiveError(f"parameter {parameter!r} has no points")
        return row[0], row[1]

    def events(
        self,
        node: str | None = None,
        start: float | None = None,
        end: float | None = None,
        name: str | None = None,
    ) -> list[EventRecord]:
        """Archived events in time order.

        Args:
            node: only this node's, or None.
            start: earliest simulated time (inclusive), or None.
            end: latest simulated time (inclusive), or None.
            name: only events of this name, or None.

        Returns:
            The events.

        Raises:
            ArchiveError: a bad argument, a closed archive.
        """
        return list(self._iter_events(node, start, end, name))

    def _iter_events(
        self, node: str | None, start: object, end: object, name: str | None = None
    ) -> Iterator[EventRecord]:
        lo, hi = _range(start, end)
        clauses: list[str] = []
        params: list[object] = []
        _equal(clauses, params, "node", "node", node)
        _equal(clauses, params, "name", "event name", name)
        _where(clauses, params, "sim_time", lo, hi)
        sql = (
            "SELECT node, sim_time, event_id, name, severity, detail FROM events"  # noqa: S608
            f"{_sql_where(clauses)} ORDER BY sim_time, id"
        )
        for row in self._rows(sql, params):
            yield EventRecord(*row)

    def limit_events(
        self,
        node: str | None = None,
        start: float | None = None,
        end: float | None = None,
        point: str | None = None,
    ) -> list[LimitRecord]:
        """Archived limit events in time order (decision 0036); none in a version-1 archive.

        Args:
            node: only this node's, or None.
            start: earliest simulated time (inclusive), or None.
            end: latest simulated time (inclusive), or None.
            point: only this point's (``NODE.PACKET.FIELD[i]``), or None.

        Returns:
            The limit events.

        Raises:
            ArchiveError: a bad argument, a closed archive.
        """
        lo, hi = _range(start, end)
        clauses: list[str] = []
        params: list[object] = []
        _equal(clauses, params, "node", "node", node)
        _equal(clauses, params, "point", "point", point)
        _where(clauses, params, "sim_time", lo, hi)
        has_table = self._read(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'limits'"
        ).fetchone()[0]
        if not has_table:
            return []
        sql = (
            "SELECT node, point, sim_time, old_level, new_level, value, state, unit, mode, "  # noqa: S608
            f"limit_set FROM limits{_sql_where(clauses)} ORDER BY sim_time, id"
        )
        return [LimitRecord(*row) for row in self._rows(sql, params)]

    def commands(
        self, node: str | None = None, start: float | None = None, end: float | None = None
    ) -> list[CommandRecord]:
        """Archived commands in the order sent, each with its verification stages.

        Args:
            node: only commands to this node, or None.
            start: earliest simulated send time (inclusive), or None.
            end: latest simulated send time (inclusive), or None.

        Returns:
            The commands.

        Raises:
            ArchiveError: a bad argument, a closed archive.
        """
        return list(self._iter_commands(node, start, end))

    def _iter_commands(
        self, node: str | None, start: object, end: object
    ) -> Iterator[CommandRecord]:
        lo, hi = _range(start, end)
        clauses: list[str] = []
        params: list[object] = []
        _equal(clauses, params, "c.node", "node", node)
        _where(clauses, params, "c.sim_time", lo, hi)
        # One statement, so commands and stages come from the same snapshot.
        sql = (
            "SELECT c.id, c.node, c.sim_time, c.name, c.args, c.request_id, c.source, "  # noqa: S608
            "s.stage, s.sim_time, s.code, s.reason FROM commands AS c "
            f"LEFT JOIN stages AS s ON s.command_id = c.id{_sql_where(clauses)} "
            "ORDER BY c.sim_time, c.id, s.sim_time, s.id"
        )
        current: tuple[Any, ...] | None = None
        stages: list[StageRecord] = []
        for row in self._rows(sql, params):
            if current is not None and row[0] != current[0]:
                yield _command(current, stages)
                stages = []
            current = row
            if row[7] is not None:
                stages.append(StageRecord(row[7], row[8], row[9], row[10]))
        if current is not None:
            yield _command(current, stages)

    def frames(
        self,
        node: str | None = None,
        direction: str | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> list[FrameRecord]:
        """Archived raw frames in time order.

        Args:
            node: only this node's link, or None.
            direction: ``up``, ``down`` or None for both.
            start: earliest simulated time (inclusive), or None.
            end: latest simulated time (inclusive), or None.

        Returns:
            The frames.

        Raises:
            ArchiveError: a bad argument, a closed archive.
        """
        return list(self._iter_frames(node, direction, start, end))

    def _iter_frames(
        self, node: str | None, direction: str | None, start: object, end: object
    ) -> Iterator[FrameRecord]:
        lo, hi = _range(start, end)
        clauses: list[str] = []
        params: list[object] = []
        _equal(clauses, params, "node", "node", node)
        if direction is not None:
            if direction not in DIRECTIONS:
                raise ArchiveError(f"direction must be 'up' or 'down', not {direction!r}")
            clauses.append("direction = ?")
            params.append(direction)
        _where(clauses, params, "sim_time", lo, hi)
        sql = (
            "SELECT node, direction, sim_time, wall_time, raw FROM frames"  # noqa: S608
            f"{_sql_where(clauses)} ORDER BY sim_time, id"
        )
        for row in self._rows(sql, params):
            yield FrameRecord(*row)

    def summary(self) -> dict[str, int]:
        """How much the archive holds.

        Returns:
            Counts: ``frames``, ``frames_up``, ``frames_down``, ``parameters``, ``points``,
            ``events``, ``commands``, ``stages``, ``unmatched_stages``.

        Raises:
            ArchiveError: a closed archive.
        """
        row = self._read(
            "SELECT "
            "(SELECT count(*) FROM frames), "
            "(SELECT count(*) FROM frames WHERE direction = 'up'), "
            "(SELECT count(*) FROM frames WHERE direction = 'down'), "
            "(SELECT count(*) FROM parameters), "
            "(SELECT count(*) FROM points), "
            "(SELECT count(*) FROM events), "
            "(SELECT count(*) FROM commands), "
            "(SELECT count(*) FROM stages), "
            "(SELECT count(*) FROM stages WHERE command_id IS NULL)"
        ).fetchone()
        keys = ("frames", "frames_up", "frames_down", "parameters", "points", "events",
                "commands", "stages", "unmatched_stages")  # fmt: skip
        return dict(zip(keys, (int(n) for n in row), strict=True))

    # ----------------------------------------------------------------- export

    def export(
        self,
        kind: str,
        fmt: str,
        out: TextIO,
        *,
        parameters: Sequence[str] | None = None,
        node: str | None = None,
        start: float | None = None,
        end: float | None = None,
        epoch: datetime | None = None,
        fields: Callable[[str], Field | None] | None = None,
    ) -> int:
        """Write archived records as CSV (with a header row) or JSON lines, in time order.

        ``points`` rows: sim_time, utc, parameter, node, packet, field, value, state, unit
        (value is the raw value as archived, state its state name when the point is
        enumerated, unit the dictionary's). ``events``: sim_time, utc, node, event_id, name,
        severity, detail. ``commands``: id, sim_time, utc, node, name, args, request_id,
        source, stages (args and stages as JSON text in CSV, nested in JSON lines).
        ``frames``: sim_time, utc, wall_time, node, direction, raw (hex). ``utc`` is the
        simulated time from the mission epoch (``2031-07-01T00:01:40.000Z``). Octets are
        written as hex; non-finite floats as strings in JSON lines; no state (or unit) as an
        empty CSV cell or a JSON null.

        Args:
            kind: ``points``, ``events``, ``commands`` or ``frames``.
            fmt: ``csv`` or ``jsonl``.
            out: a text stream (open files with ``newline=""`` for CSV).
            parameters: for ``points``, only these parameters (default: all).
            node: only this node's records (default: every node's).
            start: earliest simulated time (inclusive), or None.
            end: latest simulated time (inclusive), or None.
            epoch: the mission epoch (default: that of the archive's run folder,
                :func:`ground_tools.timefmt.mission_epoch`).
            fields: a parameter's dictionary declaration, for its state and unit (default:
                :func:`telemetry_field`, the flight dictionary's).

        Returns:
            The number of records written.

        Raises:
            ArchiveError: an unknown kind or format, an unknown parameter, a bad range, a closed
                archive, an invalid bench file in the run folder.
        """
        if fmt not in EXPORT_FORMATS:
            raise ArchiveError(
                f"unknown export format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})"
            )
        records = self.records(kind, parameters=parameters, node=node, start=start, end=end,
                               epoch=epoch, fields=fields)  # fmt: skip
        try:
            if fmt == "csv":
                return _write_csv(_EXPORT_COLUMNS[kind], records, out)
            return _write_jsonl(_EXPORT_COLUMNS[kind], records, out)
        finally:
            records.close()  # now, while the archive is open (a reader gone midway: | head)

    @staticmethod
    def columns(kind: str) -> tuple[str, ...]:
        """The columns of :meth:`records` and :meth:`export` for ``kind``.

        Raises:
            ArchiveError: an unknown kind.
        """
        if kind not in EXPORT_KINDS:
            raise ArchiveError(f"unknown export kind {kind!r} (one of {', '.join(EXPORT_KINDS)})")
        return _EXPORT_COLUMNS[kind]

    def records(
        self,
        kind: str,
        *,
        parameters: Sequence[str] | None = None,
        node: str | None = None,
        start: float | None = None,
        end: float | None = None,
        epoch: datetime | None = None,
        fields: Callable[[str], Field | None] | None = None,
    ) -> Generator[tuple[object, ...], None, None]:
        """The rows of :meth:`export` (columns: :meth:`columns`), streamed in time order; every
        argument is checked now, before the first row. Close the generator (or exhaust it)
        before closing the archive.

        Args:
            kind: ``points``, ``events``, ``commands`` or ``frames``.
            parameters: for ``points``, only these parameters (default: all).
            node: only this node's records (default: every node's).
            start, end, epoch, fields: as :meth:`export`.

        Raises:
            ArchiveError: an unknown kind, an unknown parameter, parameters for another kind, a
                bad range or node, a closed archive, an invalid bench file in the run folder.
        """
        self.columns(kind)
        if parameters is not None and kind != "points":
            raise ArchiveError(f"parameters apply to a points export, not to {kind}")
        if node is not None:
            _text("node", node)
        _range(start, end)
        if epoch is None:
            epoch = self._epoch()
        utc = _utc_formatter(epoch)
        if kind == "points":
            sql, params = self._points_query(parameters, start, end, node)
            return _points_rows(self._rows(sql, params), utc, fields or telemetry_field)
        if kind == "events":
            return (
                (e.sim_time, utc(e.sim_time), e.node, e.event_id, e.name, e.severity, e.detail)
                for e in self._iter_events(node, start, end)
            )
        if kind == "commands":
            return (
                (c.id, c.sim_time, utc(c.sim_time), c.node, c.name, c.args, c.request_id,
                 c.source, [asdict(s) for s in c.stages])
                for c in self._iter_commands(node, start, end)
            )  # fmt: skip
        return (
            (f.sim_time, utc(f.sim_time), f.wall_time, f.node, f.direction, f.raw)
            for f in self._iter_frames(node, None, start, end)
        )

    def _epoch(self) -> datetime:
        """The mission epoch of the run folder this archive is in."""
        from ground_tools.api import GroundError
        from ground_tools.timefmt import mission_epoch

        try:
            return mission_epoch(self._path.parent)
        except GroundError as exc:
            raise ArchiveError(str(exc)) from None

    def _points_query(
        self, parameters: Sequence[str] | None, start: object, end: object,
        node: str | None = None,
    ) -> tuple[str, list[object]]:  # fmt: skip
        """The points export's statement, its parameters checked now (before anything is
        written)."""
        lo, hi = _range(start, end)
        clauses: list[str] = []
        params: list[object] = []
        if parameters is not None:
            if isinstance(parameters, str) or not isinstance(parameters, Sequence):
                raise ArchiveError("parameters must be a list of parameter names")
            ids = sorted({self._parameter(name) for name in parameters})
            clauses.append(f"p.parameter_id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        _equal(clauses, params, "n.node", "node", node)
        _where(clauses, params, "p.sim_time", lo, hi)
        sql = (
            "SELECT p.sim_time, n.name, n.node, n.packet, n.field, p.value FROM points AS p "  # noqa: S608
            f"JOIN parameters AS n ON n.id = p.parameter_id{_sql_where(clauses)} "
            "ORDER BY p.sim_time, p.rowid"
        )
        return sql, params


_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_SQLITE_HEADER: Final = 100


def _check_file(path: Path) -> None:
    """Refuse a file that is not an SQLite file or is shorter than its header says (a copy or a
    download cut short), before SQLite reads it; reads 100 octets whatever the file claims."""
    try:
        with path.open("rb") as file:
            head = file.read(_SQLITE_HEADER)
            size = os.fstat(file.fileno()).st_size
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise ArchiveError(f"{path}: empty file, not an MSR archive")
    if len(head) < _SQLITE_HEADER or not head.startswith(_SQLITE_MAGIC):
        raise ArchiveError(f"{path}: not a database ({size} octets, no SQLite header)")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96]  # the in-header size is valid (SQLite 3.7.0 and later)
    if page_size < 512 or page_size & (page_size - 1):
        raise ArchiveError(f"{path}: damaged SQLite header (page size {page_size})")
    wal = path.with_name(path.name + "-wal")
    live = wal.exists() and wal.stat().st_size > 0  # pages may sit in the WAL, or a checkpoint
    # is copying them (it writes page 1, with the new size, before the file grows): SQLite
    # reads them from there
    if valid and pages and size < pages * page_size and not live:
        raise ArchiveError(
            f"{path}: truncated archive: {size} octets, its header says {pages} pages of "
            f"{page_size} ({pages * page_size} octets)"
        )


def _reason(exc: sqlite3.Error) -> str:
    """SQLite's message, one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _request_id(value: object) -> str:
    """A 4-octet request id as hex (ArchiveError otherwise)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ArchiveError(f"request_id must be 4 octets, not {type(value).__name__}")
    octets = bytes(value)
    if len(octets) != 4:
        raise ArchiveError(f"request_id must be 4 octets, not {len(octets)}")
    return octets.hex()


def _command(row: tuple[Any, ...], stages: list[StageRecord]) -> CommandRecord:
    try:
        args = json.loads(row[4])
    except ValueError:
        args = row[4]  # written by another tool: hand back the text rather than fail
    return CommandRecord(row[0], row[1], row[2], row[3], args, row[5], row[6], tuple(stages))


def _write_csv(columns: tuple[str, ...], records: Iterator[tuple[object, ...]], out: TextIO) -> int:
    """CSV with a header row; ``args`` and ``stages`` as JSON text."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    nested = [column in _JSON_COLUMNS for column in columns]
    count = 0
    for record in records:
        writer.writerow(
            json.dumps(value) if is_json else _csv_value(value)
            for is_json, value in zip(nested, record, strict=True)
        )
        count += 1
    return count


def _write_jsonl(
    columns: tuple[str, ...], records: Iterator[tuple[object, ...]], out: TextIO
) -> int:
    """One JSON object per line."""
    count = 0
    for record in records:
        line = {key: _json_value(value) for key, value in zip(columns, record, strict=True)}
        out.write(json.dumps(line))
        out.write("\n")
        count += 1
    return count


# ------------------------------------------------------------- names, states and units (0037)


def telemetry_field(parameter: str) -> Field | None:
    """The flight dictionary's declaration of an archived parameter (``NODE.PACKET.FIELD``,
    ``[i]`` for an array's element): its unit and its states. None for a name the dictionary
    does not declare (an archive of another build, a value a tool archived by itself).
    """
    return _telemetry_field(parameter)


@functools.lru_cache(maxsize=4096)
def _telemetry_field(parameter: str) -> Field | None:
    from fsw.dictionary import NODE_APIDS, node_dictionary

    node, _, rest = parameter.partition(".")
    if node not in NODE_APIDS:
        return None
    dictionary = node_dictionary(node)
    for packet in (*dictionary.hk, *dictionary.reports):
        if rest.startswith(packet.name + "."):
            name = rest[len(packet.name) + 1 :].split("[", 1)[0]
            for field in packet.fields:
                if field.name == name:
                    return field
    return None


def _utc_formatter(epoch: datetime) -> Callable[[float], str]:
    """UTC text of a simulated time; consecutive rows of one packet share their time, so the
    last one is kept (a third of a points export's time otherwise)."""
    from ground_tools.timefmt import utc_text

    last: list[Any] = [None, ""]

    def utc(t: float) -> str:
        if t != last[0]:
            last[0], last[1] = t, utc_text(epoch, t)
        return str(last[1])

    return utc


def _points_rows(
    rows: Iterator[tuple[Any, ...]],
    utc: Callable[[float], str],
    fields: Callable[[str], Field | None],
) -> Generator[tuple[object, ...], None, None]:
    """Points rows with their UTC time, state name and unit (each parameter looked up once)."""
    known: dict[str, Field | None] = {}
    try:
        for sim_time, parameter, node, packet, field_name, value in rows:
            if parameter not in known:
                known[parameter] = fields(parameter)
            field = known[parameter]
            state = field.state(value) if field is not None and field.enum else None
            unit = field.unit if field is not None else None
            yield (sim_time, utc(sim_time), parameter, node, packet, field_name, value, state,
                   unit)  # fmt: skip
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
