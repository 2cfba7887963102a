"""The onboard hazardous-command gate: arm, then fire within a window, past independent inhibits.

Requirement (issue text): commands marked hazardous in the dictionary (MAV ignition, pyro firing,
OS release, brazing, EES release) need an arm command then the fire command within a window, with
independent inhibits and preconditions that the flight software checks itself. Out-of-sequence,
expired or repeated fire commands are rejected with a reason. The gate cannot be bypassed by a
stored sequence. (architecture.md §5, "Hazardous commands".)

Pure logic: no I/O, no clock. Every call is handed the mission time ``now`` (seconds) by its
caller; the command dispatcher turns a :class:`GateError` into a PUS-1 "failed" report whose reason
is :attr:`GateError.reason`.

The rules, in short:

* A node comes up **safe and disarmed**: every inhibit named by any :class:`HazardSpec` starts
  *in place*, and nothing is armed.
* ``arm`` opens a window of ``spec.window`` seconds from ``now``. An arm is valid while
  ``armed_at <= now <= armed_at + window``; it is refused for an unknown command
  (``not_hazardous``), from a source without the ground's confirmation (``unconfirmed``) or from
  fault protection (``fdir_not_safing``), and while a valid arm of the same command exists
  (``already_armed``; the existing arm is kept, its window is not extended).
* ``check_fire`` checks, in this order, ``not_hazardous``, the source (``fdir_not_safing``,
  ``unconfirmed``), ``not_armed``, ``expired``,
  ``inhibit:<name>``, ``mode:<mode>``, ``precondition:<name>``; the first that fails is the reason.
  On success the arm is **consumed**: one arm, one fire, so a repeated fire is ``not_armed``. A
  failed check never consumes a valid arm, except ``expired``, which clears the stale arm (a new
  arm is then needed).
* Restoring an inhibit disarms every command that names it; ``disarm_all`` (the caller's job on
  entry to safe mode) disarms everything.

Decisions recorded here:

* **Provenance** (decision 0024). Every request names its :class:`CommandSource`: the kind
  (ground, stored sequence, time-tagged schedule, fault protection), whether it carries the
  ground's hazardous confirmation, and a name. Arming, removing an inhibit and firing need a
  *confirmed* source: a ground command sent with the confirmation mark, or a stored sequence or
  schedule entry that was itself loaded with it (refused ``unconfirmed``). Fault protection can
  never arm, remove an inhibit or fire (``fdir_not_safing``): it may only make things safer. A
  fire still needs a valid arm within its window, whoever sends it. Safing (disarm, restoring an
  inhibit) is never refused for its source.
* **Time going back.** A fire (or re-arm) at a time *before* the arm was given (a clock correlated
  backwards) does not count as inside the window: the arm is treated as ``expired`` and cleared,
  so a time change can never stretch a window.
* **Bad time.** An arm or fire at a ``now`` that is not a finite number is refused with reason
  ``bad_time`` (a NaN would otherwise compare as "never expired"). Safing (disarm, restoring an
  inhibit) is never refused for its time.
* **Preconditions** pass only when their value ``is True``: a missing reading given as ``None``,
  or any other non-boolean, fails the check.
* **Idempotent inhibit commands.** Removing an inhibit already removed, or restoring one already in
  place, is accepted without an event; a restore still disarms the commands that name the
  inhibit (a restore is a safing action and always safes).
* **Rejections** of every kind (arm, fire, disarm of an unknown command, unknown inhibit) are
  counted by reason in :meth:`HazardGate.snapshot` and reported with ``hazard_rejected``.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from fsw.dictionary.services import GATE_EVENTS

__all__ = ["EVENTS", "CommandSource", "GateError", "HazardGate", "HazardSpec", "SourceKind"]

EVENTS: Final[Mapping[str, tuple[str, str]]] = GATE_EVENTS


class SourceKind(enum.Enum):
    """Where a telecommand came from."""

    GROUND = "ground"
    """Straight from the uplink (an authenticated frame)."""
    SEQUENCE = "sequence"
    """A step of a stored sequence."""
    SCHEDULE = "schedule"
    """An activity of the time-based schedule."""
    FDIR = "fdir"
    """A fault-protection response: it may only make things safer."""


@dataclass(frozen=True)
class CommandSource:
    """The provenance of one telecommand, as the dispatcher and the gate judge it.

    Attributes:
        kind: where it came from.
        confirmed: a ground command that carries the ground's hazardous confirmation, or a
            sequence step or schedule activity whose load carried it (never for fault
            protection).
        name: the sequence's name, the activity's id, the fault response; ``""`` for the ground.

    Raises:
        ValueError: a fault-protection source marked confirmed.
    """

    kind: SourceKind
    confirmed: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind is SourceKind.FDIR and self.confirmed:
            raise ValueError("fault protection never carries the ground's confirmation")

    @classmethod
    def ground(cls, confirmed: bool = False) -> CommandSource:
        """A command from the uplink (``confirmed``: it carries the confirmation mark)."""
        return cls(SourceKind.GROUND, bool(confirmed))

    @classmethod
    def sequence(cls, name: str, confirmed: bool = False) -> CommandSource:
        """A step of stored sequence ``name`` (``confirmed``: loaded with the confirmation)."""
        return cls(SourceKind.SEQUENCE, bool(confirmed), name)

    @classmethod
    def schedule(cls, confirmed: bool = False, name: str = "") -> CommandSource:
        """A time-tagged activity (``confirmed``: inserted with the confirmation)."""
        return cls(SourceKind.SCHEDULE, bool(confirmed), name)

    @classmethod
    def fdir(cls, name: str = "") -> CommandSource:
        """A fault-protection response ``name``."""
        return cls(SourceKind.FDIR, False, name)

    def __str__(self) -> str:
        """``ground (confirmed)``, ``sequence:launch``, ``schedule:12 (confirmed)``..."""
        text = self.kind.value + (f":{self.name}" if self.name else "")
        return text + (" (confirmed)" if self.confirmed else "")

    def refusal(self) -> tuple[str, str] | None:
        """Why this source may not arm, remove an inhibit, enter critical or fire:
        ``(reason, a few words for the operator)``, or None when it may."""
        if self.kind is SourceKind.FDIR:
            return "fdir_not_safing", "fault protection may only make things safer"
        if self.confirmed:
            return None
        if self.kind is SourceKind.GROUND:
            return "unconfirmed", "sent without the ground's confirmation"
        return "unconfirmed", "loaded without the ground's confirmation"


class GateError(Exception):
    """The gate refused a command.

    Attributes:
        name: the hazardous command (or inhibit) concerned.
        reason: a short machine-readable reason, e.g. ``not_armed``, ``expired``,
            ``inhibit:pyro_inhibit_1``; the key under which :meth:`HazardGate.snapshot` counts it.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: refused by the hazardous-command gate: {reason}")
        self.name: str = name
        self.reason: str = reason


