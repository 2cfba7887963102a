"""One Monte Carlo run on a worker: :func:`run_one` (``msr montecarlo``, issue 21, decision 0049).

A worker is any machine with the project installed: the local pool's threads, or a Dask worker
that shares no filesystem with the client. :func:`run_one` gets a :class:`RunSpec` (plain data,
no path of the client's), and:

1. makes a private temporary folder and writes the run's bench file there (the base bench's
   text with the draw's keys and seed, :func:`dispersions.variant_bench_text`; ``keys =
   "generate"`` stays, so the run makes its own test keys) and the procedure, when it has one;
2. runs the campaign in a **child process** (``python -m ground_tools.montecarlo.runner
   REQUEST PARENT``, in its own session), whose runs folder is the private one: its own run
   folder, control sockets and ptys, never the user's ``runs/latest``. The child asks the
   kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and on SIGTERM brings its
   bench down (every process the bench's record names) before it exits: a worker killed with
   SIGKILL leaves no campaign running;
3. waits at most :attr:`RunSpec.timeout` wall seconds: past it, the child gets SIGTERM (its
   bench goes down), then SIGKILL after a grace, and any bench still recorded in the private
   runs folder is brought down by its record; the run is ``timeout``, its logs kept;
4. reads ``summary.json``, computes the :attr:`RunResult.digests` a rerun must reproduce, and
   packs the run folder's artifacts per :attr:`RunSpec.keep` (a gzip tar, in memory), then
   removes the private folder.

``error`` is a run that could not run (a bench that did not come up, a bad variant): the
child's own one-line reason is the verdict.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ground_tools.montecarlo.model import RunResult, RunSpec, Status
from ground_tools.process_watch import end_process

__all__ = [
    "BUNDLE_ALWAYS",
    "checkpoint",
    "run_child",
    "run_digests",
    "run_folders",
    "run_one",
    "unpack_bundle",
    "write_request",
]

REQUEST_FILE: Final = "request.json"
"""In the private folder: what the child runs (bench, seed, tubes, faults, resets, scenario or
procedure, runs folder, and for a rerun the run folder whose secrets it inherits)."""
CHILD_LOG: Final = "runner.log"
"""The child's own output (the campaign's progress, a traceback), brought back in ``logs/``."""
STOP_GRACE: Final = 30.0
"""Wall seconds the child gets after SIGTERM to bring its bench down (bench_down's own grace is
10 s per process group) before SIGKILL."""
POLL: Final = 0.5
"""Wall seconds between looks at the child (its end, the timeout, a cancel)."""
BUNDLE_ALWAYS: Final = (
    "summary.json", "bench.toml", "campaign.json", "keys.json", "nonce_seed.key", "procedure.py",
    "logs",
)  # fmt: skip
"""What every run brings back: enough to read it and to rerun it (the secrets are the run's own
generated test keys, decision 0049)."""
BUNDLE_KEPT: Final = ("captures", "archive.sqlite")
"""What a kept run brings back too (:attr:`RunSpec.keep`)."""
PR_SET_PDEATHSIG: Final = 1
EXIT_ERROR: Final = 3
"""The child's exit status for a run that could not run (its reason on the last line)."""
EXIT_ENDED: Final = 143
"""The child's exit status after SIGTERM (its bench brought down)."""


class _Ended(BaseException):
    """SIGTERM in the child: not an Exception, so no procedure or check swallows it."""


