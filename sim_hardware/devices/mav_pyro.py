"""Emulator of the MAV pyrotechnic board (ICD: :mod:`hal.protocol.devices.mav_pyro`).

Physics at bench level:

* each inhibit is a switch, removed or restored by its own command; the arm plug is inserted or
  pulled by hand (:meth:`MavPyro.insert_arm_plug`, :meth:`MavPyro.remove_arm_plug`: the bench
  operator or the simulator, never a telecommand); the firing bus is live when the plug is in and
  all three inhibits are removed;
* a fire command on a live bus, on an intact channel not yet fired, fires the initiator: its
  bridgewire opens (resistance to :data:`~hal.protocol.devices.mav_pyro.OPEN_OHMS`, no continuity)
  and *fired* latches. The board refuses it otherwise, checking in this order: ``already_fired``,
  ``inhibited`` (detail: bit ``i`` for inhibit ``i + 1`` still in place), ``not_armed``,
  ``no_continuity``;
* what happened is exposed to the simulator, not on the wire: :attr:`MavPyro.fired_at` (channel to
  the time it fired) and :attr:`MavPyro.misfired` (channel and time of each pulse that fired
  nothing), so that the ascent model can toss and ignite (:mod:`sim_hardware.devices.mav_avionics`
  takes ``toss(at)``, ``ignite_srm1(at)``, ``ignite_srm2(at)``).

Board faults:

==================  ==========================================================================
``igniter_no_fire``  an igniter (the fault's device, ``srm1`` or ``srm2``; both when none is
                     given) takes the pulse but does not fire: the command completes,
                     *fired* stays false, continuity stays, nothing ignites. The board judges
                     *fired* by what it senses, so a retry is accepted (and fires if the fault
                     has ended).
``open_circuit``     a channel's bridgewire (the fault's device; every one when none is
                     given) reads open: no continuity, and a fire command is refused
                     ``no_continuity``.
==================  ==========================================================================
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from hal.protocol.devices import mav_pyro as icd
from sim_hardware.devices.base import BoardEmulator, Refused

FAULT_DEVICES = {"igniter_no_fire": icd.IGNITERS, "open_circuit": icd.CHANNELS}
"""The board faults that only some channels can have."""


class MavPyro(BoardEmulator):
    """Three inhibits, the arm plug and the toss, SRM1 and SRM2 channels.

    Args:
        rng: seeded generator.
        arm_plug: whether the arm plug is in at start (out on the bench by default).
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"igniter_no_fire", "open_circuit"})
    fault_devices: ClassVar = FAULT_DEVICES

    def __init__(self, rng: random.Random | None = None, arm_plug: bool = False) -> None:
        super().__init__(rng)
        self.removed = dict.fromkeys(icd.INHIBITS, False)
        self.plug_inserted = arm_plug
        self.fired = dict.fromkeys(icd.CHANNELS, False)
        self.fired_at: dict[str, float] = {}
        self.misfired: list[tuple[str, float]] = []

    # ------------------------------------------------------------------ bench and faults

    def insert_arm_plug(self) -> None:
        """The arm plug goes in (by hand, on the pad or the bench)."""
        self.plug_inserted = True

    def remove_arm_plug(self) -> None:
        """The arm plug is pulled out: the firing bus is dead whatever the inhibits say."""
        self.plug_inserted = False

    # ------------------------------------------------------------------ physics

    @property
    def bus_live(self) -> bool:
        """The arm plug is in and every inhibit is removed."""
        return self.plug_inserted and all(self.removed.values())

    def _resistance(self, channel: str) -> float:
        if self.fired[channel] or self.fault("open_circuit", channel):
            return icd.OPEN_OHMS
        return icd.BRIDGEWIRE_OHMS

    def _fire(self, channel: str, now: float) -> None:
        if self.fired[channel]:
            raise Refused(icd.FAIL_ALREADY_FIRED)
        in_place = sum(1 << i for i, name in enumerate(icd.INHIBITS) if not self.removed[name])
        if in_place:
            raise Refused(icd.FAIL_INHIBITED, in_place)
        if not self.plug_inserted:
            raise Refused(icd.FAIL_NOT_ARMED)
        if self._resistance(channel) > icd.CONTINUITY_MAX_OHMS:
            raise Refused(icd.FAIL_NO_CONTINUITY)
        if channel in icd.IGNITERS and self.fault("igniter_no_fire", channel):
            self.misfired.append((channel, now))  # the pulse went out; nothing lit
            return
        self.fired[channel] = True
        self.fired_at[channel] = now

    # ------------------------------------------------------------------ commands

    def cmd_inhibit_1_remove(self, values: dict[str, Any], now: float) -> None:
        """Remove the first inhibit."""
        self.removed["inhibit_1"] = True

    def cmd_inhibit_1_restore(self, values: dict[str, Any], now: float) -> None:
        """Restore the first inhibit."""
        self.removed["inhibit_1"] = False

    def cmd_inhibit_2_remove(self, values: dict[str, Any], now: float) -> None:
        """Remove the second inhibit."""
        self.removed["inhibit_2"] = True

    def cmd_inhibit_2_restore(self, values: dict[str, Any], now: float) -> None:
        """Restore the second inhibit."""
        self.removed["inhibit_2"] = False

    def cmd_inhibit_3_remove(self, values: dict[str, Any], now: float) -> None:
        """Remove the third inhibit."""
        self.removed["inhibit_3"] = True

    def cmd_inhibit_3_restore(self, values: dict[str, Any], now: float) -> None:
        """Restore the third inhibit."""
        self.removed["inhibit_3"] = False

    def cmd_toss_fire(self, values: dict[str, Any], now: float) -> None:
        """Fire the toss actuator."""
        self._fire("toss", now)

    def cmd_srm1_fire(self, values: dict[str, Any], now: float) -> None:
        """Fire the SRM1 igniter."""
        self._fire("srm1", now)

    def cmd_srm2_fire(self, values: dict[str, Any], now: float) -> None:
        """Fire the SRM2 igniter."""
        self._fire("srm2", now)

    # ------------------------------------------------------------------ status

    def _inhibit(self, name: str) -> dict[str, Any]:
        return {"removed": self.removed[name]}

    def status_inhibit_1(self, now: float) -> dict[str, Any]:
        """The first inhibit's status report values."""
        return self._inhibit("inhibit_1")

    def status_inhibit_2(self, now: float) -> dict[str, Any]:
        """The second inhibit's status report values."""
        return self._inhibit("inhibit_2")

    def status_inhibit_3(self, now: float) -> dict[str, Any]:
        """The third inhibit's status report values."""
        return self._inhibit("inhibit_3")

    def status_arm_plug(self, now: float) -> dict[str, Any]:
        """The arm plug's status report values."""
        return {"inserted": self.plug_inserted, "armed": self.bus_live}

    def _channel(self, channel: str) -> dict[str, Any]:
        resistance = self._resistance(channel)
        return {
            "resistance": resistance,
            "continuity": resistance <= icd.CONTINUITY_MAX_OHMS,
            "fired": self.fired[channel],
        }

    def status_toss(self, now: float) -> dict[str, Any]:
        """The toss channel's status report values."""
        return self._channel("toss")

    def status_srm1(self, now: float) -> dict[str, Any]:
        """The SRM1 igniter's status report values."""
        return self._channel("srm1")

    def status_srm2(self, now: float) -> dict[str, Any]:
        """The SRM2 igniter's status report values."""
        return self._channel("srm2")
