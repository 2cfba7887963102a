"""``msr montecarlo``: N dispersed campaigns on a local pool or a Dask cluster, one folder, one
report (issue 21, decision 0049).

:func:`run_montecarlo` draws every run from the dispersions file
(:func:`ground_tools.montecarlo.dispersions.draw`), writes ``DIR/manifest.json`` and its copies
(the dispersions, the base bench, the procedure) **before** anything runs, then hands each run's
:class:`RunSpec` to an executor:

* **the local pool** (the default, ``--workers K``, K = the machine's cores): a thread pool of K
  threads, each calling :func:`ground_tools.montecarlo.runner.run_one`. Each run is already a
  child process (and its bench six more), so threads only wait: no second process pool, nothing
  to pickle, and Ctrl-C reaches one process that can end every child itself;
* **a Dask cluster** (``--scheduler tcp://HOST:PORT``): ``Client.submit(run_one, spec,
  key="msr-run-NNNN-TOKEN")`` and ``as_completed``. The result (summary, digests, a compressed
  bundle of the run folder's artifacts) comes back through Dask: workers share no filesystem
  with the client. A worker that dies mid-run has its task re-run elsewhere by the scheduler
  (its ``allowed-failures``); each start is counted (:attr:`RunResult.attempts`).

Each result is written as it comes (``DIR/runs/NNNN/``: the bundle unpacked and
``result.json``), so a crash of the client loses no finished run; a second result for a run
index is dropped (and logged): every index is in the report exactly once. At the end,
:func:`ground_tools.montecarlo.report.write_report` writes the report. Ctrl-C stops submitting,
ends the runs under way (their benches brought down), keeps every finished run, writes a
partial report and raises :class:`KeyboardInterrupt` again (``msr`` exits 130).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Final, Literal

from ground_tools.api import GroundError
from ground_tools.montecarlo.model import Draw, RunResult, RunSpec
from ground_tools.montecarlo.runner import run_one, unpack_bundle

__all__ = [
    "DEFAULT_TIMEOUT",
    "MANIFEST_FILE",
    "MAX_RUNS",
    "connect_scheduler",
    "draw_from_json",
    "load_manifest",
    "result_to_json",
    "run_montecarlo",
    "run_specs",
]

MANIFEST_FILE: Final = "manifest.json"
MANIFEST_FORMAT: Final = 1
MAX_RUNS: Final = 100_000
"""The most runs one ``msr montecarlo`` takes."""
DEFAULT_TIMEOUT: Final = 1800.0
"""Wall seconds a run may take (a 30-tube campaign takes about 30 s: generous for a loaded
worker, short enough that a hung run does not hold a worker for hours)."""
DASK_CONNECT_TIMEOUT: Final = 30.0
"""Wall seconds to reach the Dask scheduler."""
DASK_RETRIES: Final = 1
"""Dask's re-runs of a task that *raised* (run_one does not, but for a worker's own error); a
worker that *died* is the scheduler's ``allowed-failures`` (default 3)."""
Keep = Literal["failed", "all", "none"]


@dataclasses.dataclass
class _Farm:
    """What the executors share: the folder, the results so far, the log."""

    out: Path
    total: int
    log: Callable[[str], None]
    progress: _Progress
    results: dict[int, RunResult] = dataclasses.field(default_factory=dict)

    def store(self, result: RunResult) -> None:
        """Write one result (its bundle unpacked, ``result.json``), once per index."""
        if result.index in self.results:
            self.log(f"montecarlo: run {result.index}: a second result ({result.status} from "
                     f"{result.worker or 'a worker'}) dropped: the first one stands")  # fmt: skip
            return
        folder = self.out / "runs" / f"{result.index:04d}"
        try:
            unpack_bundle(result.bundle, folder)
        except ValueError as exc:
            self.log(f"montecarlo: run {result.index}: its bundle was not kept: {exc}")
        (folder / "result.json").write_text(json.dumps(result_to_json(result), indent=2),
                                            encoding="utf-8")  # fmt: skip
        result.bundle = b""  # on disk now: not held in memory for the report
        self.results[result.index] = result
        self.progress.update(result)


def result_to_json(result: RunResult) -> dict[str, Any]:
    """A run's ``result.json``: the :class:`RunResult` without its bundle."""
    data = dataclasses.asdict(result)
    data.pop("bundle", None)
    return data


