"""``python -m sim_hardware --bench FILE``: the whole simulator as a process, driven by the test
as a lockstep participant, reached only through what it publishes (the port map, the ttys, the
back door), exactly as the flight software and the ground will reach it.

Each test reads like a bench procedure: start the simulator on a bench file, say hello on the
timing link, run cycles, talk to the boards through their HAL drivers, inject faults through the
back door, and check what the flight software would see."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hal.bench import DEFAULT_EPOCH, default_bench_path
from hal.control import hello, read_token
from hal.devices.base import DeviceTimeout
from hal.devices.braze import BrazeClient
from hal.devices.igloo import IglooClient
from hal.devices.mav_avionics import MavAvionicsClient
from hal.devices.os_container import OsContainerClient
from hal.devices.sta_arm import StaArmClient
from hal.devices.sta_vision import StaVisionClient
from hal.links import Link, open_link
from hal.links.pcap import PcapReader
from hal.links.timing import TimingClient, timing_channel
from hal.protocol.devices import sta_arm as arm_icd
from hal.protocol.framing import ASM
from hal.protocol.tc_frame import TcFrame
from hal.protocol.tm_frame import TmFrame, data_field_size
from sim_hardware.backdoor import BackdoorError, request
from sim_hardware.devices.sta_arm import MAX_ACCEL

DEFAULT = default_bench_path().read_text(encoding="utf-8")


def bench_text(seed: int = 1, *, extra: str = "", **nodes: dict[str, str]) -> str:
    """The default bench with another seed, node keys replaced (``lander={"light_time":
    "1.5"}``) and more TOML appended."""
    text = DEFAULT.replace("seed = 1 ", f"seed = {seed} ", 1)
    for node, values in nodes.items():
        head, _, tail = text.partition(f"[nodes.{node}]\n")
        block, _, rest = tail.partition("\n\n")
        for key, value in values.items():
            block = re.sub(rf"^{key} = .*$", f"{key} = {value}", block, flags=re.M)
        text = f"{head}[nodes.{node}]\n{block}\n\n{rest}"
    return text + "\n" + extra


class Sim:
    """The simulator process and what its port map says."""

    def __init__(self, proc: subprocess.Popen[str], run_dir: Path) -> None:
        self.proc = proc
        self.run_dir = run_dir
        self.ports: dict[str, Any] = json.loads((run_dir / "ports.json").read_text())
        door = self.ports["backdoor"]
        self.door = (door["host"], door["port"])
        self.token = read_token(run_dir)
        self.links: list[Link] = []

    def ask(self, **message: Any) -> dict[str, Any]:
        return request(self.door, message, token=self.token)

    def board(self, kind: type, name: str, **kwargs: Any) -> Any:
        return kind(self.ports["boards"][name]["path"], **{"timeout": 0.5, **kwargs})

    def participant(self, name: str) -> TimingClient:
        link = open_link(self.ports["timing"][name])
        self.links.append(link)
        client = TimingClient(timing_channel(link), name)
        client.register()
        return client

    def end(self, name: str, which: str) -> Link:
        link = open_link(self.ports["space_links"][name][which])
        self.links.append(link)
        return link

    def finish(self) -> dict[str, Any]:
        """Wait for the simulator's end; its last JSON line (stats or error)."""
        if self.proc.stdin is not None and self.proc.stdin.closed:
            self.proc.stdin = None
        out, _ = self.proc.communicate(timeout=30)
        for link in self.links:
            link.close()
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return lines[-1] if lines else {}


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    procs: list[subprocess.Popen[str]] = []

    def start(text: str, *participants: str, name: str = "run", until: float | None = None,
              extra_args: tuple[str, ...] = ()) -> Sim:  # fmt: skip
        bench = tmp_path / f"{name}.toml"
        bench.write_text(text, encoding="utf-8")
        run_dir = tmp_path / name
        args = [sys.executable, "-m", "sim_hardware", "--bench", str(bench), "--run-dir",
                str(run_dir), "--register-timeout", "10", *extra_args]  # fmt: skip
        for participant in participants:
            args += ["--participant", participant]
        if until is not None:
            args += ["--until", str(until)]
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert "ports" in first, first
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        return Sim(proc, run_dir)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def cycles(
    clients: TimingClient | Sequence[TimingClient],
    until: float,
    each: Callable[[float], None] | None = None,
) -> None:
    """Run cycles of every client until simulated time reaches ``until``, calling ``each(t)``
    in every one; the last cycle is left for the caller to report done."""
    every = [clients] if isinstance(clients, TimingClient) else list(clients)
    while True:
        ticks = [client.wait_tick(10.0) for client in every]
        assert None not in ticks, "the simulator stopped"
        assert len({(t.number, t.time_us) for t in ticks}) == 1  # one round, one time
        tick = ticks[0]  # each carries what was relayed to its own participant
        if each is not None:
            each(tick.time)
        if tick.time >= until - 1e-9:
            return
        for client in every:
            client.done()


