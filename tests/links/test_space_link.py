"""The space link end to end in one process: a ground end and a flight end over in-memory links,
through the space-link emulator's paths (loss, duplicates, reordering, bit flips, blackouts),
on a stepped clock. Procedures read as an operator would run them: start COP-1, send, check the
fate, check what the spacecraft executed."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal.errors import EncodeError, StoreError
from hal.links import open_link
from hal.links.space_link import FlightSpaceLink, GroundSpaceLink, SpaceLinkConfig
from hal.protocol.crc import append_crc16
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc, PusTm
from hal.protocol.sdls import SecurityAssociation, authenticate
from hal.protocol.tc_frame import TcFrame
from hal.store import CounterStore
from sim_hardware.space_link import Impairments, LinkPath

from .link_helpers import MemoryLink

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SA = SecurityAssociation(7, KEY)
STEP = 0.01


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Bench:
    """A ground end and a flight end joined by two emulated paths, stepped by hand."""

    def __init__(
        self,
        *,
        up: Impairments | None = None,
        down: Impairments | None = None,
        seed: int = 0,
        config: SpaceLinkConfig | None = None,
        store: CounterStore | None = None,
        ground_store: CounterStore | None = None,
    ) -> None:
        self.clock = Clock()
        self.config = config or SpaceLinkConfig(t1=0.5, clcw_interval=0.2)
        rng = random.Random(seed)
        self.up, self.down = LinkPath(up, rng), LinkPath(down, rng)
        self.ground_link = MemoryLink(bytearray(), bytearray())
        self.ground_link.open()
        self.ground = GroundSpaceLink(self.ground_link, SA, self.config, store=ground_store,
                                      monotonic=self.clock)  # fmt: skip
        self.events: list[tuple[str, str]] = []
        self.store = store
        self.flight = self._flight()
        self.executed: list[PusTc] = []
        self.wire_up: list[bytes] = []  # every frame the ground put on the wire

    def _flight(self) -> FlightSpaceLink:
        self.flight_link = MemoryLink(bytearray(), bytearray())
        self.flight_link.open()
        return FlightSpaceLink(
            self.flight_link, {7: KEY}, self.config, store=self.store, monotonic=self.clock,
            on_event=lambda name, detail: self.events.append((name, detail)),
        )  # fmt: skip

    def restart_flight(self) -> None:
        """The node resets: a new flight end, its counters reloaded from the store."""
        self.flight.close()
        self.store = CounterStore(self.store.path) if self.store else None
        self.flight = self._flight()

    def step(self, execute: bool = True) -> None:
        now = self.clock.now
        self.ground.poll(0)
        sent = bytes(self.ground_link.outbox)
        self.ground_link.outbox.clear()
        self.wire_up += [ASM + part for part in sent.split(ASM) if part]
        self.up.push(sent, now)
        self.up.flush(now)
        for raw in self.up.due(now):
            self.flight_link.inbox += raw
        self.flight.poll(0)
        while execute and (tc := self.flight.receive(0)) is not None:
            self.executed.append(tc)
            self.flight.send_tm(PusTm(tc.apid, 1, 7, tc.app_data[:4]))
        self.flight.flush()
        self.down.push(bytes(self.flight_link.outbox), now)
        self.down.flush(now)
        self.flight_link.outbox.clear()
        for raw in self.down.due(now):
            self.ground_link.inbox += raw
        self.clock.now = round(now + STEP, 6)

    def run_until(self, done, limit: float = 120.0, **kwargs) -> None:
        end = self.clock.now + limit
        while not done():
            assert self.clock.now < end, f"not done within {limit} s of bench time"
            self.step(**kwargs)

    def inject(self, raw: bytes) -> None:
        """Put a frame straight onto the flight end's receiver (an attacker's transmitter)."""
        self.flight_link.inbox += raw
        self.flight.poll(0)


def command(n: int, size: int = 4) -> PusTc:
    return PusTc(0x123, 8, 1, n.to_bytes(4, "big") + bytes(size - 4), seq_count=n & 0x3FFF)


def numbers(packets) -> list[int]:
    return [int.from_bytes(data_of(p)[:4], "big") for p in packets]


def data_of(packet: PusTc | PusTm) -> bytes:
    return packet.app_data if isinstance(packet, PusTc) else packet.source_data


# ---------------------------------------------------------------- procedures on a clean link


def test_commands_are_delivered_in_order_and_their_fates_say_so():
    bench = Bench()
    bench.ground.start()
    ids = [bench.ground.send(command(n)) for n in range(20)]
    assert bench.ground.fate(ids[-1]) == "queued"
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids))
    assert numbers(bench.executed) == list(range(20))
    replies = bench.ground.receive_all(0)
    assert numbers(replies) == list(range(20))
    stats = bench.ground.stats()
    assert stats["delivered"] == 20 and stats["retransmissions"] == 0
    assert stats["frame_gaps"] == 0 and stats["rejects"] == {}
    assert bench.flight.stats()["rejects"] == {}
    with pytest.raises(KeyError):
        bench.ground.fate(999)


def test_long_commands_span_frames_and_short_ones_share_them():
    bench = Bench()
    bench.ground.start()
    long = command(1, size=3000)  # three frames of 994 octets and a bit
    short = [command(n, size=8) for n in range(2, 12)]
    ids = [bench.ground.send(long), *bench.ground.send_many(short)]
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids))
    assert [p.pack() for p in bench.executed] == [long.pack()] + [p.pack() for p in short]
    assert bench.flight.farm.counts["accepted"] == 5  # four for the long one, one for the rest
    assert bench.flight.farm.counts["unlock"] == 1
    with pytest.raises(EncodeError, match="max_packet_length"):
        bench.ground.send(command(0, size=5000))


def test_telemetry_on_each_virtual_channel_arrives_whole_and_in_order():
    bench = Bench()
    rng = random.Random(3)
    sent: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for n in range(300):
        vc = rng.choice((0, 1, 2))
        packet = PusTm(0x200 + vc, 3, 25, n.to_bytes(4, "big") + bytes(rng.randrange(0, 1500)))
        sent[vc].append(packet.pack())
        assert bench.flight.send_tm(packet, vc)
    bench.flight.flush()
    bench.run_until(lambda: bench.ground.reassembler.stats.packets >= 300)
    got = bench.ground.receive_all(0)
    for vc, packets in sent.items():
        assert [p.pack() for p in got if p.apid == 0x200 + vc] == packets


def test_the_clcw_goes_down_even_with_no_telemetry():
    bench = Bench()
    bench.run_until(lambda: bench.ground.last_clcw is not None, limit=1.0)
    assert bench.ground.last_clcw.report_value == 0
    frames = bench.flight.stats()["tm_frames_out"]
    for _ in range(100):  # one second
        bench.step()
    assert bench.flight.stats()["tm_frames_out"] - frames == 5  # every clcw_interval = 0.2 s


def test_a_cycle_acknowledges_its_telecommand_in_one_burst_with_the_report_it_caused():
    # a node's cycle: poll without reporting, execute, queue the report, flush. The ground must
    # never see the CLCW acknowledging a command in a write before the one with its report
    bench = Bench()
    bench.ground.start()
    bench.run_until(lambda: bench.ground.fop.state.name == "ACTIVE", limit=5.0)
    bench.ground.send(PusTc(0x210, 17, 1, b""))
    bench.ground.poll(0)
    now = bench.clock.now
    bench.up.push(bytes(bench.ground_link.outbox), now)
    bench.up.flush(now)
    bench.ground_link.outbox.clear()
    for raw in bench.up.due(now):
        bench.flight_link.inbox += raw
    bench.flight_link.outbox.clear()
    bench.flight.poll(0, report=False)
    assert bytes(bench.flight_link.outbox) == b""  # nothing goes down before the cycle's end
    tc = bench.flight.receive(0)
    assert tc is not None and tc.service == 17
    bench.flight.send_tm(PusTm(tc.apid, 1, 7, b"done"))
    bench.flight.flush()  # the report's frame, with the CLCW acknowledging the command
    burst = bytes(bench.flight_link.outbox)
    assert b"done" in burst
    bench.ground_link.inbox += burst
    bench.ground.poll(0)
    assert bench.ground.last_clcw.report_value == 1
    assert [p.source_data for p in bench.ground.receive_all(0)] == [b"done"]


# ---------------------------------------------------------------- a bad link


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    drop=st.floats(0, 0.25),
    duplicate=st.floats(0, 0.2),
    flip=st.floats(0, 0.2),
    jitter=st.floats(0, 0.3),
    count=st.integers(1, 60),
)
def test_over_a_bad_link_every_command_runs_exactly_once_in_order(
    seed, drop, duplicate, flip, jitter, count
):
    up = Impairments(drop=drop, duplicate=duplicate, flip=flip, jitter=jitter, reorder=True)
    down = Impairments(drop=drop, duplicate=duplicate, flip=flip, jitter=jitter)  # one stream
    bench = Bench(up=up, down=down, seed=seed)
    bench.ground.start()
    ids = [bench.ground.send(command(n, size=4 + n * 37 % 1500)) for n in range(count)]
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids), limit=600)
    assert numbers(bench.executed) == list(range(count))  # once each, in order, none corrupted
    assert [p.pack() for p in bench.executed] == [
        command(n, size=4 + n * 37 % 1500).pack() for n in range(count)
    ]


def test_a_blackout_longer_than_the_retransmission_limit_is_recovered():
    config = SpaceLinkConfig(t1=0.5, transmission_limit=3, clcw_interval=0.2)
    blackout = Impairments(blackouts=((0.5, 5.0),))
    bench = Bench(up=blackout, down=blackout, config=config)
    bench.ground.start()
    ids = []
    seen = set()
    for step in range(400):  # four seconds: a command every 50 ms for the first two
        if step % 5 == 0 and len(ids) < 40:
            ids.append(bench.ground.send(command(len(ids))))
        bench.step()
        seen |= {bench.ground.fate(i) for i in ids}
    assert "recovering" in seen  # the alert happened, and nothing was declared failed
    assert not any(state.startswith("failed") for state in seen)
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids))
    assert numbers(bench.executed) == list(range(40))
    stats = bench.ground.stats()
    assert stats["alerts"].get("t1_limit", 0) >= 1 and stats["recoveries"] >= 1
    assert stats["frames_lost"] == 0 or stats["frame_gaps"] >= 1


def test_without_auto_recovery_an_alert_is_final():
    config = SpaceLinkConfig(t1=0.5, transmission_limit=2)
    bench = Bench(up=Impairments(drop=1.0), config=config)
    bench.ground.auto_recover = False
    bench.ground.start("no_clcw_check")
    request = bench.ground.send(command(1))
    bench.run_until(lambda: bench.ground.fate(request).startswith("failed"), limit=5)
    assert bench.ground.fate(request) == "failed:t1_limit"


def test_a_full_command_queue_makes_farm_wait_and_nothing_is_lost():
    config = SpaceLinkConfig(t1=0.5, command_queue=2)
    bench = Bench(config=config)
    bench.ground.start()
    ids = [bench.ground.send(command(n)) for n in range(8)]
    for _ in range(100):
        bench.step(execute=False)  # the flight software is busy: nothing taken
    assert bench.flight.farm.wait == 1 and bench.ground.last_clcw.wait == 1
    assert numbers(bench.flight._queue) == [0, 1]
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids))
    assert numbers(bench.executed) == list(range(8))


# ---------------------------------------------------------------- forged and replayed frames


def delivered_bench(tmp_path) -> Bench:
    bench = Bench(store=CounterStore(tmp_path / "flight.json"))
    bench.ground.start()
    ids = [bench.ground.send(command(n)) for n in range(10)]
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids))
    return bench


def test_every_replayed_frame_is_rejected_even_after_a_restart(tmp_path):
    bench = delivered_bench(tmp_path)
    executed = len(bench.executed)
    for raw in bench.wire_up:
        bench.inject(raw)
    assert bench.flight.stats()["rejects"]["replay"] == len(bench.wire_up)
    bench.restart_flight()
    for raw in bench.wire_up:
        bench.inject(raw)
    assert bench.flight.stats()["rejects"] == {"replay": len(bench.wire_up)}
    assert bench.flight.receive(0) is None and len(bench.executed) == executed
    assert bench.flight.farm.vr == 10  # V(R) came back from the store: no resynchronisation
    ids = [bench.ground.send(command(n)) for n in range(10, 15)]
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids))
    assert numbers(bench.executed) == list(range(15))
    assert bench.ground.stats()["recoveries"] == 0
    assert ("tc_rejected", "replay") in {(n, d.split(":")[0]) for n, d in bench.events}


@pytest.mark.parametrize("fix_crc", [False, True])
def test_a_frame_with_any_one_bit_flipped_is_rejected(tmp_path, fix_crc):
    bench = delivered_bench(tmp_path)
    frame = TcFrame(42, 0, command(99).pack(), seq=bench.flight.farm.vr)
    raw = authenticate(frame, SA, 10_000)
    bits = (len(raw) - 2 if fix_crc else len(raw)) * 8  # a fixed-up FECF would undo its own flip
    for bit in range(bits):
        damaged = bytearray(raw)
        damaged[bit // 8] ^= 0x80 >> (bit % 8)
        if fix_crc:
            damaged = bytearray(append_crc16(bytes(damaged[:-2])))
        bench.inject(ASM + bytes(damaged))
    assert bench.flight.receive(0) is None
    rejects = bench.flight.stats()["rejects"]
    assert sum(rejects.values()) == bits
    if fix_crc:  # the header checks and the MAC catch what the CRC no longer does
        assert rejects["bad_mac"] > bits * 0.8
    bench.inject(ASM + raw)  # the undamaged frame is still good: nothing advanced
    assert numbers([bench.flight.receive(0)]) == [99]


def test_frames_signed_with_another_or_an_unknown_key_are_rejected(tmp_path):
    bench = delivered_bench(tmp_path)
    frame = TcFrame(42, 0, command(99).pack(), seq=bench.flight.farm.vr)
    bench.inject(ASM + authenticate(frame, SecurityAssociation(7, OTHER_KEY), 10_000))
    bench.inject(ASM + authenticate(frame, SecurityAssociation(8, KEY), 10_000))
    bypass = TcFrame(42, 0, command(98).pack(), bypass=1)
    bench.inject(ASM + authenticate(bypass, SecurityAssociation(7, OTHER_KEY), 10_001))
    assert bench.flight.receive(0) is None
    assert bench.flight.stats()["rejects"] == {"bad_mac": 2, "unknown_spi": 1}


def test_garbage_on_the_uplink_never_raises_and_is_counted(tmp_path):
    bench = delivered_bench(tmp_path)
    rng = random.Random(5)
    for _ in range(200):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        bench.inject(junk if rng.random() < 0.5 else ASM + junk)
    bench.flight.poll(0)
    assert bench.flight.receive(0) is None
    ids = [bench.ground.send(command(n)) for n in range(10, 13)]
    bench.run_until(lambda: all(bench.ground.fate(i) == "delivered" for i in ids))
    assert numbers(bench.executed) == list(range(13))


def test_packets_that_do_not_decode_are_handed_over_as_refusals_naming_them(tmp_path):
    bench = delivered_bench(tmp_path)
    good = command(60).pack()
    no_secondary = bytearray(good)
    no_secondary[0] &= ~0x08
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    telemetry = PusTm(0x123, 3, 25, b"\0\1").pack()
    for raw in (bytes(no_secondary), bytes(bad_crc), telemetry, good[:3]):
        bench.ground.send(raw, bypass=True)
        bench.step(execute=False)
    refusals = bench.flight.refusals()
    assert (
        [(r.request_id, r.reason) for r in refusals]
        == [
            (bytes(no_secondary[:4]), "bad_header"),  # its packet id and sequence as received
            (good[:4], "bad_checksum"),
            (None, "bad_length"),  # three octets: no request id to name (a telemetry packet: none)
        ]
    )
    assert "secondary header flag is 0" in refusals[0].detail
    assert bench.flight.refusals() == []  # taken once
    assert bench.flight.receive(0) is None
    rejects = bench.flight.stats()["rejects"]
    assert rejects["not_a_telecommand"] == 1 and rejects["segment_truncated"] == 1


def test_bypass_frames_skip_farm_but_not_authentication(tmp_path):
    bench = delivered_bench(tmp_path)
    request = bench.ground.send(command(50), bypass=True)
    bench.step()
    assert bench.ground.fate(request) == "sent"
    assert numbers(bench.executed[-1:]) == [50]
    assert bench.flight.farm.counts["bypass"] == 1


def test_a_restarted_ground_continues_its_sequence_numbers(tmp_path):
    ground_store = CounterStore(tmp_path / "ground.json")
    bench = Bench(store=CounterStore(tmp_path / "flight.json"), ground_store=ground_store)
    bench.ground.start()
    first = bench.ground.send(command(0))
    bench.run_until(lambda: bench.ground.fate(first) == "delivered")
    restarted = GroundSpaceLink(bench.ground_link, SA, bench.config,
                                store=CounterStore(tmp_path / "ground.json"),
                                monotonic=bench.clock)  # fmt: skip
    bench.ground = restarted
    restarted.start()
    request = restarted.send(command(1))
    bench.run_until(lambda: restarted.fate(request) == "delivered")
    assert numbers(bench.executed) == [0, 1]
    assert "replay" not in bench.flight.stats()["rejects"]


# ---------------------------------------------------------------- configuration and store


def test_configuration_errors_name_the_key():
    assert SpaceLinkConfig.from_mapping({"scid": 5, "t1": 1}).scid == 5
    with pytest.raises(ValueError, match=r"bench\.toml: unknown key 'scdi'"):
        SpaceLinkConfig.from_mapping({"scdi": 5}, "bench.toml")
    with pytest.raises(ValueError, match="fop_window must be at least 1 and below"):
        SpaceLinkConfig.from_mapping({"fop_window": 5, "farm_window": 10})
    with pytest.raises(ValueError, match="scid must be an integer"):
        SpaceLinkConfig.from_mapping({"scid": 1.5})
    with pytest.raises(ValueError, match="t1 must be a number"):
        SpaceLinkConfig.from_mapping({"t1": "fast"})


def test_counter_store_survives_reload_and_refuses_corruption(tmp_path):
    path = tmp_path / "counters.json"
    store = CounterStore(path)
    assert store.get("sn:1") is None
    store.update({"sn:1": 5, "vr:0": 3})
    assert CounterStore(path).items("sn:") == {"sn:1": 5}
    text = path.read_text()
    path.write_text(text.replace("5", "6"))
    with pytest.raises(StoreError, match="checksum does not match"):
        CounterStore(path)
    path.write_text("{not json")
    with pytest.raises(StoreError, match="not a counter store"):
        CounterStore(path)
    with pytest.raises(StoreError, match="is not a count"):
        store.set("sn:1", -1)
    with pytest.raises(StoreError, match="cannot write"):
        CounterStore(tmp_path / "missing" / "counters.json").set("sn:1", 1)


def test_a_store_that_cannot_be_written_rejects_the_frame_and_advances_nothing(tmp_path):
    bench = delivered_bench(tmp_path)
    bench.store.path = tmp_path / "gone" / "flight.json"  # the disk went away
    frame = TcFrame(42, 0, command(99).pack(), seq=bench.flight.farm.vr)
    bench.inject(ASM + authenticate(frame, SA, 10_000))
    assert bench.flight.receive(0) is None
    assert bench.flight.stats()["rejects"] == {"persist_failed": 1}
    assert bench.flight.verifier.last_sn[7] < 10_000


def test_waiting_on_a_real_tty_ends_when_the_fate_is_settled():
    tty = open_link("pty://")  # a node that never answers
    tty.open()
    config = SpaceLinkConfig(t1=0.05, transmission_limit=2)
    ground = GroundSpaceLink(open_link(tty.peer_path), SA, config, auto_recover=False)
    ground.link.open()
    try:
        ground.start("no_clcw_check")
        request = ground.send(command(1))
        assert ground.wait_for([request], timeout=10)
        assert ground.fate(request) == "failed:t1_limit"
        assert ground.stats()["retransmissions"] == 1
        late = ground.send(command(2))  # no longer initiated: it waits, and waiting times out
        assert not ground.wait_for([late], timeout=0.2)
        assert ground.fate(late) == "queued"
    finally:
        ground.close()
        tty.close()


def test_bypass_frames_cannot_overfill_the_command_queue(tmp_path):
    bench = Bench(config=SpaceLinkConfig(t1=0.5, command_queue=3))
    ids = bench.ground.send_many([command(n, size=900) for n in range(5)], bypass=True)
    bench.step(execute=False)
    assert {bench.ground.fate(i) for i in ids} == {"sent"}
    assert numbers(bench.flight._queue) == [0, 1, 2]
    assert bench.flight.stats()["rejects"] == {"queue_full": 2}
