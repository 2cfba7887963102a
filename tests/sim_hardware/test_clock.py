"""The simulation clock and the lockstep: a master and its participants over real pty pairs.

Most tests step the participants cooperatively in the test's own thread (the master's
``send_ticks`` / ``collect`` split makes that possible: what one side writes waits in the pty
until the other reads it), so no sleep and no thread is needed. Two tests run participants in
threads, and one in a separate process, to show the same thing under real concurrency.
"""

from __future__ import annotations

import json
import math
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hal.clock import Clock, ManualClock, WallClock
from hal.errors import LinkTimeout
from hal.links import open_link
from hal.links.timing import TimingClient, timing_channel
from hal.protocol import PusTm
from hal.protocol.timing import (
    NEXT_TICK,
    NOTHING_DUE,
    STOP_ABORT,
    STOP_END,
    CycleDone,
    Stop,
    Tick,
    decode,
)
from sim_hardware.clock import (
    Lockstep,
    ParticipantLost,
    ParticipantTimeout,
    RoundInterrupted,
    SimClock,
    WrongParticipant,
    next_tick_us,
)

ROOT = Path(__file__).resolve().parents[2]


class Bench:
    """Pty pairs: the master's channel on one end, a participant's client on the other."""

    def __init__(self) -> None:
        self.links = []

    def pair(self, name, client_name=None):
        master = open_link(f"pty://?name={name}")
        peer = open_link(master.peer_path)
        self.links += [peer, master]
        return timing_channel(master), TimingClient(timing_channel(peer), client_name or name)

    def lockstep(self, *names, register=True, **options):
        channels, clients = {}, {}
        for name in names:
            channels[name], clients[name] = self.pair(name)
        lock = Lockstep(channels, **options)
        if register:
            for client in clients.values():
                client.register()
            lock.register(timeout=2)
        return lock, clients

    def close(self):
        for link in self.links:
            link.close()


@pytest.fixture
def bench():
    made = Bench()
    yield made
    made.close()


def step(client, due=None):
    """One participant cycle: take the tick, report done with ``due(tick)`` (or next tick)."""
    tick = client.wait_tick(2.0)
    assert tick is not None
    client.done(due(tick) if due else None)
    return tick


def coop_round(lock, clients, dues=None):
    """One round with every participant stepped in this thread."""
    lock.send_ticks()
    for name, client in clients.items():
        step(client, (dues or {}).get(name))
    return lock.collect()


def periodic(period):
    """A rate group: the next due is the next multiple of ``period`` after the tick."""
    return lambda tick: (math.floor(round(tick.time / period, 9)) + 1) * period


# ---------------------------------------------------------------------- clocks


def test_manual_clock_moves_only_forward_and_both_clocks_are_clocks():
    clock = ManualClock(5.0)
    clock.advance(0.25)
    clock.set(6.0)
    assert clock.now() == 6.0
    with pytest.raises(ValueError):
        clock.set(5.9)
    with pytest.raises(ValueError):
        clock.advance(-0.1)
    ticks = iter([100.0, 100.5, 103.0])
    wall = WallClock(start=10.0, source=lambda: next(ticks))
    assert (wall.now(), wall.now()) == (10.5, 13.0)
    assert isinstance(clock, Clock) and isinstance(wall, Clock) and isinstance(SimClock(), Clock)


def test_sim_clock_is_exact_microseconds_and_never_goes_back():
    clock = SimClock()
    for _ in range(3):
        clock.advance_to_us(clock.now_us + 100_000)
    assert clock.now() == 0.3  # not 0.30000000000000004: the grid is integer microseconds
    with pytest.raises(ValueError):
        clock.advance_to_us(0)


# ---------------------------------------------------------------------- the jump rule


