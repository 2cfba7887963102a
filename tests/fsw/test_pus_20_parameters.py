"""PUS-20 parameters (decision 0026): every value has its validator, the bounds between two
parameters are checked on the whole table, a refused value fails its command with a reason
that says why, and the ground rolls one parameter back to its previous active value or its
default, all persisted in a real NV store across a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fsw.core.bus import SoftwareBus
from fsw.core.component import CommandContext, CommandError, NodeContext
from fsw.core.hazard import CommandSource
from fsw.core.node import NV_DEFAULTS
from fsw.core.nvstore import NvStore
from fsw.dictionary import dictionary, node_dictionary
from fsw.dictionary.parameters import (
    BOUNDS,
    ROLLBACK_TO,
    bounds_of,
    build_load,
    build_report_request,
    refusal,
    table_refusal,
)
from fsw.services.pus_20_parameters import ParameterService, parse_values
from hal.errors import StoreError
from hal.protocol.pus import PusTc

MAV = node_dictionary("mav")
DELAY = MAV.parameter("launch.srm1_delay")  # 0.3..5 s, 0.5
WINDOW = MAV.parameter("launch.srm1_window")  # 0.5..10 s, 2.0
COUNT = MAV.parameter("launch.rate_count")  # int 1..16, 3


class Params:
    """The mav's parameter service on a real NV store, as the dispatcher drives it."""

    def __init__(self, nv: Path) -> None:
        self.store = NvStore(nv, {**NV_DEFAULTS, "launch": {}}, durable=False)
        self.events: list[tuple[str, str]] = []
        self.tm: list[tuple[int, int, bytes]] = []
        ctx = NodeContext(
            "mav", MAV, SoftwareBus(), self.store, emit=lambda n, d: self.events.append((n, d)),
            send_tm=lambda s, t, d: self.tm.append((s, t, d)), parameter=lambda n: None,
            mode=lambda: "safe", request_mode=lambda m, w: False, submit=lambda p, s: True,
        )  # fmt: skip
        self.service = ParameterService(ctx)
        self.service.start(0.0)

    def command(self, name: str, **args: Any) -> str:
        """Run one command: ``"completed"`` or the failure's reason."""
        command = MAV.command(name)
        data = command.encode(**args)
        packet = PusTc(MAV.apid, command.message.service, command.message.subtype, data)
        cmd = CommandContext(command, packet, command.decode(data), CommandSource.ground(False),
                             0.0, report=lambda *a: None)  # fmt: skip
        try:
            self.service.handle_command(cmd, 0.0)
        except CommandError as exc:
            return exc.reason
        return "completed"

    def set(self, **values: float) -> str:
        """Load then activate ``{short name: value}`` of ``launch.*``: the first failure."""
        ids = {MAV.parameter(f"launch.{n}").id: v for n, v in values.items()}
        loaded = self.command("params.load", data=build_load(ids))
        return loaded if loaded != "completed" else self.command("params.activate")

    def rollback(self, name: str, to: str = "previous") -> str:
        return self.command("params.rollback", parameter=MAV.parameter(name).id,
                            to=ROLLBACK_TO.index(to))  # fmt: skip

    def value(self, name: str) -> float:
        return self.service.get(name)


# ------------------------------------------------------------------------------ the validators


@pytest.mark.parametrize(
    "name,value,why",
    [
        ("launch.srm1_delay", 9.0, "launch.srm1_delay: 9 is outside 0.3..5 s"),
        ("launch.srm1_delay", float("nan"), "is not a finite number"),
        ("launch.srm1_delay", float("inf"), "is not a finite number"),
        ("launch.rate_count", 2.5, "launch.rate_count: 2.5 is not a whole number (an int)"),
        ("launch.rate_count", 0, "launch.rate_count: 0 is outside 1..16 -"),
        ("launch.srm1_delay", "fast", "is not a number"),
    ],
)
def test_every_value_meets_its_parameters_validator(name, value, why):
    assert why in refusal(MAV.parameter(name), value)


def test_the_validators_take_every_declared_default_and_every_bound_names_declared_pairs():
    for node, d in dictionary().items():
        for p in d.parameters:
            assert refusal(p, p.default) is None, (node, p.name)
        bounds = bounds_of(d.parameters)
        assert table_refusal(bounds, {p.name: p.default for p in d.parameters}) is None, node
    declared = {p.name for d in dictionary().values() for p in d.parameters}
    assert all(b.lower in declared and b.upper in declared for b in BOUNDS)
    assert len(bounds_of(MAV.parameters)) >= 5


# ------------------------------------------------------------------- loads and their refusals


def test_a_value_out_of_range_is_refused_at_load_with_why_and_nothing_is_staged(tmp_path):
    p = Params(tmp_path / "nv")
    reason = p.command("params.load", data=build_load({WINDOW.id: 1.0, DELAY.id: 9.0}))
    assert reason == "out_of_range: entry 1: launch.srm1_delay: 9 is outside 0.3..5 s"
    assert p.service.staging == {}
    assert ("params.rejected", reason) in p.events
    reason = p.command("params.load", data=build_load({COUNT.id: 2.5}))
    assert reason.startswith("out_of_range: entry 0: launch.rate_count: 2.5 is not a whole")
    assert p.command("params.load", data=build_load({9999: 1.0})).endswith("no parameter id 9999")
    assert p.command("params.load", data=b"\x02\x00").startswith("bad_length")


