"""Files from the spacecraft: the ground's CFDP receivers, and what the ground reads in them.

* :class:`FileDesk`: the station's CFDP destination entity for each node (class 2,
  :class:`hal.protocol.cfdp.FileReceiver`, the ``cfdp-py`` library; decision 0056). It takes the
  PDUs each node's downlink brings, answers with ACK, NAK and Finished PDUs for the uplink, and
  lands every file that arrives whole, once, in the archive (``files`` table, with its octets)
  and in the run folder (``files/<node>/<name>``). A transfer that fails is archived too, with
  its CFDP condition and no data.
* :func:`parse_pgm`: an image file (binary PGM, ``P5``) into a bounded :class:`Image`; anything
  else is refused with an :class:`ImageError` naming the problem (a file from space is hostile
  input).
* :func:`estimate_orientation`: the OS's orientation read from an orientation image, as the
  ground's analysts confirm it before containment (the convention of
  :mod:`hal.protocol.devices.orient`): the dark fiducial mark on the lit disc, saturated pixels
  (an LED's glare) masked out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ground_tools.archive import FileRecord
from hal.protocol.cfdp import CfdpError, FileReceiver, Outcome, check_name

__all__ = [
    "MAX_IMAGE_SIDE",
    "Estimate",
    "FileDesk",
    "Image",
    "ImageError",
    "estimate_orientation",
    "parse_pgm",
    "render_text",
]

MAX_IMAGE_SIDE: Final = 1024
"""The widest and tallest image the ground reads, pixels."""
SATURATED: Final = 250
"""A pixel at or above this is taken for glare and ignored."""
MIN_MARK_PIXELS: Final = 5
"""Pixels the fiducial mark must show for the ground to decide."""
FILE_DUE: Final = 1.0
"""Seconds between two runs of a receiver's timers while a transfer is open."""


# ---------------------------------------------------------------------------------- receiving


@dataclass
class FileDesk:
    """The station's CFDP receivers, one per node (see the module docstring).

    Args:
        entities: node name -> its CFDP entity id (the node's APID).
        folder: where files land (``<run>/files``); None: the archive only.
        archive: called with each :class:`~ground_tools.archive.FileRecord` (the station's
            archive writer); errors are the caller's.
    """

    entities: dict[str, int]
    folder: Path | None = None
    archive: Callable[[FileRecord], None] | None = None
    receivers: dict[str, FileReceiver] = field(init=False)
    received: list[FileRecord] = field(init=False, default_factory=list)
    errors: int = 0

    def __post_init__(self) -> None:
        self.receivers = {node: FileReceiver(entity) for node, entity in self.entities.items()}

    def take(self, node: str, pdus: Iterable[bytes], now: float) -> list[bytes]:
        """The PDUs ``node``'s downlink brought at ``now``; return the space packets for its
        uplink (answers, and whatever the receiver's timers send)."""
        receiver = self.receivers.get(node)
        if receiver is None:
            return []
        for pdu in pdus:
            receiver.receive(pdu, now)
        out = receiver.step(now)
        for outcome in receiver.take_outcomes():
            self._land(node, outcome)
        return out

    def due(self, now: float) -> float:
        """When a receiver's timers next need a run (``inf``: no transfer open)."""
        active = any(r.active for r in self.receivers.values())
        return now + FILE_DUE if active else math.inf

    def _land(self, node: str, outcome: Outcome) -> None:
        record = FileRecord(
            node=node, name=outcome.name, seq=outcome.seq, started=outcome.started,
            sim_time=outcome.finished, size=outcome.size, crc32=outcome.checksum,
            ok=outcome.ok, condition=outcome.condition, naks=outcome.naks, data=outcome.data,
        )  # fmt: skip
        self.received.append(record)
        if record.ok and self.folder is not None:
            try:
                name = check_name(record.name)
                target = self.folder / node / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(record.data)
            except (CfdpError, OSError):
                self.errors += 1
        if self.archive is not None:
            self.archive(record)

    def stats(self) -> dict[str, Any]:
        """Per node: PDUs in and out, refusals by reason, files delivered and failed; and the
        files that could not be written to the run folder (all nodes)."""
        return {
            node: {
                "pdus_in": r.pdus_in, "pdus_out": r.pdus_out, "rejects": dict(r.rejects),
                "files": sum(1 for f in self.received if f.node == node and f.ok),
                "failed": sum(1 for f in self.received if f.node == node and not f.ok),
                "not_written": self.errors,
            }
            for node, r in self.receivers.items()
        }  # fmt: skip


# ---------------------------------------------------------------------------------- images


class ImageError(ValueError):
    """A file that is not an image the ground reads (the message names the problem)."""


@dataclass(frozen=True)
class Image:
    """A grey image: ``pixels`` row by row, row 0 at the top; ``comments`` from its header."""

    width: int
    height: int
    pixels: bytes
    comments: tuple[str, ...] = ()

    def at(self, x: int, y: int) -> int:
        """The pixel at column ``x``, row ``y``."""
        return self.pixels[y * self.width + x]

    def meta(self) -> dict[str, str]:
        """The ``key value`` pairs of its comments (the camera, image id, time...)."""
        out = {}
        for comment in self.comments:
            for key, value in re.findall(r"([a-z_]+)=(\S+)", comment):
                out[key] = value
        return out


_TOKEN = re.compile(rb"\s*(#[^\n]*\n\s*)*(\S+)")


