"""Bench files: the shipped default bench, a hardware-in-the-loop bench read back field by field,
key files, and one error per kind of mistake, each naming the file and the field in one line."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

from hal import bench as bench_module
from hal import schema
from hal.bench import (
    BAUD_RATES,
    BOARD_NODES,
    FAULT_KINDS,
    KEY_FILE_NAME,
    NODES,
    Bench,
    BenchError,
    FaultSpec,
    default_bench_path,
    load_bench,
    new_key_file_text,
    parse_bench,
)
from hal.errors import HalError
from hal.links.space_link import SpaceLinkConfig
from hal.protocol.sdls import parse_key_file
from sim_hardware import backdoor_messages

KEY_HEX = bytes(range(32)).hex()

# A small valid bench: two nodes, two boards, one fault. Every bad case below edits one line.
BASE = """\
seed = 7
clock = "sim"
keys = "keys.json"

[nodes.lander]
radio = "sim"
scid = 100
spi = 1

[nodes.mav]
radio = "sim"
scid = 101
spi = 2

[boards.sta_arm]
node = "lander"
port = "sim"

[boards.mav_pyro]
node = "mav"
port = "sim"

[[faults]]
at = 10.0
target = "sta_arm"
kind = "stall"
"""
# Its tables' bodies, for the edits.
NODE_MAV = 'radio = "sim"\nscid = 101\nspi = 2\n'
ARM = 'node = "lander"\nport = "sim"\n'
PYRO = 'node = "mav"\nport = "sim"\n'
FAULT = 'at = 10.0\ntarget = "sta_arm"\nkind = "stall"\n'


def edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def parse(text: str) -> Bench:
    return parse_bench(text, "bench.toml")


# ---------------------------------------------------------------------------- the default bench


def test_the_default_bench_emulates_every_board_of_the_mission_on_three_nodes():
    path = default_bench_path()
    assert path.is_file() and path.parent.parent == Path(__file__).parent.parent / "hal"
    bench = load_bench(path)
    assert list(bench.nodes) == list(NODES)
    assert len({n.scid for n in bench.nodes.values()}) == 3
    assert len({n.spi for n in bench.nodes.values()}) == 3
    assert all(n.emulated_radio for n in bench.nodes.values())
    assert all(n.space_link.scid == n.scid for n in bench.nodes.values())
    assert set(bench.boards) == set(BOARD_NODES) and len(bench.boards) == 11
    assert len(bench.emulated_boards) == 11 and bench.real_boards == ()
    for node in NODES:
        assert {b.name for b in bench.boards_of(node)} == {
            b for b, n in BOARD_NODES.items() if n == node
        }
    assert not bench.hardware_in_the_loop
    assert bench.generates_keys and bench.keys is None
    assert bench.clock == "sim" and bench.tick == 0.1 and bench.faults == ()
    assert bench.runs_dir == Path("runs") and bench.archive == "sqlite"


def test_the_default_bench_holds_no_key():
    text = default_bench_path().read_text()
    assert 'keys = "generate"' in text
    assert not any(len(word) >= 32 and set(word) <= set("0123456789abcdefABCDEF")
                   for word in text.replace('"', " ").split())  # fmt: skip


# ---------------------------------------------------------------------------- a HIL bench

HIL = """\
seed = 42
clock = "wall"
tick = 0.05
duration_limit = 600
keys = "secrets/bench_keys.json"
runs_dir = "/tmp/msr-runs"
archive = "sqlite"

[nodes.lander]
radio = "/dev/serial/by-id/usb-radio-if00"
scid = 0x2A1
spi = 11
light_time = 1.25
bit_error_rate = 1e-6
blackouts = [[100, 200.5], [300.0, 310.0]]

[nodes.lander.space_link]
t1 = 5.0
fop_window = 2
tm_frame_length = 1115

[nodes.orbiter]
radio = "socket://192.168.1.20:4001"
radio_baud = 9600
ground = "/dev/serial/by-id/usb-EGSE_ground-if00"
scid = 0x2A3
spi = 13

[boards.sta_arm]
node = "lander"
port = "/dev/ttyUSB0"
baud = 921600
usb_serial = "A50285BI"

[boards.igloo]
node = "lander"
port = "sim"

[boards.capture]
node = "orbiter"
port = "rfc2217://bench-pi:2217"
baud = 9600

[[faults]]
at = 30
target = "sta_arm.wrist"
kind = "bias"
duration = 12.5
params = { amount = 0.5, unit = "deg", latched = true, joint = 3 }

[[faults]]
at = 0
target = "link:orbiter"
kind = "blackout"