def until_stopped(*clients: TimingClient) -> None:
    """Answer cycles until the simulator says stop, then hang up (as a node exits)."""
    while all([client.wait_tick(10.0) is not None for client in clients]):
        for client in clients:
            client.done()
    for client in clients:
        client.channel.close()


# ---------------------------------------------------------------------------- the port map


def test_the_port_map_names_every_board_link_and_the_back_door(start_sim):
    sim = start_sim(bench_text(), "lander")
    ports = sim.ports
    assert set(ports["boards"]) == {
        "sta_arm", "sta_vision", "os_container", "igloo", "mav_avionics", "mav_pyro",
        "nac_camera", "capture", "orient", "braze", "ees_gantry",
    }  # fmt: skip
    for name, board in ports["boards"].items():
        assert board["emulated"] and Path(board["path"]).exists()
        assert Path(board["link"]).resolve() == Path(board["path"]).resolve(), name
    assert set(ports["space_links"]) == {"lander", "mav", "orbiter"}
    assert set(ports["timing"]) == {"lander"}
    assert ports["clock"] == {"mode": "sim", "tick": 0.1}
    assert sim.ask(op="status")["time"] == 0.0
    sim.proc.stdin.close()  # the parent goes away: the simulator stops
    client = sim.participant("lander")
    until_stopped(client)
    assert client.stopped
    sim.finish()
    assert sim.proc.returncode == 0


def test_real_boards_and_radios_are_left_to_the_hardware(start_sim):
    text = bench_text(lander={"radio": '"/dev/serial/by-id/usb-radio-lander"'})
    text = text.replace('clock = "sim"', 'clock = "wall"', 1)  # real hardware (issue 18)
    text = text.replace(
        '[boards.igloo]\nnode = "lander"\nport = "sim"',
        '[boards.igloo]\nnode = "lander"\nport = "/dev/serial/by-id/usb-MSR_igloo-if00"',
    )
    sim = start_sim(text)  # on the wall clock no node joins the lockstep
    igloo = sim.ports["boards"]["igloo"]
    assert igloo == {
        "node": "lander", "baud": 115200, "emulated": False,
        "path": "/dev/serial/by-id/usb-MSR_igloo-if00", "usb_serial": None,
    }  # fmt: skip
    assert sim.ports["space_links"]["lander"] == {
        "emulated": False, "radio": "/dev/serial/by-id/usb-radio-lander", "ground": None,
    }  # fmt: skip
    assert sim.ports["space_links"]["mav"]["emulated"]
    assert not (sim.run_dir / "ports" / "igloo").exists()
    with pytest.raises(BackdoorError, match="real on this bench"):
        sim.ask(op="inject", target="igloo", kind="stall")


# ---------------------------------------------------------------------------- lockstep and boards


def test_boards_answer_in_lockstep_and_their_physics_follow_simulated_time(start_sim):
    sim = start_sim(bench_text(), "lander", until=3.0)
    lander = sim.participant("lander")
    arm = sim.board(StaArmClient, "sta_arm")
    angles: dict[float, float] = {}

    def cycle(t: float) -> None:
        if t == 0.0:
            arm.move_joint(0, 20.0, 5.0)
        if t in (1.0, 2.0):
            angles[t] = arm.read_arm().angle[0]

    cycles(lander, 2.0, cycle)
    lander.done()
    until_stopped(lander)
    ramp = 5.0**2 / (2 * MAX_ACCEL)  # the joint accelerates to 5 deg/s: 1.25 deg behind
    assert angles == {1.0: pytest.approx(5.0 - ramp, abs=1e-3),
                      2.0: pytest.approx(10.0 - ramp, abs=1e-3)}  # fmt: skip
    stats = sim.finish()["stats"]
    assert stats["time"] == pytest.approx(3.0)
    assert stats["lockstep"]["rounds"] == 30
    assert arm.health.consecutive_failures == 0


