"""Byte links: one :class:`Link` interface over serial ports, pseudo-terminals, sockets, loopback.

Open a link by URL with :func:`open_link` (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``,
``pty://``, ``socket://host:port``, ``tcp-listen://host:port``, ``loop://``, ``rfc2217://``).
Every link counts its traffic (:class:`LinkStats`) and can record the frames that cross it as
classic pcap files (:class:`PcapWriter`, :class:`PcapReader`). Backends are imported only when a
URL needs them, so importing this package does not import pyserial.

``PtyLink``, ``SerialLink`` and ``TcpListenLink`` are reachable as attributes of this package
(imported on first access).
"""

from __future__ import annotations

import importlib
from typing import Any

from hal.links.base import DEFAULT_WRITE_TIMEOUT, Link, LinkStats
from hal.links.pcap import (
    DLT_USER0,
    LINKTYPE_PACKET,
    LINKTYPE_TC_FRAME,
    LINKTYPE_TM_FRAME,
    CaptureError,
    PcapReader,
    PcapWriter,
)
from hal.links.registry import backend_for, known_schemes, open_link, register_backend

__all__ = [
    "DEFAULT_WRITE_TIMEOUT",
    "DLT_USER0",
    "LINKTYPE_PACKET",
    "LINKTYPE_TC_FRAME",
    "LINKTYPE_TM_FRAME",
    "CaptureError",
    "Link",
    "LinkStats",
    "PcapReader",
    "PcapWriter",
    "PtyLink",
    "SerialLink",
    "TcpListenLink",
    "backend_for",
    "known_schemes",
    "open_link",
    "register_backend",
]

_LAZY = {
    "PtyLink": "hal.links.pty_link",
    "SerialLink": "hal.links.serial_link",
    "TcpListenLink": "hal.links.tcp_listen",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
