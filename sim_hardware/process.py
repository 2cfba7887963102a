"""What every simulator process does the same way: stop cleanly on a signal or when the parent
that started it goes away, and publish its port map in the run folder."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, Final

__all__ = ["PORT_MAP", "on_stop_signals", "watch_stdin", "write_port_map"]

PORT_MAP: Final = "ports.json"
"""The port map's name in the run folder: where each board, link and the back door are."""


def write_port_map(run_dir: Path, port_map: Mapping[str, Any]) -> Path:
    """Write :data:`PORT_MAP` into ``run_dir``, whole or not at all (the nodes and the ground
    poll for it); return its path."""
    path = run_dir / PORT_MAP
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(port_map, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def on_stop_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM or SIGINT (the serving loop then ends at its next turn)."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def watch_stdin(stop: Callable[[], None]) -> None:
    """Call ``stop`` when the parent closes our stdin pipe (it went away); a daemon thread
    reads it. A stdin that is not a pipe (a terminal, /dev/null) is not watched."""
    try:
        if sys.stdin is None or not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
            return
    except (OSError, ValueError):
        return

    def watch() -> None:
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except OSError:
            pass
        stop()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