def test_the_world_follows_the_arm_through_the_boards(start_sim):
    sim = start_sim(bench_text(), "lander")
    lander = sim.participant("lander")
    arm = sim.board(StaArmClient, "sta_arm")
    vision = sim.board(StaVisionClient, "sta_vision")
    arm.move_all(arm_icd.PICKUP_STATIONS["depot"], 5.0)
    cycles(lander, 40.0)
    arm.close_gripper(20.0)
    lander.done()
    cycles(lander, 44.0)
    assert arm.read_gripper().holding
    serial = vision.read_serial().serial
    world = sim.ask(op="world")["world"]
    assert world["gripper"] == serial
    lander.done()


# ---------------------------------------------------------------------------- faults


def test_a_tube_lost_from_the_os_through_the_back_door_is_seen_by_the_mav_between_rounds(
    start_sim,
):
    sim = start_sim(bench_text(), "lander")
    lander = sim.participant("lander")
    arm = sim.board(StaArmClient, "sta_arm")
    container = sim.board(OsContainerClient, "os_container")
    avionics = sim.board(MavAvionicsClient, "mav_avionics")
    malay = 272  # in the depot, not in the OS
    for message, words in [
        ({"op": "lose_tube", "serial": 999_999}, "unknown_tube: "),
        ({"op": "lose_tube", "serial": malay}, "tube_not_in_os: tube 272 is in no OS slot but at "
                                               "depot"),
        ({"op": "lose_tube", "serial": 0}, "lose_tube: serial: "),
        ({"op": "lose_tube", "serial": "272"}, "lose_tube: serial: "),
    ]:  # fmt: skip
        with pytest.raises(BackdoorError) as refused:
            sim.ask(**message)
        assert str(refused.value).startswith(words), message
    # the arm puts the first depot tube into slot 3; the lid is shut and latched: the OS is
    # handed over to the MAV, whose latch connector reads its slot switches
    arm.move_all(arm_icd.PICKUP_STATIONS["depot"], 5.0)
    cycles(lander, 40.0)
    arm.close_gripper(20.0)
    lander.done()
    cycles(lander, 44.0)
    serial = sim.ask(op="world")["world"]["gripper"]
    assert serial is not None
    arm.move_all(arm_icd.slot_pose(3), 5.0)
    lander.done()
    cycles(lander, 85.0)  # 189 deg of the first joint at 5 deg/s
    arm.open_gripper()
    lander.done()
    cycles(lander, 88.0)
    assert container.read_slots().seated[3]
    container.close_lid()
    lander.done()
    cycles(lander, 110.0)
    container.latch_lid()
    lander.done()
    cycles(lander, 115.0)
    assert sim.ask(op="status")["os"] == "in_mav"
    assert avionics.read_os_slots() == 1 << 3 and avionics.read_os_latched()
    # lost while the lander holds the round at 115.0 open: the answer at once, the fall between
    # this round and the next (decision 0034)
    reply = sim.ask(op="lose_tube", serial=serial)
    assert reply == {"ok": True, "serial": serial, "from": "in_mav", "slot": 3}
    with pytest.raises(BackdoorError, match=r"tube_not_in_os: .* already falling out"):
        sim.ask(op="lose_tube", serial=serial)
    assert avionics.read_os_slots() == 1 << 3  # this round's cycles meet the board as it was
    lander.done()
    cycles(lander, 115.1)
    assert avionics.read_os_slots() == 0
    world = sim.ask(op="world")["world"]
    (tube,) = [t for t in world["tubes"] if t["serial"] == serial]
    assert (tube["location"], tube["slot"]) == ("lost", None)
    assert tube["custody"][-1] == {"step": world["step"], "at": pytest.approx(115.0),
                                   "location": "lost", "slot": None, "event": "lost"}  # fmt: skip
    assert world["os"]["slots"][3] is None and world["os"]["location"] == "in_mav"
    with pytest.raises(BackdoorError, match=r"tube_not_in_os: .* at lost"):
        sim.ask(op="lose_tube", serial=serial)
    assert sim.ask(op="status")["coupling_refusals"] == 0  # the clients' errors are not its own
    lander.done()


