"""Events of the core's services: the non-volatile store, the hazardous-command gate, the
time-tagged schedule and stored sequences, fault protection and the reset-loop guard.

Each service module (``fsw.core.nvstore``, ``fsw.core.hazard``,
``fsw.services.pus_11_scheduling``, ``fsw.core.fdir``) reports its events by their short name;
the node reports them as ``<component>.<name>`` with the id and severity declared here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "FDIR_EVENTS",
    "GATE_EVENTS",
    "NV_EVENTS",
    "SCHEDULE_EVENTS",
    "SEQ_EVENTS",
    "SERVICE_EVENTS",
    "events_of",
]  # fmt: skip

Events = Mapping[str, tuple[str, str]]

NV_EVENTS: Final[Events] = MappingProxyType({
    "nv_first_boot": ("info", "no non-volatile store yet: every section at its default"),
    "nv_copy_corrupt": ("medium", "one copy of the store was corrupt; the other one is used"),
    "nv_corrupt": ("high", "both copies corrupt: every section back to its power-on default"),
    "nv_section_defaulted": ("low", "a section missing from (or unknown to) the store"),
})  # fmt: skip
"""``nv.*``: the non-volatile store."""

GATE_EVENTS: Final[Events] = MappingProxyType({
    "hazard_armed": ("info", "a hazardous command was armed for its window"),
    "hazard_disarmed": ("info", "a hazardous command was disarmed"),
    "hazard_fired": ("medium", "a hazardous command passed the gate and runs"),
    "hazard_rejected": ("medium", "a hazardous command was refused (detail: the reason)"),
    "inhibit_removed": ("low", "an onboard inhibit was removed"),
    "inhibit_restored": ("info", "an onboard inhibit was put back in place"),
})  # fmt: skip
"""``gate.*``: the hazardous-command gate."""

SCHEDULE_EVENTS: Final[Events] = MappingProxyType({
    "schedule_enabled": ("info", "time-tagged commands are released when due"),
    "schedule_disabled": ("info", "time-tagged commands are held"),
    "schedule_inserted": ("info", "time-tagged commands were inserted"),
    "schedule_released": ("info", "a time-tagged command was released"),
    "schedule_skipped": ("low", "a time-tagged command's time had passed: skipped"),
    "schedule_deleted": ("info", "time-tagged commands were deleted"),
    "schedule_reset": ("info", "every activity was deleted from the time-based schedule"),
    "schedule_restored": ("info", "the schedule was restored (disabled) after a reset"),
    "schedule_refused": ("medium", "a time-tagged command was refused or dropped (detail: why)"),
})  # fmt: skip
"""``schedule.*``: the PUS-11 time-based schedule."""

SEQ_EVENTS: Final[Events] = MappingProxyType({
    "sequence_loaded": ("info", "a stored sequence was loaded"),
    "sequence_started": ("info", "a stored sequence started"),
    "sequence_stopped": ("info", "a stored sequence stopped (detail: the step reached)"),
    "sequence_resumed": ("info", "a stored sequence resumed"),
    "sequence_completed": ("info", "a stored sequence ran its last step"),
    "sequence_step_skipped": ("low", "a sequence step's time had passed: skipped"),
    "sequence_unloaded": ("info", "a stored sequence was removed"),
    "sequence_step_released": ("info", "a sequence step was released to the dispatcher"),
    "sequences_restored": ("info", "the sequences were restored (stopped) after a reset"),
    "sequence_refused": ("medium", "a sequence load, start or restore was refused (detail: why)"),
})  # fmt: skip
"""``seq.*``: stored relative sequences."""

FDIR_EVENTS: Final[Events] = MappingProxyType({
    "monitor_tripped": ("high", "a fault monitor tripped (detail: monitor, point, value)"),
    "monitor_cleared": ("info", "a tripped monitor is back in limits"),
    "monitor_enabled": ("info", "a fault monitor was enabled"),
    "monitor_disabled": ("info", "a fault monitor was disabled"),
    "recovery_inhibited": ("medium", "a recovery sequence was not run: autonomy is off"),
    "reset_loop": ("high", "too many quick boots: the node stays safe, autonomy off"),
    "reset_loop_cleared": ("info", "the reset-loop guard was cleared"),
    "boot_stable": ("info", "the node has been up long enough: the boot counts as stable"),
    "monitor_reset": ("info", "a monitor's count and tripped state were reset by command"),
    "fault_response": ("medium", "a response's event action: which response ran and why"),
    "response_action_failed": ("high", "an action of a response failed; the others still ran"),
    "boot_recorded": ("info", "the reset-loop guard counted a boot (cause, in a row, total)"),
    "reset_guard_state_invalid": ("medium", "the stored guard state was unreadable: fresh start"),
    "monitor_stale": ("high", "a monitor's sample is older than its max_age (data stopped): "
                      "its response ran (detail: monitor, point, age)"),
    "monitor_fresh": ("info", "a stale monitor has a fresh sample again"),
})  # fmt: skip
"""``fdir.*``: fault protection and the reset-loop guard."""

_BY_COMPONENT: Final = {
    "nv": NV_EVENTS, "gate": GATE_EVENTS, "schedule": SCHEDULE_EVENTS, "seq": SEQ_EVENTS,
    "fdir": FDIR_EVENTS,
}  # fmt: skip


def events_of(component: str) -> Events:
    """The events a core service reports (KeyError for another component)."""
    return _BY_COMPONENT[component]


SERVICE_EVENTS: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (f"{component}.{name}", severity, meaning)
    for component, events in _BY_COMPONENT.items()
    for name, (severity, meaning) in events.items()
)
"""Every service event as (``<component>.<name>``, severity, meaning), in id order."""