@pytest.mark.parametrize(
    "dues,own,max_jump,expected",
    [
        ([NEXT_TICK, 5_000_000], None, None, 200_000),  # one wants the next tick: no jump
        ([5_000_000, 7_000_000], None, None, 5_000_000),  # jump to the earliest need
        ([7_350_000, NOTHING_DUE], None, None, 7_400_000),  # off the grid: first tick after it
        ([5_000_000], 2_000_000, None, 2_000_000),  # the simulator's own event comes first
        ([5_000_000], 150_000, None, 200_000),  # ... and it is not after the regular tick
        ([5_000_000], None, 1_000_000, 1_100_000),  # capped at max_jump
        ([NOTHING_DUE, NOTHING_DUE], None, None, 200_000),  # nothing due, no cap: tick on
        ([NOTHING_DUE], None, 3_000_000, 3_100_000),  # nothing due: the cap is the jump
        ([NOTHING_DUE], None, 50_000, 200_000),  # a cap below one tick is one tick
        ([50_000], None, None, 200_000),  # a due in the past is the regular tick
        ([], None, None, 200_000),
    ],
)
def test_next_tick_time(dues, own, max_jump, expected):
    assert next_tick_us(100_000, 100_000, dues, own, max_jump) == expected


def test_a_tick_off_the_grid_is_followed_by_the_grid():
    assert next_tick_us(7_350_000, 100_000, [NEXT_TICK]) == 7_400_000


# ---------------------------------------------------------------------- lockstep


def test_time_advances_only_when_every_participant_is_done(bench):
    lock, clients = bench.lockstep("lander", "orbiter", "ground")
    first = lock.send_ticks()
    assert first == Tick(1, 0)
    step(clients["lander"])
    step(clients["orbiter"])
    with pytest.raises(ParticipantTimeout):
        lock.collect(timeout=0.05)
    assert lock.now == 0.0  # the slow one holds time
    assert lock.pending == {"ground"}
    step(clients["ground"])
    result = lock.collect()
    assert (result.next_time, result.jumped, lock.now) == (0.1, False, 0.1)
    assert all(client.now() == 0.0 for client in clients.values())  # their clock: the tick's
    tick = lock.send_ticks()
    assert tick == Tick(2, 100_000)
    assert [step(client).time for client in clients.values()] == [0.1, 0.1, 0.1]
    assert lock.collect().next_time == pytest.approx(0.2)
    assert lock.stats.rounds == 2
    assert set(lock.stats.max_latency) == {"lander", "orbiter", "ground"}


def test_a_round_must_be_collected_before_the_next_and_started_before_collect(bench):
    lock, _ = bench.lockstep("lander")
    with pytest.raises(RuntimeError):
        lock.collect()
    lock.send_ticks()
    with pytest.raises(RuntimeError):
        lock.send_ticks()


def test_idle_spans_are_jumped_when_everyone_reports_a_far_next_due(bench):
    lock, clients = bench.lockstep("lander", "orbiter", "ground")
    dues = {
        "lander": lambda tick: tick.time + 5.0,
        "orbiter": lambda tick: 7.35,
        "ground": lambda tick: math.inf,
    }
    times = [coop_round(lock, clients, dues).tick.time for _ in range(2)]
    assert times == [0.0, 5.0]
    assert lock.now == 7.4  # 7.35 is off the grid: the first tick at or after it
    assert (lock.stats.jumps, lock.stats.ticks_skipped) == (2, 49 + 23)
    assert lock.stats.sim_seconds == 7.4
    # one participant that wants the next tick stops the jumping
    result = coop_round(lock, clients, {**dues, "ground": lambda tick: None})
    assert (result.tick.time, result.next_time, result.jumped) == (7.4, 7.5, False)
    assert result.dues == {"lander": 12.4, "orbiter": 7.35, "ground": None}


