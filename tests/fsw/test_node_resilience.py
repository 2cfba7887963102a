"""A node under abuse, as a process on the SIL bench (issue 5): killed at random instants in the
middle of its work it comes back with its non-volatile state whole and its anti-replay counters
never rewound; flooded with telecommands it keeps its rate groups, answers afterwards and its
memory stays bounded.

The kill is a SIGKILL (a power cut) at the start of a node cycle that takes in a burst of TC
frames, each of which the node persists (anti-replay number, FARM-1 V(R)) before acting on it;
the new process rejoins the lockstep in the round its predecessor left (the simulator sends that
round's tick again), so the whole test runs on one bench, in simulated time. The instants are
drawn in simulated time from a seeded generator; where in the node's cycle the signal lands
(between two NV writes, in the middle of one) is up to the machine.

The flood is 10,000 ``core.ping`` with ack flags 0 (no PUS-1 success reports; each still gets
its TM[17,2] answer), blocked together into TC frames of up to ``tc_frame_max`` octets and sent
through COP-1 with the shipped window: the node takes them as fast as it executes them
(``dispatch.max_per_cycle``), FARM-1 Wait holding the ground back meanwhile.
"""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

import pytest

from fsw.services.pus_20_parameters import build_load, build_report_request, parse_values
from hal.bench import default_bench_path
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.sdls import SECURITY_LAYOUT
from hal.protocol.tc_frame import SEGMENT_HEADER_SIZE, TC_HEADER_SIZE
from tests.fsw.bench_run import BenchRun

NODE = "lander"
KILLS = 50
"""Kill instants in one run (the issue asks for at least 50 in CI)."""
SEED = 20_250_605
THROTTLE_COUNT, THROTTLE_WINDOW = 1, 2
"""The two parameters every load sets together, to the same value: a torn load would show."""
NV_EVENTS_OF_DAMAGE = ("nv.nv_corrupt", "nv.nv_copy_corrupt", "nv.nv_section_defaulted")


def sequence_number(wire_frame: bytes) -> int:
    """The anti-replay sequence number of an authenticated TC data frame as on the wire."""
    _, sn = SECURITY_LAYOUT.unpack_from(wire_frame, len(ASM) + TC_HEADER_SIZE + SEGMENT_HEADER_SIZE)
    return sn


def first_frame_carrying(frames: list[bytes], packet: PusTc) -> bytes:
    """The first uplink frame that carried ``packet`` (a retransmission has a later number)."""
    raw = packet.pack()
    return next(frame for frame in frames if raw in frame)


def completed(run: BenchRun, packet: PusTc) -> bool:
    """The ground has seen ``packet``'s completion report."""
    return any(v.subtype == 7 for v in run.verifications(NODE, packet))


def bench_text(**space_link: int) -> str:
    """The shipped bench, with the lander's space link set as given, under the HMAC suite: the
    test finds a command's frames by its octets and reads their sequence numbers (under the
    default, AES-256-GCM, the commands are ciphertext: decision 0043)."""
    options = "".join(f"{key} = {value}\n" for key, value in space_link.items())
    text = default_bench_path().read_text(encoding="utf-8")
    return text.replace('sdls = "aes-gcm"', 'sdls = "hmac"') + (
        f"\n[nodes.{NODE}.space_link]\n{options}"
    )


