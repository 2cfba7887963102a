"""The space-link emulator: what the radio path between the ground and a node does to frames.

Each direction is a :class:`LinkPath`, a pure object: bytes written by one end go in with
:meth:`LinkPath.push`, are cut into frames at the attached sync marker, and come out of
:meth:`LinkPath.due` at the time the path decides, each frame dropped, duplicated, delayed or
bit-flipped at random from a seeded generator, or lost in a blackout. The path knows nothing of
the protocol inside a frame, exactly like a radio: damaged frames are delivered damaged, and the
receiver must reject them.

``python -m sim_hardware.space_link`` serves one path pair between two pseudo-terminals, one for
the ground and one for the node, printing one JSON object per line on stdout::

    {"ground": "/dev/pts/7", "flight": "/dev/pts/8"}   the two ends, as soon as they are served
    {"stats": {"up": {...}, "down": {...}}}            on exit: what each direction did

It runs until its stdin closes or it gets SIGTERM/SIGINT. Time is the wall clock's monotonic
seconds until the simulation clock drives it (issue 4).
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import select
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Final

from hal.links import LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME, Link, open_link
from hal.protocol.framing import ASM
from sim_hardware.process import on_stop_signals

__all__ = ["FrameSplitter", "Impairments", "LinkPath"]

MAX_FRAME: Final = 4096
"""Octets after which a frame with no marker behind it is released anyway."""


@dataclass(frozen=True)
class Impairments:
    """What one direction of the path does to each frame.

    Attributes:
        drop: probability that a frame is lost.
        duplicate: probability that a frame arrives twice.
        flip: probability that one random bit of a frame (marker excluded) is inverted.
        delay: one-way light time, seconds, added to every frame.
        jitter: extra random delay, uniform in 0..jitter seconds.
        reorder: when False (a serial stream) frames keep their order despite the jitter; when
            True a later frame may overtake an earlier one.
        blackouts: ``(start, end)`` intervals of path time in which every frame is lost.
        bit_error_rate: probability that each bit of a frame (marker excluded) is inverted,
            independently of the others (a noisy channel; ``flip`` is one bit per frame).
        baud: the line rate in bit/s, or None for an instant line. Each octet takes 10 bits of
            line time (start, 8 data, stop); a frame leaves when the line has carried every
            octet before it, so a sender that writes faster than the line is slowed down. The
            light time (``delay``, ``jitter``) starts once the frame is on its way.
        burst: seconds of line time that may pass at once (the line's credit, refilled at the
            line rate): with ``burst`` equal to the simulation tick, a node may use a whole
            tick's worth of the line within its cycle, as it could in real time (decision
            0033). Over any span of ``T`` seconds the line carries at most
            ``baud / 10 * (T + burst)`` octets.
    """

    drop: float = 0.0
    duplicate: float = 0.0
    flip: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    reorder: bool = False
    blackouts: tuple[tuple[float, float], ...] = ()
    bit_error_rate: float = 0.0
    baud: int | None = None
    burst: float = 0.0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "flip", "bit_error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"impairment {name} = {value} is not a probability in 0..1")
        if self.delay < 0 or self.jitter < 0 or self.burst < 0:
            raise ValueError("delay, jitter and burst must not be negative")
        if self.baud is not None and not self.baud > 0:
            raise ValueError(f"baud {self.baud} must be a positive bit rate")
        for start, end in self.blackouts:
            if end < start:
                raise ValueError(f"blackout ({start}, {end}) ends before it starts")


class FrameSplitter:
    """Cuts a byte stream into frames at the attached sync marker.

    A frame is everything from one marker to the next. The last frame is released by
    :meth:`flush` (the writer went quiet) or once it exceeds :data:`MAX_FRAME` octets; bytes
    before the first marker are released as they are (noise is noise).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Octets held for the frame still being written."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Take more of the stream; return the frames a following marker completed."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        start = 0
        while True:
            end = buf.find(ASM, start + 1)
            if end < 0:
                break
            out.append(bytes(buf[start:end]))
            start = end
        del buf[:start]
        if len(buf) > MAX_FRAME:
            out.append(bytes(buf))
            buf.clear()
        return out

    def flush(self) -> list[bytes]:
        """Release what is held."""
        out = [bytes(self._buf)] if self._buf else []
        self._buf.clear()
        return out