def test_a_node_with_nothing_due_and_nothing_queued_sits_out_the_round(bench):
    """Partial rounds: the ground asks for the next tick, the lander has nothing before 5.0 and
    nothing reached it, so it is not ticked at 0.1..0.3; at 0.4 a frame queued for it brings it
    in (with every octet queued meanwhile), and its standing due still bounds the jumps. One
    with nothing due at all is in every round."""
    queued = {"lander": 0, "ground": 0}
    lock, clients = bench.lockstep(
        "lander", "ground", skippable=["lander", "ground"], queued=lambda name: queued[name]
    )
    lander = clients["lander"]

    def round_of(*names, lander_due=5.0, ground_due=None):
        lock.send_ticks()
        assert lock.pending == frozenset(names)
        ticks = {}
        for name in names:
            client = clients[name]
            ticks[name] = client.wait_tick(2.0)
            client.done(lander_due if name == "lander" else ground_due)
        return lock.collect(), ticks

    round_of("lander", "ground")  # the first round: everyone
    for _ in range(3):
        result, _ = round_of("ground")
        assert result.dues["lander"] == 5.0
    assert lock.stats.skipped["lander"] == 3 and "ground" not in lock.stats.skipped
    assert lander.channel.receive(0) is None  # no tick went its way
    queued["lander"] = 30
    _, ticks = round_of("lander", "ground", ground_due=math.inf)
    assert (ticks["lander"].number, ticks["lander"].sent) == (5, 30)
    assert lock.now == 5.0  # the lander's due bounds the jump
    result, ticks = round_of("lander", "ground", lander_due=math.inf, ground_due=math.inf)
    assert ticks["lander"].time == 5.0 and result.next_time == 5.1
    # nothing due at all (the lander's inf): in every round, as one that asks for the next tick
    round_of("lander", "ground", lander_due=9.0, ground_due=9.5)
    assert lock.stats.skipped["lander"] == 3 and lock.now == 9.0
    lock.send_ticks()  # the lander's due; the ground, due at 9.5, sits this one out
    assert lock.pending == {"lander"} and lock.stats.skipped["ground"] == 1


def test_the_simulators_own_next_due_and_max_jump_bound_a_jump(bench):
    own = [3.0]
    lock, clients = bench.lockstep("lander", "orbiter", next_due=lambda: own[0], max_jump=10.0)
    far = {"lander": lambda t: 100.0, "orbiter": lambda t: math.inf}
    assert coop_round(lock, clients, far).next_time == 3.0
    own[0] = math.inf
    assert coop_round(lock, clients, far).next_time == 13.0


def test_advance_hooks_see_each_tick_time_before_the_tick_goes_out(bench):
    seen = []
    lock, clients = bench.lockstep("lander")

    def hook(t):
        seen.append((t, clients["lander"].channel.pending))

    lock.advance_hooks.append(hook)
    for due in (None, 2.0, None):
        coop_round(lock, clients, {"lander": (lambda t, d=due: d)})
    assert seen == [(0.0, 0), (0.1, 0), (2.0, 0)]


def board_pair(bench):
    """A board link: the simulator's end and the node's end of one pty."""
    board = open_link("pty://?name=board")
    node_end = open_link(board.peer_path)
    bench.links += [node_end, board]
    return board, node_end


def test_a_round_closes_only_once_the_octets_written_in_the_cycle_are_read(bench):
    board, node_end = board_pair(bench)
    taken = []
    lagging = [2]  # the first two waits find nothing: the octets are still in the kernel

    def wait(seconds, fds):
        if fds:  # a report awaited on a timing link
            select.select(fds, [], [], seconds)
        elif lagging[0]:
            lagging[0] -= 1
        else:
            taken.append(board.read(4096, 0.5))

    def received(name):
        return board.stats.bytes_in if name == "lander" else None

    lock, clients = bench.lockstep("lander", "ground", wait=wait, received=received)
    lander = clients["lander"]
    lander.watch(node_end)
    node_end.write(b"before")  # outside any cycle: not counted, never waited for
    lock.send_ticks()
    step(clients["ground"])
    lander.wait_tick(2.0)
    node_end.write(b"x" * 100)  # a frame nothing answers, written just before the report
    lander.done()
    result = lock.collect()
    assert b"".join(taken) == b"before" + b"x" * 100  # read before time moved
    assert (result.next_time, lock.stats.octets_waited) == (0.1, {"lander": 1})
    coop_round(lock, clients)  # nothing written: nothing to wait for
    assert lock.stats.octets_waited == {"lander": 1} and not lock.stats.octets_missing