@dataclass(frozen=True)
class HazardSpec:
    """How one hazardous command is gated.

    Attributes:
        name: the command's dictionary name, e.g. ``"mav.fire_srm1"``.
        window: seconds an arm stays valid (finite, > 0).
        inhibits: names of the independent inhibits that must all be removed before firing.
        modes: the node modes in which the command may fire (at least one).

    Raises:
        ValueError: an empty name, a window that is not a finite positive number, ``inhibits`` or
            ``modes`` not a tuple of non-empty strings, or no mode at all.
    """

    name: str
    window: float
    inhibits: tuple[str, ...]
    modes: tuple[str, ...]

    def __post_init__(self) -> None:
        """Check the declaration: a bad one must fail at load, not at fire time."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"hazard spec: the command name must be a non-empty string: {self.name!r}"
            )
        if (
            isinstance(self.window, bool)
            or not isinstance(self.window, int | float)
            or not math.isfinite(self.window)
            or self.window <= 0
        ):
            raise ValueError(
                f"hazard spec {self.name}: window must be finite and > 0: {self.window!r}"
            )
        for field, names in (("inhibits", self.inhibits), ("modes", self.modes)):
            if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
                raise ValueError(
                    f"hazard spec {self.name}: {field} must be a tuple of names: {names!r}"
                )
        if not self.modes:
            raise ValueError(f"hazard spec {self.name}: names no mode in which it may fire")


@dataclass
class _Arm:
    armed_at: float
    expires_at: float
    source: CommandSource

    def valid_at(self, now: float) -> bool:
        return self.armed_at <= now <= self.expires_at


class HazardGate:
    """The gate every hazardous command of a node passes through.

    Args:
        specs: the hazardous commands of the node (from the flight dictionary).
        emit: reports an event as ``(event name, one-line detail)``; the names are in
            :data:`EVENTS`. None reports nothing.

    Raises:
        ValueError: two specs for the same command.
    """

    def __init__(
        self,
        specs: Iterable[HazardSpec],
        *,
        emit: Callable[[str, str], None] | None = None,
    ) -> None:
        self._specs: dict[str, HazardSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"hazard gate: command {spec.name} is declared twice")
            self._specs[spec.name] = spec
        self._emit = emit
        # Safe at power-on: every inhibit in place, nothing armed.
        self._inhibits: dict[str, bool] = {
            name: True for spec in self._specs.values() for name in spec.inhibits
        }
        self._arms: dict[str, _Arm] = {}
        self._counts: Counter[str] = Counter()
        self._rejections: Counter[str] = Counter()

    # -- queries ---------------------------------------------------------------------------------

    @property
    def specs(self) -> Mapping[str, HazardSpec]:
        """The gated commands by name (read-only view)."""
        return dict(self._specs)

    @property
    def inhibits(self) -> dict[str, bool]:
        """Every inhibit by name: True while it is in place (inhibiting)."""
        return dict(self._inhibits)

    def armed(self, now: float) -> dict[str, float]:
        """The commands with a valid arm at ``now``, each with its expiry time (mission seconds).

        Expired arms are left out (and cleared at the next ``arm`` or ``check_fire`` of the
        command). A ``now`` that is not finite shows nothing armed.
        """
        if not _finite(now):
            return {}
        return {name: arm.expires_at for name, arm in self._arms.items() if arm.valid_at(now)}

    def snapshot(self) -> dict[str, Any]:
        """Housekeeping: counts of arms, fires and disarms, rejections by reason, inhibit states.

        Returns:
            ``{"arms": int, "fires": int, "disarms": int, "rejections": Counter[str],
            "inhibits": dict[str, bool]}`` (copies; changing them changes nothing here).
        """
        return {
            "arms": self._counts["arms"],
            "fires": self._counts["fires"],
            "disarms": self._counts["disarms"],
            "rejections": Counter(self._rejections),
            "inhibits": dict(self._inhibits),
        }

    # -- inhibits --------------------------------------------------------------------------------

    def remove_inhibit(self, name: str, now: float, source: CommandSource) -> None:
        """Remove one independent inhibit (it stops inhibiting).

        Args:
            name: the inhibit, as named by a :class:`HazardSpec`.
            now: mission time, seconds.
            source: who removes it: only a confirmed source may.

        Raises:
            GateError: ``unknown_inhibit`` for a name no spec declares, ``fdir_not_safing`` or
                ``unconfirmed`` (see :meth:`CommandSource.refusal`).
        """
        self._check_inhibit(name)
        self._check_source(name, source, "remove inhibit")
        if self._inhibits[name]:
            self._inhibits[name] = False
            self._event("inhibit_removed", f"{name} removed by {source} at t={now}")

    def restore_inhibit(self, name: str, now: float) -> None:
        """Put one independent inhibit back in place, disarming every command that names it.

        Args:
            name: the inhibit, as named by a :class:`HazardSpec`.
            now: mission time, seconds.

        Raises:
            GateError: ``unknown_inhibit`` for a name no spec declares.
        """
        self._check_inhibit(name)
        if not self._inhibits[name]:
            self._inhibits[name] = True
            self._event("inhibit_restored", f"{name} restored at t={now}")
        for command in [c for c in self._arms if name in self._specs[c].inhibits]:
            self._disarm_one(command, now, f"inhibit {name} restored")

    # -- arm, fire, disarm -----------------------------------------------------------------------

    def arm(self, name: str, now: float, source: CommandSource) -> None:
        """Arm a hazardous command for its window, starting at ``now``.

        Args:
            name: the hazardous command.
            now: mission time, seconds.
            source: who sends the arm: only a confirmed source may.

        Raises:
            GateError: ``not_hazardous`` (not a gated command), ``bad_time``,
                ``fdir_not_safing`` or ``unconfirmed`` (the source may not arm),
                ``already_armed`` (a valid arm exists; it is kept unchanged).
        """
        spec = self._spec(name, "arm")
        self._check_time(name, now, "arm")
        self._check_source(name, source, "arm")
        current = self._arms.get(name)
        if current is not None:
            if current.valid_at(now):
                self._reject(name, "already_armed", f"arm until t={current.expires_at}")
            del self._arms[name]  # stale: replaced by the new arm
        arm = _Arm(armed_at=now, expires_at=now + spec.window, source=source)
        self._arms[name] = arm
        self._counts["arms"] += 1
        self._event("hazard_armed", f"{name} armed by {source} at t={now} until t={arm.expires_at}")

    def check_fire(
        self,
        name: str,
        now: float,
        source: CommandSource,
        mode: str,
        preconditions: Mapping[str, bool],
    ) -> None:
        """Let a hazardous command fire, consuming its arm, or refuse it with the first reason.

        The caller sends the command to the device only when this returns.

        Args:
            name: the hazardous command.
            now: mission time, seconds.
            source: who sends the fire: only a confirmed source may, and only against a valid
                arm.
            mode: the node's current mode.
            preconditions: checks the flight software made itself, by name, in the order to report;
                each passes only if its value is ``True``.

        Raises:
            GateError: the first of ``not_hazardous``, ``bad_time``, ``fdir_not_safing`` or
                ``unconfirmed`` (the source may not fire), ``not_armed`` (never armed,
                already fired or disarmed), ``expired`` (the arm is cleared), ``inhibit:<name>``
                (the first inhibit in place, in the spec's order), ``mode:<mode>``,
                ``precondition:<name>``. Only ``expired`` clears the arm.
        """
        spec = self._spec(name, "fire")
        self._check_time(name, now, "fire")
        self._check_source(name, source, "fire")
        arm = self._arms.get(name)
        if arm is None:
            self._reject(name, "not_armed", f"fire from {source}")
        if not arm.valid_at(now):
            del self._arms[name]
            self._reject(
                name, "expired", f"fire from {source} at t={now}, arm expired t={arm.expires_at}"
            )
        for inhibit in spec.inhibits:
            if self._inhibits[inhibit]:
                self._reject(name, f"inhibit:{inhibit}", f"fire from {source}")
        if mode not in spec.modes:
            self._reject(name, f"mode:{mode}", f"fire from {source}, allowed {list(spec.modes)}")
        for condition, value in preconditions.items():
            if value is not True:
                self._reject(name, f"precondition:{condition}", f"fire from {source}")
        del self._arms[name]  # one arm, one fire
        self._counts["fires"] += 1
        self._event(
            "hazard_fired",
            f"{name} fired by {source} in mode {mode} at t={now} (armed by {arm.source} "
            f"at t={arm.armed_at})",
        )

    def disarm(self, name: str | None, now: float) -> list[str]:
        """Disarm one command, or every command when ``name`` is None.

        Disarming a command that is not armed does nothing.

        Args:
            name: the hazardous command, or None for all.
            now: mission time, seconds.

        Returns:
            The commands that were armed and are now disarmed.

        Raises:
            GateError: ``not_hazardous`` for a name that is not a gated command.
        """
        if name is not None:
            self._spec(name, "disarm")
            names = [name] if name in self._arms else []
            why = "disarm command"
        else:
            names = list(self._arms)
            why = "disarm all"
        for command in names:
            self._disarm_one(command, now, why)
        return names

    def disarm_all(self, now: float) -> list[str]:
        """Disarm every command: what the mode manager calls on entry to safe mode.

        Args:
            now: mission time, seconds.

        Returns:
            The commands that were armed and are now disarmed.
        """
        return self.disarm(None, now)

    # -- internals -------------------------------------------------------------------------------

    def _spec(self, name: str, action: str) -> HazardSpec:
        spec = self._specs.get(name)
        if spec is None:
            self._reject(name, "not_hazardous", action)
        return spec

    def _check_time(self, name: str, now: float, action: str) -> None:
        if not _finite(now):
            self._reject(name, "bad_time", f"{action} at t={now!r}")

    def _check_source(self, name: str, source: CommandSource, action: str) -> None:
        if not isinstance(source, CommandSource):
            self._reject(name, "unconfirmed", f"{action} from an unnamed source {source!r}")
        refusal = source.refusal()
        if refusal is not None:
            self._reject(name, refusal[0], f"{action} from {source}: {refusal[1]}")

    def _check_inhibit(self, name: str) -> None:
        if name not in self._inhibits:
            self._reject(name, "unknown_inhibit", "no hazard spec names this inhibit")

    def _disarm_one(self, name: str, now: float, why: str) -> None:
        del self._arms[name]
        self._counts["disarms"] += 1
        self._event("hazard_disarmed", f"{name} disarmed at t={now} ({why})")

    def _reject(self, name: str, reason: str, detail: str) -> NoReturn:
        """Count, report and raise one refusal (never returns)."""
        self._rejections[reason] += 1
        self._event("hazard_rejected", f"{name} rejected: {reason} ({detail})")
        raise GateError(name, reason)

    def _event(self, event: str, detail: str) -> None:
        if self._emit is not None:
            self._emit(event, detail)


def _finite(now: object) -> bool:
    return isinstance(now, int | float) and not isinstance(now, bool) and math.isfinite(now)
