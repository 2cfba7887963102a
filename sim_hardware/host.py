"""The thin host that serves emulators on virtual serial links.

Each emulated board gets a :class:`~hal.links.pty_link.PtyLink` (a pseudo-terminal whose far end
is a real tty path any program can open, as if it were the board's USB-serial port) wrapped in a
:class:`~hal.links.channel.PacketChannel`. One thread multiplexes every board with ``select``:
bytes in, deframe, decode, ``emulator.handle(packet, now)``, replies out. The host owns the clock
it hands to the emulators; the emulators own nothing but their state.

**Link faults.** Between the pty and the emulator each direction of a board's serial line may be
given :class:`~sim_hardware.space_link.Impairments` (:meth:`PtyHost.impair`): drop, bit flips,
duplicate, delay, blackout and a line rate (``baud``). The requests the flight software sent
then cross a :class:`~sim_hardware.space_link.LinkPath` before the emulator sees them (a damaged
request fails the board's CRC check and is counted on the link as ``impaired_<reason>``), and
the replies cross another before they are written to the pty, damaged or late as the path
decides. Time on the paths is the host's clock, so in lockstep a delay is in simulated seconds.

**Line rate.** A board given a baud rate (``bauds``; the simulator gives every emulated board
its bench ``baud``) has its line at that rate both ways, always: 10 bits an octet, with
``burst`` seconds of credit (the simulation tick), so the line carries at most
``baud / 10 * (T + burst)`` octets in any ``T`` seconds. A request or reply the credit covers
crosses at once, in the cycle that sent it (a node's exchanges with a board fit in a tick's
worth of line, as they do on the bench); what exceeds it comes out when the line has carried
it, at a later tick (decision 0033). Impairments given later add to the line's own rate, the
slower one winning, and clearing them returns the line to its own rate, never to an instant
line. A line without a rate and without impairments has no paths at all.

**Settling.** A frame the line releases at a tick (:meth:`PtyHost.advance`, before the
lockstep sends the tick) is written to the pty then; with :attr:`PtyHost.settle` set (a
lockstep on the simulated clock, where the node reads nothing between its cycles) the host
waits until the kernel has handed those octets to the board's tty, so the node's next cycle
finds them in every run, however late the kernel moves them.
"""

from __future__ import annotations

import math
import random
import select
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from hal.errors import EncodeError, LinkError, ProtocolError
from hal.links import Link, open_link
from hal.links.channel import PacketChannel
from hal.protocol.framing import ASM, Deframer
from hal.protocol.pus import PusPacket, PusTc, PusTm, RequestId
from sim_hardware.devices.base import Garbage
from sim_hardware.emulator import Emulator
from sim_hardware.space_link import Impairments, LinkPath

__all__ = ["DIRECTIONS", "PtyHost", "ServedBoard"]

Direction = Literal["to_board", "from_board"]
DIRECTIONS: Final[tuple[Direction, ...]] = ("to_board", "from_board")
"""The two directions of a board's serial line: requests in, replies out."""

_PERFECT: Final = Impairments()
DEFAULT_BURST: Final = 0.1
"""Seconds of line credit of a line at its baud rate (the default simulation tick)."""
SETTLE_LIMIT: Final = 0.5
"""Wall seconds the host waits for the kernel to hand released octets to a board's tty."""


def _intact(frame: bytes) -> bool:
    """A frame the driver will take as a packet (marker, header and CRC whole)."""
    if not frame.startswith(ASM):
        return False
    try:
        PusPacket.from_raw(frame[len(ASM) :])
    except ProtocolError:
        return False
    return True


def _with_line(line: Impairments, impairments: Impairments) -> Impairments:
    """``impairments`` on a line whose own rate is ``line``'s: the slower rate wins, with its
    credit."""
    if line.baud is None or (impairments.baud is not None and impairments.baud <= line.baud):
        return impairments
    return replace(impairments, baud=line.baud, burst=line.burst)