def test_octets_that_never_come_are_waited_for_only_catch_up_seconds(bench):
    board, node_end = board_pair(bench)  # the simulator never reads this link
    events = []
    lock, clients = bench.lockstep(
        "lander", received=lambda name: board.stats.bytes_in, catch_up=0.05,
        on_event=lambda name, detail: events.append((name, detail)),
    )  # fmt: skip
    clients["lander"].watch(node_end)
    lock.send_ticks()
    clients["lander"].wait_tick(2.0)
    node_end.write(b"to real hardware, not the simulator")
    clients["lander"].done()
    assert lock.collect().next_time == 0.1  # time moves on
    assert lock.stats.octets_missing == {"lander": 1}
    assert events[-1] == (
        "octets_missing",
        "tick 1: octets written by lander not read within 0.05 s",
    )
    assert lock.stats.as_dict()["octets_missing"] == {"lander": 1}


def test_the_client_reports_what_its_watched_links_wrote_during_the_cycle(bench):
    master, client = bench.pair("lander")
    _, first = board_pair(bench)
    _, second = board_pair(bench)
    _, real_hardware = board_pair(bench)
    first.write(b"written before it was watched")
    client.watch(first)
    client.watch(first)  # twice: counted once
    client.register()
    first.write(b"12345")  # before the tick: not this cycle's
    master.send(Tick(1, 0).to_packet())
    client.wait_tick(2.0)
    first.write(b"0123456789")
    second.write(b"abc")
    client.watch(second)  # watched in the middle of the cycle: from now on
    second.write(b"defg")
    real_hardware.write(b"not watched")
    client.done()
    reports = [decode(packet) for packet in master.receive_all(1.0)]
    assert reports[-1] == CycleDone(1, NEXT_TICK, written=14)


def test_each_tick_announces_the_octets_relayed_to_its_participant_and_they_are_read_first(
    bench,
):
    """Decision 0034: a frame relayed before tick n is taken in cycle n, however late the
    kernel (here: a thread) hands the octets over."""
    radio, node_radio = board_pair(bench)  # the simulator's end of the radio, the node's
    queued = {"lander": 0, "ground": 0}
    lock, clients = bench.lockstep("lander", "ground", queued=queued.get)
    taken = bytearray()

    def pump(timeout):
        taken.extend(node_radio.read(4096, timeout))

    lander = clients["lander"]
    lander.receive_on(lambda: node_radio.stats.bytes_in, pump)
    radio.write(b"a" * 300)
    queued["lander"] += 1000  # the rest is still on its way when the tick goes out
    later = threading.Timer(0.2, lambda: radio.write(b"b" * 700))
    later.start()
    lock.send_ticks()
    step(clients["ground"])
    tick = lander.wait_tick(2.0)
    later.join()
    assert (tick.number, tick.sent) == (1, 1000)
    assert bytes(taken) == b"a" * 300 + b"b" * 700  # all in before the cycle ran
    lander.done()
    lock.collect()
    lock.send_ticks()  # nothing relayed since: nothing announced, nothing waited for
    step(clients["ground"])
    assert lander.wait_tick(2.0).sent == 0
    assert lander.late == 0


def test_octets_announced_and_never_relayed_are_waited_for_only_catch_up_seconds(
    bench, monkeypatch
):
    monkeypatch.setattr("hal.links.timing.CATCH_UP", 0.1)
    _, node_radio = board_pair(bench)
    lock, clients = bench.lockstep("lander", queued=lambda name: 64)
    lander = clients["lander"]
    lander.receive_on(lambda: node_radio.stats.bytes_in, lambda t: node_radio.read(64, t))
    lock.send_ticks()
    assert lander.wait_tick(2.0).sent == 64  # the cycle runs: time goes on
    assert lander.late == 1 and lander.channel.link.stats.errors["octets_late"] == 1


def test_a_round_held_on_purpose_is_kept_alive_by_holding_reports(bench):
    """The ground station holds a tick while a procedure computes (decision 0034): each
    holding report gives it the round timeout again; once it stops reporting, it is named."""
    lock, clients = bench.lockstep("ground", round_timeout=0.3)
    ground = clients["ground"]
    lock.send_ticks()
    ground.wait_tick(2.0)
    holding = threading.Event()

    def hold_then_answer():
        for _ in range(8):  # 0.8 s held: well past the round timeout
            ground.hold()
            time.sleep(0.1)
        ground.done()
        holding.set()

    worker = threading.Thread(target=hold_then_answer)
    worker.start()
    result = lock.collect()
    worker.join()
    assert holding.is_set() and result.next_time == 0.1
    assert lock.stats.holds["ground"] == 8
    lock.send_ticks()
    ground.wait_tick(2.0)
    ground.hold()  # one report, then silence: a dead participant is still found
    with pytest.raises(ParticipantTimeout, match="'ground' did not report tick 2"):
        lock.collect()