class Activity:
    """What the ground keeps doing to the node: table loads (both parameters to one new value)
    and their activations, and pings, one telecommand per TC frame."""

    def __init__(self, run: BenchRun) -> None:
        self.run = run
        self.value = 9
        self.loaded = {5}  # the power-on default, then every value the ground loaded
        self.staged = 5  # the value of the last load sent
        self.activations: list[tuple[PusTc, int]] = []  # with the value staged when sent
        self.sent: list[PusTc] = []
        self._turn = 0

    def send(self, count: int) -> None:
        for _ in range(count):
            step = self._turn % 3
            self._turn += 1
            if step == 0:
                self.value += 1
                self.loaded.add(self.value)
                self.staged = self.value
                data = build_load({THROTTLE_COUNT: self.value, THROTTLE_WINDOW: self.value})
                self.sent.append(self.run.send(NODE, "params.load", data=data))
            elif step == 1:
                packet = self.run.send(NODE, "params.activate")
                self.activations.append((packet, self.staged))
                self.sent.append(packet)
            else:
                self.sent.append(self.run.send(NODE, "core.ping"))

    def confirmed(self) -> int:
        """The value of the last activation the ground saw completed (the node's table can only
        be that or newer: each load and activation goes in order)."""
        done = [value for packet, value in self.activations if completed(self.run, packet)]
        return max(done, default=5)

    def proven(self) -> PusTc | None:
        """The last telecommand the ground saw completed: the node took its frame."""
        return next((p for p in reversed(self.sent) if completed(self.run, p)), None)


