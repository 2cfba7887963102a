"""The common part of every HAL board driver: request/response with retries, health, reopening.

A board driver subclasses :class:`BoardClient` with typed calls (``move_joint(...)``,
``read_status()``) built on :meth:`BoardClient.command` and :meth:`BoardClient.status`. The base:

* sends each request with the device's next sequence count and waits for the reply that names
  that request (TM[1,7]/TM[1,8] carry its request id; TM[3,25] and TM[17,2] answer the last
  request of their kind), discarding stale replies to earlier calls;
* splits its ``timeout`` over ``1 + retries`` attempts, so a call never blocks longer than
  ``timeout`` seconds, whatever the board does; every attempt of a call re-sends the *same*
  request (same request id): the board answers a repeat from its memory without acting again
  (exactly once, decision 0022 and :mod:`hal.protocol.devices.icd`);
* never re-sends a hazardous command blindly: after an attempt without a reply it reads the
  device's status (its own request, safe to repeat) and compares it with the command's declared
  :class:`~hal.protocol.devices.icd.Effect`. Present: the command succeeded and its reply was
  lost (event ``device_reply_lost`` saying the state confirmed it). Absent: the next attempt
  re-sends the same request id. No attempt left: :class:`DeviceNotActed` (the state showed the
  command not done) or :class:`DeviceUnconfirmed` (the state could not be read either). A
  hazardous call splits its ``timeout`` over ``2 * (1 + retries)`` waits (a command and a status
  read per attempt), so it too never blocks longer than ``timeout``;
* numbers its requests from :meth:`BoardClient.start_sequence` (the node derives the start from
  its boot count), so a rebooted node does not repeat the ids its predecessor left in a
  board's memory;
* turns every way a board can misbehave into a :class:`DeviceError` the flight software can act
  on: :class:`DeviceTimeout` (absent or silent), :class:`DeviceFailed` (the board refused, with
  the failure's name and detail), :class:`DeviceReplyError` (a reply that breaks the ICD),
  :class:`DeviceUnavailable` (the link is down, being reopened);
* offers a heartbeat that never waits (:meth:`BoardClient.start_ping`, then
  :meth:`BoardClient.poll_ping` on later cycles), so a silent board costs its node's executive
  no blocked cycle, where :meth:`BoardClient.ping` would block for the whole ``timeout``;
* keeps a :class:`Health` record (last reply, consecutive failures, link state) and reports the
  transitions as events through ``on_event(name, detail)``: ``device_lost``, ``device_recovered``,
  ``device_silent``;
* reopens a lost link (USB unplugged) with exponential backoff, at the same path or, given the
  board's USB serial number, wherever pyserial's port listing finds it now.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from hal.errors import HalError, LinkClosed, LinkError, LinkOpenError, LinkTimeout, ProtocolError
from hal.links import Link, open_link
from hal.links.channel import PacketChannel
from hal.protocol.devices import icd as common
from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Effect
from hal.protocol.framing import Deframer
from hal.protocol.pus import DEVICE_FAILURE_SIZE, DeviceFailure, PusTc, PusTm, RequestId

__all__ = [
    "BoardClient",
    "DeviceError",
    "DeviceFailed",
    "DeviceNotActed",
    "DeviceReplyError",
    "DeviceTimeout",
    "DeviceUnavailable",
    "DeviceUnconfirmed",
    "Health",
]

DEFAULT_TIMEOUT: Final = 0.5
DEFAULT_RETRIES: Final = 2
BACKOFF_FIRST: Final = 0.25
BACKOFF_MAX: Final = 8.0
SILENT_AFTER: Final = 3
SIL_PATIENCE: Final = 10.0
"""Wall seconds a driver with ``silence`` (lockstep SIL) waits for a reply or the simulator's
word that none comes, before it takes the simulator for broken."""
SIL_POLL: Final = 0.002
"""Wall seconds between two looks at the simulator's word while a reply is awaited."""
SEQ_MODULUS: Final = 0x4000
"""Sequence counts are 14 bits."""
SEQ_PER_BOOT: Final = 0x400
"""Sequence counts set aside per boot: a node's boot ``n`` numbers from ``n * 1024`` (mod
16384), so 16 boots pass before a start comes round again (decision 0022)."""