def test_a_simulator_told_to_stop_ends_a_held_round_and_every_participant_reads_the_stop(bench):
    """The end of a campaign: the ground holds its tick (no client waits any more) and the
    simulator is told to stop; it does not wait for the round (it used to wait until killed),
    and the stop it sends is what the ground and a node read next."""
    told = threading.Event()
    lock, clients = bench.lockstep("ground", "lander", round_timeout=30.0, stopping=told.is_set)
    ground, lander = clients["ground"], clients["lander"]
    lock.send_ticks()
    ground.wait_tick(2.0)
    lander.wait_tick(2.0)
    lander.done()
    ground.hold()  # held on purpose: the round would stay open for as long as it says so
    threading.Timer(0.2, told.set).start()
    with pytest.raises(RoundInterrupted, match="tick 1"):
        lock.collect()
    assert lock.stop() == []
    assert ground.wait_tick(1.0) is None and ground.stop_reason == STOP_END
    assert lander.wait_tick(1.0) is None and lander.stop_reason == STOP_END


def test_a_silent_participant_is_named_within_the_timeout_and_the_others_are_stopped(bench):
    events = []
    lock, clients = bench.lockstep(
        "lander", "mute", round_timeout=0.2, on_event=lambda n, d: events.append((n, d))
    )
    lander = clients["lander"]
    replies = threading.Thread(target=step, args=(lander,))
    replies.start()  # lander answers; mute never does
    started = time.monotonic()
    with pytest.raises(ParticipantTimeout) as info:
        lock.run(rounds=5)
    elapsed = time.monotonic() - started
    replies.join(2)
    assert 0.2 <= elapsed < 1.0
    assert info.value.participants == ("mute",)
    assert info.value.reason == "participant_timeout"
    assert "'mute' did not report tick 1 (t = 0.000000 s) done within 0.2 s" in str(info.value)
    assert isinstance(info.value, LinkTimeout)
    assert lock.now == 0.0
    assert ("participant_timeout", str(info.value)) in events
    assert lander.wait_tick(1.0) is None  # told to stop: nobody waits for a tick that won't come
    assert (lander.stopped, lander.stop_reason) == (True, STOP_ABORT)


def test_a_participant_that_never_says_hello_is_named(bench):
    (lander, _), (mav, mav_client) = bench.pair("lander"), bench.pair("mav")
    lock = Lockstep({"lander": lander, "mav": mav})
    mav_client.register()
    with pytest.raises(ParticipantTimeout, match=r"^participant\(s\) 'lander' did not say hello"):
        lock.register(timeout=0.05)
    assert lock.registered == {"lander": None, "mav": "mav"}


def test_a_hello_with_another_name_is_refused(bench):
    channel, client = bench.pair("lander", client_name="orbiter")
    lock = Lockstep({"lander": channel})
    client.register()
    with pytest.raises(WrongParticipant, match="link of 'lander' carries participant 'orbiter'"):
        lock.register(timeout=1)


def test_a_lost_link_is_named(bench):
    lock, _ = bench.lockstep("lander", "orbiter")
    lock.participants["orbiter"].close()
    with pytest.raises(ParticipantLost, match="'orbiter'") as info:
        lock.send_ticks()
    assert info.value.participants == ("orbiter",)


def restart(bench, channel, name):
    """A participant's new instance: its timing link opened again, hello said again."""
    peer = open_link(channel.link.peer_path)
    bench.links.append(peer)
    client = TimingClient(timing_channel(peer), name)
    client.register()
    return client


