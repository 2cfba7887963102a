"""FOP-1, the ground half of COP-1 (CCSDS 232.1-B-2, section 5).

FOP-1 numbers type-AD frames with V(S), keeps every sent frame until a CLCW acknowledges it
(N(R) beyond its N(S)), retransmits on a CLCW's retransmit flag or when its timer T1 expires, and
gives up (an *alert*) after the transmission limit, on lockout, or on an impossible N(R). It is a
pure state machine driven by the caller with the time (``now``, seconds of the caller's clock):

* :meth:`Fop1.initiate` starts the AD service (with or without CLCW check, with Unlock or with
  Set V(R));
* :meth:`Fop1.submit` queues a payload (the data field of one AD frame) and returns its id;
* :meth:`Fop1.on_clcw` takes every CLCW received (each TM frame carries one);
* :meth:`Fop1.tick` checks the timer;
* :meth:`Fop1.take_transmissions` returns the frames to send now (new or retransmitted; the
  caller authenticates each transmission anew: decision 0006);
* :meth:`Fop1.fate` tells what became of a submitted payload: ``queued``, ``sent``,
  ``delivered`` (acknowledged by FARM-1) or ``failed:<reason>``.

States: S1 *Active*, S2 *Retransmit without wait*, S3 *Retransmit with wait*, S4 *Initialising
without BC frame*, S5 *Initialising with BC frame*, S6 *Initial*. The sliding window width K
must be smaller than FARM-1's W/2 so that a full sent queue never reaches the lockout area.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from enum import Enum
from typing import Final

from hal.protocol.clcw import Clcw
from hal.protocol.tc_frame import SEG_UNSEGMENTED, UNLOCK, TcFrame, set_vr_command

__all__ = ["Fop1", "FopState"]

DEFAULT_K: Final = 4
DEFAULT_T1: Final = 2.0
DEFAULT_LIMIT: Final = 8


class FopState(Enum):
    """FOP-1 states."""

    ACTIVE = "S1"
    RETRANSMIT_WITHOUT_WAIT = "S2"
    RETRANSMIT_WITH_WAIT = "S3"
    INITIALISING_WITHOUT_BC = "S4"
    INITIALISING_WITH_BC = "S5"
    INITIAL = "S6"


@dataclass
class _Sent:
    ns: int
    payload: bytes
    request: int
    flags: int


class Fop1:
    """FOP-1 for one TC virtual channel.

    Args:
        scid, vcid, map_id: addressing of the frames it builds.
        window: sliding window width K, 1..127 (frames sent and not yet acknowledged).
        t1: seconds to wait for an acknowledgement before retransmitting.
        transmission_limit: transmissions of one frame (first included) before an alert.
        max_waiting: payloads queued behind a full window before :meth:`submit` refuses.
    """

    def __init__(
        self,
        scid: int,
        vcid: int,
        *,
        map_id: int = 0,
        window: int = DEFAULT_K,
        t1: float = DEFAULT_T1,
        transmission_limit: int = DEFAULT_LIMIT,
        max_waiting: int = 1000,
    ) -> None:
        if not 1 <= window <= 127:
            raise ValueError(f"FOP window K {window} is outside 1..127")
        if transmission_limit < 1 or t1 <= 0:
            raise ValueError("transmission_limit must be >= 1 and t1 > 0")
        self.scid, self.vcid, self.map_id = scid, vcid, map_id
        self.window = window
        self.t1 = t1
        self.transmission_limit = transmission_limit
        self.max_waiting = max_waiting
        self.state = FopState.INITIAL
        self.vs = 0
        self.nnr = 0
        self._sent: deque[_Sent] = deque()
        self._waiting: deque[tuple[int, bytes, int]] = deque()
        self._outbox: list[TcFrame] = []
        self._bc_frame: TcFrame | None = None
        self._transmission_count = 0
        self._deadline: float | None = None
        self._next_request = 0
        self._fates: dict[int, str] = {}
        self._unconfirmed: list[_Sent] = []
        self._resubmittable: list[tuple[int, bytes, int]] = []
        self._never_sent: list[tuple[int, bytes, int]] = []
        self._last_farm_b: int | None = None
        self._farm_b_at_initiate: int | None = None
        self.alerts: list[str] = []
        self.counts: Counter[str] = Counter()

    # ------------------------------------------------------------------ directives

    def initiate(self, now: float, mode: str = "no_clcw_check", vr: int | None = None) -> None:
        """Initiate the AD service.

        Args:
            now: the caller's time.
            mode: ``no_clcw_check`` (active at once), ``clcw_check`` (active when a CLCW shows
                N(R) = V(S) and no flags), ``unlock`` (send Unlock, then as ``clcw_check``), or
                ``set_vr`` (send Set V(R) with ``vr``, V(S) := ``vr``, then as ``clcw_check``).
        """
        self._purge("reinitialised")
        if mode == "no_clcw_check":
            self.state = FopState.ACTIVE
        elif mode == "clcw_check":
            self.state = FopState.INITIALISING_WITHOUT_BC
            self._start_timer(now, reset_count=True)
        elif mode in ("unlock", "set_vr"):
            if mode == "set_vr":
                if vr is None or not 0 <= vr <= 255:
                    raise ValueError(f"set_vr needs V(R) in 0..255, got {vr!r}")
                self.vs = self.nnr = vr
                data = set_vr_command(vr)
            else:
                data = UNLOCK
            self._bc_frame = TcFrame(self.scid, self.vcid, data, bypass=1, control=1)
            self._farm_b_at_initiate = self._last_farm_b
            self.state = FopState.INITIALISING_WITH_BC
            self._outbox.append(self._bc_frame)
            self._start_timer(now, reset_count=True)
        else:
            raise ValueError(f"unknown initiate mode {mode!r}")
        self._pump(now)

    def terminate(self) -> None:
        """Terminate the AD service: everything outstanding fails as ``terminated``."""
        self._purge("terminated")
        self.state = FopState.INITIAL

    def submit(self, payload: bytes, now: float, flags: int = SEG_UNSEGMENTED) -> int:
        """Queue one AD frame's payload; return its request id (see :meth:`fate`).

        ``flags`` are the segment header's sequence flags of the payload (see
        :mod:`hal.protocol.tc_segment`): unsegmented unless it is part of a long packet.

        Raises:
            RuntimeError: the service is not initiated (state S6) or the wait queue is full.
        """
        if self.state is FopState.INITIAL:
            raise RuntimeError("FOP-1 AD service is not initiated")
        if len(self._waiting) >= self.max_waiting:
            raise RuntimeError(f"FOP-1 wait queue is full ({self.max_waiting})")
        request = self._next_request
        self._next_request += 1
        self._waiting.append((request, bytes(payload), flags))
        self._fates[request] = "queued"
        self._pump(now)
        return request

    def fate(self, request: int) -> str:
        """``queued``, ``sent``, ``delivered`` or ``failed:<reason>``; KeyError if unknown."""
        return self._fates[request]

    def take_transmissions(self) -> list[TcFrame]:
        """The frames to put on the link now, in order (each to be authenticated anew)."""
        out, self._outbox = self._outbox, []
        return out

    @property
    def timer_running(self) -> bool:
        """Timer T1 is set: something is waiting for a CLCW (a retransmission may come)."""
        return self._deadline is not None

    @property
    def outstanding(self) -> int:
        """Payloads queued or sent and not yet acknowledged."""
        return len(self._sent) + len(self._waiting)

    # ------------------------------------------------------------------ events

    def on_clcw(self, clcw: Clcw, now: float) -> None:
        """Process one CLCW (of any virtual channel; others are ignored)."""
        if clcw.vcid != self.vcid:
            return
        self._last_farm_b = clcw.farm_b_counter
        if self.state is FopState.INITIAL:
            return
        if self.state is FopState.INITIALISING_WITH_BC:
            self._initialising_with_bc(clcw, now)
            return
        if clcw.lockout:
            self._alert("lockout")
            return
        nr = clcw.report_value
        if (nr - self.nnr) & 0xFF > (self.vs - self.nnr) & 0xFF:
            self._alert("invalid_nr")
            return
        acknowledged = self._acknowledge(nr)
        if self.state is FopState.INITIALISING_WITHOUT_BC:
            if not (clcw.wait or clcw.retransmit) and nr == self.vs:
                self.state = FopState.ACTIVE
                self._bc_frame = None
                self._deadline = None
                self._pump(now)
            return
        if acknowledged:
            self._transmission_count = 1
            self._deadline = None if not self._sent else now + self.t1
        if not clcw.retransmit:
            self.state = FopState.ACTIVE
            self._pump(now)
            return
        if not self._sent:
            return
        if clcw.wait:
            self.state = FopState.RETRANSMIT_WITH_WAIT
            return
        if self.state is not FopState.RETRANSMIT_WITHOUT_WAIT or acknowledged:
            self.state = FopState.RETRANSMIT_WITHOUT_WAIT
            self._retransmit(now)

    def resubmittable(self) -> list[tuple[int, bytes, int]]:
        """Take the payloads that failed and are known never to have been executed.

        After an alert, the frames sent and not acknowledged are unconfirmed (``failed:``): they
        may or may not have been accepted on board. Re-initiating with Unlock or Set V(R)
        resolves them: the BC frame's acceptance (seen as a change of the FARM-B counter)
        proves no older frame can be accepted any more (its anti-replay sequence number is
        older), and the N(R) of that CLCW splits them into delivered ones and never-executed
        ones, returned here as ``(request, payload, flags)`` for the operator to send again.
        """
        if self._unconfirmed:
            return []  # keep the order: the unresolved frames come before the never-sent ones
        out = self._resubmittable + self._never_sent
        self._resubmittable, self._never_sent = [], []
        return out

    def _initialising_with_bc(self, clcw: Clcw, now: float) -> None:
        if self._farm_b_at_initiate is None:
            # No CLCW had been seen when the BC frame went out: this one is the baseline, and
            # only a later change of the counter proves the BC frame was accepted.
            self._farm_b_at_initiate = clcw.farm_b_counter
            return
        accepted = clcw.farm_b_counter != self._farm_b_at_initiate
        if not accepted or clcw.lockout or clcw.wait:
            return
        nr = clcw.report_value
        if self._unconfirmed:
            base = self._unconfirmed[0].ns
            span = (self.vs - base) & 0xFF
            if (nr - base) & 0xFF > span:
                self._alert("invalid_nr")
                return
            for sent in self._unconfirmed:
                if 0 < (nr - sent.ns) & 0xFF <= span:
                    self._fates[sent.request] = "delivered"
                    self.counts["delivered_late"] += 1
                else:
                    self._resubmittable.append((sent.request, sent.payload, sent.flags))
            self._unconfirmed.clear()
        if self._bc_frame is not None and self._bc_frame.data == UNLOCK:
            self.vs = self.nnr = nr  # resynchronise on what FARM-1 reports (decision 0007)
        elif nr != self.vs:
            return  # Set V(R) not yet in effect
        self.nnr = nr
        self.state = FopState.ACTIVE
        self._bc_frame = None
        self._deadline = None
        self._pump(now)

    def tick(self, now: float) -> None:
        """Check timer T1; on expiry retransmit, or alert once the limit is reached."""
        if self._deadline is None or now < self._deadline:
            return
        if self.state is FopState.INITIALISING_WITH_BC and self._bc_frame is not None:
            if self._transmission_count >= self.transmission_limit:
                self._alert("t1_limit")
                return
            self._transmission_count += 1
            self._outbox.append(self._bc_frame)
            self._deadline = now + self.t1
            return
        if self.state is FopState.INITIALISING_WITHOUT_BC:
            self._alert("t1_limit")
            return
        if self._sent:
            if self.state is FopState.RETRANSMIT_WITH_WAIT:
                self.state = FopState.RETRANSMIT_WITHOUT_WAIT
            self._retransmit(now)

    # ------------------------------------------------------------------ internals

    def _acknowledge(self, nr: int) -> bool:
        acknowledged = False
        while (
            self._sent
            and (nr - self._sent[0].ns) & 0xFF
            and ((nr - self._sent[0].ns) & 0xFF <= (self.vs - self._sent[0].ns) & 0xFF)
        ):
            done = self._sent.popleft()
            self._fates[done.request] = "delivered"
            self.counts["delivered"] += 1
            acknowledged = True
        self.nnr = nr
        return acknowledged

    def _retransmit(self, now: float) -> None:
        if self._transmission_count >= self.transmission_limit:
            self._alert("t1_limit")
            return
        self._transmission_count += 1
        for sent in self._sent:
            self._outbox.append(self._frame(sent))
            self.counts["retransmitted"] += 1
        self._deadline = now + self.t1

    def _pump(self, now: float) -> None:
        if self.state is not FopState.ACTIVE:
            return
        while self._waiting and len(self._sent) < self.window:
            request, payload, flags = self._waiting.popleft()
            sent = _Sent(self.vs, payload, request, flags)
            self.vs = (self.vs + 1) & 0xFF
            self._sent.append(sent)
            self._fates[request] = "sent"
            self._outbox.append(self._frame(sent))
            self.counts["transmitted"] += 1
            if self._deadline is None:
                self._start_timer(now, reset_count=True)

    def _frame(self, sent: _Sent) -> TcFrame:
        return TcFrame(
            self.scid, self.vcid, sent.payload,
            seq=sent.ns, map_id=self.map_id, seg_flags=sent.flags,
        )  # fmt: skip

    def _start_timer(self, now: float, *, reset_count: bool) -> None:
        if reset_count:
            self._transmission_count = 1
        self._deadline = now + self.t1

    def _alert(self, reason: str) -> None:
        self.alerts.append(reason)
        self.counts[f"alert_{reason}"] += 1
        self._purge(reason)
        self.state = FopState.INITIAL

    def _purge(self, reason: str) -> None:
        for sent in self._sent:
            self._fates[sent.request] = f"failed:{reason}"
            self._unconfirmed.append(sent)
        for request, payload, flags in self._waiting:
            self._fates[request] = f"failed:{reason}"
            self._never_sent.append((request, payload, flags))
        self._sent.clear()
        self._waiting.clear()
        self._outbox.clear()
        self._deadline = None
        self._bc_frame = None