@dataclass
class PathStats:
    """What one direction did: frames in, delivered, and each impairment applied."""

    frames_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    applied: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly copy."""
        out = asdict(self)
        out["applied"] = dict(self.applied)
        return out


class LinkPath:
    """One direction of the space link (or of a board's serial line): frames in, impaired
    frames out when due.

    A frame on a path that only carries frames at its line rate, with nothing ahead of it and
    the line's credit to cover it, may skip the queue (:meth:`passes`): that is the cost of a
    line at its baud rate in the common case, one comparison (decision 0033).

    Args:
        impairments: what to do to the frames; may be replaced at any time (fault injection).
            Frames in flight keep the fate they were given (dropped, damaged, duplicated),
            except their lateness: once the link holds no frame as long as it did (a delay or
            a throttle cleared), none in flight comes out later than a frame sent now would
            (decision 0028). A cleared hour-long delay does not keep the link dead for an hour,
            and a cleared throttle lets the line's own rate drain what it still owes.
        rng: the seeded generator; the same seed and the same input give the same output. It
            is drawn from only for the impairments in effect (none for a plain line).
    """

    def __init__(
        self, impairments: Impairments | None = None, rng: random.Random | None = None
    ) -> None:
        self._now = 0.0  # the latest time the path was given
        self._queue: list[tuple[float, int, bytes]] = []
        self._order = 0
        self._last_due = 0.0
        self._impairments = impairments or Impairments()
        self.rng = rng or random.Random(0)  # noqa: S311 - a simulation, not cryptography
        self.splitter = FrameSplitter()
        self._credit: float | None = None  # octets the line may still carry at once
        self._credit_at = 0.0
        self._plain = _plain(self._impairments)
        self.stats = PathStats()

    @property
    def impairments(self) -> Impairments:
        """What is done to the frames (replace it to change the link)."""
        return self._impairments

    @impairments.setter
    def impairments(self, value: Impairments) -> None:
        old = self._impairments
        if old.baud is not None:  # what the line earned so far, at the rate it had
            self._refill(self._now, old.baud, old.burst)
        self._impairments = value
        self._plain = _plain(value)
        if value.baud is None:
            self._credit = None  # a rate given later starts with a full credit
        elif self._credit is not None:
            self._credit = min(self._credit, value.baud / 10.0 * value.burst)
        if not self._queue:
            return
        owed = 0.0  # seconds the line needs for what it owes already, at the new rate
        if value.baud is not None and self._credit is not None and self._credit < 0.0:
            owed = -self._credit / (value.baud / 10.0)
        latest = self._now + owed + value.delay + value.jitter  # a frame sent now is out by then
        if max(due for due, _, _ in self._queue) > latest:
            self._queue = [(min(due, latest), order, raw) for due, order, raw in self._queue]
            self._last_due = min(self._last_due, latest)  # min() keeps the heap's order

    def push(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Bytes written by the sending end at ``now``."""
        for raw in self.splitter.feed(data):
            self._frame(raw, now)

    def push_frame(self, frame: bytes, now: float) -> None:
        """One whole frame (marker included) sent at ``now``, when the sender's framing is
        known (a deframed packet or transfer frame): no splitting, no waiting for the next
        marker."""
        self._frame(bytes(frame), now)

    def passes(self, octets: int, now: float) -> bool:
        """Whether a whole frame of ``octets`` sent at ``now`` crosses at once, skipping the
        queue: nothing is in flight or half-written, the path does nothing to frames but carry
        them at its line rate (no loss, damage, duplicate, delay or blackout), and the line's
        credit covers the frame. Then the octets are charged to the line and counted as
        carried, and the caller delivers the frame itself; otherwise nothing changed and the
        frame goes through :meth:`push_frame`."""
        if not self._plain or self._queue or self.splitter.buffered:
            return False
        baud = self._impairments.baud
        if baud is not None:
            credit = self._refill(now, baud, self._impairments.burst)
            if credit < octets:
                return False
            self._credit = credit - octets
        self._now = max(self._now, now)
        stats = self.stats
        stats.frames_in += 1
        stats.frames_out += 1
        stats.bytes_out += octets
        return True

    @property
    def idle(self) -> bool:
        """Nothing is in flight or half-written."""
        return not self._queue and not self.splitter.buffered

    def flush(self, now: float) -> None:
        """The sending end went quiet: release the frame it was writing."""
        for raw in self.splitter.flush():
            self._frame(raw, now)

    @property
    def next_due(self) -> float | None:
        """When the next frame comes out, or None when nothing is in flight."""
        return self._queue[0][0] if self._queue else None

    def due(self, now: float) -> list[bytes]:
        """Frames arriving at the receiving end by ``now``, in arrival order."""
        self._now = max(self._now, now)
        if not self._queue or self._queue[0][0] > now:
            return []  # the common case, every tick: nothing due
        out: list[bytes] = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        self.stats.frames_out += len(out)
        self.stats.bytes_out += sum(len(raw) for raw in out)
        return out

    def _frame(self, raw: bytes, now: float) -> None:
        self._now = max(self._now, now)
        imp = self.impairments
        rng = self.rng
        stats = self.stats
        stats.frames_in += 1
        if any(start <= now < end for start, end in imp.blackouts):
            stats.applied["blackout"] += 1
            return
        if imp.drop and rng.random() < imp.drop:
            stats.applied["drop"] += 1
            return
        copies = 1
        if imp.duplicate and rng.random() < imp.duplicate:
            stats.applied["duplicate"] += 1
            copies = 2
        for _ in range(copies):
            data = raw
            if imp.flip and len(raw) > len(ASM) and rng.random() < imp.flip:
                damaged = bytearray(raw)
                bit = rng.randrange((len(raw) - len(ASM)) * 8)
                damaged[len(ASM) + bit // 8] ^= 0x80 >> (bit % 8)
                data = bytes(damaged)
                stats.applied["flip"] += 1
            if imp.bit_error_rate > 0.0 and len(raw) > len(ASM):
                data = self._bit_errors(data, imp.bit_error_rate)
            light = imp.delay + (rng.uniform(0, imp.jitter) if imp.jitter else 0.0)
            sent = now if imp.baud is None else self._line(len(data), now, imp.baud, imp.burst)
            due = sent + light
            if not imp.reorder:
                due = max(due, self._last_due)
                self._last_due = due
            heapq.heappush(self._queue, (due, self._order, data))
            self._order += 1

    def _bit_errors(self, frame: bytes, ber: float) -> bytes:
        """Invert each bit after the marker with probability ``ber`` (geometric skipping: one
        draw per error, not per bit)."""
        bits = (len(frame) - len(ASM)) * 8
        damaged = bytearray(frame)
        errors = 0
        position = -1
        log_keep = math.log1p(-ber) if ber < 1.0 else None
        while True:
            if log_keep is None:
                position += 1
            else:
                position += 1 + int(math.log(1.0 - self.rng.random()) / log_keep)
            if position >= bits:
                break
            damaged[len(ASM) + position // 8] ^= 0x80 >> (position % 8)
            errors += 1
        if not errors:
            return frame
        self.stats.applied["bit_error"] += errors
        self.stats.applied["frame_with_bit_errors"] += 1
        return bytes(damaged)

    def _refill(self, now: float, baud: int, burst: float) -> float:
        """The line's credit at ``now`` (octets it may carry at once; negative: owed), refilled
        at the line rate since it was last looked at, up to ``burst`` seconds' worth."""
        rate = baud / 10.0  # octets per second: start bit, 8 data bits, stop bit
        cap = rate * burst
        credit = cap if self._credit is None else self._credit
        if now > self._credit_at:
            credit = min(cap, credit + (now - self._credit_at) * rate)
            self._credit_at = now
        self._credit = credit
        return credit

    def _line(self, octets: int, now: float, baud: int, burst: float) -> float:
        """When a frame of ``octets`` written at ``now`` has crossed a ``baud`` line (less the
        line's credit: ``now`` while the credit covers it)."""
        credit = self._refill(now, baud, burst) - octets
        self._credit = credit
        if credit >= 0.0:
            return now
        self.stats.applied["throttled"] += 1
        return now + -credit / (baud / 10.0)


def _plain(impairments: Impairments) -> bool:
    """The path does nothing to frames but carry them (at its line rate, if it has one)."""
    i = impairments
    return not (
        i.drop or i.duplicate or i.flip or i.bit_error_rate or i.delay or i.jitter or i.blackouts
    )


# ---------------------------------------------------------------------- the host process

QUIET: Final = 0.002
"""Seconds of silence after which a writer's last frame is released."""


class PathHost:
    """Relays bytes between two links through a :class:`LinkPath` per direction."""

    def __init__(self, ground: Link, flight: Link, up: LinkPath, down: LinkPath) -> None:
        self.ground, self.flight, self.up, self.down = ground, flight, up, down
        self._quiet: dict[int, float] = {}

    def serve_once(self, now: float, timeout: float, extra_fds: Sequence[int] = ()) -> list[int]:
        """Move what is ready one step; return the ready ``extra_fds``."""
        routes = {
            self.ground.fileno(): (self.ground, self.up),
            self.flight.fileno(): (self.flight, self.down),
        }
        waits = [timeout]
        for path in (self.up, self.down):
            if path.next_due is not None:
                waits.append(max(0.0, path.next_due - now))
            if path.splitter.buffered:
                waits.append(QUIET)
        ready, _, _ = select.select([*routes, *extra_fds], [], [], min(waits))
        now = time.monotonic()
        for fd in ready:
            route = routes.get(fd)
            if route is not None:
                link, path = route
                path.push(link.read(65536, 0), now)
                self._quiet[fd] = now
        for fd, (_, path) in routes.items():
            if path.splitter.buffered and now - self._quiet.get(fd, now) >= QUIET:
                path.flush(now)
        for path, target in ((self.up, self.flight), (self.down, self.ground)):
            frames = path.due(now)
            if frames:
                target.write(b"".join(frames))
        return [fd for fd in ready if fd not in routes]


def _parse_blackout(text: str) -> tuple[float, float]:
    try:
        start, end = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"blackout {text!r} must be START:END seconds") from None
    return start, end


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m sim_hardware.space_link", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=0)
    for name in ("drop", "duplicate", "flip"):
        parser.add_argument(f"--{name}", type=float, default=0.0, help=f"{name} probability")
    parser.add_argument("--delay", type=float, default=0.0, help="one-way light time, s")
    parser.add_argument("--jitter", type=float, default=0.0, help="random extra delay, s")
    parser.add_argument("--blackout", type=_parse_blackout, action="append", default=[],
                        help="START:END seconds after start with no link (repeatable)")  # fmt: skip
    parser.add_argument("--capture-dir", help="record both ends as pcap files here")
    args = parser.parse_args(argv)
    try:
        impairments = Impairments(
            drop=args.drop, duplicate=args.duplicate, flip=args.flip, delay=args.delay,
            jitter=args.jitter, blackouts=tuple(args.blackout),
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    rng = random.Random(args.seed)  # noqa: S311 - a simulation, not cryptography
    ground = open_link(
        "pty://", capture_dir=args.capture_dir, capture_name="path-ground",
        capture_linktypes=(LINKTYPE_TM_FRAME, LINKTYPE_TC_FRAME),  # to the ground: TM
    )  # fmt: skip
    flight = open_link(
        "pty://", capture_dir=args.capture_dir, capture_name="path-flight",
        capture_linktypes=(LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME),  # to the flight: TC
    )  # fmt: skip
    host = PathHost(ground, flight, LinkPath(impairments, rng), LinkPath(impairments, rng))
    stopping = threading.Event()
    on_stop_signals(stopping.set)
    host.up.impairments = host.down.impairments = _shifted(impairments, time.monotonic())
    try:
        ends = {
            "ground": getattr(ground, "peer_path", None),
            "flight": getattr(flight, "peer_path", None),
        }
        print(json.dumps(ends), flush=True)
        stdin = sys.stdin.fileno()
        while not stopping.is_set():
            if stdin in host.serve_once(time.monotonic(), 0.2, [stdin]) and not os.read(
                stdin, 4096
            ):
                break
        stats = {"up": host.up.stats.as_dict(), "down": host.down.stats.as_dict()}
        print(json.dumps({"stats": stats}), flush=True)
    finally:
        ground.close()
        flight.close()
    return 0


def _shifted(impairments: Impairments, start: float) -> Impairments:
    """Blackouts given in seconds after start, on the monotonic clock."""
    if not impairments.blackouts:
        return impairments
    shifted = tuple((start + a, start + b) for a, b in impairments.blackouts)
    return Impairments(**{**asdict(impairments), "blackouts": shifted})


if __name__ == "__main__":
    sys.exit(main())
