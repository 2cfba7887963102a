"""Exactly-once device commands (decision 0022), for every board.

Each board's HAL driver talks to its emulator through an in-memory lossy line that hypothesis
drives: each frame, request or reply, is delivered, lost, sent twice, or has octets duplicated
inside it (which the deframer rejects). Time is an injected clock that moves only while the
driver waits on an empty line, so no test sleeps. A random sequence of the board's commands is
issued, and for every one of them:

* the device acted on it at most once (each command handler run is counted against the request
  id that carried it);
* what the driver reported is the truth: completed or refused -> the handler ran once; a
  hazardous command confirmed by the status after a lost reply -> its effect is in the device;
  ``not_acted`` -> its effect is not in the device;

and once the line is clean again, a status read through the driver equals the device's own
state (every field that carries no sensor noise). The node may reboot in the middle (a new
driver numbering from the next boot's start): a new request is never taken for a repeat of
one its predecessor sent.

Targeted tests below show the same through the simulator's own faults (``reply_lost``,
``request_lost``) on a real pty, as a bench would see them.
"""

from __future__ import annotations

import itertools
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal.bench import BOARD_NODES
from hal.devices import client_class
from hal.devices.base import (
    DeviceFailed,
    DeviceNotActed,
    DeviceTimeout,
    DeviceUnconfirmed,
)
from hal.devices.mav_pyro import MavPyroClient
from hal.links.base import Link
from hal.links.registry import register_backend
from hal.protocol.devices import mav_pyro
from hal.protocol.devices.icd import REMEMBERED, DeviceIcd, Field, Message
from hal.protocol.framing import ASM, Deframer
from hal.protocol.pus import PusPacket, PusTc, RequestId
from sim_hardware.devices.base import BoardEmulator
from sim_hardware.devices.mav_pyro import MavPyro
from sim_hardware.simulator import EMULATORS

BOARDS = sorted(BOARD_NODES)
FATES = ("deliver", "lose", "twice", "dup_octets")
SCHEME = "lossy"

register_backend(SCHEME, f"{__name__}:LossyLink")


class FakeClock:
    """The test's time: moved only by a driver waiting on an empty line."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class LossyLine:
    """A board's serial line in memory, with the emulator at its far end.

    Args:
        emulator: the board.
        clock: the injected time.
        fate: draws what happens to each frame (``"deliver"``, ``"lose"``, ``"twice"``,
            ``"dup_octets"``); ``clean`` overrides it with delivery.
    """

    lines: ClassVar[dict[str, LossyLine]] = {}

    def __init__(
        self, emulator: BoardEmulator, clock: FakeClock, fate: Callable[[str], str]
    ) -> None:
        self.emulator = emulator
        self.clock = clock
        self.fate = fate
        self.clean = False
        self.to_driver = bytearray()
        self.deframer = Deframer(max_length=None, apid_max=emulator.apids)
        self.acted: Counter[RequestId] = Counter()
        self._current: RequestId | None = None
        self.url = f"{SCHEME}://{emulator.name}-{id(self)}"
        LossyLine.lines[self.url] = self
        for device in emulator.icd.devices:
            for message in device.commands:
                self._count(device, message)

    def _count(self, device: DeviceIcd, message: Message) -> None:
        """Wrap the command's handler to count its runs by the request that carried it."""
        name = f"cmd_{device.name}_{message.name}"
        handler = getattr(self.emulator, name)

        def counted(values: dict[str, Any], now: float) -> None:
            assert self._current is not None
            self.acted[self._current] += 1
            handler(values, now)

        setattr(self.emulator, name, counted)

    def _mangle(self, frame: bytes, what: str) -> bytes:
        fate = "deliver" if self.clean else self.fate(what)
        if fate == "lose":
            return b""
        if fate == "twice":
            return frame + frame
        if fate == "dup_octets":
            middle = len(frame) // 2
            return frame[:middle] + frame[middle - 2 : middle] + frame[middle:]
        return frame

    def from_driver(self, data: bytes) -> None:
        """The driver wrote ``data`` (one frame): carry it, and the board's answers back."""
        emulator = self.emulator
        for raw in self.deframer.feed(self._mangle(bytes(data), "request")):
            packet = PusPacket.from_raw(raw)
            if not isinstance(packet, PusTc):
                continue
            self._current = RequestId.of(packet)
            for reply in emulator.handle(packet, self.clock.now):
                frame = ASM + reply.pack()  # type: ignore[union-attr]
                self.to_driver += self._mangle(frame, "reply")
            self._current = None
        self.deframer.flush()  # silence after the frame: a damaged one is abandoned


