"""The file service of every node, declared once: files go to the ground by the CCSDS File
Delivery Protocol (class 2, acknowledged; :mod:`hal.protocol.cfdp`, decision 0056).

A node keeps a small store of files (images of the OS, its custody manifest, its event log) and
sends them to the ground one at a time. The component ``files`` (service 190):

* ``files.downlink`` TC[190,1]: send a file of the store; application data is the file's name
  in ASCII, 1..64 characters of ``A-Z a-z 0-9 . _ -`` with no leading dot and nothing after it
  (:func:`parse_file_name` refuses anything else, naming the problem). ``events.log`` is made
  from the node's last :data:`LOG_LINES` events at the moment of the command.
* housekeeping ``files.status`` (SID 50): files stored and waiting, the transfer in progress
  (its octets sent of its size), files delivered and failed, CFDP PDUs in and refused;
* events ``files.sent`` (name, transaction, size, CRC-32), ``files.failed``
  (name, CFDP condition), ``files.refused`` (a file another component offered and the store
  refused);
* parameter ``files.per_cycle`` (id 200): file data PDUs a cycle sends at most, the share of the
  downlink files take.

Other components offer files on the software bus, topic :data:`TOPIC_PUT`, as a
:class:`FilePut`; the node hands the component the CFDP PDUs the ground sends on
:data:`TOPIC_PDU`, and every event line on :data:`TOPIC_EVENTS`.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from fsw.dictionary.model import AppDeclarations
from fsw.dictionary.model import declare_field as _f
from fsw.dictionary.model import limit_set as _limits
from hal.protocol.file_names import bad_name

__all__ = [
    "LOG_LINES",
    "LOG_NAME",
    "SERVICE_FILES",
    "SID_FILES",
    "TOPIC_EVENTS",
    "TOPIC_PDU",
    "TOPIC_PUT",
    "FileNameError",
    "FilePut",
    "build_file_name",
    "declare_files",
    "image_file_name",
    "parse_file_name",
    "pgm",
]

SERVICE_FILES: Final = 190
SID_FILES: Final = 50
PID_PER_CYCLE: Final = 200
LOG_LINES: Final = 200
"""Event lines ``events.log`` holds, the latest."""
LOG_NAME: Final = "events.log"
TOPIC_PUT: Final = "files.put"
"""Software-bus topic on which components offer a file (:class:`FilePut`)."""
TOPIC_PDU: Final = "files.pdu"
"""Software-bus topic on which the node hands over the CFDP PDUs the ground sent (bytes)."""
TOPIC_EVENTS: Final = "files.event"
"""Software-bus topic of every event's line (str), for ``events.log``."""


class FilePut(NamedTuple):
    """A file a component offers the file service: its name, octets, and whether it goes to
    the ground at once."""

    name: str
    data: bytes
    downlink: bool = True


class FileNameError(ValueError):
    """A file name that is not one (``reason``: ``bad_name``)."""

    reason = "bad_name"


def image_file_name(image_id: int) -> str:
    """The name under which the orbiter sends orientation image ``image_id`` (a binary PGM)."""
    return f"orient-{int(image_id)}.pgm"


def pgm(width: int, height: int, pixels: bytes, comment: str = "") -> bytes:
    """A binary PGM (P5, maxval 255) of ``pixels``, row 0 first, with a comment line."""
    head = f"P5\n# {comment}\n" if comment else "P5\n"
    return f"{head}{width} {height}\n255\n".encode("ascii") + bytes(pixels)


def parse_file_name(data: bytes) -> str:
    """The file name in ``files.downlink``'s application data, or :class:`FileNameError`
    naming the problem."""
    try:
        name = bytes(data).decode("ascii")
    except UnicodeDecodeError:
        raise FileNameError("bad_name: the file name is not ASCII") from None
    problem = bad_name(name)
    if problem is not None:
        raise FileNameError(f"bad_name: {problem}")
    return name


def build_file_name(name: str) -> bytes:
    """``files.downlink``'s application data for ``name`` (checked as the node checks it)."""
    data = name.encode("ascii", "replace")
    parse_file_name(data)
    return data


def declare_files(apps: AppDeclarations) -> None:
    """Declare the ``files`` component of a node (see the module docstring)."""
    apps.command(
        "files.downlink", SERVICE_FILES, 1, "send a file of the node's store to the ground by "
        "CFDP (class 2); events.log is made from the latest events when asked",
        variable="the file's name in ASCII, 1..64 of A-Z a-z 0-9 . _ - (no leading dot)",
    )  # fmt: skip
    apps.packet(
        "files.status", SID_FILES, "the node's files and their transfer to the ground by CFDP",
        _f("stored", "u8", "-", 0, 255, "files in the store"),
        _f("waiting", "u8", "-", 0, 255, "files waiting to go"),
        _f("sending", "u8", "-", 0, 1, "a file is being sent"),
        _f("progress", "u32", "octet", 0, 2**32 - 1, "octets of it sent so far"),
        _f("size", "u32", "octet", 0, 2**32 - 1, "its size"),
        _f("sent", "u16", "-", 0, 65535, "files delivered whole (the ground said so)"),
        _f("failed", "u16", "-", 0, 65535, "transfers abandoned",
           limits=_limits((None, 0.0), (None, 65535.0))),
        _f("pdus_in", "u32", "-", 0, 2**32 - 1, "CFDP PDUs received from the ground"),
        _f("refused", "u32", "-", 0, 2**32 - 1, "PDUs refused (undecodable or out of place)"),
        period=10.0,
    )  # fmt: skip
    e = apps.event
    e("files.sent", "info", "a file reached the ground whole (name, transaction, octets, CRC-32)")
    e("files.failed", "medium", "a transfer was abandoned (name, CFDP condition)")
    e("files.refused", "medium", "a file was refused by the store (name, why)")
    apps.parameter(
        PID_PER_CYCLE, "files.per_cycle", "int", "-", 1, 64, 4,
        "file data PDUs (about 490 octets each) a cycle sends at most: the downlink's share "
        "taken by files",
    )  # fmt: skip
