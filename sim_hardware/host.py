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
Without impairments the paths are not there at all.
"""

from __future__ import annotations

import math
import random
import select
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from hal.errors import EncodeError, LinkError, ProtocolError
from hal.links import open_link
from hal.links.channel import PacketChannel
from hal.protocol.framing import ASM, Deframer
from hal.protocol.pus import PusPacket, PusTc, PusTm
from sim_hardware.devices.base import Garbage
from sim_hardware.emulator import Emulator
from sim_hardware.space_link import Impairments, LinkPath

__all__ = ["DIRECTIONS", "PtyHost", "ServedBoard"]

Direction = Literal["to_board", "from_board"]
DIRECTIONS: Final[tuple[Direction, ...]] = ("to_board", "from_board")
"""The two directions of a board's serial line: requests in, replies out."""

_PERFECT: Final = Impairments()


def _passes(path: LinkPath | None) -> bool:
    """The line is perfect now: no path, or one with nothing in flight and no impairment."""
    return path is None or (path.idle and path.impairments == _PERFECT)


@dataclass
class ServedBoard:
    """One emulator on its link, with the impaired paths of its line when it has any."""

    emulator: Emulator
    channel: PacketChannel
    to_board: LinkPath | None = None
    from_board: LinkPath | None = None

    @property
    def path(self) -> str:
        """The tty path the flight software (or anything else) opens to reach this board."""
        return str(self.channel.link.peer_path)  # type: ignore[attr-defined]


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
    """

    def __init__(
        self,
        emulators: Sequence[Emulator],
        clock: Callable[[], float],
        *,
        capture_dir: str | None = None,
        symlinks: Mapping[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.boards: list[ServedBoard] = []
        self.by_name: dict[str, ServedBoard] = {}
        self._advanced_to: float | None = None
        try:
            for emulator in emulators:
                link = open_link(
                    "pty://", capture_dir=capture_dir, capture_name=f"sim-{emulator.name}",
                    symlink=(symlinks or {}).get(emulator.name), timestamp=clock,
                )  # fmt: skip
                deframer = Deframer(max_length=None, apid_max=emulator.apids)
                board = ServedBoard(emulator, PacketChannel(link, deframer))
                self.boards.append(board)
                self.by_name[emulator.name] = board
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
        """Give board ``name``'s line these impairments (None: a perfect line again).

        Frames already in flight keep the fate they were given, except that none comes out
        later than a frame sent now would (a cleared delay frees them, decision 0028); a path
        with nothing in flight and no impairment is bypassed (its statistics are kept).

        Raises:
            KeyError: no such board on this host.
        """
        board = self.by_name[name]
        for direction in directions:
            path: LinkPath | None = getattr(board, direction)
            if impairments is None:
                if path is not None:
                    path.impairments = _PERFECT
                continue
            if path is None:
                rng = random.Random(f"{self.seed}/line/{name}/{direction}")  # noqa: S311
                path = LinkPath(impairments, rng)
                setattr(board, direction, path)
            path.impairments = impairments

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
        for board in self.boards:
            board.emulator.advance(now)
            late = getattr(board.emulator, "poll", None)
            if late is not None:
                self._reply(board, late(now), now)
            self._deliver(board, now)

    def serve_once(self, timeout: float, extra_fds: Sequence[int] = ()) -> list[int]:
        """Wait up to ``timeout`` for traffic, answer it, and return the ready ``extra_fds``."""
        by_fd = {board.channel.link.fileno(): board for board in self.boards}
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
            channel.poll(0)
            for packet in channel.receive_all(0):
                if _passes(board.to_board):
                    self._reply(board, board.emulator.handle(packet, now), now)
                else:
                    board.to_board.push_frame(ASM + packet.pack(), now)  # type: ignore[union-attr]
            self._deliver(board, now)

    # ------------------------------------------------------------------ internals

    def _deliver(self, board: ServedBoard, now: float) -> None:
        """Requests and replies whose impaired paths release them by ``now``."""
        path = board.to_board
        if path is not None:
            for frame in path.due(now):
                packet = self._decode_impaired(board, frame)
                if packet is not None:
                    self._reply(board, board.emulator.handle(packet, now), now)
        path = board.from_board
        if path is not None:
            frames = path.due(now)
            if frames:
                try:
                    board.channel.link.write_frames(frames)
                except LinkError as exc:
                    board.channel.link.record_error(f"reply_{exc.reason}")

    @staticmethod
    def _decode_impaired(board: ServedBoard, frame: bytes) -> PusTc | PusTm | None:
        """What the board's own deframer makes of a request after the line: a damaged one
        fails the CRC (or the header) and is counted, as the board would."""
        try:
            return PusPacket.from_raw(frame[len(ASM) :])
        except ProtocolError as exc:
            board.channel.link.record_error(f"impaired_{exc.reason}")
            return None

    def _reply(self, board: ServedBoard, replies: Sequence[PusTm | Garbage], now: float) -> None:
        channel = board.channel
        path = None if _passes(board.from_board) else board.from_board
        try:
            for reply in replies:
                if path is not None:
                    data = reply.data if isinstance(reply, Garbage) else ASM + reply.pack()
                    path.push_frame(data, now)
                elif isinstance(reply, Garbage):
                    channel.link.write(reply.data)  # a faulty board's noise, as it is
                else:
                    channel.send(reply)
        except (EncodeError, LinkError) as exc:
            channel.link.record_error(f"reply_{exc.reason}")
        if path is not None:
            self._deliver(board, now)

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
