"""COP-1 end to end at the protocol level: FOP-1 on the ground, authenticated TC frames over an
unreliable channel, FARM-1 on board, CLCWs back over an unreliable channel.

The property: whatever the channel does (drop, duplicate, reorder by delay, flip bits), every
command FOP-1 reports as delivered was executed exactly once, in order; nothing is executed twice;
nothing corrupted is executed.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.errors import ProtocolError
from hal.protocol.clcw import Clcw
from hal.protocol.farm1 import Farm1
from hal.protocol.fop1 import Fop1, FopState
from hal.protocol.sdls import SecurityAssociation, TcVerifier, authenticate

KEY = bytes(range(32))
SA = SecurityAssociation(1, KEY)


def clcw(vr, **flags):
    return Clcw(vcid=1, report_value=vr, **flags)


# ---------------------------------------------------------------- FOP-1 alone


def test_frames_are_numbered_sent_within_the_window_and_acknowledged():
    fop = Fop1(42, 1, window=2)
    fop.initiate(0.0)
    ids = [fop.submit(bytes([i]), 0.0) for i in range(3)]
    sent = fop.take_transmissions()
    assert [f.seq for f in sent] == [0, 1]  # K = 2
    assert [fop.fate(i) for i in ids] == ["sent", "sent", "queued"]
    fop.on_clcw(clcw(1), 0.1)
    assert fop.fate(ids[0]) == "delivered"
    assert [f.seq for f in fop.take_transmissions()] == [2]
    fop.on_clcw(clcw(3), 0.2)
    assert [fop.fate(i) for i in ids] == ["delivered"] * 3 and fop.outstanding == 0


def test_retransmit_flag_resends_once_and_the_timer_resends_again():
    fop = Fop1(42, 1, t1=1.0)
    fop.initiate(0.0)
    fop.submit(b"a", 0.0)
    fop.submit(b"b", 0.0)
    fop.take_transmissions()
    fop.on_clcw(clcw(0, retransmit=1), 0.1)
    assert [f.seq for f in fop.take_transmissions()] == [0, 1]
    assert fop.state is FopState.RETRANSMIT_WITHOUT_WAIT
    fop.on_clcw(clcw(0, retransmit=1), 0.2)  # the same CLCW again: no storm
    assert fop.take_transmissions() == []
    fop.tick(1.2)
    assert [f.seq for f in fop.take_transmissions()] == [0, 1]


def test_transmission_limit_ends_in_an_alert_and_failed_fates():
    fop = Fop1(42, 1, t1=1.0, transmission_limit=3)
    fop.initiate(0.0)
    request = fop.submit(b"a", 0.0)
    for t in (1.0, 2.0, 3.0):
        fop.tick(t)
    assert fop.alerts == ["t1_limit"]
    assert fop.state is FopState.INITIAL
    assert fop.fate(request) == "failed:t1_limit"
    with pytest.raises(RuntimeError, match="not initiated"):
        fop.submit(b"b", 4.0)


def test_lockout_and_impossible_n_r_are_alerts():
    fop = Fop1(42, 1)
    fop.initiate(0.0)
    fop.submit(b"a", 0.0)
    fop.on_clcw(clcw(0, lockout=1), 0.1)
    assert fop.alerts == ["lockout"]
    fop.initiate(0.2)
    fop.submit(b"a", 0.2)
    fop.on_clcw(clcw(50), 0.3)  # acknowledges frames never sent
    assert fop.alerts[-1] == "invalid_nr"


def test_initiate_with_unlock_sends_it_and_waits_for_a_clean_clcw():
    fop = Fop1(42, 1)
    fop.initiate(0.0, "unlock")
    (bc,) = fop.take_transmissions()
    assert bc.kind == "BC" and bc.data == b"\x00"
    fop.on_clcw(clcw(0, lockout=1, farm_b_counter=0), 0.1)  # before the Unlock arrived
    assert fop.state is FopState.INITIALISING_WITH_BC
    fop.on_clcw(clcw(0, farm_b_counter=1), 0.2)  # FARM-B counter moved: Unlock accepted
    assert fop.state is FopState.ACTIVE
    fop.initiate(0.3, "set_vr", vr=9)
    (bc,) = fop.take_transmissions()
    assert bc.data == b"\x82\x00\x09" and fop.vs == 9


# ---------------------------------------------------------------- over an unreliable channel


class Channel:
    """Per-step delivery with drop, duplicate, delay (reorders) and bit flips."""

    def __init__(self, rng, drop, dup, flip, max_delay, fifo=False):
        self.rng, self.drop, self.dup, self.flip, self.max_delay = rng, drop, dup, flip, max_delay
        self.fifo = fifo  # a downlink is one serial stream: delayed, never reordered
        self.in_flight: list[tuple[int, int, bytes]] = []
        self.order = 0
        self.last_due = 0

    def send(self, step, data):
        copies = 0 if self.rng.random() < self.drop else 1
        copies += 1 if self.rng.random() < self.dup else 0
        for _ in range(copies):
            raw = bytearray(data)
            if self.rng.random() < self.flip:
                bit = self.rng.randrange(len(raw) * 8)
                raw[bit // 8] ^= 1 << (bit % 8)
            self.order += 1
            due = step + self.rng.randint(0, self.max_delay)
            if self.fifo:
                due = self.last_due = max(due, self.last_due)
            self.in_flight.append((due, self.order, bytes(raw)))

    def due(self, step):
        ready = sorted(m for m in self.in_flight if m[0] <= step)
        self.in_flight = [m for m in self.in_flight if m[0] > step]
        return [data for _, _, data in ready]


def run_cop1(seed, commands, drop, dup, flip, max_delay, steps=4000):
    rng = random.Random(seed)
    up = Channel(rng, drop, dup, flip, max_delay)
    down = Channel(rng, drop, 0.0, 0.0, max_delay, fifo=True)  # TM frames have their own FECF
    fop = Fop1(42, 1, window=4, t1=0.8, transmission_limit=30)
    farm = Farm1(1, window=10)
    verifier = TcVerifier({1: KEY}, scid=42)
    executed: list[bytes] = []
    sn = 0
    payloads = [f"cmd-{i:05d}".encode() for i in range(commands)]
    requests: dict[int, bytes] = {}
    pending = list(payloads)
    fop.initiate(0.0)
    for step in range(steps):
        now = step * 0.1
        fop.tick(now)
        if fop.state is FopState.INITIAL:  # an alert: the operator re-initiates with Unlock
            fop.initiate(now, "unlock")
        if fop.state is FopState.ACTIVE:  # and sends again what is known not to have run
            again = fop.resubmittable()
            for request, _, _ in again:
                del requests[request]
            pending = [payload for _, payload, _ in again] + pending
        while pending and fop.state is FopState.ACTIVE and fop.outstanding < 16:
            payload = pending.pop(0)
            requests[fop.submit(payload, now)] = payload
        for frame in fop.take_transmissions():
            sn += 1
            up.send(step, authenticate(frame, SA, sn))
        for raw in up.due(step):
            try:
                verified = verifier.verify(raw)
            except ProtocolError:
                continue
            if farm.receive(verified.frame).accepted and not verified.frame.bypass:
                executed.append(verified.frame.data)
        down.send(step, farm.clcw.pack())
        for raw in down.due(step):
            fop.on_clcw(Clcw.from_raw(raw), now)
        if not pending and fop.outstanding == 0:
            break
    delivered = [p for r, p in sorted(requests.items()) if fop.fate(r) == "delivered"]
    return executed, delivered, payloads, fop


def check_safety(executed, delivered, payloads):
    assert len(executed) == len(set(executed)), "a command was executed twice"
    assert set(executed) <= set(payloads), "a corrupted command was executed"
    assert executed == sorted(executed, key=payloads.index), "commands executed out of order"
    assert [p for p in executed if p in set(delivered)] == delivered, "delivered != executed once"


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    drop=st.floats(0, 0.3),
    dup=st.floats(0, 0.3),
    flip=st.floats(0, 0.3),
    max_delay=st.integers(0, 6),
)
def test_delivered_commands_were_executed_exactly_once_in_order(seed, drop, dup, flip, max_delay):
    executed, delivered, payloads, _ = run_cop1(seed, 60, drop, dup, flip, max_delay)
    check_safety(executed, delivered, payloads)


def test_after_an_alert_unlock_resolves_unconfirmed_frames():
    fop = Fop1(42, 1, window=4, t1=1.0, transmission_limit=1)
    fop.initiate(0.0)
    fop.on_clcw(clcw(0), 0.0)
    ids = [fop.submit(bytes([i]), 0.0) for i in range(4)]
    fop.take_transmissions()
    fop.tick(1.0)  # no acknowledgement at all: alert
    assert [fop.fate(i) for i in ids] == ["failed:t1_limit"] * 4
    fop.initiate(1.0, "unlock")
    fop.on_clcw(clcw(2, farm_b_counter=1), 1.1)  # FARM had accepted frames 0 and 1
    assert [fop.fate(i) for i in ids] == ["delivered"] * 2 + ["failed:t1_limit"] * 2
    assert fop.resubmittable() == [(ids[2], b"\x02", 3), (ids[3], b"\x03", 3)]
    assert fop.state is FopState.ACTIVE and fop.vs == 2


def test_a_bad_link_still_delivers_every_command_exactly_once():
    executed, delivered, payloads, fop = run_cop1(7, 300, drop=0.1, dup=0.1, flip=0.05, max_delay=3)
    check_safety(executed, delivered, payloads)
    assert executed == payloads
    assert fop.counts["retransmitted"] > 0