def run_montecarlo(
    out: Path,
    *,
    runs: int,
    dispersions: Path,
    bench: Path,
    scenario: str | None = "nominal",
    procedure: Path | None = None,
    tubes: int = 30,
    seed: int = 1,
    workers: int | None = None,
    scheduler: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep: Keep = "failed",
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``runs`` dispersed campaigns into the new folder ``out`` (module docstring) and
    return the report's summary (``summary.json``).

    Args:
        out: the Monte Carlo folder, new or empty.
        runs: how many runs (1..:data:`MAX_RUNS`).
        dispersions: the dispersions file (TOML, :mod:`.dispersions`).
        bench: the base bench file.
        scenario, procedure: the campaign procedure: a scenario's name, or an operator
            procedure file (then ``scenario`` is ignored).
        tubes: tubes each run loads.
        seed: the base seed; run *i*'s is ``dispersions.run_seed(seed, i)``.
        workers: the local pool's size (default: the machine's cores).
        scheduler: a Dask scheduler's address (``tcp://HOST:PORT``) instead of the local pool.
        timeout: wall seconds per run.
        keep: which runs bring back their captures and archive.
        log: where lines go (a dropped duplicate, a progress line when not a terminal).
        progress: show progress (rich's bar on a terminal, a line per run otherwise).

    Raises:
        GroundError: bad input (one line; nothing run): ``out`` not empty, a bad dispersions
            file, bench or procedure, a bad count, Dask missing for ``scheduler``, a scheduler
            that does not answer.
        KeyboardInterrupt: after the partial report is written.
    """
    _check_usage(out, runs, workers, scheduler, timeout, keep)
    if scheduler is not None:
        _need_dask()
    from ground_tools.montecarlo.dispersions import draw, load_dispersions

    bench_text = _read_bench(bench)
    disp = load_dispersions(dispersions, bench_text=bench_text)  # its bench keys checked too
    procedure_text = _read_procedure(procedure) if procedure is not None else None
    draws = [draw(disp, seed, i) for i in range(runs)]
    cores = workers or os.cpu_count() or 1
    executor = f"dask:{scheduler}" if scheduler else f"local:{cores}"
    client = connect_scheduler(scheduler) if scheduler else None  # before the folder is made
    try:
        manifest = _write_manifest(
            out, runs=runs, seed=seed, scenario=None if procedure else scenario,
            procedure_text=procedure_text, tubes=tubes, timeout=timeout, keep=keep,
            dispersions_text=disp.text, bench_text=bench_text, executor=executor, draws=draws,
        )  # fmt: skip
        specs = [
            RunSpec(draw=d, bench_text=bench_text, scenario=None if procedure else scenario,
                    procedure_text=procedure_text, tubes=tubes, timeout=timeout, keep=keep)
            for d in draws
        ]  # fmt: skip
        return run_specs(out, manifest, specs, workers=cores, client=client, log=log,
                         progress=progress)  # fmt: skip
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=10)


def run_specs(
    out: Path, manifest: dict[str, Any], specs: Sequence[RunSpec], *, workers: int = 1,
    client: Any = None, log: Callable[[str], None] = print, progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Run ``specs`` on the local pool (``workers`` threads) or, given a Dask ``client``
    (:func:`connect_scheduler`), on its cluster; store each result in ``out`` as it comes, and
    write the report (partial, then :class:`KeyboardInterrupt` again, on Ctrl-C)."""
    farm = _Farm(out, len(specs), log, _Progress(len(specs), log, enabled=progress))
    interrupted = False
    try:
        with farm.progress:
            if client is None:
                _run_local(farm, specs, workers)
            else:
                _run_dask(farm, specs, client)
    except KeyboardInterrupt:
        interrupted = True
    results = [farm.results[i] for i in sorted(farm.results)]
    from ground_tools.montecarlo.report import write_report

    summary = write_report(out, manifest, results, partial=interrupted)
    if interrupted:
        log(f"montecarlo: interrupted: {len(results)} of {len(specs)} runs finished; partial "
            f"report in {out}")  # fmt: skip
        raise KeyboardInterrupt
    return summary


# ---------------------------------------------------------------------------- input


def _check_usage(
    out: Path, runs: int, workers: int | None, scheduler: str | None, timeout: float, keep: str
) -> None:
    if not 1 <= runs <= MAX_RUNS:
        raise GroundError(f"--runs {runs}: give 1..{MAX_RUNS} runs")
    if workers is not None and scheduler is not None:
        raise GroundError("--workers and --scheduler: give one (the local pool or a Dask cluster)")
    if workers is not None and not 1 <= workers <= 1024:
        raise GroundError(f"--workers {workers}: give 1..1024 local workers")
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise GroundError(f"--scheduler {scheduler[:80]!r}: give the Dask scheduler's address, "
                          "tcp://HOST:PORT")  # fmt: skip
    if not (timeout > 0 and timeout < 1e7):
        raise GroundError(f"--timeout {timeout}: give a number of wall seconds > 0")
    if keep not in ("failed", "all", "none"):
        raise GroundError(f"--keep {keep!r}: give failed, all or none")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GroundError(f"-o {out}: exists and is not an empty folder (give a new one)")


def _need_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise GroundError("--scheduler needs Dask, not installed here: "
                          "pip install '.[cluster]' (dask[distributed])") from None  # fmt: skip


def _read_bench(bench: Path) -> str:
    """The base bench's text, refused in one line when no farm could run it: each run is a
    campaign on its own machine's simulated clock (a bench with a real board or radio is on
    the wall clock), with test keys it generates (a key file is this machine's alone)."""
    from hal.bench import BenchError, load_bench

    try:
        loaded = load_bench(bench)
        text = bench.read_text(encoding="utf-8")
    except BenchError as exc:
        raise GroundError(str(exc).splitlines()[0]) from None
    why = ""
    if loaded.clock != "sim":
        why = f'clock = "{loaded.clock}": a Monte Carlo run is on the simulated clock'
    elif not loaded.generates_keys:
        why = (f'keys = "{loaded.keys}": each Monte Carlo run generates its own test keys '
               '(keys = "generate"), on whichever machine it runs')  # fmt: skip
    if why:
        raise GroundError(f"{bench}: {why}")
    return text


def _read_procedure(procedure: Path) -> str:
    from ground_tools.procedure import load_procedure

    load_procedure(procedure)  # ProcedureError (a GroundError): one line, file:line
    return procedure.read_text(encoding="utf-8")


def _write_manifest(
    out: Path, *, runs: int, seed: int, scenario: str | None, procedure_text: str | None,
    tubes: int, timeout: float, keep: str, dispersions_text: str, bench_text: str,
    executor: str, draws: Sequence[Draw],
) -> dict[str, Any]:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs").mkdir(exist_ok=True)
    (out / "dispersions.toml").write_text(dispersions_text, encoding="utf-8")
    (out / "bench.toml").write_text(bench_text, encoding="utf-8")
    if procedure_text is not None:
        (out / "procedure.py").write_text(procedure_text, encoding="utf-8")
    manifest = {
        "format": MANIFEST_FORMAT, "runs": runs, "seed": seed, "scenario": scenario,
        "procedure": "procedure.py" if procedure_text is not None else None, "tubes": tubes,
        "timeout": timeout, "keep": keep, "dispersions": "dispersions.toml",
        "bench": "bench.toml", "executor": executor,
        "draws": [_draw_json(d) for d in draws],
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _draw_json(d: Draw) -> dict[str, Any]:
    return {"index": d.index, "seed": d.seed, "parameters": d.parameters, "bench": d.bench,
            "faults": list(d.faults), "resets": [list(r) for r in d.resets]}  # fmt: skip


def load_manifest(folder: Path) -> dict[str, Any]:
    """``folder/manifest.json``, checked enough to rebuild a run from it.

    Raises:
        GroundError: not a Monte Carlo folder, or a manifest that does not read.
    """
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GroundError(f"{folder}: not a Monte Carlo folder (no {MANIFEST_FILE})") from None
    except (OSError, ValueError) as exc:
        raise GroundError(f"{path}: unreadable: {str(exc)[:200]}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise GroundError(f"{path}: not a manifest of format {MANIFEST_FORMAT}")
    if not isinstance(manifest.get("draws"), list):
        raise GroundError(f"{path}: no draws")
    return manifest


def draw_from_json(entry: dict[str, Any]) -> Draw:
    """A manifest's draw back as a :class:`Draw`."""
    return Draw(
        index=int(entry["index"]), seed=int(entry["seed"]),
        parameters=dict(entry.get("parameters", {})), bench=dict(entry.get("bench", {})),
        faults=tuple(str(f) for f in entry.get("faults", [])),
        resets=tuple((str(n), float(t)) for n, t in entry.get("resets", [])),
    )  # fmt: skip


# ---------------------------------------------------------------------------- executors


def _run_local(farm: _Farm, specs: Sequence[RunSpec], workers: int) -> None:
    """The local pool (module docstring). Ctrl-C: the runs under way are ended (their
    ``cancelled`` turns True: each ends its child, which brings its bench down), what had not
    started never starts, the runs that finished meanwhile are kept."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="msr-run")
    pending: set[Future[RunResult]] = set()
    try:
        for spec in specs:
            pending.add(pool.submit(_guarded, spec, stop.is_set))
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                farm.store(future.result())
    except KeyboardInterrupt:
        stop.set()
        for future in pending:
            future.cancel()
        _drain(farm, pending)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _drain(farm: _Farm, pending: set[Future[RunResult]]) -> None:
    """After Ctrl-C: wait for the runs being ended; keep those that had finished anyway."""
    while True:
        try:
            done, _ = wait(pending)
            break
        except KeyboardInterrupt:
            continue  # the children are being ended: their benches must come down
    for future in done:
        if future.cancelled():
            continue
        result = future.result()
        if not result.verdict.startswith("cancelled"):
            farm.store(result)


def _guarded(spec: RunSpec, cancelled: Callable[[], bool]) -> RunResult:
    """:func:`run_one`, with a bug of its own turned into an ``error`` result."""
    try:
        return run_one(spec, cancelled=cancelled)
    except Exception as exc:
        verdict = f"error: the worker failed: {type(exc).__name__}: {exc}"[:500]
        return RunResult(index=spec.draw.index, seed=spec.draw.seed, status="error",
                         verdict=verdict)  # fmt: skip


def connect_scheduler(address: str, timeout: float | None = None) -> Any:
    """A Dask client of the scheduler at ``address``.

    Raises:
        GroundError: no scheduler answers there within ``timeout`` wall seconds (default
            :data:`DASK_CONNECT_TIMEOUT`), or Dask is not installed.
    """
    _need_dask()
    from distributed import Client

    wait = DASK_CONNECT_TIMEOUT if timeout is None else timeout
    try:
        return Client(address, timeout=f"{wait}s")
    except (OSError, TimeoutError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise GroundError(f"--scheduler {address}: no Dask scheduler answers: {first}") from None


def _run_dask(farm: _Farm, specs: Sequence[RunSpec], client: Any) -> None:
    """The Dask executor (module docstring)."""
    from distributed import Event, Variable, as_completed

    token = uuid.uuid4().hex[:12]
    futures: dict[Any, RunSpec] = {}
    try:
        futures = {
            client.submit(run_one, spec, key=f"msr-run-{spec.draw.index:04d}-{token}",
                          pure=False, retries=DASK_RETRIES): spec
            for spec in specs
        }  # fmt: skip
        try:
            for future in as_completed(futures):
                spec = futures[future]
                farm.store(_dask_result(future, spec))
                with contextlib.suppress(Exception):
                    Variable(f"{future.key}-attempts", client=client).delete()
                future.release()
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):
                Event(f"msr-stop-{token}", client=client).set()  # runs under way end theirs
            raise
    finally:
        with contextlib.suppress(Exception):
            client.cancel(list(futures))  # after an error or Ctrl-C: nothing more starts


def _dask_result(future: Any, spec: RunSpec) -> RunResult:
    """A finished future's result, or an ``error`` result naming what Dask said (a task whose
    workers kept dying: ``KilledWorker``)."""
    try:
        result = future.result()
    except Exception as exc:
        return RunResult(index=spec.draw.index, seed=spec.draw.seed, status="error",
                         verdict=f"error: {type(exc).__name__}: {str(exc)[:400]}")  # fmt: skip
    if not isinstance(result, RunResult) or result.index != spec.draw.index:
        verdict = "error: the worker sent back something else than this run"
        return RunResult(index=spec.draw.index, seed=spec.draw.seed, status="error",
                         verdict=verdict)  # fmt: skip
    return result


# ---------------------------------------------------------------------------- progress


class _Progress:
    """done/N, the ETA and the running success rate: rich's bar on a terminal, else a line per
    finished run."""

    def __init__(self, total: int, log: Callable[[str], None], *, enabled: bool) -> None:
        self.total, self.log, self.enabled = total, log, enabled
        self.done = self.passed = 0
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("montecarlo"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                console=Console(stderr=True))  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("runs", total=self.total, rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, result: RunResult) -> None:
        self.done += 1
        self.passed += result.status == "pass"
        rate = f"{self.passed}/{self.done} passed ({100 * self.passed / self.done:.0f}%)"
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, rate=rate)
        elif self.enabled:
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            last = f"run {result.index}: {result.status} ({result.wall_seconds:.1f} s)"
            self.log(f"montecarlo: {self.done}/{self.total} done, {rate}, ETA {eta:.0f} s; {last}")


def iter_results(folder: Path) -> Iterator[RunResult]:
    """The results stored in a Monte Carlo folder (``runs/NNNN/result.json``), by index."""
    for path in sorted((folder / "runs").glob("*/result.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        yield RunResult(**{k: v for k, v in data.items() if k != "bundle"})
