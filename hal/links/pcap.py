"""Classic pcap capture files: one record per frame, exactly as the frame crossed the wire.

File layout (libpcap "classic" format, https://www.tcpdump.org/manpages/pcap-savefile.5.html)::

    global header, 24 bytes:
        magic        u32   0xA1B2C3D4 (microsecond stamps) or 0xA1B23C4D (nanosecond stamps);
                           its byte order gives the byte order of every other field
        version      u16.u16  2.4
        thiszone     i32   0 (stamps are UTC)
        sigfigs      u32   0
        snaplen      u32   65535 here: longer frames are cut, their real length kept in orig_len
        linktype     u32   what every record of the file holds (decision 0042), one kind per file:
                           147 (DLT_USER0) ASM + space packet: a board or timing link
                           148 (DLT_USER1) ASM + TC transfer frame: an uplink
                           149 (DLT_USER2) ASM + TM transfer frame: a downlink
    per record, 16 bytes + incl_len bytes:
        ts_sec, ts_frac, incl_len, orig_len   u32 each, then the frame

The bench stamps a record with the mission's UTC: its mission time (simulated seconds) plus the
mission epoch (the bench file's ``epoch``), given to the writer as ``epoch`` and added exactly in
whole seconds and microseconds, so Wireshark shows the mission's dates, not 1970's.

:class:`PcapWriter` writes little-endian microsecond files and flushes after every record, so a
crash loses at most the record being written. :class:`PcapReader` reads either byte order and
either stamp resolution, stops at a truncated last record (setting ``truncated``), and raises
:class:`CaptureError` naming the file for anything that is not a pcap file.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO, Final

from hal.errors import HalError

__all__ = [
    "DLT_USER0",
    "LINKTYPES",
    "LINKTYPE_PACKET",
    "LINKTYPE_TC_FRAME",
    "LINKTYPE_TM_FRAME",
    "CaptureError",
    "PcapReader",
    "PcapWriter",
]

DLT_USER0: Final = 147
LINKTYPE_PACKET: Final = DLT_USER0
"""Records of ASM + space packet (a board link, a timing link)."""
LINKTYPE_TC_FRAME: Final = 148
"""Records of ASM + TC transfer frame (DLT_USER1: an uplink)."""
LINKTYPE_TM_FRAME: Final = 149
"""Records of ASM + TM transfer frame (DLT_USER2: a downlink)."""
LINKTYPES: Final = {LINKTYPE_PACKET: "packet", LINKTYPE_TC_FRAME: "tc_frame",
                    LINKTYPE_TM_FRAME: "tm_frame"}  # fmt: skip
"""The bench's linktypes and what their records hold (decision 0042)."""
DEFAULT_SNAPLEN: Final = 65535
MAGIC_USEC: Final = 0xA1B2C3D4
MAGIC_NSEC: Final = 0xA1B23C4D
GLOBAL_HEADER_SIZE: Final = 24
RECORD_HEADER_SIZE: Final = 16
#: Largest record the reader accepts whatever the header's snaplen says (Wireshark's own limit);
#: a record is also bounded by what remains of the file (decision 0029).
MAX_RECORD: Final = 262144

_GLOBAL = "IHHiIII"
_RECORD = "IIII"


class CaptureError(HalError):
    """A capture file that cannot be read or written: not pcap, bad header, corrupt record."""

    default_reason = "capture"