class DeviceError(HalError):
    """A device could not do what was asked; ``reason`` says why in one word."""

    default_reason = "device"


class DeviceTimeout(DeviceError):
    """No reply within the timeout, after every retry: the board is absent or silent."""

    default_reason = "no_reply"


class DeviceFailed(DeviceError):
    """The board refused the command; ``reason`` is the failure's name, ``detail`` its value."""

    default_reason = "failed"

    def __init__(self, message: str, reason: str, code: int, detail: int) -> None:
        super().__init__(message, reason=reason)
        self.code = code
        self.detail = detail


class DeviceNotActed(DeviceTimeout):
    """A hazardous command went unanswered, and the device's status shows it not done."""

    default_reason = "not_acted"


class DeviceUnconfirmed(DeviceTimeout):
    """A hazardous command went unanswered and the device's status could not be read: whether
    it acted is unknown."""

    default_reason = "unconfirmed"


class DeviceReplyError(DeviceError):
    """A reply that breaks the ICD (wrong length, a value out of range)."""

    default_reason = "bad_reply"


class DeviceUnavailable(DeviceError):
    """The board's link is down; it is being reopened with backoff."""

    default_reason = "link_down"


@dataclass
class Health:
    """What the flight software knows of a board's health.

    Attributes:
        link: ``open``, ``lost`` (being reopened) or ``closed``.
        last_reply: the driver clock's time of the last good reply, or None.
        consecutive_failures: requests in a row that got no good reply.
        requests, replies, retries, reopens: counts.
        confirmed_by_state: hazardous commands whose reply was lost and whose effect the
            device's status showed.
        failures: failed requests by reason.
    """

    link: str = "closed"
    last_reply: float | None = None
    consecutive_failures: int = 0
    requests: int = 0
    replies: int = 0
    retries: int = 0
    reopens: int = 0
    confirmed_by_state: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """The link is up and the last request was answered."""
        return self.link == "open" and self.consecutive_failures == 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "link": self.link, "ok": self.ok, "last_reply": self.last_reply,
            "consecutive_failures": self.consecutive_failures, "requests": self.requests,
            "replies": self.replies, "retries": self.retries, "reopens": self.reopens,
            "confirmed_by_state": self.confirmed_by_state, "failures": dict(self.failures),
        }  # fmt: skip


