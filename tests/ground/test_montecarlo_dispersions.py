"""The dispersions file of ``msr montecarlo`` (decision 0047): run seeds and draws pinned to the
documented algorithm (SHA-256 streams, one per dispersion), a dispersion's draws untouched by
the others, the shipped example drawn 200 times with every variant a valid bench and every fault
one the simulator takes, each bad file refused in one line naming the file, table and key."""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from pathlib import Path

import pytest

from ground_tools.campaign import parse_fault
from ground_tools.montecarlo.dispersions import (
    MAX_DISPERSIONS,
    MAX_DISPERSIONS_BYTES,
    DispersionError,
    draw,
    example_path,
    load_dispersions,
    parse_dispersions,
    run_seed,
    variant_bench_text,
)
from ground_tools.montecarlo.model import Draw
from hal.bench import MAX_SEED, FaultSpec, default_bench_path, load_bench
from sim_hardware.faults import FaultManager
from sim_hardware.simulator import EMULATORS

FIVE = """
[a]
set = "nodes.lander.light_time"
uniform = [0.0, 1.3]
[b]
set = "nodes.orbiter.bit_error_rate"
normal = { mean = 1e-6, std = 1e-6, min = 0.0, max = 1e-5 }
[c]
set = "nodes.lander.blackouts"
choice = [[], [[900.0, 960.0]], [[100.0, 200.0]]]
weights = [1, 2, 3]
[f]
fault = "sta_arm.gripper:grasp_slip"
probability = 0.5
window = [300.0, 3000.0]
duration = 2.0
[r]
reset = "lander"
probability = 0.5
window = [600.0, 1800.0]
"""


