"""``msr bench up | down | status``: a bench's processes, by command line, never by import.

``up`` makes a run folder (``runs/<id>/``, ``runs/latest`` pointing at it), writes the key file
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
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ground_tools.api import GroundError, connect, resolve_run_dir
from hal.bench import KEY_FILE_NAME, Bench, BenchError, load_bench, new_key_file_text
from hal.control import ControlError, create_token
from hal.store import NONCE_SEED_FILE, load_or_create_secret

__all__ = [
    "BENCH_FILE", "BenchUp", "bench_down", "bench_status", "bench_up", "point_latest",
    "reset_node", "resync_all",
]  # fmt: skip

BENCH_FILE: Final = "bench.json"
"""The processes of a bench that is up, in its run folder."""
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
    resync: bool = True, inherit: Path | None = None,
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

    Raises:
        GroundError: a bad bench file, or a process that did not start (its log's last line).
    """
    try:
        bench = load_bench(bench_path)
    except BenchError as exc:
        raise GroundError(str(exc).splitlines()[0]) from None
    wall = bench.clock == "wall"
    if wall and pace != "1":
        raise GroundError(f"--pace {pace}: a bench on the wall clock runs at real time "
                          f"({bench.source}: clock = \"wall\")")  # fmt: skip
    runs = runs_dir if runs_dir is not None else bench.runs_dir
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    run_dir = (runs / run_id).resolve()
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise GroundError(f"{run_dir}: cannot make the run folder: {exc.strerror}") from None
    (run_dir / "logs").mkdir()
    _write_keys(bench, run_dir, inherit)
    try:
        create_token(run_dir)  # the control ports' secret (decision 0027), before any process
    except ControlError as exc:
        raise GroundError(str(exc)) from None
    point_latest(runs, run_id)
    nodes = list(bench.nodes)  # a node with a real radio runs here too; only its link differs
    py = sys.executable
    sim_args = [py, "-m", "sim_hardware", "--bench", str(bench_path), "--run-dir", str(run_dir)]
    for participant in ("ground",) if wall else ("ground", *nodes):
        sim_args += ["--participant", participant]
    sim_args += ["--round-timeout", str(ROUND_TIMEOUT)]
    pids: dict[str, int] = {}
    try:
        pids["sim_hardware"] = _spawn(sim_args, run_dir, "sim_hardware")
        _wait_for(run_dir / "ports.json", run_dir, "sim_hardware", pids["sim_hardware"])
        for node in nodes:
            pids[node] = _spawn(_node_args(node, bench_path, run_dir), run_dir, node)
        # on the wall clock the simulator paces the ground's ticks; the station adds nothing
        station = [py, "-m", "ground_tools.station", "--bench", str(bench_path),
                   "--run-dir", str(run_dir), "--pace", "fast" if wall else pace]  # fmt: skip
        pids["ground"] = _spawn(station, run_dir, "ground")
        _wait_for(run_dir / "station.json", run_dir, "ground", pids["ground"])
        if resync:
            resync_all(run_dir)
    except GroundError:
        _stop(pids, nodes_too=wall)
        raise
    record = {"bench": str(Path(bench_path).resolve()), "pids": pids, "pace": pace,
              "clock": bench.clock, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
    (run_dir / BENCH_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return BenchUp(run_dir, pids)


def resync_all(run_dir: Path, timeout: float = RESYNC_TIMEOUT) -> list[str]:
    """Resynchronise the uplink of every node the station serves (each node of a new run folder
    accepts no authenticated frame before: decision 0023); return their names.

    Raises:
        GroundError: the station cannot be reached, or a node did not resynchronise.
    """
    with connect(run_dir, source="bench up") as session:
        nodes = list(session.status()["nodes"])
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
    (run_dir / BENCH_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
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
    """Point ``runs/latest`` at the run folder ``run_id`` (replacing what it pointed at)."""
    latest = runs / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_id)


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
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """An ended process not reaped yet (its parent, the ``msr`` that started it, is gone and
    the system has not collected it): not running (Linux ``/proc``; elsewhere False)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] == "Z"


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
