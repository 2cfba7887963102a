"""The records a Monte Carlo campaign passes between its parts (``msr montecarlo``, issue 21).

A :class:`Draw` is what the dispersions file gave run *i* (its seed, the values drawn, the bench
keys, faults and node resets they become); a :class:`RunSpec` is everything a worker needs to run
it, with no path of the client's machine in it (workers need not share a filesystem); a
:class:`RunResult` is what comes back (through Dask or the local pool), small enough for the
scheduler: the campaign's summary, the verdict, and the run folder's artifacts as one compressed
archive (:attr:`RunResult.bundle`). All three are plain data (JSON-able but for ``bundle``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["STATUSES", "Draw", "RunResult", "RunSpec", "Status"]

Status = Literal["pass", "fail", "timeout", "error"]
"""``pass``: the campaign's summary says ``ok``; ``fail``: it ran and does not (its failing check
says why); ``timeout``: ended after the run's wall-time limit; ``error``: it could not run (a bench
that would not come up, a worker's own error), the message says what."""
STATUSES: Final = ("pass", "fail", "timeout", "error")


@dataclass(frozen=True)
class Draw:
    """What run ``index`` drew from the dispersions file.

    Attributes:
        index: the run's number, 0..N-1.
        seed: the run's seed (:func:`ground_tools.montecarlo.dispersions.run_seed`), the bench's
            ``seed``: every random generator of the run starts from it.
        parameters: each dispersion's name and the value drawn (a number, a choice, or for a
            fault ``None`` when it did not occur, else its start time), as the report shows it.
        bench: bench-file keys to set, dotted (``nodes.lander.light_time``), with their values.
        faults: fault specs as ``msr campaign --fault`` takes them
            (``sta_arm.gripper:grasp_slip@412.5+30``).
        resets: ``(node, simulated time)`` of each node reset (its flight-software process
            killed as by a power cut and started again), in time order.
    """

    index: int
    seed: int
    parameters: dict[str, Any]
    bench: dict[str, Any] = field(default_factory=dict)
    faults: tuple[str, ...] = ()
    resets: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class RunSpec:
    """One run as a worker gets it.

    Attributes:
        draw: what the run drew.
        bench_text: the base bench file's text (the worker writes the variant from it).
        scenario: a scenario name (``msr campaign --list-scenarios``), or ``None`` with
            ``procedure_text``.
        procedure_text: an operator procedure's text (``--procedure FILE``), or ``None``.
        tubes: tubes to load.
        timeout: wall seconds after which the run is ended and marked ``timeout``.
        keep: which runs bring back their captures and archive: ``failed`` (the default: a run
            that did not pass), ``all`` or ``none``; every run brings back its summary, bench
            file, campaign request, secrets for a rerun and logs.
    """

    draw: Draw
    bench_text: str
    scenario: str | None = "nominal"
    procedure_text: str | None = None
    tubes: int = 30
    timeout: float = 600.0
    keep: Literal["failed", "all", "none"] = "failed"


@dataclass
class RunResult:
    """One run as it came back.

    Attributes:
        index, seed: the run's (from its draw).
        status: :data:`Status`.
        verdict: the campaign's verdict line (or what ended it: the timeout, the error).
        failing_check: the procedure's failed check with its file and line, or ``None``.
        tubes_loaded, tubes_in_ees: from the summary (0 when there is none).
        sim_seconds, wall_seconds: simulated time the run reached, wall time it took.
        attempts: how many times it was started (more than one when a worker died under it).
        worker: where it ran (host name and process, or the Dask worker's address).
        summary: the campaign's ``summary.json`` (empty when there is none).
        digests: ``{"captures/NAME.pcap" or "archive.sqlite:TABLE": sha256 hex}`` of what a
            rerun must reproduce (:func:`ground_tools.rerun` rules: holding reports and the
            archive's wall-time column left out).
        bundle: the run folder's artifacts, a gzip-compressed tar (see :attr:`RunSpec.keep`).
    """

    index: int
    seed: int
    status: Status
    verdict: str
    failing_check: str | None = None
    tubes_loaded: int = 0
    tubes_in_ees: int = 0
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    attempts: int = 1
    worker: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    bundle: bytes = b""
