"""The MAV launch sequencer (component ``launch``): from a cold MAV in the igloo to the Orbiting
Sample released in Mars orbit.

States (:data:`~fsw.dictionary.mav.LAUNCH_STATES`) and what moves the sequencer on::

    safe --launch.condition--> conditioning --propellant warm, zones in limits--> conditioned
    conditioned --launch.verify_load (OS latched in the nose)--> os_loaded
    os_loaded --launch.arm (gated; inhibits 1 and 2 removed and verified)--> armed
    armed --launch.launch (gated; inhibit 3 removed, all three verified, toss fired)--> toss
    toss --SRM1 fired launch.srm1_delay after the toss--> srm1_ignition
    srm1_ignition --accelerometer above launch.ignition_accel--> srm1_burn (TVC steering)
    srm1_burn --burnout and stage separated--> coast
    coast --climb slowed to launch.spin_start_climb, spin-up commanded--> spin_up
    spin_up --spin rate reached and climb slowed to launch.srm2_climb, SRM2 fired--> srm2_burn
    srm2_burn --ignition confirmed, then burnout--> os_release --latch open--> released

Every step checks its guard first; the hazardous ones (``launch.arm``, ``launch.launch``) pass the
node's hazardous-command gate: a ground arm within the window, the onboard inhibits ``arm`` (and
``launch``) removed, mode critical, and this app's own preconditions (:meth:`preconditions`, read
from the boards at the moment of the fire). The launch command is the one gated fire of the whole
ascent: SRM1, SRM2 and the OS release follow autonomously, each on its own guard (the light-time
leaves the ground no part in a two-second ignition window); decision 0018.

**Aborts.** Ignition not confirmed in its window (``ignition_timeout``), the propellant or a heater
zone out of limits (``temperature``), a pyro inhibit that does not read as commanded
(``inhibit_mismatch``), the transverse attitude rate over its limit in M of the last N samples
(``attitude_rate``), and the others of :data:`~fsw.dictionary.mav.ABORT_REASONS`. Every abort
ends the same way: the operation stops (its command fails with the reason), the three pyro
inhibits are put back in place and read back (those that cannot be are named in the event), the
state goes to ``safe`` with the reason in ``launch.status``, event ``launch.abort`` says why, and
the node is asked into safe mode (which disarms the gate). Nothing fires after an abort: the
sequence only fires from inside its operation, which the abort has ended.

**Across a reset.** What matters is kept in the NV store (the app's own section ``launch``, names
``launch.*``): the state, the abort reason and which pyro channels were fired. A fire is written
to the store *before* the fire command goes out, so a reset can never lead to firing a channel
twice. After a reset the sequencer comes back safe (reason ``reset`` if it was anywhere between
``conditioning`` and ``os_release``), puts the pyro inhibits back in place, and once the toss has
fired refuses every command but ``launch.safe``: the vehicle has left the lander.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from typing import Any, Final

from fsw.apps.base import App, Operation, OperationFailed, Wait
from fsw.apps.manifest import TOPIC as OS_TOPIC
from fsw.core.component import CommandContext, CommandError, NodeContext
from fsw.core.nvstore import NvError
from fsw.dictionary.mav import ABORT_REASONS, LAUNCH_STATES
from hal.devices.base import DeviceFailed, DeviceNotActed, DeviceUnconfirmed
from hal.devices.mav_avionics import ImuStatus, MavAvionicsClient, NavStatus, UmbilicalStatus
from hal.devices.mav_pyro import MavPyroClient
from hal.errors import HalError
from hal.protocol.devices.igloo import PROPELLANT_MIN
from hal.protocol.devices.mav_avionics import GIMBAL_LIMIT
from hal.protocol.devices.mav_pyro import IGNITERS

__all__ = ["Abort", "LaunchSequencer"]

TOSS, SRM1, SRM2 = 1, 2, 4
"""Bits of the fired-channel mask kept in the NV store."""
CHANNEL_BITS: Final = {"toss": TOSS, "srm1": SRM1, "srm2": SRM2}
NV_STATE, NV_ABORT, NV_FIRED = "launch.state", "launch.abort", "launch.fired"
"""Names of the sequencer's values in its own NV section ``launch``."""