def test_faults_injected_through_the_back_door_are_seen_through_the_hal(start_sim):
    sim = start_sim(bench_text(), "lander")
    lander = sim.participant("lander")
    arm = sim.board(StaArmClient, "sta_arm")
    container = sim.board(OsContainerClient, "os_container", retries=0)
    stall = sim.ask(op="inject", target="sta_arm.arm", kind="stall", params={"index": 0})
    cycles(lander, 0.1)  # a fault starts between rounds (decision 0034): with the next tick
    arm.move_joint(0, 20.0, 5.0)
    lander.done()
    cycles(lander, 1.0)
    status = arm.read_arm()
    assert status.stalled() == [0] and status.over_current() == [0] and status.angle[0] == 0.0
    # asked while the lander holds the round at 1.0 open, as the ground station holds it for
    # a procedure: both take effect between that round and the next
    sim.ask(op="clear", id=stall["id"])
    # a serial-line fault: every request to the OS container is lost, for 0.5 s
    sim.ask(op="inject", target="os_container", kind="drop", duration=0.5,
            params={"probability": 1.0, "direction": "to_board"})  # fmt: skip
    lander.done()
    cycles(lander, 1.1)
    with pytest.raises(DeviceTimeout):
        container.read_lid()
    assert container.health.consecutive_failures == 1
    lander.done()
    cycles(lander, 2.0)
    assert container.read_lid().open  # the fault ended by itself
    lander.done()
    faults = sim.ask(op="faults")
    assert faults["faults"] == []
    assert [h["event"] for h in faults["history"]] == ["started", "cleared", "started", "ended"]


@pytest.mark.parametrize(
    ("target", "kind", "params", "answered"),
    [
        ("os_container.lid", "no_reply", {}, False),  # the board itself keeps quiet
        ("os_container", "drop", {"probability": 1.0, "direction": "to_board"}, False),
        ("os_container", "drop", {"probability": 1.0, "direction": "from_board"}, False),
        ("os_container", "bit_flips", {"probability": 1.0, "direction": "from_board"}, False),
        ("os_container", "delay", {"seconds": 0.3}, False),  # the reply comes rounds later
        ("os_container", "duplicate", {"probability": 1.0}, True),  # crosses at once, twice
    ],
)
def test_in_lockstep_a_driver_learns_from_the_simulator_that_no_reply_comes(
    start_sim, monkeypatch, target, kind, params, answered
):
    """Decision 0034: a driver given the timing client's word waits for a reply or for the
    simulator's TC[130,6] unanswered, never for its wall-clock timeout (an hour here) nor the
    patience that bounds a broken simulator (30 s here: were the notice missing, that is what
    would end the wait, and the link would say so)."""
    monkeypatch.setattr("hal.devices.base.SIL_PATIENCE", 30.0)
    sim = start_sim(bench_text(), "lander")
    lander = sim.participant("lander")
    container = sim.board(
        OsContainerClient, "os_container", retries=0, timeout=3600.0,
        silence=lambda request_id: lander.unanswered("os_container", request_id),
    )  # fmt: skip
    fault = sim.ask(op="inject", target=target, kind=kind, params=params)
    cycles(lander, 0.1)  # in effect from the next round on
    if answered:
        assert container.read_lid().open
    else:
        with pytest.raises(DeviceTimeout):
            container.read_lid()
        errors = container.link.stats.errors
        assert errors["no_reply"] == 1 and not errors["no_reply_sil_patience"]
    sim.ask(op="clear", id=fault["id"])
    lander.done()
    cycles(lander, 1.0)  # a late reply comes out, stale; then the board answers again
    assert container.read_lid().open
    lander.done()