class BoardClient:
    """A board on a serial endpoint, through its ICD.

    Args:
        url: the board's port (a tty path, ``/dev/serial/by-id/...``, ``socket://``...).
        baudrate: the port's rate (ignored by ptys and sockets).
        usb_serial: the board's USB serial number, to find it again under another path.
        timeout: the most any one call blocks, seconds, retries included.
        retries: attempts after the first, within ``timeout``.
        monotonic: the clock for deadlines (the reply waits too) and backoff; it must move
            while the client waits (the wall's monotonic clock on a line, or a test's clock that
            its in-memory line moves).
        on_event: called ``(name, detail)`` on health transitions and on a lost reply that the
            device's state confirmed (``device_reply_lost``).
        silence: lockstep SIL only: ``silence(request_id)`` says whether the simulator declared
            the request unanswered this cycle (:meth:`hal.links.timing.TimingClient.unanswered`).
            A reply is then awaited until it comes or is declared lost, never until the wall
            clock says so (which only bounds a broken simulator, :data:`SIL_PATIENCE`): the same
            fault has the same outcome in every run, however loaded the machine, and a silent
            board costs no wall time (decision 0034). A timeout then takes no simulated time:
            the cycle's time stands still while a driver waits, as it does for every reply.
        link_kwargs: passed to :func:`~hal.links.open_link` (``capture_dir``, ``timestamp``).

    The link is opened on the first call (or by :meth:`open`); a board absent at start is
    simply a lost link being retried.
    """

    icd: ClassVar[BoardIcd]

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 115200,
        usb_serial: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        monotonic: Callable[[], float] = time.monotonic,
        on_event: Callable[[str, str], None] | None = None,
        silence: Callable[[bytes], bool] | None = None,
        **link_kwargs: Any,
    ) -> None:
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries not negative")
        self.url = url
        self.baudrate = baudrate
        self.usb_serial = usb_serial
        self.timeout = timeout
        self.retries = retries
        self.monotonic = monotonic
        self.on_event = on_event
        self.silence = silence
        self._link_kwargs = link_kwargs
        self.health = Health()
        self._channel: PacketChannel | None = None
        self._seq: dict[int, int] = {}
        self._seq_start = 0
        self._next_open = 0.0
        self._backoff = BACKOFF_FIRST
        self._was_open = False
        self._written_before = 0
        self._ping: _PendingPing | None = None

    @property
    def link(self) -> Link | None:
        """The board's link as now open (its ``stats``), or None before the first open."""
        return None if self._channel is None else self._channel.link

    @property
    def bytes_out(self) -> int:
        """Octets written to the board so far, across every reopen of its link."""
        channel = self._channel
        return self._written_before + (0 if channel is None else channel.link.bytes_out)

    # ------------------------------------------------------------------ life cycle

    def start_sequence(self, boot_count: int) -> None:
        """Number the following requests of every device from boot ``boot_count``'s start,
        ``boot_count * SEQ_PER_BOOT`` modulo 16384: the ids of a node's earlier boot, still in
        a board's memory, are not those of this one (decision 0022)."""
        self._seq_start = (boot_count * SEQ_PER_BOOT) % SEQ_MODULUS
        self._seq.clear()

    def _next_seq(self, apid: int) -> int:
        seq = self._seq[apid] = (self._seq.get(apid, self._seq_start - 1) + 1) % SEQ_MODULUS
        return seq

    def open(self) -> bool:
        """Open the link if it is not; False (and the link ``lost``) when it cannot be yet."""
        if self._channel is not None and self._channel.link.is_open:
            return True
        now = self.monotonic()
        if now < self._next_open:
            return False
        url = self.url
        if self.usb_serial is not None:
            from hal.links.serial_link import find_port_by_serial

            url = find_port_by_serial(self.usb_serial) or url
        try:
            link: Link = open_link(url, baudrate=self.baudrate, **self._link_kwargs)
            link.open()
        except (LinkOpenError, ValueError) as exc:
            self._next_open = now + self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            if self.health.link != "lost":
                self._lost(f"cannot open {url}: {exc}")
            return False
        self._retire_channel()
        self._channel = PacketChannel(
            link, Deframer(max_length=None, apid_max=self.icd.apids), monotonic=self.monotonic
        )
        self._backoff = BACKOFF_FIRST
        if self._was_open:
            self.health.reopens += 1
            self._event("device_recovered", f"{self.icd.name} back on {url}")
        self._was_open = True
        self.health.link = "open"
        return True

    def close(self) -> None:
        """Close the link (idempotent)."""
        if self._channel is not None:
            self._channel.close()
        self.health.link = "closed"

    def __enter__(self) -> BoardClient:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def ping(self, device: str) -> float:
        """Connection test; returns the round trip in seconds."""
        dev = self.icd.device(device)
        start = self.monotonic()
        self._request(dev, common.SERVICE_TEST, common.SUBTYPE_ALIVE, b"",
                      (common.SERVICE_TEST, common.SUBTYPE_ALIVE_REPORT))  # fmt: skip
        return self.monotonic() - start

    def start_ping(self, device: str, now: float | None = None) -> bool:
        """Send a connection test and return at once; :meth:`poll_ping` takes its answer.

        Args:
            device: the device to ping.
            now: the caller's time, on the clock its later :meth:`poll_ping` calls give (a
                node gives node time, so that in lockstep the timeout runs in simulated
                seconds, when the emulated board answers); None: the client's clock.

        Returns False, sending nothing, when the link is down (being reopened: the outage is
        already in the health record). A ping still in flight is not doubled.
        """
        if self._ping is not None:
            return True
        dev = self.icd.device(device)
        if not self.open() or self._channel is None:
            return False
        channel = self._channel
        seq = self._next_seq(dev.apid)
        tc = PusTc(dev.apid, common.SERVICE_TEST, common.SUBTYPE_ALIVE, b"", seq_count=seq)
        try:
            channel.send(tc)
        except LinkClosed as exc:
            self._lost(str(exc))
            self._fail(DeviceUnavailable(f"{self.icd.name}: {exc}"))
            return False
        except LinkError as exc:
            self._fail(DeviceUnavailable(f"{self.icd.name}: {exc}"))
            return False
        self.health.requests += 1
        match = _matcher(dev.apid, (common.SERVICE_TEST, common.SUBTYPE_ALIVE_REPORT),
                         RequestId.of(tc).pack())  # fmt: skip
        sent = self.monotonic() if now is None else now
        self._ping = _PendingPing(dev, match, self.health.replies, sent + self.timeout)
        return True

    def poll_ping(self, now: float | None = None) -> bool | None:
        """The answer to the :meth:`start_ping` in flight, without waiting: True when the
        board answered it (or answered anything since it was sent), False when nothing came
        within ``timeout`` (a :class:`DeviceTimeout` in the health record, as :meth:`ping`
        would count it), None while it is still in flight or when none was sent. ``now``: as
        for :meth:`start_ping`."""
        pending = self._ping
        if pending is None:
            return None
        if self.health.replies != pending.replies:  # another request's reply came meanwhile
            self._ping = None
            return True
        channel = self._channel
        try:
            reply = None if channel is None else channel.receive(0, match=pending.match)
        except LinkClosed as exc:
            self._ping = None
            self._lost(str(exc))
            self._fail(DeviceUnavailable(f"{self.icd.name}: {exc}"))
            return False
        except LinkError:
            reply = None
        if reply is not None:
            self._ping = None
            self._answered(pending.dev)
            return True
        if (self.monotonic() if now is None else now) < pending.deadline:
            return None
        self._ping = None
        self._fail(DeviceTimeout(f"{self.icd.name}.{pending.dev.name}: no reply to "
                                 f"TC[17,1] within {self.timeout} s"))  # fmt: skip
        return False

    def status(self, device: str) -> dict[str, Any]:
        """The device's status report, decoded and checked against the ICD."""
        dev = self.icd.device(device)
        reply = self._request(dev, common.SERVICE_HK, common.SUBTYPE_REPORT_NOW, b"",
                              (common.SERVICE_HK, common.SUBTYPE_STATUS_REPORT))  # fmt: skip
        return self._decode_status(dev, reply)

    def _decode_status(self, dev: DeviceIcd, reply: PusTm | None) -> dict[str, Any]:
        try:
            if reply is None:  # pragma: no cover - a status request declares no effect
                raise ProtocolError("no status report")
            return dev.status.decode(reply.source_data)
        except ProtocolError as exc:
            raise self._fail(DeviceReplyError(f"{self.icd.name}.{dev.name} status: {exc}")) from exc

    def command(self, device: str, name: str, **args: Any) -> None:
        """Send a command and wait for its completion report.

        A hazardous command whose reply is lost is decided on the device's status (see the
        module docstring): it returns normally when the status shows its effect.

        Raises:
            EncodeError: an argument out of the ICD's range (nothing is sent).
            DeviceFailed: the board refused it (``reason`` names the failure).
            DeviceNotActed, DeviceUnconfirmed: a hazardous command went unanswered; the status
                showed it not done, or could not be read.
            DeviceTimeout, DeviceReplyError, DeviceUnavailable: see the module docstring.
        """
        dev = self.icd.device(device)
        message = dev.command(name)
        data = message.encode(**args)
        effect = message.effect if message.hazardous else None
        self._request(dev, message.service, message.subtype, data, None, effect, message.name)

    # ------------------------------------------------------------------ internals

    def _request(
        self,
        dev: DeviceIcd,
        service: int,
        subtype: int,
        data: bytes,
        expect: tuple[int, int] | None,
        effect: Effect | None = None,
        name: str = "",
    ) -> PusTm | None:
        """One request, every attempt with the same request id; the reply, or None when a
        hazardous command's (``effect`` given) reply was lost and the status showed it done."""
        if not self.open():
            raise self._fail(DeviceUnavailable(f"{self.icd.name}: link to {self.url} is down"))
        channel = self._channel
        if channel is None:  # pragma: no cover - open() returned True
            raise DeviceUnavailable(f"{self.icd.name}: no channel")
        self.health.requests += 1
        waits = (1 + self.retries) * (2 if effect is not None else 1)
        per_attempt = self.timeout / waits
        tc = PusTc(dev.apid, service, subtype, data, seq_count=self._next_seq(dev.apid))
        match = _matcher(dev.apid, expect, RequestId.of(tc).pack())
        what = f"{self.icd.name}.{dev.name} TC[{service},{subtype}]" + (f" {name}" if name else "")
        state_read = False  # the status read after the last lost reply answered (no effect)
        try:
            channel.receive_all(0)  # replies to earlier, abandoned calls are stale
            for attempt in range(1 + self.retries):
                if attempt:
                    self.health.retries += 1
                try:
                    reply = self._exchange(channel, tc, per_attempt, match)
                except LinkTimeout:
                    if effect is None:
                        continue
                    status = self._read_for_effect(channel, dev, per_attempt)
                    reply = channel.receive(0, match=match)  # it may have come meanwhile
                    if reply is None:
                        if status is not None and effect.present(status):
                            self._answered(dev)
                            self.health.confirmed_by_state += 1
                            self._event("device_reply_lost", f"{what}: no reply; the status "
                                        f"shows {effect.describe()}: done once")  # fmt: skip
                            return None
                        # what the status after the *last* command attempt showed decides
                        state_read = status is not None
                        continue
                if not isinstance(reply, PusTm):  # pragma: no cover - matcher takes TM only
                    continue
                self._answered(dev)
                if reply.service == common.SERVICE_VERIFICATION and reply.subtype in (
                    common.SUBTYPE_ACCEPTANCE_FAILED, common.SUBTYPE_FAILED,
                ):  # fmt: skip
                    report = DeviceFailure.unpack(reply.source_data)  # size checked by match
                    failure = dev.failure_name(report.code)
                    raise self._fail(DeviceFailed(
                        f"{what} failed: {failure} (detail {report.detail})", reason=failure,
                        code=report.code, detail=report.detail,
                    ), count_as_reply=True)  # fmt: skip
                return reply
        except LinkClosed as exc:
            self._lost(str(exc))
            raise self._fail(DeviceUnavailable(f"{self.icd.name}: {exc}")) from exc
        except LinkError as exc:
            raise self._fail(DeviceUnavailable(f"{self.icd.name}: {exc}")) from exc
        attempts = f"within {self.timeout} s ({1 + self.retries} attempts)"
        if effect is not None and state_read:
            raise self._fail(DeviceNotActed(
                f"{what}: no reply {attempts}; the status does not show {effect.describe()}: "
                "not done"
            ))  # fmt: skip
        if effect is not None:
            raise self._fail(DeviceUnconfirmed(
                f"{what}: no reply {attempts} and no status: whether it acted is unknown"
            ))  # fmt: skip
        raise self._fail(DeviceTimeout(f"{what}: no reply {attempts}"))

    def _exchange(
        self, channel: PacketChannel, tc: PusTc, timeout: float, match: Callable[[Any], bool]
    ) -> Any:
        """Send ``tc`` and wait for its reply: for ``timeout`` seconds, or (``silence``) until
        the reply comes or the simulator declares it lost.

        Raises:
            LinkTimeout: no reply (reason ``no_reply``).
        """
        if self.silence is None:
            return channel.request(tc, timeout, match=match)
        request_id = RequestId.of(tc).pack()
        channel.send(tc)
        deadline = self.monotonic() + max(timeout, SIL_PATIENCE)
        while (reply := channel.receive(SIL_POLL, match=match)) is None:
            declared = self.silence(request_id)
            if declared or self.monotonic() >= deadline:
                channel.link.record_error("no_reply" if declared else "no_reply_sil_patience")
                why = "the simulator says none comes" if declared else f"{SIL_PATIENCE} s"
                raise LinkTimeout(f"{self.icd.name}: no reply to {request_id.hex()} ({why})",
                                  reason="no_reply")  # fmt: skip
        return reply

    def _read_for_effect(
        self, channel: PacketChannel, dev: DeviceIcd, timeout: float
    ) -> dict[str, Any] | None:
        """The device's status, read once within ``timeout`` after a lost reply; None when it
        does not come or breaks the ICD (a status request acts on nothing: safe to repeat)."""
        tc = PusTc(dev.apid, common.SERVICE_HK, common.SUBTYPE_REPORT_NOW, b"",
                   seq_count=self._next_seq(dev.apid))  # fmt: skip
        expect = (common.SERVICE_HK, common.SUBTYPE_STATUS_REPORT)
        match = _matcher(dev.apid, expect, b"")
        while channel.receive(0, match=match) is not None:
            pass  # a report (carrying no request id) still queued answers an earlier read
        try:
            reply = self._exchange(channel, tc, timeout, match)
        except LinkTimeout:
            return None
        if not isinstance(reply, PusTm):  # pragma: no cover - matcher takes TM only
            return None
        try:
            return dev.status.decode(reply.source_data)
        except ProtocolError:
            return None

    def _answered(self, dev: DeviceIcd) -> None:
        self.health.replies += 1
        self.health.last_reply = self.monotonic()
        if self.health.consecutive_failures >= SILENT_AFTER:
            self._event("device_answering", f"{self.icd.name}.{dev.name}")
        self.health.consecutive_failures = 0

    def _fail(self, error: DeviceError, count_as_reply: bool = False) -> DeviceError:
        self.health.failures[error.reason] += 1
        if count_as_reply:
            return error
        self.health.consecutive_failures += 1
        if self.health.consecutive_failures == SILENT_AFTER:
            self._event("device_silent", f"{self.icd.name}: {error}")
        return error

    def _lost(self, detail: str) -> None:
        self.health.link = "lost"
        self._event("device_lost", f"{self.icd.name}: {detail}")
        self._retire_channel()

    def _retire_channel(self) -> None:
        """Close and drop the channel, keeping the count of what it wrote."""
        if self._channel is not None:
            self._channel.close()
            self._written_before += self._channel.link.bytes_out
            self._channel = None

    def _event(self, name: str, detail: str) -> None:
        if self.on_event is not None:
            self.on_event(name, detail)


@dataclass(frozen=True)
class _PendingPing:
    """A heartbeat in flight: its device, its reply, the replies counted when it went, and the
    client-clock time after which it has gone unanswered."""

    dev: DeviceIcd
    match: Callable[[PusTc | PusTm], bool]
    replies: int
    deadline: float


def _matcher(
    apid: int, expect: tuple[int, int] | None, rid: bytes
) -> Callable[[PusTc | PusTm], bool]:
    """The reply to one request: its report type, or a verification report naming it."""

    def match(packet: PusTc | PusTm) -> bool:
        if not isinstance(packet, PusTm) or packet.apid != apid:
            return False
        if packet.service == common.SERVICE_VERIFICATION:
            size = 4 if packet.subtype == common.SUBTYPE_COMPLETED else DEVICE_FAILURE_SIZE
            return packet.source_data[:4] == rid and len(packet.source_data) == size
        return expect is not None and (packet.service, packet.subtype) == expect

    return match
