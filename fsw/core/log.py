"""The node's process log: one file per process in the run folder, with levels and both times.

Each line: ``<wall ISO time> <LEVEL> t=<mission seconds> <event or source>: <detail>``. Events
map to levels by severity (info -> INFO, low and medium -> WARNING, high -> ERROR). An expected
error (a bad bench, a lost board) is one line, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

__all__ = ["LEVELS", "NodeLog"]

LEVELS = {"info": logging.INFO, "low": logging.WARNING, "medium": logging.WARNING,
          "high": logging.ERROR, "debug": logging.DEBUG, "error": logging.ERROR}  # fmt: skip
"""Event severity (and a few plain levels) to a logging level."""


class NodeLog:
    """Writes the node's log file.

    Args:
        path: the log file (its folder is created).
        name: the process name (``fsw.lander``).
        now: the mission clock, written on every line.
    """

    def __init__(self, path: str | Path, name: str, now: Callable[[], float]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.now = now
        self.logger = logging.getLogger(name)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self._handler = logging.FileHandler(self.path, encoding="utf-8")
        self._handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        )
        self.logger.addHandler(self._handler)

    def __call__(self, severity: str, source: str, detail: str) -> None:
        """One line: the event (or source) and its detail at the severity's level."""
        level = LEVELS.get(severity, logging.INFO)
        self.logger.log(level, "t=%.3f %s: %s", self.now(), source, " ".join(detail.split()))

    def close(self) -> None:
        """Flush and close the file."""
        self.logger.removeHandler(self._handler)
        self._handler.close()