@pytest.mark.parametrize(
    ("kind", "params", "seen"),
    [
        ("drop", {"probability": 1.0}, "timeout"),
        ("bit_flips", {"probability": 1.0, "direction": "from_board"}, "timeout"),
        ("bit_flips", {"bit_error_rate": 0.05, "direction": "to_board"}, "timeout"),
        ("duplicate", {"probability": 1.0}, "answers"),
        ("delay", {"seconds": 0.3}, "timeout"),
        ("blackout", {}, "timeout"),
    ],
)
def test_each_serial_line_fault_is_seen_through_the_hal(start_sim, kind, params, seen):
    sim = start_sim(bench_text(), "lander")
    lander = sim.participant("lander")
    container = sim.board(OsContainerClient, "os_container", retries=0, timeout=0.3)
    assert container.read_lid().open
    fault = sim.ask(op="inject", target="os_container", kind=kind, params=params)
    cycles(lander, 0.1)  # it starts between rounds (decision 0034): with the next tick
    if seen == "timeout":
        with pytest.raises(DeviceTimeout):
            container.read_lid()  # within one cycle: simulated time stands still
    else:
        assert container.read_lid().open
    applied = sim.ask(op="status")["boards"]["os_container"]["line"]
    counts = {d: stats["applied"] for d, stats in applied.items()}
    assert counts, "the line's paths were not in use"
    sim.ask(op="clear", id=fault["id"])
    lander.done()
    cycles(lander, 1.0)  # frames already in flight come out, stale; then the line is clean
    assert container.read_lid().open and container.read_slots().capacity == 30
    lander.done()


def test_a_scheduled_fault_starts_and_ends_at_its_simulated_time(start_sim):
    schedule = """
[[faults]]
at = 1.0
target = "igloo.heaters"
kind = "stuck"
duration = 1.0
params = { field = "temperature" }
"""
    sim = start_sim(bench_text(extra=schedule), "lander")
    lander = sim.participant("lander")
    assert [f["active"] for f in sim.ask(op="faults")["faults"]] == [False]
    cycles(lander, 1.0)
    assert [f["active"] for f in sim.ask(op="faults")["faults"]] == [True]
    lander.done()
    cycles(lander, 2.0)
    assert sim.ask(op="faults")["faults"] == []
    lander.done()


def test_a_throttled_line_carries_no_more_than_its_baud_rate(start_sim):
    sim = start_sim(bench_text(), "lander")
    lander = sim.participant("lander")
    igloo = sim.board(IglooClient, "igloo", retries=0, timeout=0.3)
    # 9600 bit/s: 96 octets per 0.1 s tick; a heaters report is far longer than that
    sim.ask(op="inject", target="igloo", kind="baud_throttle", params={"baud": 9600})
    cycles(lander, 0.1)  # it starts between rounds (decision 0034): with the next tick
    with pytest.raises(DeviceTimeout):
        igloo.read_heaters()  # the reply needs more than one tick of line time
    late: list[float] = []

    def cycle(t: float) -> None:
        line = sim.ask(op="status")["boards"]["igloo"]["line"]
        late.append(line["from_board"]["applied"].get("throttled", 0))

    lander.done()
    cycles(lander, 0.5, cycle)
    assert late[-1] >= 1
    sim.ask(op="clear_all", target="igloo")  # while the round at 0.5 is open: ends after it
    lander.done()
    cycles(lander, 1.0)
    assert len(igloo.read_heaters().temperature) == 16
    lander.done()


