"""``msr bench up | down | status``: a bench's processes, by command line, never by import.

``up`` makes a run folder (``runs/<id>/``, or the folder it is told), writes the key file
when the bench generates keys, and starts, each in its own session so that it outlives the
shell that started it:

* the simulator (``python -m sim_hardware``) with the lockstep participants ``ground`` and every
  node (on the wall clock, ``clock = "wall"``, the ground alone: each node runs on its own
  monotonic clock, and the simulator paces the ground's ticks to real time; decision 0031);
* one flight-software process per node (``python -m fsw --node N``), whether its radio is
  emulated or real (a real radio changes only where its space link goes);
* the ground station (``python -m ground_tools.station``), the ``ground`` participant, with the
  ground end of every space link: the simulator's for an emulated radio, the ground equipment's
  port (``nodes.<node>.ground``) for a real one.

It waits until the station answers, has the station resynchronise every node's uplink (a node
of a new run folder accepts no authenticated frame before: decision 0023), then records every
process in ``bench.json``. ``down``
stops the simulator (which tells every participant to stop) and, on the wall clock, every node
(SIGTERM: none of them is a participant), waits for each process, and kills what is still
there after a grace. ``status`` shows each process, each node's space link and
each board, with its state. Each process logs to ``logs/`` in the run folder.

One bench per run folder (decision 0039). A bench is **live** while its run folder's record
(``bench.json``, written from the moment ``up`` claims the folder and as each process starts)
names a process that still runs with that folder on its command line (so a stale record, or a
process id the system has since given to another program, is not live), or the ``up`` that is
still starting it. ``up`` with ``alone`` (what ``msr bench up`` does when not told ``--run-dir``)
refuses while a bench is live in the runs folder, starting nothing. Whatever starts a bench
(``msr bench up --run-dir``, a campaign, a test), ``runs/latest`` is repointed at the new run
folder only when no other bench is live in that runs folder: it never moves under a live bench.
The check and the claim are made under a lock (``runs/.bench.lock``), so two ``up`` at once
cannot both see the folder free.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ground_tools.api import GroundError, connect, resolve_run_dir
from ground_tools.process_watch import is_zombie
from hal.bench import KEY_FILE_NAME, Bench, BenchError, load_bench, new_key_file_text
from hal.control import ControlError, create_token
from hal.store import NONCE_SEED_FILE, load_or_create_secret

__all__ = [
    "BENCH_FILE", "BenchUp", "bench_down", "bench_status", "bench_up", "is_live",
    "live_benches", "point_latest", "reset_node", "resync_all",
]  # fmt: skip

BENCH_FILE: Final = "bench.json"
"""The processes of a bench that is up, in its run folder."""
LOCK_FILE: Final = ".bench.lock"
"""In a runs folder: held while ``up`` checks for a live bench and claims its run folder."""
START_TIMEOUT: Final = 60.0
STOP_GRACE: Final = 10.0
RESYNC_TIMEOUT: Final = 60.0
"""Simulated seconds ``up`` gives the nodes to be resynchronised (each reports its challenge
within ``challenge_interval`` of its start)."""
ROUND_TIMEOUT: Final = 20.0
"""Wall seconds the simulator gives every participant to finish a cycle: a node reset (its
process killed and started again, :func:`reset_node`) must rejoin within it, Python start-up
included, on a loaded machine."""


@dataclass(frozen=True)
class BenchUp:
    """A bench brought up: its run folder and processes (name -> pid)."""

    run_dir: Path
    pids: dict[str, int]


def bench_up(
    bench_path: Path, *, runs_dir: Path | None = None, pace: str = "1", run_id: str | None = None,
    resync: bool = True, inherit: Path | None = None, run_dir: Path | None = None,
    alone: bool = False,
) -> BenchUp:  # fmt: skip
    """Start the simulator, the nodes and the ground station of a bench (module docstring).

    Args:
        bench_path: the bench file.
        runs_dir: where the run folder goes (default: the bench's ``runs_dir``).
        pace: the ground station's pace: ``x`` real time, or ``fast``.
        run_id: the run folder's name (default: a time stamp).
        resync: resynchronise every node's uplink once the station is up (False: leave the
            nodes refusing every authenticated frame, for tests of exactly that).
        inherit: an earlier run folder whose generated key file and nonce seed this run takes
            instead of new ones (a rerun, decision 0034: the same secrets, the same bytes).
        run_dir: the run folder itself (new, or empty), instead of ``runs_dir``/``run_id``.
        alone: refuse while a bench is live in the runs folder (module docstring).

    Raises:
        GroundError: a bad bench file, a bench live in the runs folder (``alone``), a run
            folder that cannot be made, or a process that did not start (its log's last line).
    """
    try:
        bench = load_bench(bench_path)
    except BenchError as exc:
        raise GroundError(str(exc).splitlines()[0]) from None
    wall = bench.clock == "wall"
    if wall and pace != "1":
        raise GroundError(f"--pace {pace}: a bench on the wall clock runs at real time "
                          f"({bench.source}: clock = \"wall\")")  # fmt: skip
    if run_dir is not None:
        runs, run_id = run_dir.parent, run_dir.name
    else:
        runs = runs_dir if runs_dir is not None else bench.runs_dir
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    record: dict[str, Any] = {
        "bench": str(Path(bench_path).resolve()), "pids": {}, "pace": pace,
        "clock": bench.clock, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "starting": os.getpid(),
    }  # fmt: skip
    run_dir = _claim(runs, run_id, record, alone=alone)
    try:
        (run_dir / "logs").mkdir(exist_ok=True)
        _write_keys(bench, run_dir, inherit)
        kept = run_dir / "bench.toml"  # its mission epoch, once the bench is down (0037)
        if not kept.exists():
            kept.write_bytes(Path(bench_path).read_bytes())
        create_token(run_dir)  # the control ports' secret (decision 0027), before any process
    except (GroundError, ControlError, OSError) as exc:
        (run_dir / BENCH_FILE).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GroundError(f"{run_dir}: cannot prepare the run folder: {exc.strerror}") from None
        raise GroundError(str(exc)) from None
    nodes = list(bench.nodes)  # a node with a real radio runs here too; only its link differs
    py = sys.executable
    sim_args = [py, "-m", "sim_hardware", "--bench", str(bench_path), "--run-dir", str(run_dir)]
    for participant in ("ground",) if wall else ("ground", *nodes):
        sim_args += ["--participant", participant]
    sim_args += ["--round-timeout", str(ROUND_TIMEOUT)]
    pids: dict[str, int] = record["pids"]  # recorded as each starts: a live bench meanwhile

    def spawn(name: str, args: list[str]) -> int:
        pids[name] = _spawn(args, run_dir, name)
        _write_record(run_dir, record)
        return pids[name]

    try:
        spawn("sim_hardware", sim_args)
        _wait_for(run_dir / "ports.json", run_dir, "sim_hardware", pids["sim_hardware"])
        for node in nodes:
            spawn(node, _node_args(node, bench_path, run_dir))
        # on the wall clock the simulator paces the ground's ticks; the station adds nothing
        station = [py, "-m", "ground_tools.station", "--bench", str(bench_path),
                   "--run-dir", str(run_dir), "--pace", "fast" if wall else pace]  # fmt: skip
        spawn("ground", station)
        _wait_for(run_dir / "station.json", run_dir, "ground", pids["ground"])
        if resync:
            resync_all(run_dir)
    except BaseException:
        _stop(pids, nodes_too=wall)
        (run_dir / BENCH_FILE).unlink(missing_ok=True)
        raise
    del record["starting"]
    _write_record(run_dir, record)
    return BenchUp(run_dir, dict(pids))


def live_benches(runs: Path) -> list[Path]:
    """The run folders in ``runs`` whose bench is live (module docstring), by name."""
    try:
        folders = sorted(p for p in runs.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    return [folder.resolve() for folder in folders if is_live(folder)]


def is_live(run_dir: Path) -> bool:
    """The bench of ``run_dir`` is live: a process of its record runs with the folder on its
    command line, or the ``up`` that is starting it still runs (module docstring)."""
    try:
        record = json.loads((run_dir / BENCH_FILE).read_text(encoding="utf-8"))
        pids = [int(pid) for pid in dict(record.get("pids", {})).values()]
        starting = record.get("starting")
    except (OSError, ValueError, TypeError, AttributeError):
        return False
    if isinstance(starting, int) and not isinstance(starting, bool) and _alive(starting):
        return True
    folder = str(run_dir.resolve())
    return any(_alive(pid) and _runs_in(pid, folder) for pid in pids)


def _runs_in(pid: int, folder: str) -> bool:
    """Process ``pid`` was started with ``--run-dir folder`` (``/proc``; where the command line
    cannot be read, a running process is taken as the bench's)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True
    wanted = os.fsencode(folder)
    return any(a == b"--run-dir" and b == wanted for a, b in itertools.pairwise(argv))


@contextlib.contextmanager
def _locked(runs: Path) -> Iterator[None]:
    """Hold the runs folder's lock (:data:`LOCK_FILE`)."""
    fd = os.open(runs / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _claim(runs: Path, run_id: str, record: dict[str, Any], *, alone: bool) -> Path:
    """Make the run folder ``runs/run_id`` (or take it, new and empty), record the bench as
    starting there, and point ``runs/latest`` at it when no other bench is live in ``runs``;
    with ``alone``, refuse while one is (module docstring). Returns the folder.

    Raises:
        GroundError: a live bench (``alone``), or a folder that cannot be made or is not empty.
    """
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GroundError(f"{runs}: cannot make the runs folder: {exc.strerror}") from None
    run_dir = (runs / run_id).resolve()
    with _locked(runs):
        live = [folder for folder in live_benches(runs) if folder != run_dir]
        if live and alone:
            raise GroundError(
                f"a bench is already up in {live[0]}: bring it down (msr bench down --run-dir "
                f"{live[0]}) or start this one in its own folder (msr bench up --run-dir DIR)"
            )
        try:
            run_dir.mkdir(exist_ok=False)
        except FileExistsError:
            if not run_dir.is_dir() or any(run_dir.iterdir()):
                raise GroundError(f"{run_dir}: cannot make the run folder: it exists and is not "
                                  "an empty folder") from None  # fmt: skip
        except OSError as exc:
            raise GroundError(f"{run_dir}: cannot make the run folder: {exc.strerror}") from None
        _write_record(run_dir, record)
        if not live:
            point_latest(runs, run_id)
    return run_dir


def _write_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write the bench record whole (a reader sees the old one or the new one)."""
    tmp = run_dir / f".{BENCH_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, run_dir / BENCH_FILE)


def resync_all(run_dir: Path, timeout: float = RESYNC_TIMEOUT) -> list[str]:
    """Resynchronise the uplink of every node the station serves (each node of a new run folder
    accepts no authenticated frame before: decision 0023), except a node whose uplink is in
    clear (``sdls = "clear"``: nothing to resynchronise, decision 0043); return their names.

    Raises:
        GroundError: the station cannot be reached, or a node did not resynchronise.
    """
    with connect(run_dir, source="bench up") as session:
        links = session.status()["nodes"]
        nodes = [name for name, link in links.items() if link.get("sdls") != "clear"]
        if nodes:
            session.resync(*nodes, timeout=timeout)
    return nodes


def bench_down(target: str | Path | None = None) -> dict[str, str]:
    """Stop the bench of a run folder; return each process's fate (``stopped``/``killed``/
    ``gone``).

    Raises:
        GroundError: no bench was brought up there.
    """
    run_dir = resolve_run_dir(target)
    record = _record(run_dir)
    fates = _stop(record["pids"], nodes_too=record.get("clock") == "wall")
    (run_dir / BENCH_FILE).unlink(missing_ok=True)
    return fates


def reset_node(target: str | Path | None, node: str, *, wipe_nv: bool = False) -> int:
    """Reset a node of the bench that is up, as a power cycle: its flight-software process is
    killed (SIGKILL: nothing is saved on the way down) and started again with boot cause
    ``restart``, on the same ports and non-volatile store (``wipe_nv``: with both copies of the
    store deleted while it is down, as a lost store; it then needs a resync, decision 0023).
    It rejoins the lockstep in the round its predecessor left (:mod:`sim_hardware.clock`).
    Returns the new process id.

    Raises:
        GroundError: no bench is up there, or it has no such node.
    """
    run_dir = resolve_run_dir(target)
    record = _record(run_dir)
    pids = record["pids"]
    if node not in pids or node in ("sim_hardware", "ground"):
        known = ", ".join(n for n in pids if n not in ("sim_hardware", "ground"))
        raise GroundError(f"reset {node!r}: no such node on this bench (nodes: {known})")
    old = pids[node]
    if _alive(old):
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + STOP_GRACE
        while _alive(old) and time.monotonic() < deadline:
            time.sleep(0.01)
    if wipe_nv:
        for copy in ("a", "b", "tmp"):
            (run_dir / "nv" / f"{node}.{copy}").unlink(missing_ok=True)
    args = [*_node_args(node, Path(record["bench"]), run_dir), "--boot-cause", "restart"]
    pids[node] = _spawn(args, run_dir, node)
    record["pids"] = pids
    _write_record(run_dir, record)
    return pids[node]


def bench_status(target: str | Path | None = None) -> dict[str, Any]:
    """Each process (alive or not), the station's view of each node's link, and the
    simulator's boards and lockstep (from its back door).

    Raises:
        GroundError: no bench was brought up there.
    """
    run_dir = resolve_run_dir(target)
    record = _record(run_dir)
    pids = record["pids"]
    status: dict[str, Any] = {"run_dir": str(run_dir), "processes": {}}
    for name, pid in pids.items():
        status["processes"][name] = {"pid": pid, "state": "running" if _alive(pid) else "gone"}
    try:
        with connect(run_dir) as session:
            station = session.status()
        status["time"] = station["time"]
        status["pace"] = "wall" if record.get("clock") == "wall" else station["pace"]
        status["links"] = station["nodes"]
    except GroundError as exc:
        status["links_error"] = str(exc)
    status["boards"] = _boards(run_dir)
    return status


# ---------------------------------------------------------------------------- helpers


def _write_keys(bench: Bench, run_dir: Path, inherit: Path | None = None) -> None:
    """The run's secrets: new ones, or (``inherit``) those of an earlier run folder."""
    secrets = [NONCE_SEED_FILE] + ([KEY_FILE_NAME] if bench.keys is None else [])
    if inherit is not None:
        for name in secrets:
            try:
                data = (inherit / name).read_bytes()
            except OSError as exc:
                raise GroundError(f"{inherit / name}: cannot read: {exc.strerror}") from None
            fd = os.open(run_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        return
    load_or_create_secret(run_dir / NONCE_SEED_FILE)  # the nodes' challenge nonces (0023)
    if bench.keys is not None:
        return
    path = run_dir / KEY_FILE_NAME
    text = new_key_file_text(spec.spi for spec in bench.nodes.values())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def point_latest(runs: Path, run_id: str) -> None:
    """Point ``runs/latest`` at the run folder ``run_id`` (replacing what it pointed at, in one
    step: a reader sees the old link or the new one)."""
    latest = runs / "latest"
    tmp = runs / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_id)
    os.replace(tmp, latest)


def _spawn(args: list[str], run_dir: Path, name: str) -> int:
    log = run_dir / "logs" / f"{name}.out"
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=os.getcwd(),
        )  # fmt: skip
    return proc.pid


def _wait_for(path: Path, run_dir: Path, name: str, pid: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        if not _alive(pid):
            raise GroundError(f"{name} did not start: {_last_line(run_dir, name)}")
        if time.monotonic() > deadline:
            raise GroundError(f"{name} did not start within {START_TIMEOUT:g} s")
        time.sleep(0.05)


def _last_line(run_dir: Path, name: str) -> str:
    try:
        lines = (run_dir / "logs" / f"{name}.out").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "no log"
    text = [line for line in lines if line.strip()]
    return text[-1] if text else "no output"


def _node_args(node: str, bench_path: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "fsw", "--node", node, "--bench", str(bench_path),
            "--run-dir", str(run_dir)]  # fmt: skip


def _record(run_dir: Path) -> dict[str, Any]:
    try:
        record = json.loads((run_dir / BENCH_FILE).read_text(encoding="utf-8"))
        record["pids"] = {str(k): int(v) for k, v in record["pids"].items()}
        return dict(record)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise GroundError(f"{run_dir}: no bench is up there (no {BENCH_FILE})") from None


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        if done == pid:
            return False
    except ChildProcessError:
        pass  # started by another msr: not our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid)


def _stop(pids: dict[str, int], *, nodes_too: bool = False) -> dict[str, str]:
    """Stop the simulator (it tells every participant to stop) and, with ``nodes_too`` (the
    wall clock, where the nodes are not participants), every node; kill what is left after
    :data:`STOP_GRACE`. Each process's fate by name."""
    fates = {name: "gone" for name, pid in pids.items() if not _alive(pid)}
    sim = pids.get("sim_hardware")
    if sim is not None and _alive(sim):
        os.kill(sim, signal.SIGTERM)  # the simulator tells every participant to stop
    if nodes_too:
        for name, pid in pids.items():
            if name not in fates and name not in ("sim_hardware", "ground"):
                try:
                    os.kill(pid, signal.SIGTERM)  # a node stops at the end of its cycle
                except ProcessLookupError:
                    pass  # gone meanwhile: counted below
    deadline = time.monotonic() + STOP_GRACE
    for name, pid in pids.items():
        if name in fates:
            continue
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            fates[name] = "killed"
        else:
            fates[name] = "stopped"
    return fates


def _boards(run_dir: Path) -> dict[str, Any]:
    try:
        ports = json.loads((run_dir / "ports.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for name, board in ports.get("boards", {}).items():
        path = board.get("path", "")
        state = "emulated" if board.get("emulated") else "real"
        present = bool(path) and Path(path).exists()
        out[name] = {"path": path, "kind": state, "state": "present" if present else "missing"}
    return out
