"""Non-volatile store: the state a node keeps across a reset.

Requirement (issue: non-volatile store): the state that must survive a reset (parameters,
anti-replay counters, sample custody, sequence progress, reset counters) is written atomically,
checksummed, and replaced by its power-on defaults, with an event, when corrupt. A node killed at
any instant (SIGKILL) restarts to a consistent state, and never with its anti-replay counters
rewound.

The store is a set of named *sections*, each a JSON value (dicts with string keys, lists, str,
int, finite float, bool, None). Every section has a power-on default, given by the owner.

On disk: two copies, ``<path>.a`` and ``<path>.b``, written alternately, each a whole document in
canonical JSON (sorted keys, no spaces, ASCII)::

    {"crc32":<CRC-32>,"generation":<g>,"sections":{"<name>":<value>,...}}

where the CRC-32 (``zlib.crc32``, the ISO-HDLC CRC of zip and PNG) covers the canonical JSON of
``{"generation": g, "sections": ...}``; since ``crc32`` sorts first, a write serialises once and
splices the CRC in front of the checked body. CRC-32 and not SHA-256: the check is against damaged
media and torn files, not against someone who can rewrite the file (who could recompute a hash
as easily); CRC-32 catches every error burst of up to 32 bits, at no cost per write.

A write (:meth:`NvStore.put`, :meth:`NvStore.put_many`, a :class:`CounterView` update) goes to
``<path>.tmp`` in the same folder, is flushed to the disk (``fsync``), renamed over the copy that
does *not* hold the current state, and the folder is flushed, all before the call returns. A
process killed at any instant therefore leaves both copies whole: the rename is atomic, and the
copy it replaces is never the one holding the current state, so the newest whole document on the
disk is always either the state before the interrupted write or the state after it, and a value
the caller saw committed is never lost.

At start, the valid copy with the highest generation is loaded. A copy that exists but is
unreadable, not JSON, of the wrong shape, or whose CRC does not match is reported
(``nv_copy_corrupt``) and the other one is loaded, which may be one write older
(``loaded_from == "backup"``: the space link then drops its anti-replay session and asks the
ground to resynchronise, decision 0023). With no valid copy every section takes its default
(``nv_corrupt``); with no file at all this is the first boot (``nv_first_boot``); either way the
space link accepts no authenticated frame until the ground resynchronises it. Sections missing
from the file take their default and sections the software no longer knows are dropped
(``nv_section_defaulted``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from fsw.dictionary.services import NV_EVENTS
from hal.errors import StoreError

__all__ = ["EVENTS", "CounterView", "NvError", "NvStore", "NvUnknownSection"]

EVENTS: Final[Mapping[str, tuple[str, str]]] = NV_EVENTS

MAX_DEPTH: Final = 64
"""Deepest nesting of lists and dicts accepted in a section value (guards against cycles)."""

_COPIES: Final = ("a", "b")
_GENERATION_MAX: Final = 2**63 - 1


class NvError(StoreError):
    """The non-volatile store refused a value or could not write; the message names the section
    or the file. A subclass of :class:`~hal.errors.StoreError`, so code written for
    :class:`~hal.store.CounterStore` catches it unchanged."""

    default_reason = "nv_store"


class NvUnknownSection(NvError, KeyError):
    """A section the store was not given a default for (also a :class:`KeyError`)."""

    default_reason = "unknown_section"

    def __str__(self) -> str:
        return Exception.__str__(self)  # not KeyError's quoted repr


class _BadValue(Exception):
    """A value that is not plain JSON; ``path`` collects the keys down to it on the way up."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: list[str] = []


class _CorruptCopy(Exception):
    """A copy on the disk that cannot be used; the message says why."""


def _plain(value: Any, depth: int = 0) -> Any:
    """A fresh copy of ``value`` made of plain JSON types only (subclasses such as IntEnum are
    turned into their base type, tuples into lists), or :class:`_BadValue`."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _BadValue(f"{value!r} is not a finite number")
        return float(value)
    if depth >= MAX_DEPTH:
        raise _BadValue(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _BadValue(f"key {key!r} is not a string")
            try:
                out[str(key)] = _plain(item, depth + 1)
            except _BadValue as bad:
                bad.path.append(repr(key))
                raise
        return out
    if isinstance(value, list | tuple):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_plain(item, depth + 1))
            except _BadValue as bad:
                bad.path.append(str(index))
                raise
        return items
    raise _BadValue(f"a {type(value).__name__} is not JSON-compatible")


def _copy(value: Any) -> Any:
    """A deep copy of a value already made of plain JSON types."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _body(generation: int, sections: Mapping[str, Any]) -> bytes:
    """The canonical JSON the CRC covers."""
    document = {"generation": generation, "sections": sections}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode("ascii")