[[faults]]
at = 45.0
target = "capture"
kind = "baud_throttle"
"""


@pytest.fixture
def hil_bench(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    keys = {"keys": {"11": KEY_HEX, "13": KEY_HEX[::-1]}}
    (tmp_path / "secrets" / "bench_keys.json").write_text(json.dumps(keys))
    path = tmp_path / "bench.toml"
    path.write_text(HIL)
    return path


def test_a_hil_bench_reads_back_field_by_field(hil_bench: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # the key path is relative to the bench, not to here
    bench = load_bench(hil_bench)
    assert bench.source == str(hil_bench)
    assert (bench.seed, bench.clock, bench.tick, bench.duration_limit) == (42, "wall", 0.05, 600.0)
    assert isinstance(bench.duration_limit, float)
    assert bench.keys == tmp_path / "secrets" / "bench_keys.json"
    assert bench.runs_dir == Path("/tmp/msr-runs") and not bench.generates_keys

    lander, orbiter = bench.nodes["lander"], bench.nodes["orbiter"]
    assert list(bench.nodes) == ["lander", "orbiter"]
    assert lander.radio == "/dev/serial/by-id/usb-radio-if00" and not lander.emulated_radio
    assert (lander.scid, lander.spi, lander.light_time, lander.bit_error_rate) == (
        0x2A1, 11, 1.25, 1e-6,
    )  # fmt: skip
    assert lander.blackouts == ((100.0, 200.5), (300.0, 310.0))
    assert lander.space_link == SpaceLinkConfig(
        scid=0x2A1, t1=5.0, fop_window=2, tm_frame_length=1115
    )
    assert orbiter.radio == "socket://192.168.1.20:4001"
    assert (orbiter.radio_baud, orbiter.ground) == (9600, "/dev/serial/by-id/usb-EGSE_ground-if00")
    assert (lander.radio_baud, lander.ground) == (115200, None)  # the default: no ground end
    assert orbiter.space_link == SpaceLinkConfig(scid=0x2A3)
    assert orbiter.blackouts == () and orbiter.light_time == 0.0

    arm = bench.boards["sta_arm"]
    assert (arm.node, arm.port, arm.baud, arm.usb_serial) == (
        "lander", "/dev/ttyUSB0", 921600, "A50285BI",
    )  # fmt: skip
    assert not arm.emulated
    assert bench.boards["igloo"].emulated and bench.boards["igloo"].baud == 115200
    assert bench.boards["capture"].baud == 9600 and bench.boards["capture"].usb_serial is None
    assert [b.name for b in bench.real_boards] == ["sta_arm", "capture"]
    assert [b.name for b in bench.emulated_boards] == ["igloo"]
    assert [b.name for b in bench.boards_of("lander")] == ["sta_arm", "igloo"]
    assert bench.boards_of("mav") == ()
    assert bench.hardware_in_the_loop

    bias, blackout, throttle = bench.faults
    assert (bias.at, bias.target, bias.kind, bias.duration, bias.end) == (
        30.0, "sta_arm.wrist", "bias", 12.5, 42.5,
    )  # fmt: skip
    assert dict(bias.params) == {"amount": 0.5, "unit": "deg", "latched": True, "joint": 3}
    assert (bias.board, bias.device, bias.link_node) == ("sta_arm", "wrist", None)
    assert (blackout.board, blackout.device, blackout.link_node) == (None, None, "orbiter")
    assert blackout.duration is None and blackout.end is None and dict(blackout.params) == {}
    assert (throttle.board, throttle.device, throttle.link_node) == ("capture", None, None)

    assert bench.read_keys() == {11: bytes(range(32)), 13: bytes.fromhex(KEY_HEX[::-1])}


def test_a_bench_is_immutable(hil_bench: Path):
    bench = load_bench(hil_bench)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bench.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        bench.boards["igloo"] = bench.boards["sta_arm"]  # type: ignore[index]
    with pytest.raises(TypeError):
        bench.faults[0].params["amount"] = 1.0  # type: ignore[index]
    assert hash(bench.faults[0]) == hash(dataclasses.replace(bench.faults[0]))


# ---------------------------------------------------------------------------- key files


def test_key_paths_resolve_against_the_bench_folder_and_absolute_ones_stay(tmp_path: Path):
    (tmp_path / "benches").mkdir()
    path = tmp_path / "benches" / "bench.toml"
    path.write_text(BASE)
    assert load_bench(path).keys == tmp_path / "benches" / "keys.json"
    path.write_text(edit('keys = "keys.json"', 'keys = "/etc/msr/keys.json"'))
    assert load_bench(path).keys == Path("/etc/msr/keys.json")
    assert parse(BASE).keys == Path("keys.json")  # no base folder: kept as written


def test_a_generated_key_file_lives_in_the_run_folder(tmp_path: Path):
    bench = parse(edit('keys = "keys.json"', 'keys = "generate"'))
    assert bench.generates_keys and bench.key_file(tmp_path) == tmp_path / KEY_FILE_NAME
    with pytest.raises(BenchError, match=r"bench\.toml: keys: .*run folder"):
        bench.read_keys()
    spis = [n.spi for n in bench.nodes.values()]
    text = new_key_file_text(spis + spis, token_bytes=lambda n: bytes([7]) * n)
    (tmp_path / KEY_FILE_NAME).write_text(text)
    keys = bench.read_keys(tmp_path)
    assert keys == {1: bytes([7]) * 32, 2: bytes([7]) * 32}


def test_generated_keys_are_fresh_and_full_length():
    first, second = (parse_key_file(new_key_file_text([1, 2, 3])) for _ in range(2))
    assert set(first) == {1, 2, 3} and all(len(k) == 32 for k in first.values())
    assert len(set(first.values()) | set(second.values())) == 6


def test_reading_keys_names_the_key_file_and_a_missing_spi(tmp_path: Path):
    path = tmp_path / "bench.toml"
    path.write_text(BASE)
    bench = load_bench(path)
    with pytest.raises(BenchError, match=r"keys\.json: cannot read the key file"):
        bench.read_keys()
    (tmp_path / "keys.json").write_text(json.dumps({"keys": {"1": KEY_HEX}}))
    with pytest.raises(BenchError, match=r"keys\.json: no key for SPI 2 \(nodes\.mav\.spi\)"):
        bench.read_keys()
    (tmp_path / "keys.json").write_text("{nope")
    with pytest.raises(BenchError, match=r"keys\.json: not JSON"):
        bench.read_keys()
    (tmp_path / "keys.json").write_text(" " * (1 << 20) + "{}")
    with pytest.raises(BenchError, match=r"keys\.json: cannot read the key file: larger than"):
        bench.read_keys()
    (tmp_path / "keys.json").write_bytes(b'{"keys": "\xff"}')
    with pytest.raises(BenchError, match=r"keys\.json: cannot read the key file: 'utf-8'"):
        bench.read_keys()


# ---------------------------------------------------------------------------- accepted variants


@pytest.mark.parametrize(
    ("old", "new", "check"),
    [
        ('clock = "sim"', "", lambda b: b.clock == "sim" and b.tick == 0.1),
        ("seed = 7", "seed = 0", lambda b: b.seed == 0),
        ('port = "sim"\n\n[boards.mav_pyro]', 'port = "socket://localhost:5000"\n\n'
         "[boards.mav_pyro]", lambda b: b.boards["sta_arm"].port == "socket://localhost:5000"),
        ('clock = "sim"', 'clock = "wall"', lambda b: b.clock == "wall"),
        ("[[faults]]\nat = 10.0\ntarget = \"sta_arm\"\nkind = \"stall\"\n", "",
         lambda b: b.faults == ()),
        ("scid = 101", "scid = 1023", lambda b: b.nodes["mav"].space_link.scid == 1023),
    ],
    ids=["defaults", "seed-zero", "socket-port", "wall", "no-faults", "scid-max"],
)  # fmt: skip
def test_accepted_variants(old, new, check):
    text = edit(old, new)
    if "socket://" in new:  # a real board: the wall clock (issue 18)
        text = text.replace('clock = "sim"', 'clock = "wall"')
    assert check(parse(text))


def test_every_fault_kind_is_accepted_on_a_fitting_target():
    for kind in sorted(FAULT_KINDS):
        text = edit('kind = "stall"', f'kind = "{kind}"')
        assert parse(text).faults[0].kind == kind


def test_every_standard_baud_rate_is_accepted():
    for rate in BAUD_RATES:
        text = edit(ARM, f"{ARM}baud = {rate}\n")
        assert parse(text).boards["sta_arm"].baud == rate


# ---------------------------------------------------------------------------- errors

BAD = [
    # unknown keys, at every level
    ("unknown-top", edit("seed = 7", "sede = 7"),
     "unknown key 'sede' at top level (did you mean 'seed'? known: seed, clock,"),
    ("unknown-node-key", edit(NODE_MAV, NODE_MAV + "radoi = 1\n"),
     "unknown key 'radoi' in nodes.mav"),
    ("unknown-board-key", edit(ARM, ARM + "baudrate = 9600\n"),
     "unknown key 'baudrate' in boards.sta_arm (did you mean 'baud'?"),
    ("unknown-fault-key", edit(FAULT, FAULT + "durtion = 3\n"),
     "unknown key 'durtion' in faults[0] (did you mean 'duration'?"),
    ("unknown-space-link-key", BASE + "[nodes.mav.space_link]\nwindow = 3\n",
     "unknown key 'window' in nodes.mav.space_link"),
    ("unknown-node", BASE + '[nodes.rover]\nradio = "sim"\nscid = 5\nspi = 5\n',
     "nodes.rover: unknown node (known: lander, mav, orbiter)"),
    ("unknown-board", BASE + '[boards.sta_arn]\nnode = "lander"\nport = "sim"\n',
     "boards.sta_arn: unknown board (did you mean 'sta_arm'? known: sta_arm, sta_vision,"),
    # top level
    ("seed-missing", edit("seed = 7\n", ""), "seed: is required"),
    ("seed-type", edit("seed = 7", 'seed = "7"'),
     'seed: must be an integer in 0..9223372036854775807, not "7"'),
    ("seed-bool", edit("seed = 7", "seed = true"), "seed: must be an integer in 0..9"),
    ("seed-negative", edit("seed = 7", "seed = -1"), "seed: must be an integer in 0..9"),
    ("seed-huge", edit("seed = 7", "seed = 0x8000000000000000"),
     "seed: must be an integer in 0..9223372036854775807, not 9223372036854775808"),
    ("clock", edit('clock = "sim"', 'clock = "real"'),
     'clock: must be "sim" or "wall", not "real"'),
    ("tick-zero", edit("seed = 7", "seed = 7\ntick = 0"),
     "tick: must be a number of seconds in 0.001..60, not 0"),
    ("tick-tiny", edit("seed = 7", "seed = 7\ntick = 1e-300"),
     "tick: must be a number of seconds in 0.001..60, not 1e-300"),
    ("tick-inf", edit("seed = 7", "seed = 7\ntick = inf"),
     "tick: must be a number of seconds in 0.001..60, not inf"),
    ("duration-limit", edit("seed = 7", "seed = 7\nduration_limit = -5"),
     "duration_limit: must be a number of seconds > 0 and at most 1000000000, not -5"),
    ("duration-limit-huge", edit("seed = 7", "seed = 7\nduration_limit = 1e308"),
     "duration_limit: must be a number of seconds > 0 and at most 1000000000, not 1e+308"),
    ("keys-missing", edit('keys = "keys.json"\n', ""), 'keys: is required: "generate" or'),
    ("keys-type", edit('keys = "keys.json"', "keys = 5"), "keys: must be"),
    ("keys-empty", edit('keys = "keys.json"', 'keys = ""'), 'keys: must be'),
    ("keys-inline", edit('keys = "keys.json"', f'keys = "{KEY_HEX}"'), "keys: looks like a key"),
    ("archive", edit("seed = 7", 'seed = 7\narchive = "csv"'),
     'archive: must be "sqlite", not "csv"'),
    ("runs-dir", edit("seed = 7", "seed = 7\nruns_dir = 3"), "runs_dir: must be a folder path"),
    ("nodes-missing", BASE.split("[nodes.lander]")[0], "nodes: is required"),
    ("nodes-empty", BASE.split("[nodes.lander]")[0] + "nodes = {}\n",
     "nodes: needs at least one node (lander, mav, orbiter)"),
    ("nodes-type", edit("seed = 7", "seed = 7\nnodes = 3").split("[nodes.lander]")[0],
     "nodes: must be a table"),
    # nodes
    ("scid-type", edit("scid = 101", 'scid = "x"'),
     'nodes.mav.scid: must be an integer in 0..1023, not "x"'),
    ("scid-range", edit("scid = 101", "scid = 1024"),
     "nodes.mav.scid: must be an integer in 0..1023, not 1024"),
    ("scid-float", edit("scid = 101", "scid = 101.0"), "nodes.mav.scid: must be an integer"),
    ("scid-missing", edit("scid = 101\n", ""), "nodes.mav.scid: is required"),
    ("scid-bool", edit("scid = 101", "scid = true"),
     "nodes.mav.scid: must be an integer in 0..1023, not true"),
    ("unknown-key-before-a-bad-value", edit(NODE_MAV, NODE_MAV.replace("101", '"101"')
                                            + "radoi = 1\n"),
     "unknown key 'radoi' in nodes.mav (did you mean 'radio'?"),
    ("scid-duplicate", edit("scid = 101", "scid = 100"),
     "nodes.mav.scid: 100 is already used by nodes.lander"),
    ("spi-range", edit("spi = 2", "spi = 65536"), "nodes.mav.spi: must be an integer in 0..65535"),
    ("spi-duplicate", edit("spi = 2", "spi = 1"),
     "nodes.mav.spi: 1 is already used by nodes.lander"),
    ("radio-missing", edit(NODE_MAV, "scid = 101\nspi = 2\n"), "nodes.mav.radio: is required"),
    ("radio-relative", edit(NODE_MAV, NODE_MAV.replace('"sim"', '"ttyUSB0"')),
     'nodes.mav.radio: must be "sim", a device path'),
    ("radio-scheme", edit(NODE_MAV, NODE_MAV.replace('"sim"', '"ftp://host:21"')),
     'nodes.mav.radio: must be "sim", a device path'),
    ("radio-no-port", edit(NODE_MAV, NODE_MAV.replace('"sim"', '"socket://host"')),
     'nodes.mav.radio: "socket://host" needs a host and a port'),
    ("radio-baud", edit(NODE_MAV, NODE_MAV + "radio_baud = 12345\n"),
     "nodes.mav.radio_baud: 12345 is not a standard baud rate (9600, "),
    ("ground-with-emulated-radio", edit(NODE_MAV, NODE_MAV + 'ground = "/dev/ttyUSB5"\n'),
     "nodes.mav.ground: only a real radio takes a ground end (the simulator gives an emulated "
     "radio's)"),
    ("ground-sim", edit(NODE_MAV, NODE_MAV.replace('"sim"', '"/dev/ttyUSB4"') + 'ground = "sim"\n'),
     'nodes.mav.ground: must be the ground equipment\'s port, not "sim"'),
    ("ground-relative", edit(NODE_MAV, NODE_MAV.replace('"sim"', '"/dev/ttyUSB4"')
                             + 'ground = "ttyUSB5"\n'),
     'nodes.mav.ground: must be "sim", a device path'),
    ("ground-is-the-radio", edit(NODE_MAV, NODE_MAV.replace('"sim"', '"/dev/ttyUSB4"')
                                 + 'ground = "/dev/ttyUSB4"\n'),
     'nodes.mav.ground: "/dev/ttyUSB4" is already used by nodes.mav.radio'),
    ("ground-is-a-board", edit(NODE_MAV, NODE_MAV.replace('"sim"', '"/dev/ttyUSB4"')
                               + 'ground = "/dev/ttyUSB0"\n').replace(
        ARM, ARM.replace('"sim"', '"/dev/ttyUSB0"')),
     'boards.sta_arm.port: "/dev/ttyUSB0" is already used by nodes.mav.ground'),
    ("light-time", edit(NODE_MAV, NODE_MAV + "light_time = -1\n"),
     "nodes.mav.light_time: must be a number of seconds in 0..3600, not -1"),
    ("light-time-huge", edit(NODE_MAV, NODE_MAV + "light_time = 1e308\n"),
     "nodes.mav.light_time: must be a number of seconds in 0..3600, not 1e+308"),
    ("bit-error-rate", edit(NODE_MAV, NODE_MAV + "bit_error_rate = 1.5\n"),
     "nodes.mav.bit_error_rate: must be a probability in 0..1, not 1.5"),
    ("blackouts-type", edit(NODE_MAV, NODE_MAV + 'blackouts = "never"\n'),
     "nodes.mav.blackouts: must be an array of [start, end] seconds"),
    ("blackout-shape", edit(NODE_MAV, NODE_MAV + "blackouts = [[1, 2], [3]]\n"),
     "nodes.mav.blackouts[1]: must be [start, end] seconds, not [3]"),
    ("blackout-order", edit(NODE_MAV, NODE_MAV + "blackouts = [[5, 3]]\n"),
     "nodes.mav.blackouts[0]: ends at 3 s, not after its start at 5 s"),
    ("blackout-negative", edit(NODE_MAV, NODE_MAV + "blackouts = [[-1, 3]]\n"),
     "nodes.mav.blackouts[0][0]: must be a number of seconds in 0..1000000000"),
    ("blackout-huge", edit(NODE_MAV, NODE_MAV + "blackouts = [[1, 1e308]]\n"),
     "nodes.mav.blackouts[0][1]: must be a number of seconds in 0..1000000000, not 1e+308"),
    ("blackouts-many", edit(NODE_MAV, NODE_MAV + "blackouts = ["
                            + ", ".join(f"[{2 * i}, {2 * i + 1}]" for i in range(1001)) + "]\n"),
     "nodes.mav.blackouts: has 1001 blackouts: at most 1000"),
    ("space-link-value", BASE + "[nodes.mav.space_link]\nfop_window = 9\n",
     "nodes.mav.space_link: fop_window must be at least 1 and below farm_window / 2"),
    ("space-link-type", BASE + '[nodes.mav.space_link]\nt1 = "2"\n',
     "nodes.mav.space_link.t1: must be a number"),
    ("space-link-int", BASE + "[nodes.mav.space_link]\nvcid = 1.5\n",
     "nodes.mav.space_link.vcid: must be an integer"),
    ("space-link-huge-time", BASE + "[nodes.mav.space_link]\nt1 = 1e308\n",
     "nodes.mav.space_link.t1: must be a number of seconds in 0..1000000000, not 1e+308"),
    ("space-link-huge-int", BASE + "[nodes.mav.space_link]\ncommand_queue = 0x7fffffffffffffff\n",
     "nodes.mav.space_link.command_queue: must be an integer in 0..4294967295"),
    ("space-link-scid", BASE + "[nodes.mav.space_link]\nscid = 5\n",
     "nodes.mav.space_link.scid: set the spacecraft id as nodes.mav.scid"),
    ("space-link-table", edit(NODE_MAV, NODE_MAV + "space_link = 4\n"),
     "nodes.mav.space_link: must be a table, not 4"),
    # boards
    ("board-wrong-node", edit(PYRO, PYRO.replace('"mav"', '"lander"')),
     'boards.mav_pyro.node: mav_pyro belongs to the mav, not "lander"'),
    ("board-node-absent", BASE + '[boards.nac_camera]\nnode = "orbiter"\nport = "sim"\n',
     "boards.nac_camera.node: node 'orbiter' is not on this bench"),
    ("board-node-missing", edit(PYRO, 'port = "sim"\n'),
     'boards.mav_pyro.node: is required: "mav"'),
    ("board-not-table", BASE + "[boards]\nigloo = 3\n", "boards.igloo: must be a table, not 3"),
    ("baud", edit(ARM, ARM + "baud = 12345\n"),
     "boards.sta_arm.baud: 12345 is not a standard baud rate (9600, 19200, "),
    ("baud-string", edit(ARM, ARM + 'baud = "115200"\n'),
     'boards.sta_arm.baud: "115200" is not a standard baud rate'),
    ("baud-float", edit(ARM, ARM + "baud = 115200.0\n"),
     "boards.sta_arm.baud: 115200.0 is not a standard baud rate"),
    ("port-missing", edit(ARM, 'node = "lander"\n'), "boards.sta_arm.port: is required"),
    ("port-long", edit(ARM, ARM.replace('"sim"', f'"/dev/{"x" * 5000}"')),
     "boards.sta_arm.port: must be \"sim\", a device path (/dev/ttyUSB0, /dev/serial/by-id/...) "
     "or a socket:// or rfc2217:// URL of at most 4096 characters, not 5005"),
    ("usb-serial-long", edit(ARM, ARM + f'usb_serial = "{"A" * 200}"\n'),
     "boards.sta_arm.usb_serial: must be a USB serial number of at most 128 characters, not 200"),
    ("unknown-node-long", BASE + f'[nodes."{"r" * 5000}"]\nradio = "sim"\n',
     'nodes."rrrrrrrrrrrrr'),
    ("port-windows", edit(ARM, ARM.replace('"sim"', '"COM3"')),
     'boards.sta_arm.port: must be "sim", a device path (/dev/ttyUSB0, /dev/serial/by-id/...) '
     'or a socket:// or rfc2217:// URL, not "COM3"'),
    ("port-space", edit(ARM, ARM.replace('"sim"', '"/dev/tty USB0"')), "boards.sta_arm.port: "),
    ("port-duplicate", edit(ARM, ARM.replace('"sim"', '"/dev/ttyUSB0"')).replace(
        PYRO, PYRO.replace('"sim"', '"/dev/ttyUSB0"')),
     'boards.mav_pyro.port: "/dev/ttyUSB0" is already used by boards.sta_arm.port'),
    ("port-radio-duplicate", edit(ARM, ARM.replace('"sim"', '"/dev/ttyUSB0"')).replace(
        NODE_MAV, NODE_MAV.replace('"sim"', '"/dev/ttyUSB0"')),
     'boards.sta_arm.port: "/dev/ttyUSB0" is already used by nodes.mav.radio'),
    ("usb-serial-type", edit(ARM, ARM + "usb_serial = 5\n"),
     "boards.sta_arm.usb_serial: must be a USB serial number, not 5"),
    ("usb-serial-duplicate", edit(ARM, ARM + 'usb_serial = "A1"\n').replace(
        PYRO, PYRO + 'usb_serial = "A1"\n'),
     'boards.mav_pyro.usb_serial: "A1" is already used by boards.sta_arm.usb_serial'),
    # faults
    ("fault-kind", edit('kind = "stall"', 'kind = "stal"'),
     "faults[0].kind: unknown fault kind \"stal\" (did you mean 'stall'?"),
    ("fault-kind-type", edit('kind = "stall"', "kind = 3"), "faults[0].kind: must be a fault kind"),
    ("fault-kind-long", edit('kind = "stall"', f'kind = "{"stall" * 1000}"'),
     'faults[0].kind: unknown fault kind "stallstall'),
    ("fault-target-absent", edit('target = "sta_arm"', 'target = "nac_camera"'),
     'faults[0].target: "nac_camera" names no board of this bench (boards: sta_arm, mav_pyro)'),
    ("fault-target-unknown", edit('target = "sta_arm"', 'target = "warp_drive.core"'),
     'faults[0].target: "warp_drive.core" names no board of this bench'),
    ("fault-link-absent", edit(FAULT, 'at = 1\ntarget = "link:orbiter"\nkind = "drop"\n'),
     'faults[0].target: "link:orbiter" names no node of this bench (nodes: lander, mav)'),
    ("fault-device-name", edit('target = "sta_arm"', 'target = "sta_arm.Wrist 2"'),
     "faults[0].target: \"sta_arm.Wrist 2\": the device must be a name"),
    ("fault-link-on-device", edit(FAULT, 'at = 1\ntarget = "sta_arm.wrist"\nkind = "drop"\n'),
     "faults[0].target: drop is a link fault"),
    ("fault-device-on-link", edit('target = "sta_arm"', 'target = "link:mav"'),
     "faults[0].target: stall is a device fault"),
    ("fault-at-negative", edit("at = 10.0", "at = -1"),
     "faults[0].at: must be a number of seconds in 0..1000000000, not -1"),
    ("fault-at-huge", edit("at = 10.0", "at = 1e308"),
     "faults[0].at: must be a number of seconds in 0..1000000000, not 1e+308"),
    ("fault-at-nan", edit("at = 10.0", "at = nan"),
     "faults[0].at: must be a number of seconds in 0..1000000000, not nan"),
    ("fault-at-missing", edit("at = 10.0\n", ""), "faults[0].at: is required"),
    ("fault-at-type", edit("at = 10.0", 'at = "soon"'), 'faults[0].at: must be a number'),
    ("fault-duration", edit(FAULT, FAULT + "duration = 0\n"),
     "faults[0].duration: must be a number of seconds > 0 and at most 1000000000, not 0"),
    ("fault-duration-huge", edit(FAULT, FAULT + "duration = 1e308\n"),
     "faults[0].duration: must be a number of seconds > 0 and at most 1000000000, not 1e+308"),
    ("fault-params-type", edit(FAULT, FAULT + "params = 3\n"),
     "faults[0].params: must be a table, not 3"),
    ("fault-params-nested", edit(FAULT, FAULT + "params = { a = [1, 2] }\n"),
     "faults[0].params.a: must be a number, string or boolean, not [1, 2]"),
    ("fault-params-text", edit(FAULT, FAULT + f'params = {{ unit = "{"x" * 65}" }}\n'),
     "faults[0].params.unit: must be a printable string of at most 64 characters"),
    ("fault-params-number", edit(FAULT, FAULT + "params = { amount = 1e308 }\n"),
     "faults[0].params.amount: must be a finite number within +-1e+12, not 1e+308"),
    ("fault-params-many", edit(FAULT, FAULT + "params = { "
                               + ", ".join(f"p{i} = {i}" for i in range(17)) + " }\n"),
     "faults[0].params: has 17 parameters: at most 16"),
    ("fault-params-name", edit(FAULT, FAULT + 'params = { "Bad Name" = 1 }\n'),
     'faults[0].params."Bad Name": a parameter\'s name must be a lower-case name'),
    ("faults-many", BASE + "[[faults]]\n" .join(["", *[FAULT] * 1000]),
     "faults: has 1001 entries: at most 1000"),
    ("fault-second", BASE + "[[faults]]\nat = 1\ntarget = \"mav_pyro\"\nkind = \"nope\"\n",
     'faults[1].kind: unknown fault kind "nope"'),
    ("faults-type", edit("[[faults]]\n" + FAULT, "").replace("seed = 7", "seed = 7\nfaults = 3"),
     "faults: must be an array of tables"),
    # TOML itself
    ("toml-syntax", edit("scid = 101", "scid = = 101"), "not valid TOML: "),
    ("toml-duplicate-key", edit("scid = 101", "scid = 101\nscid = 102"), "not valid TOML: "),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_each_mistake_is_one_line_naming_the_file_and_the_field(text, expected):
    with pytest.raises(BenchError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith("bench.toml: ")
    assert expected in message, message
    assert "\n" not in message
    assert isinstance(caught.value, HalError) and caught.value.reason == "bad_bench"


def test_a_toml_syntax_error_gives_its_line(tmp_path: Path):
    path = tmp_path / "bench.toml"
    path.write_text(edit("scid = 101", "scid = = 101"))
    with pytest.raises(BenchError, match=rf"^{re.escape(str(path))}: not valid TOML: .*line 12"):
        load_bench(path)


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path):
    missing = re.escape(str(tmp_path / "nope.toml"))
    with pytest.raises(BenchError, match=rf"^{missing}: cannot read the bench file: No such file"):
        load_bench(tmp_path / "nope.toml")
    with pytest.raises(BenchError, match="cannot read the bench file"):
        load_bench(tmp_path)
    (tmp_path / "latin.toml").write_bytes(b"seed = 7 # \xe9\n")
    with pytest.raises(BenchError, match=r"latin\.toml: cannot read the bench file"):
        load_bench(tmp_path / "latin.toml")


# ---------------------------------------------------------------------------- real hardware


@pytest.mark.parametrize(
    ("old", "new", "field", "named"),
    [
        (ARM, ARM.replace('"sim"', '"/dev/ttyUSB0"'), "boards.sta_arm.port",
         "sta_arm is a real board"),
        (PYRO, PYRO.replace('"sim"', '"rfc2217://bench-pi:2217"'), "boards.mav_pyro.port",
         "mav_pyro is a real board"),
        (NODE_MAV, NODE_MAV.replace('"sim"', '"/dev/serial/by-id/usb-radio-if00"'),
         "nodes.mav.radio", "the mav's radio is real"),
    ],
    ids=["board-device", "board-url", "radio"],
)  # fmt: skip
def test_real_hardware_on_the_simulated_clock_is_refused_naming_it(old, new, field, named):
    for clock in ('clock = "sim"', ""):  # said, or left to the default
        with pytest.raises(BenchError) as caught:
            parse(edit(old, new).replace('clock = "sim"\n', f"{clock}\n"))
        message = str(caught.value)
        assert message.startswith(f"bench.toml: {field}: {named}"), message
        assert 'cannot be paused, so use clock = "wall"' in message and "\n" not in message
    bench = parse(edit(old, new).replace('clock = "sim"', 'clock = "wall"'))
    assert bench.clock == "wall" and bench.hardware_in_the_loop


def test_the_bounds_themselves_are_accepted():
    text = edit("seed = 7", "seed = 0x7fffffffffffffff\ntick = 0.001\nduration_limit = 1e9")
    text = text.replace(FAULT, 'at = 1e9\ntarget = "sta_arm"\nkind = "stall"\nduration = 1e9\n'
                        'params = { index = 0x7fffffffffffffff, amount = -1e12, unit = "'
                        + "u" * 64 + '" }\n')  # fmt: skip
    text = text.replace(
        NODE_MAV,
        NODE_MAV
        + "light_time = 3600\nblackouts = ["
        + ", ".join(f"[{2 * i}, {2 * i + 1}]" for i in range(1000))
        + "]\n",
    )
    bench = parse(text)
    assert (bench.seed, bench.tick, bench.duration_limit) == ((1 << 63) - 1, 0.001, 1e9)
    assert bench.faults[0].end == 2e9 and len(bench.nodes["mav"].blackouts) == 1000
    assert bench.nodes["mav"].light_time == 3600.0
    assert parse(edit("seed = 7", "seed = 7\ntick = 60")).tick == 60.0


def test_the_bench_bounds_match_the_control_ports():
    assert bench_module.MAX_SECONDS == schema.MAX_SECONDS
    assert bench_module.MAX_PARAMS == backdoor_messages.MAX_PARAMS
    assert bench_module.MAX_PARAM_TEXT == backdoor_messages.MAX_TEXT
    assert bench_module.MAX_PARAM_NUMBER == schema.MAX_NUMBER
    assert bench_module.MAX_PARAM_INT == schema.MAX_INT


def test_a_file_over_a_mebibyte_is_refused_before_it_is_parsed(tmp_path: Path):
    path = tmp_path / "big.toml"
    path.write_text(BASE + "# " + "x" * (1 << 20) + "\n")
    with pytest.raises(BenchError, match=rf"^{re.escape(str(path))}: cannot read the bench file: "
                       r"larger than 1048576 octets \(1 MiB\), not a bench file$"):  # fmt: skip
        load_bench(path)
    with pytest.raises(BenchError, match=r"^bench\.toml: longer than 1048576 characters"):
        parse(BASE + "# " + "x" * (1 << 20) + "\n")


def test_an_endless_device_is_read_only_up_to_the_bound():
    with pytest.raises(BenchError, match=r"^/dev/zero: cannot read the bench file: larger than"):
        load_bench("/dev/zero")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b"seed = 7\n# caf\xe9\n")
    with pytest.raises(BenchError, match=r"latin\.toml: cannot read the bench file: not UTF-8 "
                       r"\(line 2, octet 14\)$"):  # fmt: skip
        load_bench(path)


def test_fault_spec_targets():
    fault = FaultSpec(at=1.0, target="sta_arm", kind="stall")
    assert (fault.board, fault.device, fault.link_node, fault.end) == ("sta_arm", None, None, None)


def test_the_bench_module_reads_files_and_nothing_else():
    source = (Path(__file__).parent.parent / "hal" / "bench.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"serial", "construct", "time", "socket", "subprocess", "threading"}
