"""How fast an idle bench's archive grows (decision 0039): a bench brought up at ``--pace fast``
and left alone (no client connected, nothing asked of it) beside the same bench paced at real
time by a connected client, in the same run.

One bench, three spans of :data:`SPAN` wall seconds each:

1. **idle**: no client connected (the station paces an idle bench to real time);
2. **reference**: a client connected, the pace set to 1 (real time), as an operator's console;
3. **fast with a client**: the same client sets the pace back to ``fast``: what the idle bench
   would grow without the bound.

The archive's size is its logical size, ``page_count * page_size`` as a reader sees it (the
write-ahead log included), so a checkpoint does not move the figure. The target is on the
ratio idle / reference.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Final

SPAN: Final = 10.0
"""Wall seconds of each span."""
SETTLE: Final = 2.0
"""Wall seconds after a change of pace before a span starts."""


def archive_bytes(path: Path) -> int:
    """The archive's logical size (its pages, the write-ahead log's included), octets."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    finally:
        conn.close()
    return int(pages) * int(size)


def _span(archive: Path) -> float:
    """Octets the archive grew per wall second over one span."""
    start, t0 = archive_bytes(archive), time.monotonic()
    time.sleep(SPAN)
    end, t1 = archive_bytes(archive), time.monotonic()
    return (end - start) / (t1 - t0)


def run() -> dict[str, Any]:
    """Bring a bench up, measure the three spans, bring it down."""
    from ground_tools.api import connect
    from ground_tools.bench_ctl import bench_down, bench_up
    from hal.bench import default_bench_path

    with tempfile.TemporaryDirectory() as runs:
        up = bench_up(default_bench_path(), runs_dir=Path(runs), pace="fast", run_id="idle")
        archive = up.run_dir / "archive.sqlite"
        try:
            time.sleep(SETTLE)
            idle = _span(archive)
            with connect(up.run_dir, source="bench idle_archive") as session:
                session.request(op="pace", pace=1.0)
                time.sleep(SETTLE)
                reference = _span(archive)
                session.request(op="pace", pace="fast")
                time.sleep(SETTLE)
                fast = _span(archive)
        finally:
            bench_down(up.run_dir)
    return {
        "span_seconds": SPAN,
        "idle_fast_bytes_per_second": idle,
        "real_time_bytes_per_second": reference,
        "fast_with_client_bytes_per_second": fast,
        "idle_over_real_time": idle / reference if reference > 0 else float("inf"),
        "unbounded_over_real_time": fast / reference if reference > 0 else float("inf"),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
