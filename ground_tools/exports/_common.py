"""What the three exports share: their exception, the choice of nodes and value formatting."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from fsw.dictionary import NODE_APIDS, NodeDictionary, node_dictionary
from hal.protocol.devices.icd import Field

__all__ = [
    "REPORT_FIELDS",
    "ExportError",
    "bound",
    "dictionaries",
    "field_bits",
    "report_fields",
    "select_nodes",
    "xtce_name",
]

_ILLEGAL: Final = re.compile(r"[./:\[\] ]")
_BITS: Final = {"u8": 8, "u16": 16, "u32": 32, "i16": 16, "i32": 32, "f32": 32, "bool": 8}


class ExportError(Exception):
    """A dictionary export could not be made: an unknown format or node, a missing tool.

    The message is one line naming the problem.
    """


def select_nodes(nodes: Iterable[str] | None) -> list[str]:
    """The nodes to export, in the dictionary's order (every node when ``nodes`` is None).

    Raises:
        ExportError: an unknown node name, or an empty selection.
    """
    if nodes is None:
        return list(NODE_APIDS)
    if isinstance(nodes, str):
        nodes = [nodes]
    wanted = list(nodes)
    for name in wanted:
        if name not in NODE_APIDS:
            raise ExportError(f"unknown node {name!r} (known: {', '.join(NODE_APIDS)})")
    if not wanted:
        raise ExportError(f"no node selected (known: {', '.join(NODE_APIDS)})")
    return [name for name in NODE_APIDS if name in wanted]


def dictionaries(nodes: Iterable[str] | None) -> list[NodeDictionary]:
    """The dictionaries of the selected nodes (see :func:`select_nodes`)."""
    return [node_dictionary(name) for name in select_nodes(nodes)]


def xtce_name(name: str) -> str:
    """``name`` made a legal XTCE NameType: every ``.``, ``/``, ``:``, ``[``, ``]`` and space
    becomes ``_`` (``core.ping`` -> ``core_ping``)."""
    return _ILLEGAL.sub("_", name)


def bound(kind: str, value: float) -> int | float:
    """A range bound as its kind's number: a float for ``f32``/``float``, else an integer."""
    if kind in ("f32", "float"):
        return float(value)
    return int(value)


def field_bits(f: Field) -> int:
    """Bits of one element of ``f`` on the wire (a ``bool`` is one octet).

    Raises:
        ExportError: a kind the exports do not know (a new one was added to the ICD records).
    """
    try:
        return _BITS[f.kind]
    except KeyError:
        raise ExportError(f"field {f.name}: kind {f.kind!r} has no export mapping") from None


REPORT_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "request_id": ("bytes", "the telecommand's packet id and packet sequence control, 4 octets"),
    "step": ("u8", "the progress step"),
    "code": ("u16", "the failure code: the class of the reason (see the failure codes)"),
    "reason": ("string", "the named reason, UTF-8 after its length octet (uint8)"),
}
"""Source-data fields of the PUS-1 verification reports: name -> (type, meaning)."""


def report_fields(subtype: int) -> tuple[str, ...]:
    """The source-data fields of TM[1,subtype], in wire order (:mod:`fsw.dictionary.verification`):
    the request id; the step for progress reports (5, 6); code and reason for failures (even)."""
    fields = ["request_id"]
    if subtype in (5, 6):
        fields.append("step")
    if subtype % 2 == 0:
        fields += ["code", "reason"]
    return tuple(fields)