def run_one(spec: RunSpec, *, cancelled: Callable[[], bool] | None = None) -> RunResult:
    """Run one campaign as a worker (module docstring) and bring its results back.

    Args:
        spec: the run.
        cancelled: asked every :data:`POLL` s; True ends the run as its timeout would (the
            local pool's Ctrl-C). Under Dask, the client's stop event is asked instead.

    Never raises for a run that goes wrong: that is a :class:`RunResult` with status ``error``
    or ``timeout``.
    """
    draw = spec.draw
    started = time.monotonic()
    attempts, worker = _attempt()
    if cancelled is None:
        cancelled = _dask_stop()
    base = dict(index=draw.index, seed=draw.seed, attempts=attempts, worker=worker)
    private = Path(tempfile.mkdtemp(prefix=f"msr-mc-{draw.index:04d}-"))
    try:
        try:
            request = write_request(spec, private)
        except Exception as exc:  # a variant the bench rules refuse: the run cannot run
            return RunResult(**base, status="error", verdict=f"error: {_line(exc)}",
                             wall_seconds=round(time.monotonic() - started, 3))  # fmt: skip
        outcome, reason = run_child(private, request, spec.timeout, cancelled)
        return _result(spec, private, outcome, reason, base, time.monotonic() - started)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:500]


def _attempt() -> tuple[int, str]:
    """This start's number (1 the first time) and where it runs. Under Dask, each start of a
    task is counted in a Dask ``Variable`` named after the task's key, kept by the scheduler:
    a worker killed mid-run leaves the count, the retry elsewhere adds one (decision 0049)."""
    here = f"{socket.gethostname()}:{os.getpid()}"
    worker = _dask_worker()
    if worker is None:
        return 1, here
    key = _dask_key(worker)
    if key is None:
        return 1, str(worker.address)
    from distributed import Variable

    counter = Variable(f"{key}-attempts")
    try:
        before = int(counter.get(timeout=1))
    except Exception:  # never set: the first start (distributed raises a TimeoutError)
        before = 0
    counter.set(before + 1)
    return before + 1, str(worker.address)


def _dask_worker() -> Any:
    if "distributed" not in sys.modules:  # never import Dask in the local pool
        return None
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:  # not in a Dask task
        return None


def _dask_key(worker: Any) -> str | None:
    try:
        key = worker.get_current_task()
    except Exception:
        from distributed.worker import thread_state

        key = getattr(thread_state, "key", None)
    return None if key is None else str(key)


def _dask_stop() -> Callable[[], bool]:
    """Under Dask, whether the client set this farm's stop event (Ctrl-C: the task's key is
    ``msr-run-NNNN-TOKEN``, the event ``msr-stop-TOKEN``); asked at most every 2 s."""
    worker = _dask_worker()
    key = None if worker is None else _dask_key(worker)
    if key is None or not key.startswith("msr-run-"):
        return lambda: False
    from distributed import Event

    event = Event(f"msr-stop-{key.rsplit('-', 1)[-1]}")
    last = [0.0]

    def stopped() -> bool:
        now = time.monotonic()
        if now - last[0] < 2.0:
            return False
        last[0] = now
        try:
            return bool(event.is_set())
        except Exception:  # the scheduler is gone: the worker is ending anyway
            return False

    return stopped


def variant_text(bench_text: str, draw: Any) -> str:
    """The run's bench file: :func:`ground_tools.montecarlo.dispersions.variant_bench_text`."""
    from ground_tools.montecarlo.dispersions import variant_bench_text

    return variant_bench_text(bench_text, draw)


def write_request(spec: RunSpec, private: Path, inherit: Path | None = None) -> Path:
    """Write the run's variant bench file, its procedure (if any) and :data:`REQUEST_FILE` in
    ``private``; the request's path. ``inherit``: the run folder whose secrets a rerun takes."""
    (private / "bench.toml").write_text(variant_text(spec.bench_text, spec.draw), encoding="utf-8")
    procedure = None
    if spec.procedure_text is not None:
        (private / "procedure.py").write_text(spec.procedure_text, encoding="utf-8")
        procedure = "procedure.py"
    request = {
        "bench": "bench.toml", "seed": spec.draw.seed, "tubes": spec.tubes,
        "faults": list(spec.draw.faults), "resets": [list(r) for r in spec.draw.resets],
        "scenario": spec.scenario or "nominal", "procedure": procedure, "runs_dir": "runs",
        "inherit": None if inherit is None else str(inherit),
    }  # fmt: skip
    path = private / REQUEST_FILE
    path.write_text(json.dumps(request), encoding="utf-8")
    return path


