"""The software bus: in-process publish/subscribe between components (architecture.md §5).

Components never call each other's internals: they publish messages on named topics, and each
subscriber receives them through its own :class:`Pipe`, a bounded queue it drains in its own
cycle (cFS's pipes). A full pipe drops the new message and counts it, so a flood on one topic
never grows memory nor stops anyone else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Pipe", "SoftwareBus"]


@dataclass(eq=False)
class Pipe:
    """One subscriber's queue of ``(topic, message)``.

    Attributes:
        name: the owner's name (for statistics).
        depth: the most messages held; more are dropped and counted in :attr:`drops`.
    """

    name: str
    depth: int = 64
    drops: int = 0
    received: int = 0
    _queue: deque[tuple[str, Any]] = field(default_factory=deque, repr=False)

    def put(self, topic: str, message: Any) -> bool:
        """Queue a message; False (and counted) when the pipe is full."""
        if len(self._queue) >= self.depth:
            self.drops += 1
            return False
        self._queue.append((topic, message))
        self.received += 1
        return True

    def drain(self) -> list[tuple[str, Any]]:
        """Every queued message, oldest first, leaving the pipe empty."""
        out = list(self._queue)
        self._queue.clear()
        return out

    def __len__(self) -> int:
        return len(self._queue)


class SoftwareBus:
    """Topics to the pipes subscribed to them."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Pipe]] = {}
        self.published = 0

    def subscribe(self, topic: str, pipe: Pipe) -> None:
        """Deliver ``topic`` to ``pipe`` from now on (once, however often subscribed)."""
        pipes = self._subscribers.setdefault(topic, [])
        if pipe not in pipes:
            pipes.append(pipe)

    def publish(self, topic: str, message: Any) -> int:
        """Put ``message`` in every pipe subscribed to ``topic``; return how many took it."""
        self.published += 1
        return sum(pipe.put(topic, message) for pipe in self._subscribers.get(topic, ()))

    def stats(self) -> dict[str, Any]:
        """Messages published, and per pipe what it received and dropped."""
        pipes = {p.name: p for ps in self._subscribers.values() for p in ps}
        return {
            "published": self.published,
            "pipes": {n: {"received": p.received, "drops": p.drops} for n, p in pipes.items()},
        }