def test_a_delay_longer_than_its_window_is_refused_at_validate_and_activate(tmp_path):
    p = Params(tmp_path / "nv")
    assert p.command("params.load", data=build_load({DELAY.id: 3.0})) == "completed"
    why = (
        "bad_data: launch.srm1_delay = 3 must be < launch.srm1_window = 2: SRM1 is fired "
        "before the window in which its ignition must be confirmed closes"
    )
    assert p.command("params.validate") == why
    assert p.command("params.activate") == why
    assert p.value("launch.srm1_delay") == 0.5, "nothing became active"
    assert p.store.get("parameters") == {}
    # both in one load: the table as a whole holds
    assert p.command("params.load", data=build_load({WINDOW.id: 4.0})) == "completed"
    assert p.command("params.activate") == "completed"
    assert (p.value("launch.srm1_delay"), p.value("launch.srm1_window")) == (3.0, 4.0)
    assert p.set(rate_count=6) == (
        "bad_data: launch.rate_count = 6 must be <= launch.rate_window = 5: M samples out of "
        "N: M <= N"
    )


def test_a_failed_nv_write_changes_nothing_and_says_so(tmp_path):
    p = Params(tmp_path / "nv")

    def broken(values: object) -> None:
        raise StoreError("disk full")

    p.store.put_many = broken  # type: ignore[method-assign]
    assert p.set(srm1_window=3.0).startswith("execution_failed: rolled back")
    assert p.value("launch.srm1_window") == 2.0
    assert p.events[-1][0] == "params.rolled_back"


# ---------------------------------------------------------------------------------- rollback


def test_rollback_returns_a_parameter_to_its_previous_value_then_undoes_itself(tmp_path):
    p = Params(tmp_path / "nv")
    assert p.rollback("launch.srm1_window") == (
        "precondition: launch.srm1_window has no previous value (never changed)"
    )
    assert p.set(srm1_window=3.0) == "completed"
    assert p.set(srm1_window=4.0) == "completed"
    assert p.rollback("launch.srm1_window") == "completed"
    assert p.value("launch.srm1_window") == 3.0
    assert p.events[-1] == ("params.reverted", "launch.srm1_window: 4 -> 3 (previous)")
    assert p.rollback("launch.srm1_window") == "completed"  # the rollback is undone
    assert p.value("launch.srm1_window") == 4.0
    assert p.rollback("launch.srm1_window", "default") == "completed"
    assert p.value("launch.srm1_window") == 2.0
    assert p.store.get("parameters")["launch.srm1_window"] == 2.0
    assert p.store.get("parameters_previous")["launch.srm1_window"] == 4.0


def test_a_rollback_that_would_break_a_bound_is_refused_with_why(tmp_path):
    p = Params(tmp_path / "nv")
    assert p.set(srm1_window=6.0) == "completed"
    assert p.set(srm1_delay=4.0) == "completed"  # now only valid with the wider window
    assert p.rollback("launch.srm1_window", "default") == (
        "bad_data: launch.srm1_window back to its default 2: launch.srm1_delay = 4 must be < "
        "launch.srm1_window = 2: SRM1 is fired before the window in which its ignition must "
        "be confirmed closes"
    )
    assert p.value("launch.srm1_window") == 6.0
    assert p.rollback("launch.srm1_delay") == "completed"  # back to 0.5: the window may follow
    assert p.rollback("launch.srm1_window", "default") == "completed"


def test_values_and_previous_values_survive_a_restart_and_a_bad_stored_pair_is_refused(tmp_path):
    p = Params(tmp_path / "nv")
    assert p.set(srm1_window=3.0) == "completed"
    again = Params(tmp_path / "nv")
    assert again.value("launch.srm1_window") == 3.0
    assert again.rollback("launch.srm1_window") == "completed"
    assert again.value("launch.srm1_window") == 2.0
    assert again.events == [("params.reverted", "launch.srm1_window: 3 -> 2 (previous)")]

    store = NvStore(tmp_path / "nv", {**NV_DEFAULTS, "launch": {}}, durable=False)
    store.put_many({"parameters": {"launch.srm1_delay": 4.0, "launch.srm1_window": 1.0,
                                   "launch.rate_count": 2.5}})  # fmt: skip
    third = Params(tmp_path / "nv")
    details = [d for n, d in third.events if n == "params.rejected"]
    assert any("launch.rate_count: 2.5 is not a whole number" in d for d in details), details
    assert any("launch.srm1_delay = 4 must be < launch.srm1_window = 1" in d for d in details)
    assert (third.value("launch.srm1_delay"), third.value("launch.srm1_window")) == (0.5, 2.0)


def test_the_report_gives_the_active_values(tmp_path):
    p = Params(tmp_path / "nv")
    assert p.set(srm1_window=3.0) == "completed"
    assert p.command("params.report", data=build_report_request([WINDOW.id, DELAY.id])) == (
        "completed"
    )
    service, subtype, data = p.tm[-1]
    assert (service, subtype) == (20, 2)
    assert parse_values(data) == [(WINDOW.id, 3.0), (DELAY.id, 0.5)]


def test_the_bounds_are_in_the_dictionary_exports():
    from ground_tools.exports.json_export import export_json
    from ground_tools.exports.markdown import export_markdown

    document = json.loads(export_json(["mav"]))
    bounds = document["nodes"]["mav"]["parameter_bounds"]
    why = next(b.why for b in BOUNDS if b.lower == "launch.srm1_delay")
    srm1 = {"lower": "launch.srm1_delay", "upper": "launch.srm1_window", "strict": True,
            "description": why}  # fmt: skip
    assert srm1 in bounds
    assert len(bounds) == len(bounds_of(MAV.parameters))
    assert "| `launch.srm1_delay` | &lt; | `launch.srm1_window` |" in export_markdown(["mav"])
