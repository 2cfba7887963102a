"""The non-volatile store, as procedures: what a node finds after a reset, after a damaged copy,
after a failed write, and after being killed at a random instant while it persists."""

from __future__ import annotations

import json
import math
import os
import random
import select
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsw.core.nvstore import EVENTS, CounterView, NvError, NvStore, NvUnknownSection
from hal.errors import StoreError
from hal.links.space_link import FlightSpaceLink, SpaceLinkConfig
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.sdls import SecurityAssociation, authenticate
from hal.protocol.tc_frame import TcFrame
from tests.links.link_helpers import MemoryLink

DEFAULTS = {
    "parameters": {"arm_speed": 0.5, "heater": True},
    "counters": {},
    "custody": [],
    "resets": 0,
}
WRITER = Path(__file__).with_name("nv_writer.py")
ROOT = Path(__file__).resolve().parents[2]


class Node:
    """A node's store opened as at power-on, recording the events it reports."""

    def __init__(self, path: Path, defaults: dict | None = None, durable: bool = True) -> None:
        self.path = path
        self.events: list[tuple[str, str]] = []
        self.store = NvStore(
            path, DEFAULTS if defaults is None else defaults, durable=durable,
            emit=lambda name, detail: self.events.append((name, detail)),
        )  # fmt: skip

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def reset(self, defaults: dict | None = None) -> Node:
        return Node(self.path, defaults)


def copy_of(path: Path, which: str) -> Path:
    return path.with_name(f"{path.name}.{which}")


