"""The names of the files that cross the space link (decision 0056), apart from the CFDP machinery
of :mod:`hal.protocol.cfdp`, so that a dictionary or a tool checking a name imports no CFDP
library (it costs about 0.15 s at every start)."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["NAME", "bad_name"]

NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A file name either end accepts: one path element, 1 to 64 characters, no leading dot."""


def bad_name(name: object) -> str | None:
    """Why ``name`` is not a file name the space link carries (:data:`NAME`), or None."""
    if isinstance(name, str) and NAME.fullmatch(name) is not None:
        return None
    return (f"file name {name!r} is not 1..64 of A-Z a-z 0-9 . _ - (one path element, no "
            f"leading dot)")  # fmt: skip