def run_child(
    private: Path, request: Path, timeout: float, cancelled: Callable[[], bool]
) -> tuple[str, str]:
    """Run the child to its end, its timeout or a cancel: ``("done"|"error"|"timeout"|
    "cancelled", reason)``."""
    runs = private / "runs"
    with open(private / CHILD_LOG, "wb") as out:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "ground_tools.montecarlo.runner", str(request),
             str(os.getpid())],
            cwd=private, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        ended = ""
        try:
            while True:
                try:
                    status = child.wait(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() >= deadline:
                    ended = "timeout"
                elif cancelled():
                    ended = "cancelled"
                if ended:
                    _end(child, runs)
                    break
        except BaseException:  # the caller itself is interrupted: never leave the run behind
            _end(child, runs)
            raise
    if ended:
        return ended, ""
    if status == 0:
        return "done", ""
    return "error", _child_reason(private / CHILD_LOG, status)


def _end(child: subprocess.Popen[bytes], runs: Path) -> None:
    """SIGTERM to the child's process group (it brings its bench down), SIGKILL after
    :data:`STOP_GRACE`, then any bench still recorded in ``runs`` down by its record."""
    end_process(child, STOP_GRACE, group=True)
    _down_all(runs)


def _down_all(runs: Path) -> None:
    """Bring down every bench recorded in the runs folder ``runs`` (bench_down kills what its
    record names and is harmless on a bench already down)."""
    from ground_tools.bench_ctl import BENCH_FILE, bench_down

    for folder in run_folders(runs):
        if (folder / BENCH_FILE).is_file():
            with contextlib.suppress(Exception):
                bench_down(folder)


def run_folders(runs: Path) -> list[Path]:
    """The run folders a child made in ``runs`` (not ``latest`` nor a hidden staging file)."""
    if not runs.is_dir():
        return []
    return sorted(p for p in runs.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))  # fmt: skip


def _child_reason(log: Path, status: int) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    reasons = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if reasons:
        return reasons[-1][:500]
    if status < 0:
        return f"the run's process was killed by {signal.Signals(-status).name}"
    last = next((line for line in reversed(lines) if line.strip()), "")
    return f"the run's process ended with status {status}" + (f": {last[:300]}" if last else "")


def _result(
    spec: RunSpec, private: Path, outcome: str, reason: str, base: dict[str, Any], wall: float
) -> RunResult:
    folders = run_folders(private / "runs")
    run_dir = folders[-1] if folders else None
    summary: dict[str, Any] = {}
    if run_dir is not None and (run_dir / "summary.json").is_file():
        with contextlib.suppress(OSError, ValueError):
            summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    status: Status
    failing = None
    if outcome == "timeout":
        status = "timeout"
        verdict = f"TIMEOUT: ended after {spec.timeout:g} s of wall time"
    elif outcome == "cancelled":  # the farm drops it: nothing to digest or bring back
        return RunResult(**base, status="error", verdict="cancelled: the farm was interrupted",
                         wall_seconds=round(wall, 3))  # fmt: skip
    elif summary:
        status = "pass" if summary.get("ok") else "fail"
        verdict = str(summary.get("verdict", ""))
        failing = None if status == "pass" else failing_check(summary)
    else:
        status = "error"
        verdict = f"error: {reason or 'the run left no summary'}"
    keep = spec.keep == "all" or (spec.keep == "failed" and status != "pass")
    digests: dict[str, str] = {}
    bundle = b""
    if run_dir is not None:
        checkpoint(run_dir / "archive.sqlite")
        digests = run_digests(run_dir)
        bundle = pack_bundle(run_dir, private / CHILD_LOG, keep=keep)
    elif (private / CHILD_LOG).is_file():
        bundle = _pack_files({f"logs/{CHILD_LOG}": private / CHILD_LOG})
    return RunResult(
        **base, status=status, verdict=verdict, failing_check=failing,
        tubes_loaded=int(summary.get("tubes_loaded", 0) or 0),
        tubes_in_ees=_in_ees(summary), sim_seconds=float(summary.get("sim_seconds", 0.0) or 0.0),
        wall_seconds=round(wall, 3), summary=summary, digests=digests, bundle=bundle,
    )  # fmt: skip


