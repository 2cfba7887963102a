"""``msr montecarlo`` as a benchmark (issue 21, decision 0049): runs per hour of 6-tube campaigns.

The same runs (a dispersions file that only draws the light time, so every run is a full,
passing campaign of about the same length) three ways, one after the other in this process:

* the local pool with 1 worker, then with 2: the parallel efficiency is
  ``rate(2) / (2 x rate(1))`` (target at least 0.8 on 2 cores);
* a local Dask cluster this benchmark starts (``dask scheduler`` and 2 ``dask worker``
  processes, ``--nthreads 1``), timed from the first submit once both workers are in: the
  overhead is its wall time over the 2-worker local pool's (target at most 1.1).

Each farm's wall time is :func:`ground_tools.montecarlo.farm.run_montecarlo`'s, the report
included; the bench processes of every run are the campaign's own. The machine's 1-minute load
average before and after each farm is recorded beside it: on a machine whose cores other work
shares, 2 workers cannot get 2 cores, and the efficiency says so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ground_tools.campaign import DEFAULT_BENCH
from ground_tools.montecarlo.farm import run_montecarlo
from ground_tools.process_watch import end_process

DISPERSIONS = """\
[light_time]
set = ["nodes.lander.light_time", "nodes.mav.light_time", "nodes.orbiter.light_time"]
uniform = [0.0, 1.3]
"""


def _farm(root: Path, name: str, runs: int, tubes: int, **executor: Any) -> dict[str, Any]:
    dispersions = root / "light_time.toml"
    dispersions.write_text(DISPERSIONS, encoding="utf-8")
    load = os.getloadavg()[0]  # a shared machine: what else ran, for reading the figures
    start = time.monotonic()
    summary = run_montecarlo(root / name, runs=runs, dispersions=dispersions, bench=DEFAULT_BENCH,
                             tubes=tubes, seed=7, progress=False, log=lambda line: None,
                             **executor)  # fmt: skip
    wall = time.monotonic() - start
    passed = int(summary["counts"].get("pass", 0))
    return {"runs": runs, "passed": passed, "wall_seconds": round(wall, 3),
            "runs_per_hour": round(runs / wall * 3600, 1), "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2)}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask_cluster(root: Path, workers: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(root / "dask.log", "wb")  # the processes' log, kept open with them
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    procs = [subprocess.Popen(scheduler, stdout=log, stderr=subprocess.STDOUT)]
    for k in range(workers):
        home = root / f"worker{k}"
        home.mkdir()
        procs.append(subprocess.Popen(
            [dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
             "--local-directory", str(home)],
            cwd=home, stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def run(runs: int = 4, tubes: int = 6) -> dict[str, Any]:
    """Runs per hour at 1 and 2 local workers, and through a 2-worker Dask cluster."""
    with tempfile.TemporaryDirectory(prefix="msr-bench-mc-") as tmp:
        root = Path(tmp)
        one = _farm(root, "local1", runs, tubes, workers=1)
        two = _farm(root, "local2", runs, tubes, workers=2)
        result: dict[str, Any] = {"tubes": tubes, "local_1": one, "local_2": two}
        result["parallel_efficiency"] = two["runs_per_hour"] / (2 * one["runs_per_hour"])
        try:
            import distributed  # noqa: F401
        except ImportError:
            result["dask"] = None
            result["dask_overhead"] = None
            return result
        address, procs = _dask_cluster(root, 2)
        try:
            dask = _farm(root, "dask", runs, tubes, scheduler=address)
        finally:
            for proc in reversed(procs):
                end_process(proc, 20.0)
        result["dask"] = dask
        result["dask_overhead"] = dask["wall_seconds"] / two["wall_seconds"]
        return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