PRE_LAUNCH: Final = ("conditioning", "conditioned", "os_loaded", "armed")
WATCHED: Final = ("conditioned", "os_loaded", "armed")
"""States whose temperatures and inhibits :meth:`LaunchSequencer.monitor` checks."""

IGNITION_POLL: Final = 0.1
"""Seconds between accelerometer reads in an ignition window: the window is 1.5 s wide."""
NAV_PERIOD: Final = 1.0
"""Seconds between navigation reads in the SRM1 burn, for housekeeping (its 1 s period)."""
BURN_POLL: Final = 1.0
"""Seconds between reads in the SRM2 burn (30 s long): burnout is seen within a second."""
SPIN_POLL: Final = 2.0
"""Longest wait between reads while the spin motor is still spinning up (10 rpm/s)."""
SEPARATION_GRACE: Final = 2.0
"""Seconds after SRM1 burnout for the separation switch to show the stage gone."""
SPIN_REACHED: Final = 0.95
"""Share of the commanded spin rate that counts as reached (the motor's ramp ends exactly)."""
COAST_DECEL: Final = 3.71
"""m/s^2: the climb slows by at most Mars surface gravity, so a coast wait predicted with it is
never too long."""
TVC_DEADBAND: Final = 0.05
"""deg: a new nozzle command is sent only when it differs by more than this from the last."""


