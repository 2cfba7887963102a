"""Dictionary exports: the flight dictionary and the board ICDs as JSON, XTCE 1.2, a Markdown
interface control document and a Wireshark dissector.

:func:`export` is the one entry point (``msr dict export --format json|xtce|md|wireshark``); each
format also has its own function (:func:`export_json`, :func:`export_xtce`,
:func:`export_markdown`, :func:`export_wireshark`).
Every export is deterministic: the same dictionary gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from ground_tools.exports._common import ExportError, select_nodes
from ground_tools.exports.json_export import export_json
from ground_tools.exports.markdown import export_markdown
from ground_tools.exports.wireshark import export_wireshark
from ground_tools.exports.xtce import export_xtce, validate_xtce

__all__ = [
    "FORMATS",
    "ExportError",
    "export",
    "export_json",
    "export_markdown",
    "export_wireshark",
    "export_xtce",
    "validate_xtce",
]

_EXPORTERS: Final[dict[str, Callable[[list[str]], bytes]]] = {
    "json": lambda nodes: export_json(nodes).encode("utf-8"),
    "xtce": export_xtce,
    "md": lambda nodes: export_markdown(nodes).encode("utf-8"),
    "wireshark": export_wireshark,  # a Lua dissector of the captures (decision 0042)
}
FORMATS: Final = tuple(_EXPORTERS)
"""The export formats: ``json``, ``xtce``, ``md``, ``wireshark``."""


def export(
    format: str, nodes: Iterable[str] | None = None, *, epoch: datetime | None = None
) -> bytes:
    """The dictionary export in ``format`` for ``nodes`` (every node when None).

    Args:
        format: ``json``, ``xtce``, ``md`` or ``wireshark``.
        nodes: node names (``lander``, ``mav``, ``orbiter``), or None for all of them.
        epoch: the bench's mission epoch, origin of the XTCE packet time (default
            :data:`hal.bench.DEFAULT_EPOCH`); the other formats do not depend on it.

    Returns:
        The document, UTF-8.

    Raises:
        ExportError: an unknown format or node name (the message is one line).
    """
    exporter = _EXPORTERS.get(format)
    if exporter is None:
        raise ExportError(f"unknown export format {format!r} (known: {', '.join(FORMATS)})")
    if format == "xtce" and epoch is not None:
        return export_xtce(select_nodes(nodes), epoch=epoch)
    return exporter(select_nodes(nodes))