@dataclass
class ServedBoard:
    """One emulator on its link, with the paths of its line when it has any (a line rate or
    impairments), and the line's own impairments (its rate: ``Impairments(baud=...)``)."""

    emulator: Emulator
    channel: PacketChannel
    to_board: LinkPath | None = None
    from_board: LinkPath | None = None
    line: Impairments = _PERFECT

    @property
    def path(self) -> str:
        """The tty path the flight software (or anything else) opens to reach this board (the
        port itself for a board served on a given port)."""
        link = self.channel.link
        return str(getattr(link, "peer_path", link.url))


class PtyHost:
    """Serves emulators on pseudo-terminals until closed.

    Args:
        emulators: the boards to serve.
        clock: simulated time in seconds, handed to every ``handle`` and ``advance``, and stamping
            the capture records (so a simulated run's captures do not depend on the wall clock).
        capture_dir: when given, each board's link records ``sim-<board>.tx.pcap``/``.rx.pcap``.
        symlinks: board name -> a stable path to link to the board's tty (as udev's
            ``/dev/serial/by-id`` names do for real adapters).
        seed: seeds the generators of the link impairments (one per board and direction).
        bauds: board name -> its line's rate in bit/s, both ways (module docstring); a board
            not named has an instant line.
        burst: seconds of credit of a line at its rate.
        links: board name -> an open link to serve that board on instead of a new pty (a
            stand-in board on a given serial port, ``python -m sim_hardware --serve``); the host
            closes it with the others.
        capture_epoch: the mission epoch, POSIX seconds, added to the captures' stamps.
    """

    def __init__(
        self,
        emulators: Sequence[Emulator],
        clock: Callable[[], float],
        *,
        capture_dir: str | None = None,
        symlinks: Mapping[str, str] | None = None,
        seed: int = 0,
        bauds: Mapping[str, int] | None = None,
        burst: float = DEFAULT_BURST,
        links: Mapping[str, Link] | None = None,
        capture_epoch: float = 0.0,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.boards: list[ServedBoard] = []
        self.by_name: dict[str, ServedBoard] = {}
        self._advanced_to: float | None = None
        self.settle = False
        """Wait for released octets to reach the board's tty before a tick (module docstring);
        only where nothing reads the far end between cycles."""
        self.unsettled = 0
        """Ticks whose released octets the kernel did not hand over within SETTLE_LIMIT."""
        self.on_unanswered: Callable[[str, PusTc | PusTm], None] | None = None
        """Told ``(board, request)`` for each request that gets no reply written at once (the
        board silent, the request or the reply held or lost on the line): in lockstep the
        simulator passes it on to the node, whose driver stops waiting (decision 0034)."""
        try:
            for emulator in emulators:
                given = (links or {}).get(emulator.name)
                link = given if given is not None else open_link(
                    "pty://", capture_dir=capture_dir, capture_name=f"sim-{emulator.name}",
                    symlink=(symlinks or {}).get(emulator.name), timestamp=clock,
                    capture_epoch=capture_epoch,
                )  # fmt: skip
                deframer = Deframer(max_length=None, apid_max=emulator.apids)
                board = ServedBoard(emulator, PacketChannel(link, deframer))
                self.boards.append(board)
                self.by_name[emulator.name] = board
                baud = (bauds or {}).get(emulator.name)
                if baud is not None:
                    board.line = Impairments(baud=baud, burst=burst)
                    self.impair(emulator.name, None)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ link faults

    def impair(
        self,
        name: str,
        impairments: Impairments | None,
        directions: Sequence[Direction] = DIRECTIONS,
    ) -> None:
        """Give board ``name``'s line these impairments on top of its own rate, the slower
        rate winning (None: the line as it is, at its own rate).

        Frames already in flight keep the fate they were given, except that none comes out
        later than a frame sent now would (a cleared delay frees them, decision 0028); a
        frame on a path with nothing in flight and nothing to do but carry it skips the path
        (:meth:`~sim_hardware.space_link.LinkPath.passes`; it is still counted).

        Raises:
            KeyError: no such board on this host.
        """
        board = self.by_name[name]
        wanted = _with_line(board.line, impairments or board.line)
        for direction in directions:
            path: LinkPath | None = getattr(board, direction)
            if path is None:
                if wanted == _PERFECT:
                    continue
                rng = random.Random(f"{self.seed}/line/{name}/{direction}")  # noqa: S311
                path = LinkPath(wanted, rng)
                setattr(board, direction, path)
            path.impairments = wanted

    def line_stats(self, name: str) -> dict[str, Any]:
        """What the impaired paths of board ``name`` did (empty when it has none)."""
        board = self.by_name[name]
        return {d: p.stats.as_dict() for d in DIRECTIONS if (p := getattr(board, d)) is not None}

    # ------------------------------------------------------------------ serving

    @property
    def fds(self) -> list[int]:
        """The boards' link descriptors."""
        return [board.channel.link.fileno() for board in self.boards]

    def next_due(self) -> float:
        """The earliest simulated time something is due: a late reply, a frame in flight
        (``math.inf``: nothing)."""
        due = math.inf
        for board in self.boards:
            late = getattr(board.emulator, "next_due", None)
            when = late() if late is not None else None
            if when is not None:
                due = min(due, when)
            for path in (board.to_board, board.from_board):
                if path is not None and path.next_due is not None:
                    due = min(due, path.next_due)
        return due

    def advance(self, now: float) -> None:
        """Bring every board to ``now``: physics, late replies, frames in flight that are due.
        Nothing to do when time has not moved since the last call."""
        if self._advanced_to is not None and now <= self._advanced_to:
            return
        self._advanced_to = now
        released: list[tuple[ServedBoard, int]] = []
        for board in self.boards:
            link = board.channel.link
            before = link.stats.bytes_out
            watch = self.settle and self._may_write(board, now)
            unread = getattr(link, "unread_by_peer", 0) if watch else 0
            board.emulator.advance(now)
            late = getattr(board.emulator, "poll", None)
            if late is not None:
                self._reply(board, late(now), now)
            self._deliver(board, now)
            if watch and link.stats.bytes_out > before:
                released.append((board, unread + link.stats.bytes_out - before))
        if released:
            self._settle(released)

    @staticmethod
    def _may_write(board: ServedBoard, now: float) -> bool:
        """Something of ``board``'s is due by ``now``: a late reply, a frame on its line."""
        late = getattr(board.emulator, "next_due", None)
        when = late() if late is not None else None
        if when is not None and when <= now:
            return True
        for path in (board.to_board, board.from_board):
            due = None if path is None else path.next_due
            if due is not None and due <= now:
                return True
        return False

    def _settle(self, released: Sequence[tuple[ServedBoard, int]]) -> None:
        """Wait until each board's tty holds the octets written to it (module docstring)."""
        deadline = time.monotonic() + SETTLE_LIMIT
        for board, expected in released:
            link = board.channel.link
            while getattr(link, "unread_by_peer", expected) < expected:
                if time.monotonic() >= deadline:
                    self.unsettled += 1
                    link.record_error("unsettled")
                    return
                select.select([], [], [], 0.0002)  # the kernel's work queue needs a moment

    def serve_once(self, timeout: float, extra_fds: Sequence[int] = ()) -> list[int]:
        """Wait up to ``timeout`` for traffic (no longer than until something is due), answer
        it, and return the ready ``extra_fds``."""
        by_fd = {board.channel.link.fileno(): board for board in self.boards}
        timeout = min(timeout, self.next_due() - self.clock())
        ready, _, _ = select.select([*by_fd, *extra_fds], [], [], max(0.0, timeout))
        self.serve_ready(ready)
        return [fd for fd in ready if fd not in by_fd]

    def serve_ready(self, ready: Sequence[int]) -> None:
        """Answer the boards whose descriptors are in ``ready`` (from the caller's ``select``),
        after bringing every board to the clock's time."""
        now = self.clock()
        self.advance(now)
        wanted = set(ready)
        for board in self.boards:
            if board.channel.link.fileno() not in wanted:
                continue
            channel = board.channel
            read = channel.link.stats.bytes_in
            channel.poll(0)
            packets = channel.receive_all(0)
            path = board.to_board  # the line carried every octet read, noise included
            if path is None or path.passes(channel.link.stats.bytes_in - read, now):
                for packet in packets:
                    if not self._reply(board, board.emulator.handle(packet, now), now):
                        self._unanswered(board, packet)
            else:
                for packet in packets:
                    path.push_frame(ASM + packet.pack(), now)
                answered = self._deliver_requests(board, now)  # some may cross at once
                for packet in packets:  # the others reach the board later, if at all
                    if isinstance(packet, PusTc) and RequestId.of(packet).pack() not in answered:
                        self._unanswered(board, packet)
            self._deliver(board, now)

    # ------------------------------------------------------------------ internals

    def _deliver(self, board: ServedBoard, now: float) -> int:
        """Requests and replies whose impaired paths release them by ``now``; the intact reply
        packets written (a damaged one does not answer anything)."""
        self._deliver_requests(board, now)
        return self._deliver_replies(board, now)

    def _deliver_requests(self, board: ServedBoard, now: float) -> set[bytes]:
        """The requests the line releases by ``now``, handled; the ids of those answered."""
        answered: set[bytes] = set()
        path = board.to_board
        if path is not None:
            for frame in path.due(now):
                packet = self._decode_impaired(board, frame)
                if packet is not None and self._reply(
                    board, board.emulator.handle(packet, now), now
                ):
                    answered.add(RequestId.of(packet).pack())
        return answered

    def _deliver_replies(self, board: ServedBoard, now: float) -> int:
        """The replies the line releases by ``now``, written; how many are intact packets."""
        path = board.from_board
        if path is not None:
            frames = path.due(now)
            if frames:
                try:
                    board.channel.link.write_frames(frames)
                except LinkError as exc:
                    board.channel.link.record_error(f"reply_{exc.reason}")
                    return 0
                return sum(1 for frame in frames if _intact(frame))
        return 0

    @staticmethod
    def _decode_impaired(board: ServedBoard, frame: bytes) -> PusTc | PusTm | None:
        """What the board's own deframer makes of a request after the line: a damaged one
        fails the CRC (or the header) and is counted, as the board would."""
        try:
            return PusPacket.from_raw(frame[len(ASM) :])
        except ProtocolError as exc:
            board.channel.link.record_error(f"impaired_{exc.reason}")
            return None

    def _unanswered(self, board: ServedBoard, request: PusTc | PusTm) -> None:
        if self.on_unanswered is not None and isinstance(request, PusTc):
            self.on_unanswered(board.emulator.name, request)

    def _reply(self, board: ServedBoard, replies: Sequence[PusTm | Garbage], now: float) -> bool:
        """Write (or put on the line) a request's replies; whether a reply packet was written
        at once (noise, or a reply the line holds for later, is not one)."""
        link = board.channel.link
        path = board.from_board
        queued = answered = False
        try:
            for reply in replies:
                garbage = isinstance(reply, Garbage)
                data = reply.data if isinstance(reply, Garbage) else ASM + reply.pack()
                if path is not None and not path.passes(len(data), now):
                    path.push_frame(data, now)
                    queued = True
                elif garbage:
                    link.write(data)  # a faulty board's noise, as it is
                else:
                    link.write_frame(data)
                    answered = True
        except (EncodeError, LinkError) as exc:
            link.record_error(f"reply_{exc.reason}")
        if queued and self._deliver_replies(board, now):
            answered = True
        return answered

    def stats(self) -> dict[str, Any]:
        """Per board: link statistics, deframer statistics, the impaired line's counts, and
        what its devices did: command handler runs by ``device.command`` (``acted``) and the
        repeated requests answered from memory (``repeats``, decision 0022)."""
        return {
            board.emulator.name: {
                "link": board.channel.link.stats.as_dict(),
                "deframer": board.channel.deframer.stats.as_dict(),
                "decode_errors": board.channel.decode_errors,
                "line": self.line_stats(board.emulator.name),
                "acted": {
                    f"{d}.{c}": n
                    for (d, c), n in sorted(getattr(board.emulator, "acted", {}).items())
                },
                "repeats": getattr(board.emulator, "repeats", 0),
            }
            for board in self.boards
        }

    def close(self) -> None:
        """Close every board link (idempotent)."""
        for board in self.boards:
            board.channel.close()
