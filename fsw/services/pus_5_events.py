"""PUS 5, event reporting: every event of the node, by severity, throttled per event id.

An event is reported as TM[5,1] (informative) .. TM[5,4] (high severity), source data laid out by
:class:`fsw.dictionary.model.Event`. Throttling: each event id may be reported at most
``events.throttle_count`` times per ``events.throttle_window`` seconds; the reports beyond are
counted, not sent, and when the window ends one ``events.throttled`` report says how many of
which id were suppressed. TC[5,5]/TC[5,6] enable/disable the reporting of one id (a disabled
event is still counted). Every event also goes to the node's log, throttled or not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.dictionary.files import TOPIC_EVENTS

__all__ = ["EventService"]


class EventService(Component):
    """The node's event reporter (component ``events``)."""

    name = "events"

    def __init__(self, ctx: NodeContext, log: Callable[[str, str, str], None]) -> None:
        super().__init__(ctx)
        self.log = log
        self.now = 0.0
        self.disabled: set[int] = set()
        self.reported: Counter[str] = Counter()
        self.suppressed_total = 0
        self._window_start: dict[int, float] = {}
        self._in_window: Counter[int] = Counter()
        self._suppressed: Counter[int] = Counter()

    def emit(self, name: str, detail: str = "") -> None:
        """Report event ``name`` with a one-line detail (throttled per id).

        Raises:
            KeyError: ``name`` is not declared in the node's dictionary.
        """
        event = self.ctx.dictionary.event(name)
        self.log(event.severity, name, detail)
        self.ctx.bus.publish(TOPIC_EVENTS, f"{self.now:.3f} {event.severity} {name} {detail}")
        self.reported[name] += 1
        if event.id in self.disabled:
            return
        now = self.now
        window = float(self.ctx.parameter("events.throttle_window"))
        start = self._window_start.get(event.id)
        if start is None or now - start >= window:
            self._flush(event.id)
            self._window_start[event.id] = now
            self._in_window[event.id] = 0
        if self._in_window[event.id] >= int(self.ctx.parameter("events.throttle_count")):
            self._suppressed[event.id] += 1
            self.suppressed_total += 1
            return
        self._in_window[event.id] += 1
        self.ctx.send_tm(5, event.subtype, event.encode(detail))

    def cycle(self, now: float) -> None:
        """Close the throttle windows that have ended (one suppression report each)."""
        self.now = now
        window = float(self.ctx.parameter("events.throttle_window"))
        for event_id, start in list(self._window_start.items()):
            if now - start >= window and self._suppressed[event_id]:
                self._flush(event_id)
                self._window_start.pop(event_id)

    def _flush(self, event_id: int) -> None:
        count = self._suppressed.pop(event_id, 0)
        if count:
            name = self.ctx.dictionary.event(event_id).name
            throttled = self.ctx.dictionary.event("events.throttled")
            detail = f"{name}: {count} reports suppressed"
            self.log(throttled.severity, throttled.name, detail)
            self.ctx.send_tm(5, throttled.subtype, throttled.encode(detail))

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[5,5] enable / TC[5,6] disable one event id."""
        event_id = cmd.args["event_id"]
        try:
            self.ctx.dictionary.event(event_id)
        except KeyError:
            raise CommandError(f"out_of_range: no event id {event_id}") from None
        if cmd.command.name == "events.enable":
            self.disabled.discard(event_id)
        else:
            self.disabled.add(event_id)