def parse_pgm(data: bytes) -> Image:
    """A binary PGM (``P5``, maxval 255) into an :class:`Image`.

    Raises:
        ImageError: not a PGM of this kind, sides above :data:`MAX_IMAGE_SIDE`, or pixel data
            of the wrong length.
    """
    data = bytes(data)
    if not data.startswith(b"P5"):
        raise ImageError("not a binary PGM image (it does not start with P5)")
    comments = tuple(
        line[1:].strip().decode("ascii", "replace") for line in re.findall(rb"#[^\n]*", data[:512])
    )
    pos, values = 2, []
    for _ in range(3):
        match = _TOKEN.match(data, pos)
        if match is None or not match.group(2).isdigit():
            raise ImageError("PGM header: width, height and maxval must be numbers")
        values.append(int(match.group(2)))
        pos = match.end()
    width, height, maxval = values
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise ImageError(f"PGM header: {width} x {height} pixels is outside 1..{MAX_IMAGE_SIDE}")
    if maxval != 255:
        raise ImageError(f"PGM header: maxval {maxval}, only 255 is read")
    pixels = data[pos + 1 :]
    if len(pixels) != width * height:
        raise ImageError(f"PGM: {len(pixels)} octets of pixels for {width} x {height}")
    return Image(width, height, pixels, comments)


@dataclass(frozen=True)
class Estimate:
    """The ground's reading of an orientation image.

    Attributes:
        orientation: the OS's orientation, deg (0 .. 360), or None when the mark is not seen.
        mark_pixels: pixels taken for the fiducial mark.
        glare_pixels: saturated pixels masked out.
        reason: why there is no orientation (empty when there is one).
    """

    orientation: float | None
    mark_pixels: int
    glare_pixels: int
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """For reports."""
        return {"orientation": self.orientation, "mark_pixels": self.mark_pixels,
                "glare_pixels": self.glare_pixels, "reason": self.reason}  # fmt: skip


def estimate_orientation(image: Image) -> Estimate:
    """Where the dark fiducial mark lies on the lit disc of the OS (module docstring)."""
    cx, cy = (image.width - 1) / 2, (image.height - 1) / 2
    values = sorted(image.pixels)
    background = values[len(values) // 10]
    inner = [
        image.at(x, y) for y in range(image.height) for x in range(image.width)
        if (x - cx) ** 2 + (y - cy) ** 2 <= (min(cx, cy) / 3) ** 2
        and image.at(x, y) < SATURATED
    ]  # fmt: skip
    if not inner:
        return Estimate(None, 0, 0, "the centre of the image is all glare")
    inner.sort()
    disc = inner[len(inner) // 2]
    if disc - background < 40:
        return Estimate(None, 0, 0, "no lit disc: the image is dark")
    lit = [
        (x, y) for y in range(image.height) for x in range(image.width)
        if image.at(x, y) >= (disc + background) / 2
    ]  # fmt: skip
    radius = math.sqrt(len(lit) / math.pi)
    glare = sum(1 for p in image.pixels if p >= SATURATED)
    threshold = background + 0.5 * (disc - background)
    mark = [
        (x, y) for y in range(image.height) for x in range(image.width)
        if (x - cx) ** 2 + (y - cy) ** 2 <= (0.85 * radius) ** 2
        and image.at(x, y) < min(threshold, disc * 0.45)
    ]  # fmt: skip
    if len(mark) < MIN_MARK_PIXELS:
        why = "the mark is not seen" + (f" ({glare} pixels of glare)" if glare else "")
        return Estimate(None, len(mark), glare, why)
    # refine: weigh each pixel near the mark by how much darker it is than the disc at its
    # distance from the centre (the edge pixels are grey: the mark's sub-pixel position)
    x0 = sum(x for x, _ in mark) / len(mark)
    y0 = sum(y for _, y in mark) / len(mark)
    d0 = math.hypot(x0 - cx, y0 - cy)
    ring = sorted(
        image.at(x, y) for y in range(image.height) for x in range(image.width)
        if abs(math.hypot(x - cx, y - cy) - d0) <= 1.5 and (x - x0) ** 2 + (y - y0) ** 2 > 25
        and image.at(x, y) < SATURATED
    )  # fmt: skip
    ref = ring[len(ring) // 2] if ring else disc
    near = [(x, y) for y in range(image.height) for x in range(image.width)
            if (x - x0) ** 2 + (y - y0) ** 2 <= 36]  # fmt: skip
    if any(image.at(x, y) >= SATURATED for x, y in near):
        return Estimate(None, len(mark), glare, "the mark is partly under the glare")
    sw = sx = sy = 0.0
    for y in range(max(0, int(y0) - 5), min(image.height, int(y0) + 7)):
        for x in range(max(0, int(x0) - 5), min(image.width, int(x0) + 7)):
            w = ref - image.at(x, y)
            if w > 0 and (x - x0) ** 2 + (y - y0) ** 2 <= 20 and image.at(x, y) < SATURATED:
                sw, sx, sy = sw + w, sx + w * x, sy + w * y
    mx, my = (sx / sw, sy / sw) if sw > 0 else (x0, y0)
    angle = math.degrees(math.atan2(cy - my, mx - cx)) % 360.0
    return Estimate(round(angle, 2), len(mark), glare)


def render_text(image: Image, width: int = 48) -> list[str]:
    """The image as text, one line per two rows (a terminal's cells are twice as tall as
    wide), at most ``width`` columns: dark ' ' to bright '@'."""
    ramp = " .:-=+*#%@"
    step = max(1, math.ceil(image.width / width))
    lines = []
    for y in range(0, image.height, 2 * step):
        lines.append("".join(
            ramp[min(len(ramp) - 1, image.at(x, y) * len(ramp) // 256)]
            for x in range(0, image.width, step)
        ))  # fmt: skip
    return lines