class Abort(OperationFailed):
    """The sequence cannot go on: ``code`` is one of
    :data:`~fsw.dictionary.mav.ABORT_REASONS`, the reason ``<code>: <why>``."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code


class LaunchSequencer(App):
    """The MAV launch sequencer (module docstring); component ``launch``."""

    name = "launch"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.state = "safe"
        self.entered = 0.0
        self.abort_reason = "none"
        self.fired = 0
        self.umbilical: UmbilicalStatus | None = None
        self.umbilical_at: float | None = None  # when it last read the igloo through it
        self.inhibits_removed = (False, False, False)
        self.accel = 0.0
        self.rate = 0.0
        self.altitude = 0.0
        self.speed = 0.0
        self.spin = 0.0
        self.os_released = False
        self._next_monitor = 0.0
        self._misses = 0
        self._over: deque[bool] = deque(maxlen=16)
        self._gimbal = (0.0, 0.0)
        self._next_nav = 0.0

    # ------------------------------------------------------------------ boards and parameters

    def _avionics(self) -> MavAvionicsClient:
        return self.board("mav_avionics", MavAvionicsClient)

    def _pyro(self) -> MavPyroClient:
        return self.board("mav_pyro", MavPyroClient)

    # ------------------------------------------------------------------ start and persistence

    def start(self, now: float) -> None:
        """Restore the sequencer after a (re)start: safe, unless the OS was already released;
        pyro inhibits back in place; nothing fired twice (module docstring)."""
        super().start(now)
        self.entered = now
        stored = self._stored()
        self.fired = stored.get(NV_FIRED, 0)
        code = stored.get(NV_STATE, 0)
        before = LAUNCH_STATES[code] if 0 <= code < len(LAUNCH_STATES) else "safe"
        reason = stored.get(NV_ABORT, 0)
        self.abort_reason = ABORT_REASONS[reason] if 0 <= reason < len(ABORT_REASONS) else "none"
        if before == "released":
            self.state = "released"
            self.os_released = True
            return
        not_restored = self._restore_inhibits()
        if before != "safe":
            self.abort_reason = "reset"
            self.persist_or_report(self._persist)  # nothing fires without a fresh sequence
            extra = f"; inhibits not restored: {not_restored}" if not_restored else ""
            self.ctx.emit(
                "launch.abort", f"reset: the node restarted in state {before}: safe{extra}"
            )

    def _stored(self) -> dict[str, int]:
        try:
            counters = self.ctx.nv.counters(self.name)
            return {k: int(counters.get(k, 0) or 0) for k in (NV_STATE, NV_ABORT, NV_FIRED)}
        except NvError:
            return {}

    def _persist(self, fired: int | None = None) -> None:
        """Write state, abort reason and fired mask (``fired`` instead of the current one).

        Raises:
            NvError: the store refused the write (nothing changed).
        """
        self.ctx.nv.counters(self.name).update({
            NV_STATE: LAUNCH_STATES.index(self.state),
            NV_ABORT: ABORT_REASONS.index(self.abort_reason),
            NV_FIRED: self.fired if fired is None else fired,
        })  # fmt: skip

    def _enter(self, state: str) -> None:
        """Change state: persisted (a failed write reported, and the vehicle goes on; only the
        fired mask must be written ahead, see :meth:`_fire`), then the event."""
        old, self.state, self.entered = self.state, state, self.now
        self.persist_or_report(self._persist)
        self.ctx.emit("launch.state", f"{old} -> {state}")

    # ------------------------------------------------------------------ commands

    def _not_launched(self, command: str) -> None:
        if self.fired:
            raise CommandError(
                f"launched: {command} refused, the toss has fired (state {self.state})"
            )

    def do_condition(self, cmd: CommandContext, now: float) -> None:
        """TC[170,1]: thermal conditioning (guard: safe, toss never fired)."""
        self._not_launched("launch.condition")
        if self.state != "safe" or self.running:
            raise CommandError(
                f"precondition: launch.condition needs state safe, the sequencer is {self.state}"
            )
        self.abort_reason = "none"
        self.begin("condition", self._condition(cmd), cmd)

    def do_verify_load(self, cmd: CommandContext, now: float) -> None:
        """TC[170,2]: the OS is latched in the MAV nose (guard: conditioned)."""
        self._not_launched("launch.verify_load")
        if self.state != "conditioned":
            raise CommandError(
                f"precondition: launch.verify_load needs state conditioned, the sequencer is "
                f"{self.state}"
            )
        try:
            latched = self._avionics().read_os_latched()
        except (HalError, OperationFailed) as exc:
            raise CommandError(f"device: {str(exc).splitlines()[0]}") from None
        if not latched:
            raise CommandError("precondition: the OS latch in the MAV nose reads open")
        self._enter("os_loaded")

    def do_arm(self, cmd: CommandContext, now: float) -> None:
        """TC[170,3], hazardous: the gate and :meth:`preconditions` have passed; remove and
        verify pyro inhibits 1 and 2."""
        self.begin("arm", self._arm(cmd), cmd)

    def do_launch(self, cmd: CommandContext, now: float) -> None:
        """TC[170,4], hazardous: the gate and :meth:`preconditions` have passed; the ascent."""
        self.begin("launch", self._launch(cmd), cmd)

    def do_safe(self, cmd: CommandContext, now: float) -> None:
        """TC[170,5]: abort to safe from any state before the toss (reason ``operator``)."""
        if self.running and self.fired:
            raise CommandError(
                f"launched: launch.safe refused in {self.state}: the ascent cannot be stopped"
            )
        if self.running:
            self.abort("operator: launch.safe commanded")
        elif self.state in ("safe", "released"):
            self._restore_inhibits()  # safing is always allowed; nothing else changes
        else:
            self._safe_vehicle("operator", "operator: launch.safe commanded")

    def preconditions(self, cmd: CommandContext, now: float) -> dict[str, bool]:
        """What the sequencer itself requires of ``launch.arm`` and ``launch.launch``, read from
        the boards now, in the order the gate reports the first that fails."""
        self.now = now
        name = cmd.command.name
        if name not in ("launch.arm", "launch.launch"):
            return {}
        arming = name == "launch.arm"
        needed = "os_loaded" if arming else "armed"
        conditions = {
            "not_launched": self.fired == 0,
            needed: self.state == needed,
            "idle": not self.running,
        }
        try:
            umbilical = self._read_umbilical()
            pyro = self._pyro().read_all()
        except (HalError, OperationFailed):
            conditions["boards_answer"] = False
            return conditions
        self.inhibits_removed = pyro.inhibits_removed
        one, two, three = pyro.inhibits_removed
        conditions["umbilical_connected"] = umbilical.connected
        conditions["temperatures_in_limits"] = not self._temperature_problem(umbilical)
        conditions["arm_plug_in"] = pyro.arm_plug.inserted
        if arming:
            conditions["inhibits_in_place"] = not (one or two or three)
        else:
            conditions["inhibits_1_2_removed"] = one and two
            conditions["inhibit_3_in_place"] = not three
        for channel in ("toss", "srm1", "srm2"):
            status = getattr(pyro, channel)
            conditions[f"continuity_{channel}"] = status.continuity and not status.fired
        return conditions

    # ------------------------------------------------------------------ operations

    def _condition(self, cmd: CommandContext) -> Operation:
        """Wait for the propellant and every heater zone to be ready."""
        self._enter("conditioning")
        deadline = self.now + self.param("condition_timeout")
        target = self.param("min_propellant_temp")
        while True:
            umbilical = self._read_umbilical()
            if not umbilical.connected:
                raise Abort("umbilical", "no igloo readings: the umbilical is not connected")
            problem = self._temperature_problem(umbilical, ready=False)
            if problem:
                raise Abort("temperature", problem)
            if umbilical.propellant >= target:
                break
            if self.now >= deadline:
                raise Abort(
                    "temperature",
                    f"propellant {umbilical.propellant:.1f} degC short of {target:g} degC after "
                    f"{self.param('condition_timeout'):g} s",
                )
            cmd.progress(1)
            yield Wait(self.param("condition_poll"), grid=True)  # on the housekeeping grid
        self._enter("conditioned")

    def _arm(self, cmd: CommandContext) -> Operation:
        """The first two of the three pyro inhibits, each removed then read back."""
        pyro = self._pyro()
        for number in (1, 2):
            pyro.remove_inhibit(number)
            yield Wait(self.param("settle"))
            self._expect_inhibits(pyro, (True, number == 2, False), f"removing inhibit {number}")
            cmd.progress(number)
        self._enter("armed")

    def _launch(self, cmd: CommandContext) -> Operation:
        """Inhibit 3, the toss, and the autonomous ascent to the OS release."""
        pyro, avionics = self._pyro(), self._avionics()
        threshold = self.param("ignition_accel")
        pyro.remove_inhibit(3)
        yield Wait(self.param("settle"))
        self._expect_inhibits(pyro, (True, True, True), "removing inhibit 3")
        if not pyro.read_arm_plug().armed:
            raise Abort("inhibit_mismatch", "three inhibits removed but the firing bus is dead")
        cmd.progress(1)

        self._fire(pyro, "toss", "toss")
        toss_at = self.now
        cmd.progress(2)
        yield Wait(self.param("srm1_delay"), busy=True)

        self._fire(pyro, "srm1", "srm1_ignition")
        srm1_at = self.now
        cmd.progress(3)
        window_end = toss_at + self.param("srm1_window")
        yield from self._confirm_ignition(avionics, "srm1", window_end, threshold, toss_at)
        self._enter("srm1_burn")
        cmd.progress(4)

        yield from self._srm1_burn(avionics, srm1_at, threshold)
        self._enter("coast")
        cmd.progress(5)

        coast_start = self.now
        yield from self._coast(avionics, coast_start, self.param("spin_start_climb"))
        avionics.spin_up(self.param("spin_rate"))
        self._enter("spin_up")
        cmd.progress(6)
        yield from self._spin_up(avionics, coast_start)

        self._fire(pyro, "srm2", "srm2_burn")
        srm2_at = self.now
        yield from self._confirm_ignition(
            avionics, "srm2", srm2_at + self.param("srm2_window"), threshold, srm2_at
        )
        cmd.progress(7)
        yield from self._srm2_burn(avionics, srm2_at, threshold)

        self._enter("os_release")
        cmd.progress(8)
        nav = self._read_nav(avionics)
        if nav.altitude < self.param("release_min_altitude"):
            raise Abort(
                "no_orbit",
                f"SRM2 burnt out at {nav.altitude:.1f} km, below "
                f"{self.param('release_min_altitude'):g} km: the OS is kept",
            )
        avionics.release_os()
        if avionics.read_os_latched():
            raise Abort("device_error", "the OS latch still reads closed after its release")
        self.os_released = True
        self._enter("released")
        self.ctx.bus.publish(OS_TOPIC, ("in_orbit", self.now))  # the manifest goes with it
        self.ctx.emit(
            "launch.released",
            f"OS released at {nav.altitude:.1f} km, {nav.speed:.0f} m/s, "
            f"T+{self.now - toss_at:.1f} s",
        )
        cmd.progress(9)

    def _fire(self, pyro: MavPyroClient, channel: str, state: str) -> None:
        """Write the fire ahead into the NV store, enter ``state``, then fire ``channel``
        (a fire the board refuses, or whose status shows it unfired, is taken back out of the
        store). An igniter's fire that neither answered nor let its status be read stays
        counted fired and goes on: the accelerometer's ignition check decides (the toss has no
        such witness before SRM1: unknown is an abort)."""
        fired = self.fired | CHANNEL_BITS[channel]
        try:
            self._persist(fired)
        except NvError as exc:
            raise Abort("store_failed", f"{channel} not fired: {exc}") from None
        before, self.fired = self.fired, fired
        self._enter(state)
        try:
            pyro.fire(channel)  # a lost reply is decided by the board's status (decision 0022)
        except (DeviceFailed, DeviceNotActed):
            # the board refused, or its status shows the channel unfired: nothing fired (a
            # timeout with no status leaves it unknown, and counted fired)
            self.fired = before
            with contextlib.suppress(NvError):
                self._persist()
            raise
        except DeviceUnconfirmed as exc:
            if channel not in IGNITERS:
                raise
            self.ctx.emit("launch.fire_unconfirmed", f"{channel}: {str(exc).splitlines()[0]}; "
                          "the accelerometer decides")  # fmt: skip

    def _confirm_ignition(
        self, avionics: MavAvionicsClient, motor: str, window_end: float, threshold: float,
        since: float,
    ) -> Operation:  # fmt: skip
        """Read the accelerometer until the thrust shows, or abort at the window's end."""
        while True:
            imu = self._read_imu(avionics)
            if imu.accel[0] >= threshold:
                self.ctx.emit(
                    "launch.ignition",
                    f"{motor} confirmed: {imu.accel[0]:.1f} m/s^2 at +{self.now - since:.2f} s",
                )
                return
            if self.now >= window_end - 1e-9:
                raise Abort(
                    "ignition_timeout",
                    f"{motor} not confirmed by +{window_end - since:.1f} s "
                    f"({imu.accel[0]:.1f} m/s^2 along the thrust axis)",
                )
            yield Wait(min(IGNITION_POLL, window_end - self.now), busy=True)

    def _srm1_burn(
        self, avionics: MavAvionicsClient, srm1_at: float, threshold: float
    ) -> Operation:
        """Steer the nozzle on the pitch programme until burnout, then see the stage go."""
        self._over.clear()
        self._gimbal = (math.nan, math.nan)
        period = self.param("tvc_period")
        while True:
            imu = self._read_imu(avionics)
            suspect = self._check_rate(imu)
            if imu.accel[0] < threshold:
                break
            if self.now - srm1_at > self.param("burn_timeout"):
                raise Abort(
                    "no_orbit", f"SRM1 still thrusting {self.now - srm1_at:.0f} s after ignition"
                )
            if not suspect:  # a sample over the rate limit is not used for steering
                self._steer(avionics, imu, srm1_at)
            if self.now >= self._next_nav:
                self._read_nav(avionics)
            yield Wait(period)
        grace_end = self.now + SEPARATION_GRACE
        while not avionics.read_spin().separated:
            if self.now >= grace_end:
                raise Abort("separation", "SRM1 burnt out but the first stage is still attached")
            yield Wait(period)

    def _steer(self, avionics: MavAvionicsClient, imu: ImuStatus, srm1_at: float) -> None:
        """One TVC step: nozzle deflection from the attitude and rate errors (PD)."""
        attitude = avionics.read_attitude()
        burn = self.param("srm1_burn")
        start, end = self.param("pitch_start"), self.param("pitch_end")
        t = self.now - srm1_at
        programme = start + (end - start) * min(1.0, max(0.0, t / burn))
        programme_rate = (end - start) / burn if t < burn else 0.0
        yaw_error = (attitude.yaw - self.param("azimuth") + 180.0) % 360.0 - 180.0
        kp, kd = self.param("tvc_kp"), self.param("tvc_kd")
        pitch = -(kp * (attitude.pitch - programme) + kd * (imu.rate[1] - programme_rate))
        yaw = -(kp * yaw_error + kd * imu.rate[2])
        command = (_clamp(pitch, GIMBAL_LIMIT), _clamp(yaw, GIMBAL_LIMIT))
        last = self._gimbal
        if any(not abs(c - g) <= TVC_DEADBAND for c, g in zip(command, last, strict=True)):
            avionics.gimbal(*command)
            self._gimbal = command

    def _coast(self, avionics: MavAvionicsClient, coast_start: float, climb: float) -> Operation:
        """Coast until the climb has slowed to ``climb`` m/s."""
        while True:
            nav = self._read_nav(avionics)
            self._check_rate(self._read_imu(avionics))
            if nav.vertical_speed <= climb:
                return
            self._coast_limit(coast_start)
            yield Wait(self._coast_wait(nav.vertical_speed, climb))

    def _spin_up(self, avionics: MavAvionicsClient, coast_start: float) -> Operation:
        """Wait for the spin rate and for the SRM2 point (the climb slowed to srm2_climb)."""
        commanded = self.now
        target = self.param("spin_rate")
        climb = self.param("srm2_climb")
        while True:
            nav = self._read_nav(avionics)
            self._check_rate(self._read_imu(avionics))
            spin = avionics.read_spin()
            self.spin = spin.rate
            spun = spin.rate >= SPIN_REACHED * target
            if not spun and self.now - commanded > self.param("spin_timeout"):
                raise Abort("spin_up", f"spin {spin.rate:.0f} rpm of {target:g} rpm after "
                            f"{self.now - commanded:.0f} s")  # fmt: skip
            if spun and nav.vertical_speed <= climb:
                return
            self._coast_limit(coast_start)
            wait = self._coast_wait(nav.vertical_speed, climb)
            yield Wait(wait if spun else min(wait, SPIN_POLL))

    def _srm2_burn(
        self, avionics: MavAvionicsClient, srm2_at: float, threshold: float
    ) -> Operation:
        """Wait for SRM2 burnout."""
        while True:
            imu = self._read_imu(avionics)
            self._check_rate(imu)
            if imu.accel[0] < threshold:
                return
            if self.now - srm2_at > self.param("burn_timeout"):
                raise Abort(
                    "no_orbit", f"SRM2 still thrusting {self.now - srm2_at:.0f} s after ignition"
                )
            self._read_nav(avionics)
            yield Wait(BURN_POLL)

    def _coast_limit(self, coast_start: float) -> None:
        if self.now - coast_start > self.param("coast_timeout"):
            raise Abort(
                "no_orbit", f"no SRM2 point {self.now - coast_start:.0f} s after separation"
            )

    def _coast_wait(self, vertical_speed: float, climb: float) -> float:
        """Half the predicted time to the climb rate ``climb``, within 0.1 s .. coast_poll."""
        predicted = (vertical_speed - climb) / COAST_DECEL
        return min(max(predicted / 2, IGNITION_POLL), self.param("coast_poll"))

    # ------------------------------------------------------------------ readings and checks

    def _read_umbilical(self) -> UmbilicalStatus:
        self.umbilical = self._avionics().read_umbilical()
        if self.umbilical.connected:
            self.umbilical_at = self.now
        return self.umbilical

    def _read_imu(self, avionics: MavAvionicsClient) -> ImuStatus:
        imu = avionics.read_imu()
        self.accel = imu.specific_force
        self.rate = math.hypot(imu.rate[1], imu.rate[2])
        return imu

    def _read_nav(self, avionics: MavAvionicsClient) -> NavStatus:
        nav = avionics.read_nav()
        self.altitude, self.speed = nav.altitude, nav.speed
        self._next_nav = self.now + NAV_PERIOD
        return nav

    def _check_rate(self, imu: ImuStatus) -> bool:
        """Count the sample against the rate limit (M of N); True when it is over the limit.

        Raises:
            Abort: ``attitude_rate`` when launch.rate_count of the last launch.rate_window
                samples are over the limit.
        """
        limit = self.param("rate_limit")
        rate = math.hypot(imu.rate[1], imu.rate[2])
        over = not rate <= limit  # a NaN counts as over
        window = int(self.param("rate_window"))
        self._over.append(over)
        recent = list(self._over)[-window:]
        if sum(recent) >= int(self.param("rate_count")):
            raise Abort(
                "attitude_rate",
                f"{sum(recent)} of the last {len(recent)} rate samples over {limit:g} deg/s "
                f"(last {rate:.1f} deg/s)",
            )
        return over

    def _temperature_problem(self, umbilical: UmbilicalStatus, ready: bool = True) -> str:
        """Why the igloo readings are out of limits ('' when they are not). ``ready``: the
        propellant must also be at its launch temperature (after conditioning)."""
        low, high = self.param("zone_low"), self.param("zone_high")
        if umbilical.zones_out or not low <= umbilical.zone_min <= umbilical.zone_max <= high:
            return (
                f"heater zones {umbilical.zone_min:.1f}..{umbilical.zone_max:.1f} degC, "
                f"{umbilical.zones_out} out of {low:g}..{high:g} degC"
            )
        floor = self.param("min_propellant_temp") if ready else PROPELLANT_MIN
        if not umbilical.propellant >= floor:
            return f"propellant {umbilical.propellant:.1f} degC below {floor:g} degC"
        return ""

    def _expect_inhibits(
        self, pyro: MavPyroClient, expected: tuple[bool, bool, bool], after: str
    ) -> None:
        """Read the three inhibits back; abort ``inhibit_mismatch`` unless as ``expected``."""
        removed = (pyro.read_inhibit(1), pyro.read_inhibit(2), pyro.read_inhibit(3))
        self.inhibits_removed = removed
        if removed != expected:
            raise Abort(
                "inhibit_mismatch",
                f"after {after} the inhibits read removed {_bits(removed)}, expected "
                f"{_bits(expected)}",
            )

    def _restore_inhibits(self) -> list[int]:
        """Put the three pyro inhibits back in place and read them back; the ones that could
        not be (no board, no answer, still removed) are returned."""
        failed = []
        removed = list(self.inhibits_removed)
        try:
            pyro = self._pyro()
        except OperationFailed:
            return [1, 2, 3]
        for number in (1, 2, 3):
            try:
                pyro.restore_inhibit(number)
                removed[number - 1] = pyro.read_inhibit(number)
            except HalError:
                failed.append(number)
                continue
            if removed[number - 1]:
                failed.append(number)
        self.inhibits_removed = (removed[0], removed[1], removed[2])
        return failed

    # ------------------------------------------------------------------ aborts

    def operation_ended(self, name: str, reason: str) -> None:
        """A failed operation is an abort: safe the vehicle with its named reason."""
        if not reason:
            return
        code = reason.split(":", 1)[0]
        if code not in ABORT_REASONS:
            code = "device_error"  # a board error ("device: ...") or a missing board
        self._safe_vehicle(code, reason if reason.startswith(code) else f"{code}: {reason}")

    def _safe_vehicle(self, code: str, why: str) -> None:
        """Inhibits back, state safe with the reason, the event, the node asked into safe."""
        old = self.state
        not_restored = self._restore_inhibits()
        self.abort_reason = code
        extra = f"; inhibits not restored: {not_restored}" if not_restored else ""
        self.ctx.emit("launch.abort", f"{why} (in {old}){extra}")
        self._enter("safe")
        if self.ctx.mode != "safe":
            self.ctx.request_mode("safe", f"launch abort: {code}")

    def on_mode(self, old: str, new: str, now: float) -> None:
        """The node going safe stops the sequence wherever it is (reason ``safe_mode``)."""
        self.now = now
        if new != "safe":
            return
        why = f"safe_mode: the node went safe ({old} -> safe) in {self.state}"
        if self.running:
            self.abort(why)
        elif self.state in WATCHED:
            self._safe_vehicle("safe_mode", why)

    def monitor(self, now: float) -> None:
        """Every launch.monitor_period while no operation runs: the igloo readings (and, in
        the watched states, the pyro inhibits), each out-of-limits an abort."""
        if self.running or now < self._next_monitor or self.state == "released" or self.fired:
            return
        self._next_monitor = now + self.param("monitor_period")
        watched = self.state in WATCHED
        try:
            umbilical = self._read_umbilical()
            if watched:
                pyro = self._pyro()
                self.inhibits_removed = (
                    pyro.read_inhibit(1),
                    pyro.read_inhibit(2),
                    pyro.read_inhibit(3),
                )
        except (HalError, OperationFailed) as exc:
            self._misses += 1
            if watched and self._misses >= self.param("device_misses"):
                self._safe_vehicle("device_error", f"device_error: {str(exc).splitlines()[0]}")
            return
        self._misses = 0
        if not watched:
            return
        if not umbilical.connected:
            self._safe_vehicle("umbilical", "umbilical: no igloo readings, disconnected")
            return
        problem = self._temperature_problem(umbilical)
        if problem:
            self._safe_vehicle("temperature", f"temperature: {problem}")
            return
        expected = (True, True, False) if self.state == "armed" else (False, False, False)
        if self.inhibits_removed != expected:
            self._safe_vehicle(
                "inhibit_mismatch",
                f"inhibit_mismatch: inhibits read removed {_bits(self.inhibits_removed)}, "
                f"expected {_bits(expected)}",
            )

    # ------------------------------------------------------------------ housekeeping

    def sample_times(self, now: float) -> dict[str, float | None]:
        """The igloo temperatures were measured at the last connected umbilical reading (None
        before any: -150 is a placeholder, not a reading)."""
        at = self.umbilical_at
        return {f"launch.status.{name}": at for name in ("propellant_temp", "zone_min", "zone_max")}

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``launch.status``: state, abort reason, temperatures, inhibits, the ascent."""
        u = self.umbilical
        return {
            "launch.status": {
                "state": LAUNCH_STATES.index(self.state),
                "abort_reason": ABORT_REASONS.index(self.abort_reason),
                "propellant_temp": u.propellant if u else -150.0,
                "zone_min": u.zone_min if u else -150.0,
                "zone_max": u.zone_max if u else -150.0,
                "inhibits_removed": sum(1 << i for i, r in enumerate(self.inhibits_removed) if r),
                "accel": self.accel, "rate": self.rate, "altitude": self.altitude,
                "speed": self.speed, "spin": self.spin, "os_released": self.os_released,
                "state_time": max(0.0, now - self.entered), "pyros_fired": self.fired,
            }
        }  # fmt: skip


def _clamp(value: float, limit: float) -> float:
    if math.isnan(value):
        return 0.0
    return max(-limit, min(limit, value))


def _bits(removed: tuple[bool, ...]) -> str:
    """``[1, 2]``: the inhibits (1..3) that read removed."""
    return str([n for n, r in enumerate(removed, start=1) if r])