def _read_copy(path: Path) -> tuple[int, dict[str, Any]]:
    """The generation and sections of one copy.

    Raises:
        FileNotFoundError: the copy does not exist.
        _CorruptCopy: it exists but cannot be used (the message says why).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _CorruptCopy(f"unreadable ({exc.strerror or exc})") from exc
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _CorruptCopy(f"not JSON ({exc})") from exc
    if not isinstance(document, dict) or set(document) != {"crc32", "generation", "sections"}:
        raise _CorruptCopy("not a store document (keys crc32, generation, sections)")
    generation, sections, crc = document["generation"], document["sections"], document["crc32"]
    if type(generation) is not int or not 0 <= generation <= _GENERATION_MAX:
        raise _CorruptCopy(f"generation {generation!r} is not a count")
    if not isinstance(sections, dict):
        raise _CorruptCopy("sections is not an object")
    if type(crc) is not int or not 0 <= crc <= 0xFFFFFFFF:
        raise _CorruptCopy(f"crc32 {crc!r} is not a 32-bit number")
    try:
        body = _body(generation, sections)
    except (ValueError, RecursionError) as exc:  # NaN, Infinity, deep nesting: never written
        raise _CorruptCopy(f"holds a value that is not plain JSON ({exc})") from exc
    if zlib.crc32(body) != crc:
        raise _CorruptCopy(f"checksum {crc:#010x} does not match its content")
    return generation, sections


class NvStore:
    """Named sections that survive a reset, each with a power-on default.

    Args:
        path: names the store; the copies are ``<path>.a`` and ``<path>.b`` and the temporary
            file ``<path>.tmp``. The folder must exist by the first write.
        defaults: section name -> its power-on default (a plain JSON value, copied).
        durable: flush every write and the folder to the disk; turn off only for tests that
            neither kill processes nor cut power.
        emit: called ``(event, detail)`` for every event of the load (see :data:`EVENTS`); the
            same events are kept in :attr:`boot_events` for an event service started later.

    Attributes:
        loaded_from: ``"file"`` (the newest copy), ``"backup"`` (one copy was corrupt, so the
            one loaded may be a write older) or ``"defaults"`` (first boot, or no valid copy).
        boot_events: the ``(event, detail)`` pairs of the load, in order.
        writes: documents written by this instance.

    The constructor never raises for what it finds on the disk; it raises :class:`NvError` only
    for a default that is not a plain JSON value (a programming error).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        defaults: Mapping[str, Any],
        *,
        durable: bool = True,
        emit: Callable[[str, str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        self._emit_to = emit
        self._copies = tuple(self.path.with_name(f"{self.path.name}.{c}") for c in _COPIES)
        self._tmp = self.path.with_name(f"{self.path.name}.tmp")
        self._defaults = {name: self._checked(name, value) for name, value in defaults.items()}
        self.boot_events: list[tuple[str, str]] = []
        self.writes = 0
        self.loaded_from = "defaults"
        self._generation = 0
        self._current: int | None = None  # index of the copy holding the current state
        self._sections: dict[str, Any] = {}
        self._load()

    # ------------------------------------------------------------------ reading

    @property
    def generation(self) -> int:
        """The generation of the current state: 0 until the first write after power-on
        defaults, then one more at every write."""
        return self._generation

    @property
    def sections(self) -> tuple[str, ...]:
        """The names of the sections, sorted."""
        return tuple(sorted(self._defaults))

    def get(self, section: str) -> Any:
        """A deep copy of the section's current value.

        Raises:
            NvUnknownSection: the section has no default.
        """
        self._known(section)
        return _copy(self._sections[section])

    def counters(self, section: str = "counters") -> CounterView:
        """A counter store over one section (a mapping of names to non-negative integers), with
        the methods :class:`~hal.links.space_link.FlightSpaceLink` uses.

        Raises:
            NvUnknownSection: the section has no default.
            NvError: the section does not hold names with non-negative integers.
        """
        self._known(section)
        value = self._sections[section]
        if not isinstance(value, dict) or not all(
            type(count) is int and count >= 0 for count in value.values()
        ):
            raise NvError(
                f"{self.path.name}: section {section!r} is not a mapping of names to counts",
                reason="bad_counters",
            )
        return CounterView(self, section)

    # ------------------------------------------------------------------ writing

    def put(self, section: str, value: Any) -> None:
        """Replace one section; the new value is on the disk when this returns.

        Raises:
            NvUnknownSection: the section has no default.
            NvError: the value is not plain JSON (names the section and where in it), or the
                write failed; nothing changed, on the disk or in memory.
        """
        self.put_many({section: value})

    def put_many(self, values: Mapping[str, Any]) -> None:
        """Replace several sections in one atomic write (nothing is written for no values).

        Raises:
            NvUnknownSection: a section has no default.
            NvError: a value is not plain JSON, or the write failed; nothing changed.
        """
        if not values:
            return
        changes = {}
        for name, value in values.items():
            self._known(name)
            changes[name] = self._checked(name, value)
        self._commit({**self._sections, **changes})

    # ------------------------------------------------------------------ internals

    def _emit(self, name: str, detail: str) -> None:
        self.boot_events.append((name, detail))
        if self._emit_to is not None:
            self._emit_to(name, detail)

    def _known(self, section: str) -> None:
        if section not in self._defaults:
            known = ", ".join(self.sections) or "none"
            raise NvUnknownSection(
                f"{self.path.name}: no section {section!r} (known: {known})",
                reason="unknown_section",
            )

    def _checked(self, section: str, value: Any) -> Any:
        try:
            return _plain(value)
        except _BadValue as bad:
            where = "".join(f"[{key}]" for key in reversed(bad.path))
            raise NvError(
                f"{self.path.name}: section {section!r}{where}: {bad.what}", reason="bad_value"
            ) from None

    def _load(self) -> None:
        found: list[tuple[int, int, int, dict[str, Any]]] = []
        problems: list[str] = []
        for index, copy in enumerate(self._copies):
            try:
                generation, sections = _read_copy(copy)
            except FileNotFoundError:
                continue
            except _CorruptCopy as bad:
                problems.append(f"{copy.name}: {bad}")
                continue
            found.append((generation, -index, index, sections))
        if not found:
            self._sections = {name: _copy(value) for name, value in self._defaults.items()}
            if problems:
                self._emit(
                    "nv_corrupt",
                    f"no valid copy ({'; '.join(problems)}): "
                    "every section takes its power-on default",
                )
            else:
                self._emit(
                    "nv_first_boot",
                    f"no {self.path.name} copy on the disk: "
                    "every section takes its power-on default",
                )
            return
        generation, _, index, stored = max(found)  # the newest; copy a on a tie
        name = self._copies[index].name
        for problem in problems:
            self._emit("nv_copy_corrupt", f"{problem}; loaded {name} (generation {generation})")
        self.loaded_from = "backup" if problems else "file"
        self._generation = generation
        self._current = index
        for section in stored.keys() - self._defaults.keys():
            self._emit(
                "nv_section_defaulted",
                f"section {section!r} of {name} is unknown to this software: dropped",
            )
        sections = {}
        for section, default in self._defaults.items():
            if section in stored:
                sections[section] = stored[section]
            else:
                sections[section] = _copy(default)
                self._emit(
                    "nv_section_defaulted",
                    f"section {section!r} is not in {name}: took its power-on default",
                )
        self._sections = sections

    def _commit(self, sections: dict[str, Any]) -> None:
        """Write ``sections`` as the next generation over the copy not holding the current
        state; take them as the current state only once they are on the disk."""
        generation = self._generation + 1
        body = _body(generation, sections)
        data = b'{"crc32":%d,' % zlib.crc32(body) + body[1:]
        index = 0 if self._current is None else 1 - self._current
        target = self._copies[index]
        try:
            fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.EIO, "the disk took no bytes")
                    view = view[written:]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self._tmp, target)
            if self.durable:
                folder = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(folder)
                finally:
                    os.close(folder)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            raise NvError(
                f"{target}: cannot write: {exc.strerror or exc}", reason="write_failed"
            ) from exc
        self._sections = sections
        self._generation = generation
        self._current = index
        self.writes += 1

    def __repr__(self) -> str:
        return (
            f"NvStore({str(self.path)!r}, generation={self._generation}, "
            f"loaded_from={self.loaded_from!r})"
        )