def test_bad_back_door_requests_get_one_line_errors_and_change_nothing(start_sim):
    sim = start_sim(bench_text(), "lander")
    bad = [
        ({"op": "fly"}, "unknown op 'fly'"),
        ({"op": "inject", "target": "sta_arm", "kind": "melt"}, "unknown fault kind 'melt'"),
        ({"op": "inject", "target": "warp_drive", "kind": "stall"}, "unknown target"),
        ({"op": "inject", "target": "sta_arm.elbow", "kind": "stall"}, "sta_arm.elbow"),
        ({"op": "inject", "target": "link:mav", "kind": "stall"}, "device fault"),
        ({"op": "inject", "target": "link:mav", "kind": "drop", "params": {"probability": 2}},
         "probability"),
        ({"op": "inject", "target": "sta_arm", "kind": "delay", "params": {"speed": 1}},
         "no parameter 'speed'"),
        ({"op": "inject", "target": "igloo", "kind": "stuck"}, "needs a device"),
        ({"op": "inject", "target": "sta_arm.arm", "kind": "stall", "params": {"idx": 3}},
         "sta_arm.arm: fault 'stall' takes no parameter 'idx' (it takes: index, at)"),
        ({"op": "inject", "target": "igloo.heaters", "kind": "heater_zone_failure",
          "params": {"index": 3, "element": "prim"}},
         "igloo.heaters: fault 'heater_zone_failure' parameter element 'prim' is not one of "
         "prime, redundant, both"),
        ({"op": "inject", "target": "igloo.door", "kind": "bias",
          "params": {"field": "position", "offset": "5"}},
         "parameter offset '5' is not a finite number"),
        ({"op": "inject", "target": "igloo", "kind": "drop", "duration": -1}, "duration"),
        ({"op": "clear", "id": 99}, "no fault 99"),
        ({"op": "inject", "target": "sta_arm", "kind": "drop", "params": []}, "object"),
    ]  # fmt: skip
    for message, words in bad:
        with pytest.raises(BackdoorError) as refused:
            sim.ask(**message)
        assert words in str(refused.value) and "\n" not in str(refused.value), message
    with socket.create_connection(sim.door, timeout=5) as raw:
        hello(raw, sim.token)
        raw.sendall(b"this is not json\n[1, 2]\n")
        reader = raw.makefile()
        answers = reader.readline(), reader.readline()
    assert all('"ok": false' in a for a in answers), answers
    assert sim.ask(op="faults")["faults"] == []
    assert sim.ask(op="status")["time"] == 0.0


# ---------------------------------------------------------------------------- space links


def test_the_space_link_delays_frames_by_the_light_time_in_simulated_time(start_sim):
    text = bench_text(lander={"light_time": "1.5"})
    sim = start_sim(text, "lander", "ground", until=2.5)
    lander, ground = sim.participant("lander"), sim.participant("ground")
    station, radio = sim.end("lander", "ground"), sim.end("lander", "radio")
    ground.watch(station)  # each side counts what it writes in its cycle-done reports
    lander.watch(radio)
    uplink = ASM + TcFrame(0x2A1, 0, b"open the lid").pack()
    downlink = ASM + TmFrame(0x2A1, 0, bytes(data_field_size(1115)), ocf=0).pack()
    early: list[float] = []

    def cycle(t: float) -> None:
        if t == 0.0:  # written just before the cycle-done reports: taken in at t = 0 all the same
            station.write(uplink)
            radio.write(downlink)
        elif t < 1.5 and (radio.read(4096, 0) or station.read(4096, 0)):
            early.append(t)

    cycles([lander, ground], 1.5, cycle)  # the tick at 1.5: both frames have arrived
    assert early == []
    assert radio.read(4096, 1.0).startswith(uplink[:64])
    assert station.read(4096, 1.0).startswith(downlink[:64])
    lander.done()
    ground.done()
    until_stopped(lander, ground)
    sim.finish()
    captures = sim.run_dir / "captures"
    # each frame as it entered the path (rx) and left it (tx), stamped in simulated time
    for entered, left, frame in (
        ("space-lander-ground.rx.pcap", "space-lander-radio.tx.pcap", uplink),
        ("space-lander-radio.rx.pcap", "space-lander-ground.tx.pcap", downlink),
    ):
        with PcapReader(captures / entered) as rx, PcapReader(captures / left) as tx:
            (t_in, got_in), (t_out, got_out) = *list(rx), *list(tx)
        assert got_in == got_out == frame
        epoch = DEFAULT_EPOCH.timestamp()  # the stamps are the mission's UTC (decision 0042)
        assert (t_in - epoch, t_out - epoch) == (0.0, pytest.approx(1.5, abs=1e-6))


def test_blackouts_and_bit_errors_of_the_bench_reach_the_frames(start_sim):
    text = bench_text(seed=3, lander={"bit_error_rate": "0.001", "blackouts": "[[0.5, 1.0]]"})
    sim = start_sim(text, "lander", "ground")
    lander, ground = sim.participant("lander"), sim.participant("ground")
    station, radio = sim.end("lander", "ground"), sim.end("lander", "radio")
    ground.watch(station)
    got: list[bytes] = []
    sent: list[bytes] = []

    def cycle(t: float) -> None:
        frame = ASM + TcFrame(0x2A1, 0, bytes([int(t * 10)]) * 200).pack()
        station.write(frame)  # taken in within this cycle: stamped with its time
        sent.append(frame)
        data = radio.read(65536, 0)
        if data:
            got.append(data)

    cycles([lander, ground], 1.5, cycle)
    stats = sim.ask(op="status")
    lander.done()
    ground.done()
    up = stats["space_links"]["lander"]["up"]
    assert up["applied"]["blackout"] == 5  # the frames sent at 0.5 .. 0.9
    assert up["applied"]["frame_with_bit_errors"] >= 1
    received = b"".join(got)
    assert 0 < received.count(ASM) <= len(sent) - 5
    assert stats["lockstep"]["octets_missing"] == {}


