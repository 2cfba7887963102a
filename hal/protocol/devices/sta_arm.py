"""ICD of the Sample Transfer Arm board (lander): the 7-joint arm and its gripper.

The ESA Sample Transfer Arm is about 2.5 m long with seven degrees of freedom (shoulder, elbow,
wrist). Joint order on the wire: 0 shoulder yaw, 1 shoulder pitch, 2 elbow pitch, 3 forearm roll,
4 wrist pitch, 5 wrist yaw, 6 wrist roll. Conventions common to every device (ping, status
request, completion and failure reports) are in :mod:`hal.protocol.devices.icd`.

=========  =====  ==================================================================
device     APID   what it is
=========  =====  ==================================================================
arm        0x110  seven joint drives: angle, rate, motor current, temperature, limits
gripper    0x111  the end effector that grasps sample tubes, with a force sensor
=========  =====  ==================================================================

Mechanical interface: the lander's layout as the arm sees it, in joint space. Each *station* is
a calibrated arm pose (all seven joint angles) at which the gripper is over one place: a pickup
source (the rover's cache, the depot, the ground near the lander), an OS slot, or the stowed
pose. The arm is *at* a station when every joint is within :data:`STATION_TOLERANCE` of it and
none is moving. These are the default calibration, shared by the emulator (which decides what
the fingers close on) and the flight software (which plans its moves to them); a real bench
loads its own table.

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. No command of this board is hazardous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Field, Limits, LimitSet, Message, enum

JOINTS: Final = 7
JOINT_NAMES: Final = (
    "shoulder_yaw", "shoulder_pitch", "elbow_pitch", "forearm_roll",
    "wrist_pitch", "wrist_yaw", "wrist_roll",
)  # fmt: skip
CURRENT_LIMITS: Final = Limits(LimitSet(yellow=(None, 3.5), red=(None, 4.5)))
"""A joint's motor current: red above the flight software's default stop current
(``sta.max_current`` 4.5 A), a caution above 3.5 A."""
MOTOR_TEMPERATURE_LIMITS: Final = Limits(LimitSet(yellow=(None, 70.0), red=(None, 85.0)))
"""A joint motor's temperature (this project's figures: a caution at 70, red at 85 degC)."""
SERVICE_ARM: Final = 130
SERVICE_GRIPPER: Final = 131

FAIL_JOINT_LIMIT: Final = 16
FAIL_STALL: Final = 17
FAIL_OVER_CURRENT: Final = 18
FAIL_NOTHING_GRASPED: Final = 19

LIMIT_LOW: Final = 0x01
LIMIT_HIGH: Final = 0x02
STALLED: Final = 0x04
OVER_CURRENT: Final = 0x08

Pose = tuple[float, float, float, float, float, float, float]
STATION_TOLERANCE: Final = 0.5
"""deg: how close every joint must be to a station's angle for the arm to be at it."""
STOW: Final[Pose] = (0.0, -80.0, 140.0, 0.0, 30.0, 0.0, 0.0)
PICKUP_STATIONS: Final[dict[str, Pose]] = {
    "rover_cache": (-60.0, 35.0, -45.0, 0.0, 55.0, 0.0, 0.0),
    "depot": (-120.0, 50.0, -20.0, 0.0, 60.0, 0.0, 0.0),
    "ground_near_lander": (150.0, 45.0, -30.0, 0.0, 75.0, 0.0, 0.0),
}
"""Pickup source name (as the world model names it) -> arm pose over it."""
SLOT_POSE_FIRST: Final = 60.0
SLOT_POSE_STEP: Final = 3.0


def slot_pose(slot: int) -> Pose:
    """The arm pose that puts the gripper over OS slot ``slot`` (0-based)."""
    return (SLOT_POSE_FIRST + SLOT_POSE_STEP * slot, 45.0, -60.0, 0.0, 15.0, 0.0, 0.0)


