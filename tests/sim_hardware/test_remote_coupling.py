"""A stand-in arm in another process shares the simulator's world (decision 0032): its reports,
as the back door parses them, drive the simulator's coupling as its own arm would; the answer
carries what the world did to it. In one process here: the stand-in's arm emulator on one side,
the simulator's world, cameras and OS container on the other, the back door's schema between."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from hal.bench import Bench, default_bench_path, load_bench
from hal.protocol.devices import sta_arm as arm_icd
from sim_hardware.backdoor_messages import CoupleRequest, parse_request
from sim_hardware.coupling import Coupling
from sim_hardware.devices.os_container import OsContainer
from sim_hardware.devices.sta_arm import StaArm
from sim_hardware.devices.sta_vision import StaVision
from sim_hardware.remote_coupling import arm_state, couple
from sim_hardware.world import World


def bench_with_the_arm_on(tmp_path: Path, port: str) -> Bench:
    text = Path(default_bench_path()).read_text(encoding="utf-8")
    text = re.sub(r'(?m)^clock = "sim"', 'clock = "wall"', text)
    text = re.sub(r'(?m)^(\[boards\.sta_arm\]\nnode = "\w+"\n)port = "sim"', rf'\1port = "{port}"',
                  text)  # fmt: skip
    path = tmp_path / "hil.toml"
    path.write_text(text, encoding="utf-8")
    return load_bench(path)


class Sides:
    """The stand-in's arm, and the simulator's world with its own boards, a back door apart."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.arm = StaArm(random.Random(1))
        self.world = World()
        self.vision = StaVision(random.Random(2))
        self.container = OsContainer(random.Random(3), capacity=self.world.capacity, lid_open=True)
        self.coupling = Coupling(self.world, {"sta_vision": self.vision,
                                              "os_container": self.container})  # fmt: skip
        self.now = 0.0

    def report(self) -> dict[str, Any]:
        """One report of the stand-in, parsed as the back door parses it, and its answer
        applied to the arm as the stand-in applies it."""
        message = parse_request({"op": "couple", "board": "sta_arm", "state": arm_state(self.arm)})
        assert isinstance(message, CoupleRequest)
        reply = couple(self.coupling, self.bench, message, self.now)
        self.arm.slipped.clear()
        self.arm.presented_tube, self.arm.held_tube = reply["presented_tube"], reply["held_tube"]
        return reply

    def go(self, pose: tuple[float, ...], seconds: float = 120.0) -> None:
        self.arm.target = list(pose)
        self.arm.angle = list(pose)  # the move itself is the emulator's: arrived
        self.now += seconds
        self.report()

    def fingers(self, *, close: bool) -> None:
        if close:
            self.arm.cmd_gripper_close({"force": 25.0}, self.now)
        else:
            self.arm.cmd_gripper_open({}, self.now)
        self.now += 5.0
        self.arm.advance(self.now)
        self.report()


def test_a_stand_in_arm_picks_a_tube_at_the_depot_and_seats_it_in_the_simulators_os(
    tmp_path: Path,
) -> None:
    sides = Sides(bench_with_the_arm_on(tmp_path, "/dev/ttyUSB7"))
    sides.arm.advance(0.0)

    sides.go(arm_icd.PICKUP_STATIONS["depot"])
    first = sides.world.tubes_at("depot")[0]
    assert sides.arm.presented_tube == first and sides.vision.tube == first

    sides.fingers(close=True)
    assert sides.arm.held_tube == first and sides.world.gripper == first

    sides.go(arm_icd.slot_pose(4))
    sides.fingers(close=False)
    assert sides.arm.held_tube is None and sides.world.gripper is None
    assert sides.world.slots[4] == first and sides.container.tubes[4] == first


def test_only_a_stand_in_couples_and_a_report_out_of_its_schema_is_refused(
    tmp_path: Path,
) -> None:
    emulated = Sides(load_bench(default_bench_path()))
    with pytest.raises(ValueError, match="emulated by the simulator"):
        emulated.report()
    sides = Sides(bench_with_the_arm_on(tmp_path, "/dev/ttyUSB7"))
    state = arm_state(sides.arm)
    for bad in ({**state, "angle": state["angle"][:6]}, {**state, "opening": float("nan")},
                {**state, "held_tube": -1}, {**state, "extra": 1}):  # fmt: skip
        with pytest.raises(ValueError):
            parse_request({"op": "couple", "board": "sta_arm", "state": bad})
    with pytest.raises(ValueError):
        parse_request({"op": "couple", "board": "igloo", "state": state})