# ---------------------------------------------------------------------------- determinism


def _scripted_run(start_sim: Callable[..., Sim], seed: int, name: str) -> Path:
    faults = """
[[faults]]
at = 0.3
target = "sta_vision"
kind = "bit_flips"
duration = 0.5
params = { probability = 0.5 }
"""
    sim = start_sim(bench_text(seed=seed, extra=faults), "lander", name=name, until=1.5)
    lander = sim.participant("lander")
    arm = sim.board(StaArmClient, "sta_arm", retries=0)
    vision = sim.board(StaVisionClient, "sta_vision", retries=0, timeout=0.2)
    igloo = sim.board(IglooClient, "igloo")
    braze = sim.board(BrazeClient, "braze")
    for board in (arm, vision, igloo):  # the braze board is the orbiter's: not counted
        lander.watch(board)  # as a node watches its boards; the simulator counts the same
    arm.move_all(arm_icd.PICKUP_STATIONS["depot"], 5.0)

    def cycle(t: float) -> None:
        igloo.read_heaters()
        braze.read_seam()  # thermocouple noise: from the seed
        arm.read_arm()
        try:
            vision.read_cameras()
        except DeviceTimeout:
            pass

    cycles(lander, 1.4, cycle)
    assert sim.ask(op="status")["lockstep"]["octets_missing"] == {}
    lander.done()
    until_stopped(lander)
    sim.finish()
    return sim.run_dir / "captures"


def test_two_runs_with_the_same_seed_give_identical_captures(start_sim):
    first = _scripted_run(start_sim, 5, "first")
    second = _scripted_run(start_sim, 5, "second")
    other = _scripted_run(start_sim, 6, "other")
    names = sorted(p.name for p in first.glob("*.pcap"))
    assert names == sorted(p.name for p in second.glob("*.pcap")) and len(names) > 20
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "sim-braze.tx.pcap").stat().st_size > 1000
    assert (first / "sim-braze.tx.pcap").read_bytes() != (other / "sim-braze.tx.pcap").read_bytes()


# ---------------------------------------------------------------------------- bad starts


def refused_start(tmp_path, bench_text: str) -> str:
    """Start the simulator on ``bench_text``: it must exit 2 with one JSON line, no traceback;
    the error it names."""
    bench = tmp_path / "bad.toml"
    bench.write_text(bench_text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "sim_hardware", "--bench", str(bench), "--run-dir",
         str(tmp_path / "run")], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    return str(json.loads(result.stdout.splitlines()[-1])["error"])


def test_a_bad_bench_file_is_one_line_and_a_non_zero_exit(tmp_path):
    error = refused_start(tmp_path, DEFAULT.replace("baud = 115200", "baud = 12345", 1))
    assert "boards.sta_arm.baud" in error and "12345" in error


def test_a_scheduled_fault_with_a_mistyped_parameter_is_one_line_and_a_non_zero_exit(tmp_path):
    schedule = """
[[faults]]
at = 10.0
target = "sta_arm.arm"
kind = "stall"
params = { joint = 2 }
"""
    error = refused_start(tmp_path, bench_text(extra=schedule))
    assert "sta_arm.arm: fault 'stall' takes no parameter 'joint' (it takes: index, at)" in error
    assert "\n" not in error


def test_a_participant_that_never_says_hello_is_named(start_sim):
    sim = start_sim(bench_text(), "lander", "mav", extra_args=("--register-timeout", "0.5"))
    sim.participant("lander")
    last = sim.finish()
    assert sim.proc.returncode == 2
    assert "'mav'" in last["error"] and "hello" in last["error"]
