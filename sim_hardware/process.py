"""What every simulator process does the same way: stop cleanly on a signal or when the parent
that started it goes away."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["on_stop_signals", "watch_stdin"]


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
