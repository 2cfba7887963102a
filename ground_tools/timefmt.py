"""Mission times shown as UTC beside simulated seconds (issue 19, decision 0037).

Every time the ground keeps is mission time: simulated seconds since the bench's mission epoch
(``Bench.epoch``, the bench file's ``epoch`` key, :data:`hal.bench.DEFAULT_EPOCH` when it gives
none). A person reads UTC, so every tool that prints a time prints both, formatted here, once:

    >>> from datetime import UTC, datetime
    >>> epoch = datetime(2031, 7, 1, tzinfo=UTC)
    >>> utc_text(epoch, 100.0)
    '2031-07-01T00:01:40.000Z'
    >>> stamp(epoch, 100.0)
    '2031-07-01T00:01:40.000Z  t=100.000'

The epoch of a run folder comes from the bench file kept in it (``RUN_DIR/bench.toml``), else
from the bench file a live bench was brought up from (``RUN_DIR/bench.json``'s ``bench``), else
the default epoch: :func:`mission_epoch`. Resolve it once per command and pass the ``datetime``
to :func:`mission_utc` in a loop; a path is accepted too, and its epoch is cached by the bench
file's path and modification time.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Final

from hal.bench import DEFAULT_EPOCH, utc_of

__all__ = ["UTC_FORMAT_EXAMPLE", "mission_epoch", "mission_utc", "stamp", "utc_text"]

UTC_FORMAT_EXAMPLE: Final = "2031-07-01T00:01:40.000Z"
"""The form of every UTC time the tools print: ISO 8601, milliseconds, ``Z``."""
_MAX_RECORD_BYTES: Final = 64 * 1024
"""A bench record (``bench.json``) larger than this is not one: read no further."""


def mission_epoch(run_dir: str | os.PathLike[str]) -> datetime:
    """The mission epoch (UTC instant of mission time 0) of the run folder ``run_dir``.

    Looked up in order: the bench file kept in the folder (``bench.toml``: campaigns and
    reruns keep one), the bench file a live bench was brought up from (``bench.json``'s
    ``bench``), and otherwise :data:`hal.bench.DEFAULT_EPOCH` (what a bench file without an
    ``epoch`` key means).

    Raises:
        GroundError: a bench file is there but cannot be read or is invalid (one line naming
            the file and the field).
    """
    folder = Path(run_dir)
    kept = folder / "bench.toml"
    if kept.is_file():
        return _bench_epoch(str(kept.resolve()), kept.stat().st_mtime_ns)
    source = _recorded_bench(folder / "bench.json")
    if source is not None and source.is_file():
        return _bench_epoch(str(source.resolve()), source.stat().st_mtime_ns)
    return DEFAULT_EPOCH


def utc_text(epoch: datetime, mission_time: float) -> str:
    """``mission_time`` seconds after ``epoch`` as ``2031-07-01T00:01:40.000Z`` (UTC, ms).

    A time that is not finite, or that lands outside the years 1..9999, is shown as ``-``
    rather than raising: a display never fails on a bad sample.
    """
    if not isinstance(mission_time, int | float) or not math.isfinite(mission_time):
        return "-"
    try:
        instant = utc_of(epoch, float(mission_time)).astimezone(UTC)
    except (OverflowError, ValueError):
        return "-"
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def mission_utc(run_dir_or_epoch: datetime | str | os.PathLike[str], mission_time: float) -> str:
    """``mission_time`` as UTC text (:func:`utc_text`), from an epoch or a run folder's epoch
    (:func:`mission_epoch`).

    Raises:
        GroundError: the run folder's bench file is invalid (see :func:`mission_epoch`).
    """
    if isinstance(run_dir_or_epoch, datetime):
        epoch = run_dir_or_epoch
    else:
        epoch = mission_epoch(run_dir_or_epoch)
    return utc_text(epoch, mission_time)


def stamp(epoch: datetime, mission_time: float) -> str:
    """UTC beside simulated seconds, as a line shows them:
    ``2031-07-01T00:01:40.000Z  t=100.000``."""
    seconds = "-"
    if isinstance(mission_time, int | float) and math.isfinite(mission_time):
        seconds = f"{mission_time:.3f}" if abs(mission_time) < 1e12 else f"{mission_time:.6g}"
    return f"{utc_text(epoch, mission_time)}  t={seconds}"


@lru_cache(maxsize=16)
def _bench_epoch(path: str, mtime_ns: int) -> datetime:
    from ground_tools.api import GroundError  # here: api may use this module
    from hal.bench import BenchError, load_bench

    del mtime_ns  # part of the cache key only: an edited bench file is read again
    try:
        return load_bench(path).epoch
    except BenchError as exc:
        raise GroundError(str(exc).splitlines()[0]) from None


def _recorded_bench(record: Path) -> Path | None:
    """The bench file named in a live bench's record, or None (no record, or not one)."""
    try:
        with open(record, "rb") as file:
            data = file.read(_MAX_RECORD_BYTES + 1)
    except OSError:
        return None
    if len(data) > _MAX_RECORD_BYTES:
        return None
    try:
        bench = json.loads(data).get("bench")
    except (ValueError, AttributeError):
        return None
    return Path(bench) if isinstance(bench, str) and 0 < len(bench) < 4096 else None