def disk(path: Path) -> dict[str, bytes]:
    """Every file of the store's folder with its content (to show nothing was written)."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir())}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nv"


def two_generations(path: Path) -> Node:
    """A store written twice: generation 1 in copy a (resets 1), generation 2 in b (resets 2)."""
    node = Node(path)
    node.store.put("resets", 1)
    node.store.put("resets", 2)
    assert json.loads(copy_of(path, "a").read_bytes())["generation"] == 1
    assert json.loads(copy_of(path, "b").read_bytes())["generation"] == 2
    return node


# ---------------------------------------------------------------- boot, write, reset


def test_at_first_boot_every_section_takes_its_default_and_the_node_says_so(path):
    node = Node(path)
    assert node.store.loaded_from == "defaults"
    assert node.names == ["nv_first_boot"]
    assert node.store.boot_events == node.events
    assert {name: node.store.get(name) for name in DEFAULTS} == DEFAULTS
    assert node.store.generation == 0 and node.store.writes == 0
    assert node.store.sections == ("counters", "custody", "parameters", "resets")
    assert list(path.parent.iterdir()) == []  # loading writes nothing


def test_a_value_put_is_on_the_disk_and_survives_a_reset(path):
    node = Node(path)
    node.store.put("custody", ["T00001", "T00002"])
    assert node.store.writes == 1 and node.store.generation == 1
    after = node.reset()
    assert after.store.loaded_from == "file" and after.events == []
    assert after.store.get("custody") == ["T00001", "T00002"]
    assert after.store.get("parameters") == DEFAULTS["parameters"]
    assert after.store.generation == 1


def test_several_sections_change_together_in_one_write(path):
    node = Node(path)
    node.store.put_many({"custody": ["T00001"], "resets": 4, "counters": {"sn:1": 1}})
    assert node.store.writes == 1 and node.store.generation == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["nv.a"]
    node.store.put_many({})  # nothing to change: nothing written
    assert node.store.writes == 1
    after = node.reset().store
    assert (after.get("custody"), after.get("resets"), after.get("counters")) == (
        ["T00001"], 4, {"sn:1": 1},
    )  # fmt: skip


def test_writes_alternate_between_the_two_copies_and_the_newest_is_loaded(path):
    node = Node(path)
    for resets in range(1, 6):
        node.store.put("resets", resets)
        which = "a" if resets % 2 else "b"
        document = json.loads(copy_of(path, which).read_bytes())
        assert document["generation"] == resets and document["sections"]["resets"] == resets
    assert not path.with_name("nv.tmp").exists()
    after = node.reset().store
    assert after.get("resets") == 5 and after.generation == 5 and after.loaded_from == "file"


def test_each_copy_is_canonical_json_with_a_crc32_of_generation_and_sections(path):
    node = Node(path)
    node.store.put("parameters", {"heater": False, "arm_speed": 0.25, "name": "h\u00e9"})
    raw = copy_of(path, "a").read_bytes()
    document = json.loads(raw)
    body = {"generation": document["generation"], "sections": document["sections"]}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert document["crc32"] == zlib.crc32(canonical)
    assert raw == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def test_what_get_returns_and_what_was_put_cannot_change_the_store_behind_its_back(path):
    store = Node(path).store
    custody = ["T00001"]
    store.put("custody", custody)
    custody.append("T00002")
    store.get("custody").append("T00003")
    store.get("parameters")["heater"] = False
    assert store.get("custody") == ["T00001"]
    assert store.get("parameters") == DEFAULTS["parameters"]


def test_a_tuple_and_an_int_enum_are_kept_as_the_json_they_will_read_back_as(path):
    store = Node(path).store
    store.put("custody", ("T00001", signal.SIGKILL))
    assert store.get("custody") == ["T00001", 9]
    assert type(store.get("custody")[1]) is int
    assert Node(path).store.get("custody") == ["T00001", 9]


def test_a_stale_temporary_file_from_a_killed_write_is_ignored_and_replaced(path):
    node = Node(path)
    node.store.put("resets", 1)
    path.with_name("nv.tmp").write_bytes(b'{"crc32":1,"gener')  # killed half-way through
    after = node.reset()
    assert after.store.get("resets") == 1 and after.events == []
    after.store.put("resets", 2)
    assert not path.with_name("nv.tmp").exists()
    assert node.reset().store.get("resets") == 2


def test_without_durability_nothing_is_flushed_but_everything_is_written(path, monkeypatch):
    def no_fsync(fd):
        raise AssertionError("fsync called")

    monkeypatch.setattr(os, "fsync", no_fsync)
    node = Node(path, durable=False)
    node.store.put("resets", 3)
    monkeypatch.undo()
    assert node.reset().store.get("resets") == 3


# ---------------------------------------------------------------- damaged copies


def flip_a_byte(raw: bytes) -> bytes:
    return raw[:20] + bytes([raw[20] ^ 0x01]) + raw[21:]


def wrong_checksum(raw: bytes) -> bytes:
    document = json.loads(raw)
    document["crc32"] = (document["crc32"] + 1) & 0xFFFFFFFF
    return json.dumps(document).encode()


def rewritten(change):
    """A copy whose document is changed, then given a correct CRC if it still has the fields."""

    def damage(raw: bytes) -> bytes:
        document = json.loads(raw)
        change(document)
        return json.dumps(document).encode()

    return damage


def with_crc(document: dict) -> bytes:
    body = {"generation": document["generation"], "sections": document["sections"]}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps({**body, "crc32": zlib.crc32(canonical)}).encode()


DAMAGES = {
    "a flipped byte": flip_a_byte,
    "truncated": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "garbage": lambda raw: bytes(random.Random(1).randrange(256) for _ in range(300)),
    "not utf-8": lambda raw: b"\xff\xfe" + raw,
    "wrong checksum": wrong_checksum,
    "a list": lambda raw: b"[1, 2, 3]",
    "no checksum": rewritten(lambda d: d.pop("crc32")),
    "an extra key": rewritten(lambda d: d.update(extra=1)),
    "sections a list": lambda raw: with_crc({"generation": 3, "sections": []}),
    "generation a string": lambda raw: with_crc({"generation": "3", "sections": {}}),
    "generation negative": lambda raw: with_crc({"generation": -1, "sections": {}}),
    "generation a bool": lambda raw: with_crc({"generation": True, "sections": {}}),
    "checksum a string": rewritten(lambda d: d.update(crc32=str(d["crc32"]))),
    "a NaN inside": lambda raw: raw.replace(b'"resets":2', b'"resets":NaN'),
    "deeply nested": lambda raw: b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_damaged_newest_copy_is_reported_and_the_older_copy_is_loaded(path, damage):
    two_generations(path)
    newest = copy_of(path, "b")
    newest.write_bytes(damage(newest.read_bytes()))
    node = Node(path)
    assert node.store.loaded_from == "backup"
    assert node.names == ["nv_copy_corrupt"]
    assert "nv.b" in node.events[0][1] and "\n" not in node.events[0][1]
    assert node.store.get("resets") == 1 and node.store.generation == 1


def test_an_unreadable_copy_is_reported_like_a_damaged_one(path):
    two_generations(path)
    newest = copy_of(path, "b")
    newest.unlink()
    newest.mkdir()  # reading it fails with an OSError
    node = Node(path)
    assert node.store.loaded_from == "backup" and node.names == ["nv_copy_corrupt"]
    assert "unreadable" in node.events[0][1]
    assert node.store.get("resets") == 1


@given(at=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_byte_of_the_newest_copy_damaged_in_any_way_falls_back_to_the_older(
    tmp_path_factory, at, mask
):
    path = tmp_path_factory.mktemp("nv") / "nv"
    two_generations(path)
    newest = copy_of(path, "b")
    raw = bytearray(newest.read_bytes())
    raw[at % len(raw)] ^= mask
    newest.write_bytes(raw)
    node = Node(path)
    assert (node.store.loaded_from, node.names) == ("backup", ["nv_copy_corrupt"])
    assert node.store.get("resets") == 1


def test_a_damaged_older_copy_is_reported_and_the_newest_still_loaded(path):
    two_generations(path)
    copy_of(path, "a").write_bytes(b"\x00" * 64)
    node = Node(path)
    assert node.names == ["nv_copy_corrupt"] and "nv.a" in node.events[0][1]
    assert node.store.loaded_from == "backup"  # the store cannot tell which copy was newer
    assert node.store.get("resets") == 2


def test_after_a_fallback_the_next_write_replaces_the_damaged_copy_not_the_good_one(path):
    two_generations(path)
    copy_of(path, "b").write_bytes(b"garbage")
    node = Node(path)
    good = copy_of(path, "a").read_bytes()
    node.store.put("resets", 7)
    assert copy_of(path, "a").read_bytes() == good
    assert json.loads(copy_of(path, "b").read_bytes())["generation"] == 2
    after = node.reset()
    assert (after.store.loaded_from, after.events) == ("file", [])
    assert after.store.get("resets") == 7


def test_with_both_copies_damaged_every_section_takes_its_default_with_a_high_event(path):
    two_generations(path)
    copy_of(path, "a").write_bytes(b"")
    copy_of(path, "b").write_bytes(flip_a_byte(copy_of(path, "b").read_bytes()))
    node = Node(path)
    assert node.store.loaded_from == "defaults" and node.names == ["nv_corrupt"]
    detail = node.events[0][1]
    assert "nv.a: not JSON" in detail and "nv.b:" in detail and "\n" not in detail
    assert EVENTS["nv_corrupt"][0] == "high"
    assert {name: node.store.get(name) for name in DEFAULTS} == DEFAULTS
    node.store.put("resets", 1)  # the node carries on and its next state is kept
    assert node.reset().store.get("resets") == 1


def test_a_damaged_copy_alone_on_the_disk_means_defaults(path):
    copy_of(path, "b").write_bytes(b'{"crc32":')
    node = Node(path)
    assert node.store.loaded_from == "defaults" and node.names == ["nv_corrupt"]


def test_a_section_added_by_new_software_starts_at_its_default_and_a_removed_one_is_dropped(path):
    node = Node(path)
    node.store.put_many({"resets": 3, "custody": ["T00001"]})
    newer = {**DEFAULTS, "sequence": {"step": 0}}
    del newer["custody"]
    after = node.reset(newer)
    assert after.store.loaded_from == "file"
    assert after.names == ["nv_section_defaulted", "nv_section_defaulted"]
    details = " ".join(detail for _, detail in after.events)
    assert "'custody'" in details and "dropped" in details
    assert "'sequence'" in details and "default" in details
    assert after.store.get("sequence") == {"step": 0} and after.store.get("resets") == 3
    with pytest.raises(NvUnknownSection):
        after.store.get("custody")


# ---------------------------------------------------------------- refused values, failed writes


def cyclic() -> list:
    value: list = []
    value.append(value)
    return value


BAD_VALUES = {
    "an object": (object(), "custody", "object"),
    "a NaN": ([1.0, math.nan], "custody[1]", "nan"),
    "an infinity": ({"arm_speed": math.inf}, "parameters['arm_speed']", "inf"),
    "a set": ({"a": [{1}]}, "parameters['a'][0]", "set"),
    "bytes": (b"T1", "custody", "bytes"),
    "an integer key": ({1: "T00001"}, "custody", "key 1"),
    "a cycle": (cyclic(), "custody[0][0]", "nested deeper"),
}


@pytest.mark.parametrize(("value", "where", "why"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_value_that_is_not_plain_json_is_refused_naming_where_and_nothing_is_written(
    path, value, where, why
):
    node = Node(path)
    node.store.put("custody", ["T00001"])
    before = disk(path)
    section = where.split("[")[0]
    with pytest.raises(NvError) as refused:
        node.store.put_many({"resets": 5, section: value})
    message = str(refused.value)
    assert f"section '{section}'" in message and where[len(section) :] in message
    assert why in message and "\n" not in message
    assert refused.value.reason == "bad_value"
    assert disk(path) == before
    assert node.store.get("resets") == 0 and node.store.get("custody") == ["T00001"]
    assert node.store.writes == 1 and node.store.generation == 1


def test_an_unknown_section_is_refused_by_name_and_nothing_is_written(path):
    node = Node(path)
    with pytest.raises(NvUnknownSection, match="no section 'telemetry'") as refused:
        node.store.put_many({"resets": 1, "telemetry": []})
    assert isinstance(refused.value, KeyError) and isinstance(refused.value, StoreError)
    assert str(refused.value).startswith("nv: no section 'telemetry' (known: counters, custody")
    with pytest.raises(KeyError):
        node.store.get("telemetry")
    with pytest.raises(NvUnknownSection):
        node.store.counters("telemetry")
    assert node.store.writes == 0 and list(path.parent.iterdir()) == []


def test_a_default_that_is_not_plain_json_is_a_programming_error_found_at_start(path):
    with pytest.raises(NvError, match="section 'resets'"):
        NvStore(path, {"resets": math.nan})


def fail(*args, **kwargs):
    raise OSError(5, "Input/output error")


@pytest.mark.parametrize("call", ["open", "write", "fsync", "replace"])
def test_a_failed_write_is_refused_in_one_line_and_changes_nothing(path, monkeypatch, call):
    node = Node(path)
    node.store.put("resets", 1)
    before = disk(path)
    monkeypatch.setattr(os, call, fail)
    with pytest.raises(NvError) as refused:
        node.store.put_many({"resets": 2, "custody": ["T00001"]})
    monkeypatch.undo()
    assert str(refused.value) == f"{copy_of(path, 'b')}: cannot write: Input/output error"
    assert refused.value.reason == "write_failed"
    assert disk(path) == before  # not even the temporary file is left
    assert node.store.get("resets") == 1 and node.store.get("custody") == []
    assert node.store.generation == 1 and node.store.writes == 1
    node.store.put("resets", 3)  # the disk is back: the store carries on
    assert node.reset().store.get("resets") == 3


def test_a_write_that_fails_only_when_flushing_the_folder_keeps_the_old_state(path, monkeypatch):
    node = Node(path)
    node.store.put("resets", 1)
    real_fsync = os.fsync
    calls = []

    def fsync_file_only(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_file_only)
    with pytest.raises(NvError):
        node.store.put("resets", 2)
    monkeypatch.undo()
    assert node.store.get("resets") == 1 and node.store.generation == 1
    node.store.put("resets", 3)  # the same generation again, over the same copy
    after = node.reset().store
    assert (after.get("resets"), after.generation) == (3, 2)


# ---------------------------------------------------------------- counters for the space link


def test_the_counter_view_reads_and_writes_like_the_space_links_counter_store(path):
    node = Node(path)
    counters = node.store.counters()
    assert isinstance(counters, CounterView)
    assert counters.items("sn:") == {} and counters.get("vr:0", 0) == 0
    assert counters.get("vr:0") is None
    counters.set("sn:1", 17)
    counters.update({"sn:2": 4, "vr:0": 9})
    assert counters.items("sn:") == {"sn:1": 17, "sn:2": 4}
    assert counters.items() == {"sn:1": 17, "sn:2": 4, "vr:0": 9}
    assert node.store.writes == 2
    after = node.reset().store
    assert after.counters().get("vr:0", 0) == 9 and after.get("counters")["sn:1"] == 17


@pytest.mark.parametrize("value", [-1, 1.5, True, "3", None])
def test_a_counter_that_is_not_a_count_is_refused_as_a_store_error(path, value):
    node = Node(path)
    with pytest.raises(StoreError, match=r"'sn:1' = .* is not a count"):
        node.store.counters().set("sn:1", value)
    assert node.store.writes == 0


def test_counters_and_the_other_sections_stay_consistent_on_the_disk(path):
    node = Node(path)
    node.store.put("custody", ["T00001"])
    node.store.counters().set("sn:1", 1)
    node.store.put("resets", 1)
    after = node.reset().store
    assert (after.get("custody"), after.get("counters"), after.get("resets")) == (
        ["T00001"], {"sn:1": 1}, 1,
    )  # fmt: skip


def test_a_section_that_does_not_hold_counts_gives_no_counter_view(path):
    node = Node(path)
    with pytest.raises(NvError, match="'custody' is not a mapping of names to counts"):
        node.store.counters("custody")


KEY = bytes(range(32))
SA = SecurityAssociation(7, KEY)


class Radio:
    """The flight end of the space link on an in-memory link, its counters in the store."""

    def __init__(self, store: NvStore) -> None:
        self.link = MemoryLink(bytearray(), bytearray())
        self.link.open()
        self.events: list[tuple[str, str]] = []
        self.flight = FlightSpaceLink(
            self.link, {7: KEY}, SpaceLinkConfig(), store=store.counters(),
            on_event=lambda name, detail: self.events.append((name, detail)),
        )  # fmt: skip

    def uplink(self, sn: int, seq: int) -> PusTc | None:
        frame = TcFrame(42, 0, PusTc(0x123, 17, 1, b"").pack(), seq=seq)
        self.link.inbox += ASM + authenticate(frame, SA, sn)
        self.flight.poll(0)
        return self.flight.receive(0)


def test_the_space_link_keeps_its_anti_replay_counters_across_a_reset_in_the_store(path):
    radio = Radio(Node(path).store)
    for sn in (1, 2, 3):
        assert radio.uplink(sn, seq=sn - 1) is not None
    node = Node(path)
    assert node.store.get("counters") == {"sn:7": 3, "vr:0": 3}
    radio = Radio(node.store)
    assert radio.flight.farm.vr == 3
    assert radio.uplink(3, seq=3) is None  # a replay of the last frame
    assert radio.flight.stats()["rejects"] == {"replay": 1}
    assert radio.uplink(4, seq=3) is not None


def test_when_the_store_cannot_write_the_space_link_rejects_the_frame(path, monkeypatch):
    node = Node(path)
    radio = Radio(node.store)
    monkeypatch.setattr(os, "replace", fail)
    assert radio.uplink(1, seq=0) is None
    monkeypatch.undo()
    assert radio.flight.stats()["rejects"] == {"persist_failed": 1}
    assert node.store.get("counters") == {} and node.store.writes == 0
    assert radio.uplink(1, seq=0) is not None  # the same frame again, once the disk is back


# ---------------------------------------------------------------- events


def test_every_event_is_declared_with_a_pus_severity():
    assert {name: severity for name, (severity, _) in EVENTS.items()} == {
        "nv_first_boot": "info",
        "nv_copy_corrupt": "medium",
        "nv_corrupt": "high",
        "nv_section_defaulted": "low",
    }
    assert all(description for _, description in EVENTS.values())


# ---------------------------------------------------------------- killed at any instant

KILLS = 60
WRITER_DEFAULTS = {"counters": {}, "custody": []}


class Output:
    """The writer's stdout, read as it comes: ``values`` are the counters it reported
    committed. Waits only by blocking on the pipe (select with a timeout)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.fd = process.stdout.fileno()
        self.pending = b""
        self.values: list[int] = []
        self.eof = False

    def pump(self, timeout: float) -> None:
        readable, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
        if not readable:
            return
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.eof = True
            return
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        self.values += [int(line) for line in lines]