class CounterView:
    """Named non-negative integer counters kept in one section of an :class:`NvStore`, with the
    interface of :class:`~hal.store.CounterStore` (what
    :class:`~hal.links.space_link.FlightSpaceLink` and its anti-replay ``persist`` use).

    Every change is a whole-store write: the counters and every other section stay consistent
    on the disk. Errors are :class:`NvError`, a :class:`~hal.errors.StoreError`.

    Args:
        store: the store holding the section.
        section: the section's name (its default is usually ``{}``).
    """

    def __init__(self, store: NvStore, section: str) -> None:
        self.store = store
        self.section = section

    def _counters(self) -> dict[str, int]:
        value = self.store._sections[self.section]
        if not isinstance(value, dict):
            raise NvError(
                f"{self.store.path.name}: section {self.section!r} no longer holds counters",
                reason="bad_counters",
            )
        return value

    def get(self, name: str, default: int | None = None) -> int | None:
        """The counter's stored value, or ``default`` when it was never set."""
        return self._counters().get(name, default)

    def items(self, prefix: str = "") -> dict[str, int]:
        """Every counter whose name starts with ``prefix``."""
        return {k: v for k, v in self._counters().items() if k.startswith(prefix)}

    def set(self, name: str, value: int) -> None:
        """Store one counter; the new value is on the disk when this returns.

        Raises:
            NvError: the value is not a non-negative integer, or the write failed (nothing
                changed).
        """
        self.update({name: value})

    def update(self, values: Mapping[str, int]) -> None:
        """Store several counters in one atomic write.

        Raises:
            NvError: a name is not a string or a value not a non-negative integer, or the write
                failed (nothing changed).
        """
        for name, value in values.items():
            if not isinstance(name, str) or type(value) is not int or value < 0:
                raise NvError(
                    f"{self.store.path.name}: section {self.section!r}: counter {name!r} = "
                    f"{value!r} is not a count",
                    reason="bad_value",
                )
        self.store.put(self.section, {**self._counters(), **values})

    def __repr__(self) -> str:
        return f"CounterView({self.store!r}, {self.section!r})"