@pytest.mark.slow
def test_a_node_killed_at_random_instants_comes_back_whole_and_never_takes_an_old_frame(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    text = bench_text(fop_window=20, farm_window=64)  # up to 20 frames, 40 NV writes, a cycle
    with BenchRun(tmp_path, [NODE], bench_text=text) as run:
        uplink = run.record_uplink(NODE)
        activity = Activity(run)
        run.cycles(1.0)
        assert run.command(NODE, "core.ping") == ["accepted", "started", "completed"]
        boots = 1
        mid_write = 0
        for kill in range(KILLS):
            # activity for a random number of cycles, a random number of frames in each; the
            # power goes at the start of the node's cycle that takes the last frames in
            for _ in range(rng.randrange(1, 5)):
                activity.send(rng.randrange(16))
                run.cycle()
            activity.send(rng.randrange(1, 21))
            mark = len(run.received[NODE])
            read_first = rng.random() < 0.5  # the read takes a moment: the kill comes later
            if read_first:
                counters_before = run.nv_store(NODE).get("counters")
            run.cycle()
            if not read_first:  # while the node writes: what is read is persisted all the same
                counters_before = run.nv_store(NODE).get("counters")
            run.kill_node(NODE)
            mid_write += (run.run_dir / "nv" / f"{NODE}.tmp").exists()
            run.start_node(NODE, boot_cause="restart")
            boots += 1

            def booted(mark: int = mark, boots: int = boots) -> bool:
                return any(
                    name == "core.boot" and detail.startswith(f"boot {boots} (restart)")
                    for name, detail in run.events(NODE, since=mark)
                )

            run.cycles(3.0, booted)
            assert booted(), f"kill {kill}: no core.boot {boots} (restart) from the new process"
            confirmed = activity.confirmed()
            proven = activity.proven()
            assert proven is not None

            # the store on the disk: whole, one of the ground's tables, counters not rewound
            nv = run.nv_store(NODE)
            assert nv.loaded_from == "file" and nv.boot_events == [], (kill, nv.boot_events)
            damage = [e for e in run.events(NODE, since=mark) if e[0] in NV_EVENTS_OF_DAMAGE]
            assert not damage, (kill, damage)
            params = nv.get("parameters")
            count = params.get("events.throttle_count", 5)
            window = params.get("events.throttle_window", 10.0)
            assert count == window or (count, window) == (5, 10.0), f"kill {kill}: torn {params}"
            assert count in activity.loaded and count >= confirmed, (kill, count, confirmed)
            assert nv.get("boot") == {"count": boots}
            replay = first_frame_carrying(uplink, proven)
            counters = nv.get("counters")
            sn_before = counters_before.get("sn:1", 0)
            assert counters["sn:1"] >= max(sn_before, sequence_number(replay)), (
                kill, counters_before, counters, sequence_number(replay),
            )  # fmt: skip
            vr_moved = (counters["vr:0"] - counters_before.get("vr:0", 0)) % 256  # V(R) wraps
            assert vr_moved < 128, (kill, counters_before, counters)  # not rewound

            # an old frame the node took before the kill is refused as a replay
            mark = len(run.received[NODE])
            run.ground[NODE].link.write_frames([replay])

            def refused(mark: int = mark) -> bool:
                return any(
                    name == "core.tc_rejected" and "replay" in detail
                    for name, detail in run.events(NODE, since=mark)
                )

            run.cycles(1.0, refused)
            assert refused(), f"kill {kill}: the replayed frame was not refused as a replay"

            # and the ground still commands it; the values it reports are the stored ones
            mark = len(run.received[NODE])
            assert run.command(
                NODE, "params.report", data=build_report_request([THROTTLE_COUNT, THROTTLE_WINDOW])
            ) == ["accepted", "started", "completed"], f"kill {kill}"
            report = [tm for tm in run.received[NODE][mark:] if (tm.service, tm.subtype) == (20, 2)]
            stored = run.nv_store(NODE).get("parameters")  # frames in flight may have come since
            value = stored["events.throttle_count"]
            assert value in activity.loaded and value >= count
            assert parse_values(report[-1].source_data) == [
                (THROTTLE_COUNT, value), (THROTTLE_WINDOW, value)
            ]  # fmt: skip
        assert run.command(NODE, "core.ping") == ["accepted", "started", "completed"]
    assert run.sim_stats["lockstep"]["rejoins"] == {NODE: KILLS}
    print(f"{KILLS} kills, {mid_write} in the middle of an NV write, {len(uplink)} TC frames")


FLOOD = 10_000
"""Telecommands in the flood."""
MIB = 1 << 20


def test_a_flood_of_ten_thousand_commands_is_all_executed_with_rate_groups_and_memory_kept(
    tmp_path: Path,
) -> None:
    with BenchRun(tmp_path, [NODE]) as run:  # the shipped space link: COP-1 window 4
        run.cycles(1.5)
        ground = run.ground[NODE]
        before = run.housekeeping(NODE, "core.status")[-1][1]
        rss_before = run.rss(NODE)
        start, mark = run.now, len(run.received[NODE])
        flood = [run.packet(NODE, "core.ping", ack=0) for _ in range(FLOOD)]
        ids = ground.send_many(flood)  # blocked together into frames of up to tc_frame_max

        def executed() -> bool:
            status = run.housekeeping(NODE, "core.status")[-1][1]
            return status["accepted"] - before["accepted"] >= FLOOD and status["queue"] == 0

        run.cycles(300.0, lambda: ground.fate(ids[-1]) == "delivered" and executed())
        end = run.now
        rss_after, rss_peak = run.rss(NODE), run.rss(NODE, peak=True)
        assert [ground.fate(i) for i in ids] == ["delivered"] * FLOOD

        # every one executed: none dropped, none refused, each answered by its TM[17,2]
        after = run.housekeeping(NODE, "core.status")[-1][1]
        assert after["accepted"] - before["accepted"] == FLOOD
        assert after["dropped"] == before["dropped"] and after["rejected"] == before["rejected"]
        answers = [tm for tm in run.received[NODE][mark:] if (tm.service, tm.subtype) == (17, 2)]
        assert len(answers) == FLOOD

        # the rate groups kept running: core.status once per simulated second, no slip
        times = [t for t, _ in run.housekeeping(NODE, "core.status") if start <= t <= end]
        assert len(times) >= int(end - start) - 1
        assert all(abs(b - a - 1.0) < 0.05 for a, b in pairwise(times))
        assert after["slips"] == before["slips"] == 0

        # and it answers a no-op afterwards; its memory stayed bounded
        assert run.command(NODE, "core.ping") == ["accepted", "started", "completed"]
        assert rss_peak - rss_before < 30 * MIB, (rss_before, rss_peak)
        stats = ground.stats()
    print(
        f"{FLOOD} commands in {stats['transmitted']} TC frames "
        f"({stats['retransmissions']} retransmissions), {end - start:.1f} s simulated; "
        f"RSS {rss_before / MIB:.1f} MiB before, {rss_after / MIB:.1f} MiB after, "
        f"{rss_peak / MIB:.1f} MiB peak"
    )