def station_at(angles: Sequence[float], slots: int) -> str | None:
    """The station the arm is at with these joint angles: a pickup source's name,
    ``"slot_<n>"``, ``"stow"``, or None when it is at none (``slots``: slots in the OS)."""
    candidates: list[tuple[str, Pose]] = [("stow", STOW), *PICKUP_STATIONS.items()]
    first = round((angles[0] - SLOT_POSE_FIRST) / SLOT_POSE_STEP)
    if 0 <= first < slots:
        candidates.append((f"slot_{first}", slot_pose(first)))
    for name, pose in candidates:
        if all(abs(a - b) <= STATION_TOLERANCE for a, b in zip(angles, pose, strict=True)):
            return name
    return None


# fmt: off
ARM = DeviceIcd(
    name="arm",
    apid=0x110,
    meaning="Seven joint drives with resolvers, current sensing and thermistors.",
    commands=(
        Message("move_joint", SERVICE_ARM, 1, (
            Field("joint", "u8", "-", 0, JOINTS - 1, "joint index, shoulder (0) to wrist roll (6)",
                  enum=enum(*JOINT_NAMES)),
            Field("angle", "f32", "deg", -180, 180, "target angle"),
            Field("rate", "f32", "deg/s", 0.1, 10, "slew rate limit for this move"),
        ), "Drive one joint to an angle at a rate; completion is reported at once, arrival in "
           "the status report (moving flag clears)."),
        Message("move_all", SERVICE_ARM, 2, (
            Field("angles", "f32", "deg", -180, 180, "target angle per joint", count=JOINTS),
            Field("rate", "f32", "deg/s", 0.1, 10, "slew rate limit of the slowest joint"),
        ), "Drive every joint to a pose, all joints arriving together (coordinated move)."),
        Message("stop", SERVICE_ARM, 3, (), "Stop every joint where it is (brakes on)."),
        Message("clear_fault", SERVICE_ARM, 4, (
            Field("joint", "u8", "-", 0, JOINTS - 1, "joint whose stall/over-current to clear",
                  enum=enum(*JOINT_NAMES)),
        ), "Clear a latched stall or over-current flag after the cause is gone."),
    ),
    status=Message("status", 3, 25, (
        Field("angle", "f32", "deg", -180, 180, "joint angle from the resolver", count=JOINTS),
        Field("rate", "f32", "deg/s", -20, 20, "joint angular rate", count=JOINTS),
        Field("current", "f32", "A", 0, 10, "motor current", count=JOINTS,
              limits=CURRENT_LIMITS),
        Field("temperature", "f32", "degC", -130, 150, "motor temperature", count=JOINTS,
              limits=MOTOR_TEMPERATURE_LIMITS),
        Field("flags", "u8", "-", 0, 15, "bit 0 low limit, 1 high limit, 2 stalled, "
              "3 over-current", count=JOINTS),
        Field("lower", "f32", "deg", -180, 180, "soft lower limit", count=JOINTS),
        Field("upper", "f32", "deg", -180, 180, "soft upper limit", count=JOINTS),
        Field("moving", "bool", "-", 0, 1, "any joint still travelling to its target"),
    ), "Arm status."),
    failures={
        FAIL_JOINT_LIMIT: "joint_limit",
        FAIL_STALL: "stalled",
        FAIL_OVER_CURRENT: "over_current",
    },
)

GRIPPER = DeviceIcd(
    name="gripper",
    apid=0x111,
    meaning="Two-finger gripper that takes a tube at any angle, with a grip force sensor.",
    commands=(
        Message("open", SERVICE_GRIPPER, 1, (), "Open the fingers fully (releases any tube)."),
        Message("close", SERVICE_GRIPPER, 2, (
            Field("force", "f32", "N", 1, 50, "grip force to hold once closed on an object"),
        ), "Close until the force is reached or the fingers meet."),
    ),
    status=Message("status", 3, 25, (
        Field("opening", "f32", "mm", 0, 60, "distance between the fingers"),
        Field("force", "f32", "N", 0, 60, "measured grip force"),
        Field("holding", "bool", "-", 0, 1, "an object between the fingers at the set force"),
    ), "Gripper status."),
    failures={FAIL_NOTHING_GRASPED: "nothing_grasped"},
)

# fmt: on

BOARD = BoardIcd(
    name="sta_arm",
    node="lander",
    devices=(ARM, GRIPPER),
    meaning="Sample Transfer Arm drives and gripper, on the Sample Retrieval Lander.",
)