class LossyLink(Link):
    """The driver's end of a :class:`LossyLine` (``lossy://<name>``), opened by URL."""

    def __init__(self, url: str, baudrate: int = 0, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.line = LossyLine.lines[url]

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _read(self, size: int, timeout: float | None) -> bytes:  # pragma: no cover - see read
        return b""

    def _write(self, data: bytes) -> int | None:
        self.line.from_driver(data)
        return None

    def read(self, size: int = 4096, timeout: float | None = None) -> bytes:
        """What the board sent; on an empty line, the injected clock moves by ``timeout``."""
        line = self.line
        if not line.to_driver:
            line.clock.now += 0.01 if timeout is None else timeout
            line.emulator.advance(line.clock.now)
            return b""
        data = bytes(line.to_driver[:size])
        del line.to_driver[:size]
        return data


def _float32(value: float) -> float:
    """``value`` as the wire carries it."""
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


def _value(draw: st.DrawFn, spec: Field) -> Any:
    """A valid value of ``spec``, exactly representable in its kind."""
    if spec.kind == "bool":
        one: st.SearchStrategy[Any] = st.booleans()
    elif spec.kind == "f32":
        one = (
            st.floats(spec.lo, spec.hi, allow_nan=False)
            .map(_float32)
            .filter(lambda v: spec.lo <= v <= spec.hi)
        )
    else:
        one = st.integers(int(spec.lo), int(spec.hi))
    if spec.count > 1:
        return draw(st.lists(one, min_size=spec.count, max_size=spec.count))
    return draw(one)


@st.composite
def _calls(draw: st.DrawFn, board: str) -> list[tuple[str, str, dict[str, Any]]]:
    """A sequence of the board's commands with valid arguments."""
    icd = EMULATORS[board].icd
    commands = [(d.name, m) for d in icd.devices for m in d.commands]
    out = []
    for _ in range(draw(st.integers(1, 12))):
        device, message = draw(st.sampled_from(commands))
        out.append((device, message.name, {f.name: _value(draw, f) for f in message.fields}))
    return out


def _quiet_fields(device: DeviceIcd) -> list[str]:
    """Status fields that carry no sensor noise (every one but the floats)."""
    return [f.name for f in device.status.fields if f.kind != "f32"]


def _truth(emulator: BoardEmulator, device: DeviceIcd, now: float) -> dict[str, Any]:
    """The device's status as the emulator has it, not through the line."""
    return device.status.decode(emulator.status_data(device, now))


@pytest.mark.parametrize("board", BOARDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_command_acts_at_most_once_and_the_driver_reports_the_truth(board, data):
    clock = FakeClock()
    emulator = EMULATORS[board]()
    line = LossyLine(emulator, clock, lambda what: data.draw(st.sampled_from(FATES), label=what))
    client = client_class(board)(line.url, timeout=0.6, retries=2, monotonic=clock)
    boot = data.draw(st.integers(0, 40), label="boot")
    client.start_sequence(boot)
    calls = data.draw(_calls(board), label="calls")
    reboot_at = data.draw(st.integers(0, len(calls)), label="node reboots before call")
    try:
        for index, (device_name, name, args) in enumerate(calls):
            if index == reboot_at and index:  # a new driver, numbering from the next boot
                client.close()
                client = client_class(board)(line.url, timeout=0.6, retries=2, monotonic=clock)
                client.start_sequence(boot + 1)
            device = emulator.icd.device(device_name)
            message = device.command(name)
            before = set(line.acted)
            try:
                client.command(device_name, name, **args)
                outcome = "completed"
            except DeviceFailed:
                outcome = "refused"
            except DeviceNotActed:
                outcome = "not_acted"
            except DeviceUnconfirmed:
                outcome = "unconfirmed"
            except DeviceTimeout:
                outcome = "timeout"
            new = set(line.acted) - before
            assert len(new) <= 1, f"one call, several requests acted: {new}"
            assert all(count <= 1 for count in line.acted.values()), line.acted
            ran = sum(line.acted[rid] for rid in new)
            effect = message.effect if message.hazardous else None
            if outcome == "refused" or (outcome == "completed" and effect is None):
                assert ran == 1, (device_name, name, outcome)
            elif outcome == "completed":
                assert effect is not None and effect.present(_truth(emulator, device, clock.now))
            elif outcome == "not_acted":  # (it may have run and refused, its refusal lost)
                assert effect is not None
                assert not effect.present(_truth(emulator, device, clock.now)), (device_name, name)
        line.clean = True
        for device in emulator.icd.devices:
            seen = client.status(device.name)
            truth = _truth(emulator, device, clock.now)
            for field_name in _quiet_fields(device):
                assert seen[field_name] == truth[field_name], (device.name, field_name)
    finally:
        client.close()
        LossyLine.lines.pop(line.url, None)


# --------------------------------------------------------------------------- by hand


def _pyro_line(fates: list[str]) -> tuple[LossyLine, MavPyroClient, FakeClock]:
    """The pyro board on a lossy line whose frames meet ``fates`` in turn (then delivery)."""
    clock = FakeClock()
    emulator = MavPyro()
    emulator.plug_inserted = True
    queue = iter(fates)
    line = LossyLine(emulator, clock, lambda what: next(queue, "deliver"))
    client = MavPyroClient(line.url, timeout=0.6, retries=2, monotonic=clock)
    for inhibit in mav_pyro.INHIBITS:
        client.command(inhibit, "remove")
    return line, client, clock


def test_a_lost_fire_reply_is_confirmed_by_the_channel_status_and_fired_once():
    line, client, _ = _pyro_line([])
    events: list[tuple[str, str]] = []
    client.on_event = lambda name, detail: events.append((name, detail))
    fates = iter(["deliver", "lose"])  # the fire arrives, its reply is lost
    line.fate = lambda what: next(fates, "deliver")
    client.command("srm1", "fire", pulse=20)
    assert line.emulator.acted[("srm1", "fire")] == 1
    assert [name for name, _ in events] == ["device_reply_lost"]
    assert "fired = true" in events[0][1]
    assert client.health.confirmed_by_state == 1


def test_a_lost_fire_request_is_sent_again_with_the_same_id_and_fires_once():
    line, client, _ = _pyro_line([])
    # the fire lost; the status request and its report; the fire again, its reply lost
    fates = iter(["lose", "deliver", "deliver", "deliver", "lose"])
    line.fate = lambda what: next(fates, "deliver")
    client.command("srm1", "fire", pulse=20)
    assert line.emulator.acted[("srm1", "fire")] == 1
    assert client.health.confirmed_by_state == 1


def test_a_fire_that_never_arrives_is_reported_not_acted():
    line, client, _ = _pyro_line([])
    fates = itertools.cycle(["lose", "deliver"])  # requests: every fire lost, statuses not
    line.fate = lambda what: next(fates) if what == "request" else "deliver"
    with pytest.raises(DeviceNotActed):
        client.command("srm1", "fire", pulse=20)
    assert line.emulator.acted[("srm1", "fire")] == 0
    assert client.read_channel("srm1").fired is False


def test_a_fire_whose_status_cannot_be_read_is_unconfirmed():
    line, client, _ = _pyro_line([])
    line.fate = lambda what: "lose" if what == "reply" else "deliver"
    with pytest.raises(DeviceUnconfirmed):
        client.command("srm1", "fire", pulse=20)
    assert line.emulator.acted[("srm1", "fire")] == 1  # sent three times, fired once


def test_a_repeated_request_is_answered_from_memory_but_other_content_is_a_new_request():
    emulator = MavPyro()
    fire = mav_pyro.SRM1.command("fire")
    restore = mav_pyro.INHIBIT_1.command("restore")
    remove = mav_pyro.INHIBIT_1.command("remove")
    tc = PusTc(mav_pyro.INHIBIT_1.apid, remove.service, remove.subtype, b"", seq_count=7)
    first = emulator.handle(tc, 0.0)
    assert emulator.handle(tc, 0.5) == first and emulator.repeats == 1
    assert emulator.acted[("inhibit_1", "remove")] == 1
    other = PusTc(tc.apid, restore.service, restore.subtype, b"", seq_count=7)
    emulator.handle(other, 1.0)  # the same id, another command: it acts
    assert emulator.acted[("inhibit_1", "restore")] == 1
    emulator.handle(tc, 2.0)  # the remembered remove was replaced by the restore
    assert emulator.acted[("inhibit_1", "remove")] == 2
    pulse = fire.encode(pulse=20)
    for seq in range(REMEMBERED + 1):  # refusals are remembered too, per device
        emulator.handle(PusTc(mav_pyro.SRM1.apid, 151, 1, pulse, seq_count=100 + seq), 3.0)
    assert emulator.acted[("srm1", "fire")] == REMEMBERED + 1
    emulator.handle(PusTc(mav_pyro.SRM1.apid, 151, 1, pulse, seq_count=100), 3.0)  # forgotten
    assert emulator.acted[("srm1", "fire")] == REMEMBERED + 2


def test_memory_forgets_after_its_time():
    emulator = MavPyro()
    remove = mav_pyro.INHIBIT_2.command("remove")
    tc = PusTc(mav_pyro.INHIBIT_2.apid, remove.service, remove.subtype, b"", seq_count=1)
    emulator.handle(tc, 0.0)
    emulator.handle(tc, 59.0)
    assert emulator.acted[("inhibit_2", "remove")] == 1
    emulator.handle(tc, 61.0)
    assert emulator.acted[("inhibit_2", "remove")] == 2


def test_a_rebooted_driver_does_not_reuse_the_ids_of_the_boot_before():
    clock = FakeClock()
    emulator = MavPyro()
    line = LossyLine(emulator, clock, lambda what: "deliver")
    for boot in (1, 2):
        client = MavPyroClient(line.url, timeout=0.6, retries=2, monotonic=clock)
        client.start_sequence(boot)
        client.command("inhibit_3", "remove")
        client.command("inhibit_3", "restore")
        client.close()
    assert emulator.acted[("inhibit_3", "remove")] == 2
    assert emulator.acted[("inhibit_3", "restore")] == 2
    assert emulator.repeats == 0


# --------------------------------------------------------------------------- on a pty


def test_the_reply_lost_fault_loses_the_reply_of_the_named_command_once(connect):
    emulator = MavPyro()
    emulator.plug_inserted = True
    client = connect(emulator, MavPyroClient, timeout=1.0)
    for inhibit in mav_pyro.INHIBITS:
        client.command(inhibit, "remove")
    emulator.inject("reply_lost", "srm1", command="fire")
    client.command("srm1", "fire", pulse=20)
    assert emulator.acted[("srm1", "fire")] == 1
    assert [name for name, _ in client.events] == ["device_reply_lost"]
    assert emulator.faults == []  # count 1: it ended


def test_the_request_lost_fault_is_recovered_by_the_same_id(connect):
    emulator = MavPyro()
    client = connect(emulator, MavPyroClient, timeout=1.0)
    emulator.inject("request_lost", "inhibit_1", command="remove", count=1)
    client.command("inhibit_1", "remove")
    assert emulator.acted[("inhibit_1", "remove")] == 1
    assert client.read_inhibit(1) is True
    assert emulator.faults == []


def test_a_loss_fault_names_a_command_of_its_board():
    emulator = MavPyro()
    with pytest.raises(ValueError, match="parameter command 'ignite' is not one of"):
        emulator.inject("reply_lost", "srm1", command="ignite")
    with pytest.raises(ValueError, match="parameter count 0 is not an integer >= 1"):
        emulator.inject("request_lost", count=0)


def test_every_hazardous_message_declares_the_effect_its_status_shows():
    hazardous = {
        (board, device.name, message.name): message.effect
        for board in BOARDS
        for device in EMULATORS[board].icd.devices
        for message in device.commands
        if message.hazardous
    }
    assert all(effect is not None for effect in hazardous.values())
    assert {key: effect.describe() for key, effect in hazardous.items() if effect} == {
        ("braze", "heater", "on"): "on = true",
        ("ees_gantry", "release", "release"): "released = true",
        ("mav_avionics", "os_latch", "release"): "latched = false",
        ("mav_pyro", "inhibit_1", "remove"): "removed = true",
        ("mav_pyro", "inhibit_2", "remove"): "removed = true",
        ("mav_pyro", "inhibit_3", "remove"): "removed = true",
        ("mav_pyro", "toss", "fire"): "fired = true",
        ("mav_pyro", "srm1", "fire"): "fired = true",
        ("mav_pyro", "srm2", "fire"): "fired = true",
        ("os_container", "lid", "latch"): "latch_driven = true",
    }


def test_a_hazardous_message_without_an_effect_is_refused():
    status = Message("status", 3, 25, (Field("fired", "bool", "-", 0, 1, "fired"),))
    with pytest.raises(ValueError, match="hazardous without an effect"):
        DeviceIcd("x", 0x10, (Message("fire", 200, 1, hazardous=True),), status)