def _split_ts(ts: float) -> tuple[int, int]:
    """Split a POSIX time into whole seconds and microseconds, carrying a rounded-up second."""
    sec = int(ts // 1)
    usec = round((ts - sec) * 1_000_000)
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    return sec, usec


class PcapWriter:
    """Write frames to a classic pcap file.

    Args:
        path: file to create (truncated) or, with ``append``, to extend.
        linktype: the DLT value of the global header (147, DLT_USER0, by default).
        snaplen: frames longer than this are stored cut to it, with their real length kept.
        append: extend an existing capture instead of replacing it. The existing header must be a
            little-endian microsecond header with the same linktype; an empty or missing file
            gets a new header.
        epoch: POSIX seconds added to every record's stamp (the mission epoch, so a stamp of
            mission time ``t`` reads as the UTC instant ``epoch + t``); 0 keeps the stamps as
            given.

    Raises:
        CaptureError: the file cannot be created, or ``append`` found a different header.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        linktype: int = DLT_USER0,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        append: bool = False,
        epoch: float = 0.0,
    ) -> None:
        self.path = os.fspath(path)
        self.linktype = linktype
        self.snaplen = snaplen
        if not math.isfinite(epoch) or epoch < 0:
            raise CaptureError(f"{self.path}: epoch {epoch!r} is not a time >= 0")
        self._epoch = _split_ts(epoch)
        header = struct.pack("<" + _GLOBAL, MAGIC_USEC, 2, 4, 0, 0, snaplen, linktype)
        try:
            if append and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
                with open(self.path, "rb") as existing:
                    found = existing.read(GLOBAL_HEADER_SIZE)
                if found[:4] != header[:4] or found[20:24] != header[20:24]:
                    raise CaptureError(
                        f"{self.path}: cannot append, existing header differs "
                        f"(want little-endian pcap with linktype {linktype})",
                        reason="capture_header",
                    )
                self._file: BinaryIO = open(self.path, "ab")
            else:
                self._file = open(self.path, "wb")
                self._file.write(header)
                self._file.flush()
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write capture: {exc}") from exc

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._file.closed

    def write(self, frame: bytes, ts: float) -> None:
        """Append one record holding ``frame`` stamped ``ts`` (seconds after the writer's
        ``epoch``), then flush.

        Raises:
            CaptureError: the writer is closed or the file system refused the write.
        """
        if self._file.closed:
            raise CaptureError(f"{self.path}: capture is closed", reason="capture_closed")
        sec, usec = _split_ts(ts)
        usec += self._epoch[1]
        sec += self._epoch[0] + usec // 1_000_000
        usec %= 1_000_000
        data = bytes(frame)
        incl = data[: self.snaplen]
        try:
            self._file.write(struct.pack("<" + _RECORD, sec, usec, len(incl), len(data)) + incl)
            self._file.flush()
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write capture: {exc}") from exc

    def close(self) -> None:
        """Close the file. Idempotent."""
        self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PcapReader:
    """Read the records of a classic pcap file as ``(ts, frame)`` pairs.

    The global header is read and checked on construction; iterating yields each record in file
    order. A last record cut short (a capture interrupted mid-write) ends the iteration and sets
    :attr:`truncated`; it is not an error.

    Args:
        path: the capture file.

    Attributes:
        linktype, snaplen, version (major, minor), byte_order ("<" or ">"),
        nanosecond (True for the 0xA1B23C4D magic), truncated (set once a cut record was met).

    Raises:
        CaptureError: the file cannot be opened, is shorter than a header, has an unknown magic
            or version, or holds a record longer than :data:`MAX_RECORD` whatever its header's
            snaplen claims (a corrupt length). A record is never read beyond the file's size:
            one claiming more than remains is the truncated last record.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.truncated = False
        try:
            self._file: BinaryIO = open(self.path, "rb")
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot open capture: {exc}") from exc
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._read_header()
        except BaseException:
            self._file.close()
            raise

    def _read_header(self) -> None:
        head = self._file.read(GLOBAL_HEADER_SIZE)
        if len(head) < GLOBAL_HEADER_SIZE:
            raise CaptureError(
                f"{self.path}: not a pcap file: {len(head)} bytes, shorter than the "
                f"{GLOBAL_HEADER_SIZE}-byte global header",
                reason="capture_truncated",
            )
        for order in ("<", ">"):
            (magic,) = struct.unpack(order + "I", head[:4])
            if magic in (MAGIC_USEC, MAGIC_NSEC):
                break
        else:
            raise CaptureError(
                f"{self.path}: not a pcap file: bad magic 0x{head[:4].hex()}",
                reason="capture_magic",
            )
        _, major, minor, _, _, snaplen, linktype = struct.unpack(order + _GLOBAL, head)
        if major != 2:
            raise CaptureError(
                f"{self.path}: unsupported pcap version {major}.{minor}",
                reason="capture_version",
            )
        self.byte_order = order
        self.nanosecond = magic == MAGIC_NSEC
        self.version = (major, minor)
        self.snaplen = snaplen
        self.linktype = linktype

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        """Yield ``(ts, frame)`` for each complete record, ``ts`` in POSIX seconds."""
        divisor = 1e9 if self.nanosecond else 1e6
        rec = struct.Struct(self.byte_order + _RECORD)
        while True:
            head = self._file.read(RECORD_HEADER_SIZE)
            if not head:
                return
            if len(head) < RECORD_HEADER_SIZE:
                self.truncated = True
                return
            sec, frac, incl_len, _orig_len = rec.unpack(head)
            if incl_len > MAX_RECORD:  # the header's snaplen cannot raise the bound
                raise CaptureError(
                    f"{self.path}: corrupt record at offset {self._file.tell() - 16}: "
                    f"length {incl_len} exceeds {MAX_RECORD}",
                    reason="capture_record",
                )
            if incl_len > self._size - self._file.tell():
                self._size = os.fstat(self._file.fileno()).st_size  # a live capture grows
                if incl_len > self._size - self._file.tell():
                    # Cut short (a writer stopped mid-record): never ask for more than is there.
                    self.truncated = True
                    return
            frame = self._file.read(incl_len)
            if len(frame) < incl_len:
                self.truncated = True
                return
            yield sec + frac / divisor, frame

    def close(self) -> None:
        """Close the file. Idempotent."""
        self._file.close()

    def __enter__(self) -> PcapReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
