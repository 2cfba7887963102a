"""The thin host that serves emulators on virtual serial links.

Each emulated board gets a :class:`~hal.links.pty_link.PtyLink` (a pseudo-terminal whose far end
is a real tty path any program can open, as if it were the board's USB-serial port) wrapped in a
:class:`~hal.links.channel.PacketChannel`. One thread multiplexes every board with ``select``:
bytes in, deframe, decode, ``emulator.handle(packet, now)``, replies out. The host owns the clock
it hands to the emulators; the emulators own nothing but their state.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hal.errors import EncodeError, LinkError
from hal.links import open_link
from hal.links.channel import PacketChannel
from hal.protocol.framing import Deframer
from hal.protocol.pus import PusTm
from sim_hardware.devices.base import Garbage
from sim_hardware.emulator import Emulator


@dataclass
class ServedBoard:
    """One emulator on its link."""

    emulator: Emulator
    channel: PacketChannel

    @property
    def path(self) -> str:
        """The tty path the flight software (or anything else) opens to reach this board."""
        return str(self.channel.link.peer_path)  # type: ignore[attr-defined]


class PtyHost:
    """Serves emulators on pseudo-terminals until :meth:`stop`.

    Args:
        emulators: the boards to serve.
        clock: simulated time in seconds, handed to every ``handle`` and ``advance``.
        capture_dir: when given, each board's link records ``<board>.tx.pcap``/``.rx.pcap``.
        symlinks: board name -> a stable path to link to the board's tty (as udev's
            ``/dev/serial/by-id`` names do for real adapters).
    """

    def __init__(
        self,
        emulators: Sequence[Emulator],
        clock: Callable[[], float],
        *,
        capture_dir: str | None = None,
        symlinks: Mapping[str, str] | None = None,
    ) -> None:
        self.clock = clock
        self.boards: list[ServedBoard] = []
        self._running = False
        for emulator in emulators:
            link = open_link(
                "pty://", capture_dir=capture_dir, capture_name=f"sim-{emulator.name}",
                symlink=(symlinks or {}).get(emulator.name),
            )  # fmt: skip
            deframer = Deframer(max_length=None, apid_max=emulator.apids)
            self.boards.append(ServedBoard(emulator, PacketChannel(link, deframer)))

    def serve_once(self, timeout: float, extra_fds: Sequence[int] = ()) -> list[int]:
        """Wait up to ``timeout`` for traffic, answer it, and return the ready ``extra_fds``."""
        by_fd = {board.channel.link.fileno(): board for board in self.boards}
        ready, _, _ = select.select([*by_fd, *extra_fds], [], [], timeout)
        now = self.clock()
        for board in self.boards:
            board.emulator.advance(now)
            late = getattr(board.emulator, "poll", None)
            if late is not None:
                self._reply(board, late(now))
        for fd in ready:
            board = by_fd.get(fd)
            if board is None:
                continue
            channel = board.channel
            channel.poll(0)
            for packet in channel.receive_all(0):
                self._reply(board, board.emulator.handle(packet, now))
        return [fd for fd in ready if fd not in by_fd]

    @staticmethod
    def _reply(board: ServedBoard, replies: Sequence[PusTm | Garbage]) -> None:
        channel = board.channel
        try:
            for reply in replies:
                if isinstance(reply, Garbage):
                    channel.link.write(reply.data)  # a faulty board's noise, as it is
                else:
                    channel.send(reply)
        except (EncodeError, LinkError) as exc:
            channel.link.record_error(f"reply_{exc.reason}")

    def stats(self) -> dict[str, Any]:
        """Per board: link statistics and deframer statistics."""
        return {
            board.emulator.name: {
                "link": board.channel.link.stats.as_dict(),
                "deframer": board.channel.deframer.stats.as_dict(),
                "decode_errors": board.channel.decode_errors,
            }
            for board in self.boards
        }

    def close(self) -> None:
        """Close every board link (idempotent)."""
        for board in self.boards:
            board.channel.close()