def _in_ees(summary: dict[str, Any]) -> int:
    tubes = summary.get("tubes_detail") or []
    return sum(1 for t in tubes if isinstance(t, dict) and t.get("final_location") == "ees")


def failing_check(summary: dict[str, Any]) -> str:
    """Why a campaign did not pass, in one line: the procedure's failed check (it names the
    procedure's file and line), the process that died, or the campaign's own check that did not
    hold (tubes, custody chains, the EES)."""
    verdict = str(summary.get("verdict", ""))
    if verdict.startswith("FAIL: "):
        reason = verdict.removeprefix("FAIL: ")
        cut = reason.rfind(" (")
        if cut > 0 and reason.endswith(" wall)") and "simulated" in reason[cut:]:
            reason = reason[:cut]
        return reason
    ends_in = summary.get("ends_in", "ees")
    tubes = [t for t in summary.get("tubes_detail") or [] if isinstance(t, dict)]
    custody = summary.get("custody") if isinstance(summary.get("custody"), dict) else {}
    differences = [str(d) for d in custody.get("differences") or []]
    if differences:  # the ground's ledger against the truth (decision 0053): which tube, where
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        return f"campaign check: custody by the ground's ledger: {differences[0]}{more}"
    broken = [str(t.get("serial")) for t in tubes if not t.get("chain_ok")]
    if broken:
        return f"campaign check: custody chain broken for tube {', '.join(broken)}"
    astray = [str(t.get("serial")) for t in tubes if t.get("final_location") != ends_in]
    if astray:
        return f"campaign check: tube {', '.join(astray)} did not end in {ends_in}"
    if ends_in == "ees" and not summary.get("ees_released"):
        return "campaign check: the EES was not released"
    return (f"campaign check: {summary.get('tubes_loaded', 0)} of {summary.get('tubes', '?')} "
            f"tubes loaded")  # fmt: skip


def checkpoint(archive: Path) -> None:
    """Fold the archive's write-ahead log into the file (the station was stopped, the WAL may
    remain): the bundle carries one self-contained ``archive.sqlite``."""
    if not archive.is_file():
        return
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(archive)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


def run_digests(run_dir: Path) -> dict[str, str]:
    """SHA-256 of what a rerun must reproduce (:mod:`ground_tools.rerun`'s rules): per capture
    (``captures/NAME.pcap``), its records (time stamp and octets) less the timing links'
    holding reports; per archive table (``archive.sqlite:TABLE``), its compared columns, row
    by row. A file that cannot be read digests to ``unreadable: ...``."""
    from ground_tools.rerun import ARCHIVE_FILE, ARCHIVE_TABLES, without_holding
    from hal.links.pcap import CaptureError, PcapReader

    digests: dict[str, str] = {}
    for path in sorted((run_dir / "captures").glob("*.pcap")):
        where = f"captures/{path.name}"
        sha = hashlib.sha256()
        try:
            reader = PcapReader(path)
            try:
                records = iter(reader)
                if "timing" in path.name:
                    records = without_holding(records)
                for ts, raw in records:
                    sha.update(struct.pack("<dI", ts, len(raw)))
                    sha.update(raw)
            finally:
                reader.close()
            digests[where] = sha.hexdigest()
        except CaptureError as exc:
            digests[where] = f"unreadable: {_line(exc)}"
    archive = run_dir / ARCHIVE_FILE
    if archive.is_file():
        conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
        try:
            for table, columns in ARCHIVE_TABLES.items():
                sha = hashlib.sha256()
                sql = f"SELECT {columns} FROM {table} ORDER BY rowid"  # noqa: S608 - constants
                try:
                    for row in conn.execute(sql):
                        sha.update(repr(row).encode("utf-8"))
                        sha.update(b"\n")
                    digests[f"{ARCHIVE_FILE}:{table}"] = sha.hexdigest()
                except sqlite3.Error as exc:
                    digests[f"{ARCHIVE_FILE}:{table}"] = f"unreadable: {_line(exc)}"
        finally:
            conn.close()
    return digests


