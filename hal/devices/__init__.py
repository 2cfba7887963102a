"""HAL drivers: one client per board, request/response over a packet channel, with timeouts,
bounded retries, a health record and reopening of lost links (:mod:`hal.devices.base`).

:func:`client_class` finds a board's client by the board's bench-file name: the client class in
``hal.devices.<board>`` whose ICD is ``hal.protocol.devices.<board>.BOARD``.
"""

from __future__ import annotations

import importlib

from hal.devices.base import BoardClient

__all__ = ["client_class"]


def client_class(board: str) -> type[BoardClient]:
    """The HAL client class of ``board`` (KeyError naming the board when there is none)."""
    try:
        module = importlib.import_module(f"hal.devices.{board}")
        icd = importlib.import_module(f"hal.protocol.devices.{board}").BOARD
    except ImportError:
        raise KeyError(f"no HAL client for board {board!r}") from None
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BoardClient):
            if getattr(value, "icd", None) is icd:
                return value
    raise KeyError(f"hal.devices.{board} has no client for its ICD")