def _uniform(seed: int, name: str, n: int) -> float:
    """The n-th uniform of a dispersion's stream, computed from the decision's words."""
    key = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    block = hashlib.sha256(key + (n // 4).to_bytes(8, "big")).digest()
    word = int.from_bytes(block[8 * (n % 4) : 8 * (n % 4) + 8], "big")
    return (word >> 11) * 2.0**-53


def test_run_seeds_are_sha256_of_base_and_index_pinned():
    assert run_seed(0, 0) == 1858100995136467611
    assert run_seed(1, 17) == 5832979890506406842
    assert run_seed(MAX_SEED, 10**6) == 2264712710700034990
    for base, index in [(0, 0), (1, 17), (42, 999)]:
        digest = hashlib.sha256(b"msr-montecarlo/1/" + f"{base}/{index}".encode()).digest()
        assert run_seed(base, index) == int.from_bytes(digest[:8], "big") >> 1
    assert len({run_seed(1, i) for i in range(1000)}) == 1000
    assert all(0 <= run_seed(b, i) <= MAX_SEED for b in (0, MAX_SEED) for i in range(100))
    for bad in [(-1, 0), (MAX_SEED + 1, 0), (0, -1), (True, 0), (0, 1.0)]:
        with pytest.raises(ValueError):
            run_seed(*bad)  # type: ignore[arg-type]


def test_draws_are_pinned_to_the_documented_algorithm():
    """Exact values: a change of algorithm (or of rounding) changes them, and must come with a
    new seed domain and a decision."""
    five = parse_dispersions(FIVE, "five.toml")
    first = draw(five, 1, 0)
    assert first == Draw(
        index=0,
        seed=7406307840540077339,
        parameters={
            "a": 0.307114752502,
            "b": 6.12484311972e-07,
            "c": [[900.0, 960.0]],
            "f": 1091.863,
            "r": 1079.464,
        },
        bench={
            "nodes.lander.light_time": 0.307114752502,
            "nodes.orbiter.bit_error_rate": 6.12484311972e-07,
            "nodes.lander.blackouts": [[900.0, 960.0]],
        },
        faults=("sta_arm.gripper:grasp_slip@1091.863+2.0",),
        resets=(("lander", 1079.464),),
    )
    second = draw(five, 1, 1)
    assert second.parameters == {"a": 0.539263851581, "b": 1.95993663791e-07,
                                 "c": [[100.0, 200.0]], "f": 684.532, "r": None}  # fmt: skip
    assert second.faults == ("sta_arm.gripper:grasp_slip@684.532+2.0",) and second.resets == ()
    # the same figures from the decision's words, not from the module
    seed = run_seed(1, 0)
    assert first.parameters["a"] == float(f"{1.3 * _uniform(seed, 'a', 0):.12g}")
    occurs, start = _uniform(seed, "f", 0), _uniform(seed, "f", 1)
    assert occurs < 0.5 and first.parameters["f"] == round(300.0 + 2700.0 * start, 3)
    u1, u2 = _uniform(seed, "b", 0), _uniform(seed, "b", 1)
    z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
    assert first.parameters["b"] == float(f"{1e-6 + 1e-6 * z:.12g}")


def test_a_dispersion_added_removed_or_reordered_changes_no_other_draw():
    five = parse_dispersions(FIVE, "five.toml")
    more = parse_dispersions(
        '[zz]\nset = "nodes.mav.light_time"\nuniform = [0.0, 9.0]\n'
        + FIVE
        + '[g]\nfault = "igloo.heaters:heater_zone_failure"\nprobability = 0.9\n'
        "window = [0.0, 10.0]\nparams = { index = 3 }\n",
        "more.toml",
    )
    fewer = parse_dispersions(FIVE.split("[f]")[0], "fewer.toml")  # a, b, c only
    for index in range(50):
        base, added, cut = draw(five, 3, index), draw(more, 3, index), draw(fewer, 3, index)
        assert {k: added.parameters[k] for k in base.parameters} == base.parameters
        assert {k: base.parameters[k] for k in cut.parameters} == cut.parameters
        assert set(base.faults) <= set(added.faults) and added.resets == base.resets
        assert added.seed == base.seed == cut.seed == run_seed(3, index)


def test_distributions_stay_in_their_bounds_and_follow_their_weights():
    five = parse_dispersions(FIVE, "five.toml")
    draws = [draw(five, 11, i) for i in range(2000)]
    a = [d.parameters["a"] for d in draws]
    b = [d.parameters["b"] for d in draws]
    assert 0.0 <= min(a) and max(a) <= 1.3 and abs(sum(a) / len(a) - 0.65) < 0.05
    assert 0.0 <= min(b) and max(b) <= 1e-5
    choices = Counter(str(d.parameters["c"]) for d in draws)
    assert choices["[]"] < choices["[[900.0, 960.0]]"] < choices["[[100.0, 200.0]]"]
    assert abs(choices["[[100.0, 200.0]]"] / 2000 - 0.5) < 0.05
    faults = [d.parameters["f"] for d in draws if d.parameters["f"] is not None]
    assert abs(len(faults) / 2000 - 0.5) < 0.05
    assert all(300.0 <= t <= 3000.0 for t in faults)
    assert all(d.resets == tuple(sorted(d.resets, key=lambda r: (r[1], r[0]))) for d in draws)


def _fault_manager() -> FaultManager:
    """The simulator's fault checks for the default bench, with no process started."""
    bench = load_bench(default_bench_path())
    boards = {name: EMULATORS[name](random.Random(0)) for name in bench.boards}
    bauds = {name: spec.baud for name, spec in bench.boards.items()}
    links = {name: {} for name in bench.nodes}
    return FaultManager(boards, bauds, links, lambda *_: None, tick=bench.tick)


def test_the_example_draws_200_valid_runs(tmp_path: Path):
    """Every variant a valid bench file, every fault spec read back by parse_fault and taken by
    the simulator's own fault checks, every reset a node of the bench; each dispersion of the
    example occurs in some run."""
    example = load_dispersions(example_path())
    names = set(example.names)
    assert {"light_time", "gripper_slip", "seat_failure", "igniter_failure",
            "heater_zone_failure", "capture_trigger_miss", "braze_coupling",
            "lander_reset"} <= names  # fmt: skip
    assert any("bit_error_rate" in n for n in names) and any("blackout" in n for n in names)
    bench_text = default_bench_path().read_text(encoding="utf-8")
    manager = _fault_manager()
    occurred: Counter[str] = Counter()
    for index in range(200):
        drawn = draw(example, 7, index)
        variant = tmp_path / "bench.toml"
        variant.write_text(variant_bench_text(bench_text, drawn), encoding="utf-8")
        bench = load_bench(variant)
        assert bench.seed == drawn.seed == run_seed(7, index)
        for key, value in drawn.bench.items():
            node = key.split(".")[1]
            assert getattr(bench.nodes[node], key.split(".")[2]) == (
                tuple(tuple(b) for b in value) if isinstance(value, list) else value
            )
        for spec in drawn.faults:
            entry = parse_fault(spec)
            manager.schedule(FaultSpec(**entry))  # raises FaultError when refused
        for node, at in drawn.resets:
            assert node in bench.nodes and at >= 0
        occurred.update(k for k, v in drawn.parameters.items() if v is not None)
    assert set(occurred) == names


def test_the_variant_sets_the_keys_and_the_seed_and_names_a_refused_key():
    bench_text = default_bench_path().read_text(encoding="utf-8")
    drawn = Draw(index=17, seed=99, parameters={},
                 bench={"nodes.lander.light_time": 0.5, "boards.sta_arm.baud": 9600})  # fmt: skip
    text = variant_bench_text(bench_text, drawn)
    assert "seed = 99" in text
    assert bench_text.count("light_time = 0.0") == 3  # the base text is not changed
    bad = Draw(index=17, seed=99, parameters={},
               bench={"nodes.lander.light_time": 0.5, "nodes.mav.light_time": 5000.0})  # fmt: skip
    with pytest.raises(DispersionError) as refused:
        variant_bench_text(bench_text, bad)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("bench variant of run 17: ")
    assert "nodes.mav.light_time = 5000.0" in message and "0..3600" in message
    under = Draw(index=3, seed=1, parameters={}, bench={"tick.x": 1.0})
    with pytest.raises(DispersionError, match="tick is a value in the bench, not a table"):
        variant_bench_text(bench_text, under)


def _table(body: str) -> str:
    return '[light_time]\nset = "nodes.lander.light_time"\nuniform = [0.0, 1.3]\n' + body


BAD_FILES = [
    ('[g]\nfault = "sta_arm.gripper:grasp_slip"\nprobability = 1.5\nwindow = [0, 1]',
     "[g] probability 1.5: give a probability in 0..1"),
    ('[g]\nfault = "sta_arm.gripper:grasp_slip"\nprobabilty = 0.5\nwindow = [0, 1]',
     "[g]: unknown key \"probabilty\" (did you mean 'probability'?"),
    ('[g]\nfault = "sta_arm.gripper:grasp_slip"\nwindow = [0, 1]',
     "[g] probability: is required"),
    ('[g]\nfault = "sta_arm.gripper:grasp_slip"\nprobability = 0.5\nwindow = [5, 1]',
     "[g] window [5.0, 1.0]: ends before it starts"),
    ('[g]\nfault = "sta_arm.gripper:grasp_slip@5"\nprobability = 0.5\nwindow = [0, 1]',
     "with no @, + or ,"),
    ('[g]\nfault = "sta_arms.gripper:grasp_slip"\nprobability = 0.5\nwindow = [0, 1]',
     '[g] fault "sta_arms.gripper:grasp_slip": target: "sta_arms.gripper" names no board'),
    ('[g]\nfault = "sta_arm.gripper:grasp_slipp"\nprobability = 0.5\nwindow = [0, 1]',
     "unknown fault kind \"grasp_slipp\" (did you mean 'grasp_slip'?"),
    ('[g]\nfault = "sta_arm.gripper:grasp_slip"\nprobability = 0.5\nwindow = [0, 1]\n'
     'params = { word = "3" }', "do not read back"),
    ('[g]\nfault = "sta_arm.gripper:grasp_slip"\nprobability = 0.5\nwindow = [0, 1]\n'
     'params = { word = "a,b=c" }', '[g] params.word "a,b=c": give a table'),
    ('[g]\nfault = "sta_arm.gripper:grasp_slip"\nprobability = 0.5\nwindow = [0, 1]\n'
     "duration = 0", "[g] duration 0: give seconds > 0"),
    ('[g]\nreset = "rover"\nprobability = 0.5\nwindow = [0, 1]',
     '[g] reset "rover": not a node of the bench'),
    ('[g]\nreset = "lander"\nprobability = 0.5\nwindow = [0, 1]\nduration = 3',
     "[g] duration: only a fault takes it, not a reset"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [0, 5000]',
     "[g] uniform 5000.0: nodes.lander.light_time: must be a number of seconds in 0..3600"),
    ('[g]\nset = "nodes.lander.ligth_time"\nuniform = [0, 1]',
     "unknown key 'ligth_time' in nodes.lander (did you mean 'light_time'?"),
    ('[g]\nset = "seed"\nuniform = [0, 1]', "[g] set seed: not a dispersed key"),
    ('[g]\nset = "faults"\nchoice = [[]]', "[g] set faults: not a dispersed key"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [0, nan]', "[g] uniform[1] nan: give"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [0, inf]', "[g] uniform[1] inf: give"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [true, 1]', "[g] uniform[0] true: give"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = ["0", 1]', '[g] uniform[0] "0": give'),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [2, 1]', "high is below low"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [1, 2]\nchoice = [1]',
     "[g]: a set takes one of uniform, normal or choice: not uniform and choice together"),
    ('[g]\nset = "nodes.lander.light_time"', "[g]: a set takes one of uniform, normal or choice"),
    ('[g]\nset = "nodes.lander.light_time"\nnormal = { mean = 0, std = 1, min = 10, max = 11 }',
     "[g] normal: min..max holds 0.00% of the distribution: at least 1%"),
    ('[g]\nset = "nodes.lander.light_time"\nnormal = { mean = 0, std = 1, min = 0 }',
     "[g] normal.max: is required"),
    ('[g]\nset = "nodes.lander.light_time"\nnormal = { mean = 0, std = 1, min = 0, max = 1, '
     "mode = 2 }", '[g]: unknown key "mode" (known: mean, std, min, max)'),
    ('[g]\nset = "nodes.lander.light_time"\nnormal = { mean = 0, std = -1, min = 0, max = 1 }',
     "[g] normal.std -1: give"),
    ('[g]\nset = "nodes.lander.light_time"\nchoice = [1, 2]\nweights = [1]',
     "[g] weights: 1 weights for 2 choices"),
    ('[g]\nset = "nodes.lander.light_time"\nchoice = [1, 2]\nweights = [0, 0]',
     "[g] weights: all zero"),
    ('[g]\nset = "nodes.lander.light_time"\nchoice = [1, "x"]',
     '[g] choice[1] "x": nodes.lander.light_time: must be a number of seconds'),
    ('[g]\nset = "boards.sta_arm.baud"\nuniform = [9600, 115200]',
     "[g] uniform 9600.0: boards.sta_arm.baud: 9600.0 is not a standard baud rate"),
    (_table('[h]\nset = "nodes.lander"\nchoice = [{}]'),
     "[h] set nodes.lander: nodes.lander.light_time is set by [light_time] already"),
    (_table('[h]\nset = ["nodes.mav.light_time", "nodes.mav.light_time"]\nuniform = [0, 1]'),
     "[h] set: names a key twice"),
    ('[g]\nset = 5\nuniform = [0, 1]', "[g] set 5: give a bench key"),
    ('[G]\nset = "nodes.lander.light_time"\nuniform = [0, 1]', "[G]: a dispersion's name is"),
    ("g = 3", "g = 3: a dispersion is a table"),
    ("", "no dispersion"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [0, 1]\nfault = "x:y"',
     "[g]: give one of set (a bench value), fault or reset: not set and fault together"),
    ("[g]\nprobability = 0.5", "[g]: give one of set (a bench value), fault or reset"),
    ('[g]\nset = "nodes.lander.light_time.x"\nuniform = [0, 1]',
     "[g] set: nodes.lander.light_time.x: nodes.lander.light_time is a value in the bench"),
    ('[g]\nset = "Nodes.lander"\nuniform = [0, 1]', '[g] set "Nodes.lander": give'),
    ("not toml [", "not valid TOML"),
    ('[g]\nset = "nodes.lander.light_time"\nuniform = [0, 1]\nprobability = 0.5',
     "[g] probability: only a fault or reset takes it, not a set"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BAD_FILES, ids=[e for _, e in BAD_FILES])
def test_a_bad_dispersions_file_is_refused_in_one_line(text: str, expected: str):
    with pytest.raises(DispersionError) as refused:
        parse_dispersions(text, "disp.toml")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("disp.toml: ")
    assert expected in message


def test_a_file_too_large_too_many_tables_or_not_utf8_is_refused(tmp_path: Path):
    path = tmp_path / "disp.toml"
    path.write_bytes(b"#" * (MAX_DISPERSIONS_BYTES + 1))
    with pytest.raises(DispersionError, match=r"^disp.toml: larger than 1048576 octets"):
        load_dispersions(path)
    many = "".join(f'[d{i}]\nreset = "lander"\nprobability = 0.1\nwindow = [0, 1]\n'
                   for i in range(MAX_DISPERSIONS + 1))  # fmt: skip
    path.write_text(many, encoding="utf-8")
    with pytest.raises(DispersionError, match=f"{MAX_DISPERSIONS + 1} dispersions: at most"):
        load_dispersions(path)
    path.write_bytes(b'[g]\nreset = "lander\xff"\n')
    with pytest.raises(DispersionError, match=r"not UTF-8 \(line 2"):
        load_dispersions(path)
    with pytest.raises(DispersionError, match="cannot read the dispersions file"):
        load_dispersions(tmp_path / "absent.toml")


def test_a_bench_without_a_node_refuses_its_reset_and_its_keys():
    bench_text = default_bench_path().read_text(encoding="utf-8")
    lander_only = (
        bench_text.split("[nodes.mav]")[0]
        + "[boards.sta_arm]"
        + (bench_text.split("[boards.sta_arm]")[1].split("[boards.sta_vision]")[0])
    )
    with pytest.raises(DispersionError, match=r'\[r\] reset "mav": not a node of the bench'):
        parse_dispersions('[r]\nreset = "mav"\nprobability = 1\nwindow = [0, 1]', "d.toml",
                          bench_text=lander_only)  # fmt: skip
    with pytest.raises(DispersionError, match=r"\[f\] fault .*names no board of this bench"):
        parse_dispersions('[f]\nfault = "igloo.heaters:heater_zone_failure"\nprobability = 1\n'
                          "window = [0, 1]", "d.toml", bench_text=lander_only)  # fmt: skip


def test_fault_params_of_every_type_read_back():
    text = ('[f]\nfault = "sta_arm:stall"\nprobability = 1.0\nwindow = [10.0, 10.0]\n'
            "duration = 2.5\nparams = { index = 2 }\n"
            '[g]\nfault = "igloo.heaters:heater_zone_failure"\nprobability = 1.0\n'
            'window = [0.0, 1.0]\nparams = { index = 1, mode = "heater" }\n'
            '[h]\nfault = "braze:braze_under_temperature"\nprobability = 1.0\n'
            "window = [0.0, 1.0]\nparams = { coupling = 0.5 }\n")  # fmt: skip
    drawn = draw(parse_dispersions(text, "d.toml"), 5, 0)
    assert "sta_arm:stall@10.0+2.5,index=2" in drawn.faults  # in time order
    entries = [parse_fault(spec) for spec in drawn.faults]
    assert {"target": "sta_arm", "kind": "stall", "at": 10.0, "duration": 2.5,
            "params": {"index": 2}} in entries  # fmt: skip
    assert any(e.get("params") == {"index": 1, "mode": "heater"} for e in entries)
    assert any(e.get("params") == {"coupling": 0.5} for e in entries)
    manager = _fault_manager()
    for entry in entries:
        manager.schedule(FaultSpec(**entry))