@pytest.mark.parametrize("read_the_tick", [False, True])
def test_a_participant_that_restarts_mid_round_rejoins_and_runs_the_round(bench, read_the_tick):
    events = []
    lock, clients = bench.lockstep(
        "lander", "ground", round_timeout=2.0, on_event=lambda n, d: events.append((n, d))
    )
    coop_round(lock, clients)
    lock.send_ticks()
    step(clients["ground"])
    if read_the_tick:
        assert clients["lander"].wait_tick(2.0).number == 2  # killed before its report
    clients["lander"].channel.close()  # the process is gone
    reborn = restart(bench, lock.participants["lander"], "lander")
    runner = threading.Thread(target=step, args=(reborn,))
    runner.start()  # the new instance waits for a tick; the master sends the round's again
    result = lock.collect()
    runner.join(2)
    assert (result.tick.number, result.next_time) == (2, 0.2)
    assert reborn.tick is not None and reborn.tick.number == 2
    assert lock.stats.rejoins == {"lander": 1}
    assert ("rejoined", "lander: tick 2 sent again") in events
    clients["lander"] = reborn
    assert coop_round(lock, clients).tick.number == 3  # and it stays in the lockstep
    assert lock.stats.as_dict()["rejoins"] == {"lander": 1}


def test_a_participant_that_restarts_between_rounds_takes_the_next_tick_once(bench):
    lock, clients = bench.lockstep("lander", "ground", round_timeout=2.0)
    coop_round(lock, clients)
    clients["lander"].channel.close()
    clients["lander"] = restart(bench, lock.participants["lander"], "lander")
    coop_round(lock, clients)  # its hello is read with the round: the tick goes again
    assert coop_round(lock, clients).tick.number == 3
    assert clients["lander"].ignored == 1  # the repeated tick 2, as a stale tick
    assert lock.stats.rejoins == {"lander": 1}


def test_stale_duplicate_and_foreign_packets_are_ignored_and_counted(bench):
    lock, clients = bench.lockstep("lander")
    lander = clients["lander"]
    coop_round(lock, clients)
    lock.send_ticks()
    raw_channel = lander.channel
    raw_channel.send(CycleDone(1, NEXT_TICK).to_packet())  # an old tick
    raw_channel.send(CycleDone(9, NEXT_TICK).to_packet())  # a tick not sent
    raw_channel.send(PusTm(0x7F0, 17, 2))  # another APID: the deframer drops it
    raw_channel.send(PusTm(0x7E0, 17, 2))  # another service
    with pytest.raises(ParticipantTimeout):
        lock.collect(timeout=0.05)
    step(lander)
    raw_channel.send(CycleDone(2, NEXT_TICK).to_packet())  # a duplicate, after the real one
    lock.collect()
    coop_round(lock, clients)
    assert lock.stats.ignored == {"stale_done": 3, "decode_unknown_service": 1}
    assert lock.participants["lander"].link.stats.errors["unknown_apid"] == 1


def test_the_client_ignores_stale_ticks_times_out_by_name_and_refuses_a_double_done(bench):
    channel, client = bench.pair("lander")
    assert isinstance(client, Clock)  # the participant's injected clock
    assert client.now() == 0.0
    with pytest.raises(RuntimeError):
        client.done()
    channel.send(Tick(5, 500_000).to_packet())
    channel.send(Tick(4, 400_000).to_packet())  # older: ignored
    channel.send(PusTm(0x7E0, 130, 2))  # not a telecommand: ignored
    assert client.wait_tick(1.0) == Tick(5, 500_000)
    client.done(0.7)
    with pytest.raises(RuntimeError):
        client.done()
    with pytest.raises(LinkTimeout, match=r"no tick within 0\.05 s") as info:
        client.wait_tick(0.05)
    assert info.value.reason == "no_tick"
    assert client.ignored == 2
    assert client.now() == 0.5
    channel.send(Stop(STOP_END).to_packet())
    assert client.wait_tick(1.0) is None
    assert client.wait_tick(None) is None  # stopped stays stopped, no wait
    assert (client.stopped, client.stop_reason) == (True, STOP_END)


# ---------------------------------------------------------------------- wall mode