def run_and_kill(path: Path, rng: random.Random) -> int:
    """Start the writer, let it commit at least once, kill it (SIGKILL) 0 to 20 ms later;
    return the last value it reported committed."""
    process = subprocess.Popen(
        [sys.executable, str(WRITER), str(path)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
    )  # fmt: skip
    try:
        output = Output(process)
        deadline = time.monotonic() + 20.0
        while not output.values:
            if output.eof or time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail(f"the writer never committed: {process.stderr.read().decode()}")
            output.pump(deadline - time.monotonic())
        kill_at = time.monotonic() + rng.uniform(0.0, 0.020)
        while not output.eof and (left := kill_at - time.monotonic()) > 0:
            output.pump(left)
        process.kill()
        assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()
        while not output.eof:  # what it printed before it died was committed too
            output.pump(5.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    return output.values[-1]


def test_a_node_killed_at_any_instant_restarts_consistent_and_never_rewinds_its_counters(path):
    rng = random.Random(20_251_121)
    previous = 0
    for kill in range(KILLS):
        reported = run_and_kill(path, rng)
        node = Node(path, WRITER_DEFAULTS)
        assert node.store.loaded_from == "file" and node.events == [], (kill, node.events)
        count = node.store.get("counters")["sn:1"]
        custody = node.store.get("custody")
        assert custody == [f"T{n:05d}" for n in range(1, count + 1)], (kill, count)
        assert reported <= count <= reported + 1, (kill, reported, count)  # at most one unsaid
        assert count > previous, (kill, previous, count)
        previous = count