def pack_bundle(run_dir: Path, child_log: Path | None, *, keep: bool) -> bytes:
    """The run folder's artifacts as a gzip tar (module docstring, :data:`BUNDLE_ALWAYS`, and
    :data:`BUNDLE_KEPT` when ``keep``)."""
    names = [*BUNDLE_ALWAYS, *(BUNDLE_KEPT if keep else ())]
    files: dict[str, Path] = {}
    for name in names:
        path = run_dir / name
        if path.is_dir():
            for item in sorted(path.rglob("*")):
                if item.is_file() and not item.is_symlink():
                    files[str(item.relative_to(run_dir))] = item
        elif path.is_file():
            files[name] = path
    if child_log is not None and child_log.is_file():
        files[f"logs/{CHILD_LOG}"] = child_log
    return _pack_files(files)


def _pack_files(files: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for name, path in files.items():
            tar.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


MAX_BUNDLE_FILES: Final = 10_000
MAX_BUNDLE_BYTES: Final = 4 << 30
"""An unpacked bundle's bounds (it came over the network: members, total size)."""


def unpack_bundle(bundle: bytes, into: Path) -> None:
    """Unpack a run's bundle into ``into``: regular files and folders only, no absolute path
    and no ``..``, bounded (:data:`MAX_BUNDLE_FILES`, :data:`MAX_BUNDLE_BYTES`): a bundle came
    from a worker over the network.

    Raises:
        ValueError: a bundle that is not a gzip tar or breaks those rules (nothing after the
            offending member is written).
    """
    into.mkdir(parents=True, exist_ok=True)
    if not bundle:
        return
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                total += member.size
                if count > MAX_BUNDLE_FILES or total > MAX_BUNDLE_BYTES:
                    raise ValueError("bundle: too many members or octets")
                parts = Path(member.name).parts
                if Path(member.name).is_absolute() or ".." in parts or not parts:
                    raise ValueError(f"bundle: member {member.name[:80]!r} leaves the folder")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"bundle: member {member.name[:80]!r} is not a file")
                tar.extract(member, into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"bundle: {_line(exc)}") from None


# ---------------------------------------------------------------------------- the child


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the parent (the worker) dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG);
    exit at once if it is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        raise _Ended


def _on_term(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: bench_down must not be cut short
    raise _Ended


def _child(argv: list[str]) -> int:
    """The child's body: run the campaign of ``REQUEST`` (module docstring)."""
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the farm ends its runs itself
    request_path, parent = Path(argv[0]), int(argv[1])
    request = json.loads(request_path.read_text(encoding="utf-8"))
    runs = Path(request["runs_dir"]).resolve()  # absolute: every path the bench records
    try:
        _die_with_parent(parent)
        from ground_tools.campaign import run_campaign

        extra: dict[str, Any] = {}
        if request.get("resets"):
            extra["resets"] = [(str(n), float(t)) for n, t in request["resets"]]
        if request.get("procedure"):
            extra["procedure"] = Path(request["procedure"]).resolve()
        if request.get("inherit"):
            extra["inherit"] = Path(request["inherit"])
        run_campaign(
            Path(request["bench"]).resolve(), seed=int(request["seed"]),
            tubes=int(request["tubes"]), faults=tuple(request["faults"]), runs_dir=runs,
            scenario=request["scenario"],
            quiet=True, log=lambda line: print(line, flush=True), **extra,
        )  # fmt: skip
    except _Ended:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _down_all(runs)
        print("ended: SIGTERM (the run's timeout, a cancel or the worker's end)", flush=True)
        return EXIT_ENDED
    except Exception as exc:
        _down_all(runs)
        import traceback

        traceback.print_exc()
        print(f"error: {_line(exc)}", flush=True)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