class FakeWall:
    """Wall time that moves only when the master waits (trio's MockClock, autojump)."""

    def __init__(self, start=1000.0):
        self.t = start
        self.waits = []

    def __call__(self):
        return self.t

    def wait(self, seconds, fds):
        self.waits.append(round(seconds, 9))
        self.t += seconds


def test_wall_mode_paces_ticks_to_the_injected_wall_clock(bench):
    wall = FakeWall()
    sent_at = []
    lock, clients = bench.lockstep("lander", "orbiter", mode="wall", wall=wall, wait=wall.wait)
    lock.advance_hooks.append(lambda t: sent_at.append((t, round(wall.t - 1000.0, 9))))
    coop_round(lock, clients)  # the first tick anchors: no wait
    coop_round(lock, clients)
    coop_round(lock, clients, {"lander": lambda t: 1.0, "orbiter": lambda t: 1.0})  # a jump
    lock.send_ticks()
    wall.t += 0.35  # this round overruns its period by far
    for client in clients.values():
        step(client)
    lock.collect()
    for _ in range(4):
        coop_round(lock, clients)
    assert sent_at == [
        (0.0, 0.0), (0.1, 0.1), (0.2, 0.2), (1.0, 1.0),
        (1.1, 1.35), (1.2, 1.35), (1.3, 1.35),  # late: sent at once, never skipped
        (1.4, 1.4),  # caught up: paced again
    ]  # fmt: skip
    assert wall.waits == [0.1, 0.1, 0.8, 0.05]  # the jump is waited for in wall mode
    assert lock.stats.max_lag == pytest.approx(0.25)
    assert lock.stats.wall_seconds == pytest.approx(1.4)


# ---------------------------------------------------------------------- concurrency


def run_threaded(bench, behaviours, rounds, **options):
    """Each participant in its own thread; the master runs ``rounds`` rounds and stops."""
    lock, clients = bench.lockstep(*behaviours, register=False, **options)
    errors = []

    def participant(name):
        client, behave = clients[name], behaviours[name]
        client.register()
        try:
            while (tick := client.wait_tick(5.0)) is not None:
                client.done(behave(tick))
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=participant, args=(name,)) for name in behaviours]
    for thread in threads:
        thread.start()
    try:
        lock.register(timeout=5)
        results = lock.run(rounds)
    finally:
        lock.stop()
        for thread in threads:
            thread.join(5)
    assert not errors
    return [r.tick.time for r in results], lock


def slow(behave, seconds):
    """The same behaviour, after ``seconds`` of wall time spent in the cycle."""

    def run(tick):
        threading.Event().wait(seconds)
        return behave(tick)

    return run


def test_two_identical_runs_give_identical_tick_times_whatever_the_wall_speed(bench):
    behaviours = {
        "lander": periodic(0.1),  # 10 Hz rate group: never lets time jump
        "mav": periodic(1.0),
        "ground": lambda tick: 2.5 if tick.time < 1.0 else math.inf,
    }
    quiet = {"mav": periodic(1.0), "orbiter": periodic(0.5), "ground": lambda tick: math.inf}
    first, _ = run_threaded(bench, behaviours, 15)
    second, _ = run_threaded(bench, behaviours, 15)
    assert first == second == pytest.approx([round(0.1 * k, 1) for k in range(15)])
    fast, _ = run_threaded(bench, quiet, 12)
    held, lock = run_threaded(bench, {**quiet, "orbiter": slow(quiet["orbiter"], 0.01)}, 12)
    assert fast == held == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5]
    assert lock.stats.jumps == 12
    assert lock.stats.max_latency["orbiter"] >= 0.01


def test_a_participant_in_another_process(bench):
    master = open_link("pty://?name=node")
    bench.links.append(master)
    lock = Lockstep({"node": timing_channel(master)}, round_timeout=5)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.sim_hardware.timing_participant", master.peer_path,
         "--name", "node", "--period", "0.5"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lock.register(timeout=10)
        results = lock.run(until=3.0)
        lock.stop()
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    report = json.loads(out)
    times = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [r.tick.time for r in results] == times
    assert report == {"ticks": [[n + 1, t] for n, t in enumerate(times)], "stop_reason": 0}
