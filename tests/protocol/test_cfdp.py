"""CFDP class 2 between a node's sender and the ground's receiver (cfdp-py on both ends, decision
0056), over a lossy link in simulated time: whole files once, losses and blackouts recovered
by NAKs without a restart, the library's timers on the caller's clock, hostile PDUs counted and
dropped."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.cfdp import PduFactory
from spacepackets.cfdp.pdu import FileDataPdu

from hal.protocol.cfdp import (
    ACK_INTERVAL,
    MAX_FILE_SIZE,
    CfdpError,
    FileReceiver,
    FileSender,
    MemoryFilestore,
    check_name,
)
from hal.protocol.spacepacket import APID_CFDP, TYPE_TC, TYPE_TM, SpacePacket, file_pdu

NODE = 0x220
STEP = 0.1


def fly(
    sender: FileSender, receiver: FileReceiver, *, until: float = 3000.0,
    lose: Callable[[float, str], bool] = lambda t, way: False, start: float = 0.0,
) -> tuple[float, list[tuple[float, str, bytes]]]:  # fmt: skip
    """Run both ends a cycle at a time until neither has anything open; return the end time
    and every packet sent (time, way, octets)."""
    t, sent = start, []
    while t < until:
        t = round(t + STEP, 3)
        for raw in sender.step(t):
            sent.append((t, "down", raw))
            if not lose(t, "down"):
                receiver.receive(file_pdu(raw), t)
        for raw in receiver.step(t):
            sent.append((t, "up", raw))
            if not lose(t, "up"):
                sender.receive(file_pdu(raw), t)
        if not sender.busy and not receiver.active:
            break
    return t, sent


def content(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size))


def test_a_file_crosses_a_clean_link_once_whole_in_one_transaction():
    sender, receiver = FileSender(NODE), FileReceiver(NODE)
    data = content(5000)
    sender.put("orient-1.pgm", data)
    _, sent = fly(sender, receiver)
    (got,) = receiver.take_outcomes()
    assert got.ok and got.data == data and got.checksum == zlib.crc32(data)
    assert got.name == "orient-1.pgm" and got.condition == "NO_ERROR" and got.naks == 0
    (done,) = sender.take_outcomes()
    assert done.ok and done.seq == got.seq and done.checksum == got.checksum
    for _, way, raw in sent:  # CFDP in space packets of its own APID, TM down and TC up
        packet = SpacePacket.from_raw(raw)
        assert packet.apid == APID_CFDP and packet.sec_header_flag == 0
        assert packet.packet_type == (TYPE_TM if way == "down" else TYPE_TC)


def data_offsets(sent: list[tuple[float, str, bytes]], t0: float, t1: float) -> list[int]:
    """The offsets of the file data PDUs sent down between ``t0`` and ``t1``."""
    out = []
    for t, way, raw in sent:
        pdu = PduFactory.from_raw(file_pdu(raw))
        if way == "down" and t0 <= t < t1 and isinstance(pdu, FileDataPdu):
            out.append(pdu.offset)
    return out


def test_a_blackout_in_the_middle_is_resumed_not_restarted():
    sender, receiver = FileSender(NODE), FileReceiver(NODE)
    data = content(20_000, seed=3)
    sender.put("orient-7.pgm", data)
    dark = (0.65, 100.0)  # about half the file is down when the link goes dark for 100 s
    end, sent = fly(sender, receiver, lose=lambda t, way: dark[0] <= t < dark[1])
    (got,) = receiver.take_outcomes()
    assert got.ok and got.data == data and got.naks >= 1
    (done,) = sender.take_outcomes()
    assert done.ok and done.seq == got.seq  # one transaction
    before = set(data_offsets(sent, 0.0, dark[0]))
    after = data_offsets(sent, dark[1], end + 1)
    assert before and after and not before & set(after)  # what arrived is never sent again
    assert dark[1] <= end < dark[1] + 2 * ACK_INTERVAL  # the EOF, sent again, ends the dark
    assert not sender.busy and not receiver.active


def test_losses_both_ways_are_recovered_and_the_file_arrives_once():
    sender, receiver = FileSender(NODE), FileReceiver(NODE)
    data = content(20_000, seed=4)
    sender.put("orient-8.pgm", data)
    rng = random.Random(5)
    fly(sender, receiver, lose=lambda t, way: rng.random() < 0.2)
    (got,) = receiver.take_outcomes()
    assert got.ok and got.data == data and got.naks >= 1
    assert [o.ok for o in sender.take_outcomes()] == [True]


def test_the_timers_run_on_the_callers_clock_not_the_hosts():
    sender, receiver = FileSender(NODE), FileReceiver(NODE)
    sender.put("manifest.csv", b"serial,slot\n")
    start = 1_000_000.0  # far from the host's clock: a wall-clock timer would fire at once
    _, sent = fly(sender, receiver, start=start, until=start + 25, lose=lambda t, w: True)
    times = sorted({t for t, way, raw in sent if way == "down"})
    assert times[0] == pytest.approx(start + STEP)  # metadata, data and EOF in one cycle
    again = [round(t - times[0], 3) for t in times[1:]]  # then the EOF again, on its timer
    assert again == [ACK_INTERVAL, 2 * ACK_INTERVAL]  # and nothing more within 25 s


def test_two_runs_send_the_same_octets():
    def run() -> list[tuple[float, str, bytes]]:
        sender, receiver = FileSender(NODE), FileReceiver(NODE)
        sender.put("a.pgm", content(7000))
        sender.put("b.csv", content(900, seed=2))
        rng = random.Random(9)
        return fly(sender, receiver, lose=lambda t, w: rng.random() < 0.2)[1]

    assert run() == run()


def test_files_go_one_after_the_other_in_the_order_asked():
    sender, receiver = FileSender(NODE), FileReceiver(NODE)
    for name in ("one.csv", "two.csv", "three.csv"):
        sender.put(name, name.encode())
    fly(sender, receiver)
    assert [(o.name, o.data, o.seq) for o in receiver.take_outcomes()] == [
        ("one.csv", b"one.csv", 0), ("two.csv", b"two.csv", 1), ("three.csv", b"three.csv", 2),
    ]  # fmt: skip
    assert [(o.name, o.seq, o.ok) for o in sender.take_outcomes()] == [
        ("one.csv", 0, True), ("two.csv", 1, True), ("three.csv", 2, True),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name", ["", ".hidden", "../etc/passwd", "a/b", "x" * 65, "sp ace", "é.pgm"]
)
def test_a_bad_file_name_is_refused_by_name(name):
    with pytest.raises(CfdpError) as refused:
        check_name(name)
    assert refused.value.reason == "bad_name"
    with pytest.raises(CfdpError):
        FileSender(NODE).put(name, b"x")


def test_the_store_refuses_what_it_cannot_hold():
    store = MemoryFilestore()
    with pytest.raises(CfdpError, match="above") as big:
        store.put("big.bin", bytes(MAX_FILE_SIZE + 1))
    assert big.value.reason == "too_big"
    with pytest.raises(CfdpError) as far:  # a hostile offset never grows memory
        store.write_data("f.bin", b"x", MAX_FILE_SIZE)  # type: ignore[arg-type]
    assert far.value.reason == "too_big"
    with pytest.raises(CfdpError) as missing:
        FileSender(NODE).put("absent.pgm")
    assert missing.value.reason == "no_file"


@settings(max_examples=150, deadline=None)
@given(junk=st.lists(st.binary(min_size=0, max_size=80), min_size=1, max_size=8))
def test_hostile_pdus_are_counted_and_dropped_and_the_transfer_goes_on(junk):
    sender, receiver = FileSender(NODE), FileReceiver(NODE)
    data = content(3000)
    sender.put("orient-2.pgm", data)
    for i, raw in enumerate(junk):  # before and during the transfer, both ways
        receiver.receive(raw, 0.05 * i)
        sender.receive(raw, 0.05 * i)
    fly(sender, receiver, start=1.0)
    for raw in junk:
        receiver.receive(raw, 500.0)
        sender.receive(raw, 500.0)
    outcomes = [o for o in receiver.take_outcomes() if o.name == "orient-2.pgm"]
    assert outcomes and outcomes[-1].ok and outcomes[-1].data == data
    assert sum(receiver.rejects.values()) + sum(sender.rejects.values()) >= 1


def test_a_pdu_from_another_sender_is_refused():
    theirs, receiver = FileSender(0x210), FileReceiver(NODE)
    theirs.put("x.csv", b"1,2\n")
    for raw in theirs.step(0.1):
        receiver.receive(file_pdu(raw), 0.1)
    assert receiver.rejects["wrong_sender"] >= 1 and not receiver.active


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 30_000), dark_from=st.floats(0.0, 3.0), dark_for=st.floats(0.0, 200.0),
    loss=st.sampled_from([0.0, 0.05, 0.2, 0.3]), seed=st.integers(0, 2**16),
)  # fmt: skip
def test_any_loss_and_blackout_ends_with_the_file_once_whole_and_both_ends_closed(
    size, dark_from, dark_for, loss, seed
):
    """Metadata, data, EOF, NAKs, Finished and their ACKs may each be lost (cfdp-py's gaps
    when the metadata or an ACK is lost are covered by this module: decision 0056)."""
    sender, receiver = FileSender(NODE), FileReceiver(NODE)
    data = content(size, seed=seed)
    sender.put("f.pgm", data)
    rng = random.Random(seed)
    dark = (dark_from, dark_from + dark_for)
    fly(sender, receiver, until=5000,
        lose=lambda t, way: dark[0] <= t < dark[1] or rng.random() < loss)  # fmt: skip
    (got,) = receiver.take_outcomes()
    assert got.ok and got.data == data
    assert [o.ok for o in sender.take_outcomes()] == [True]
    assert not sender.busy and not receiver.active


def test_a_step_sends_at_most_its_share_of_file_data():
    sender, receiver = FileSender(NODE, per_step=2), FileReceiver(NODE)
    sender.put("orient-1.pgm", content(5000))  # 11 segments
    _, sent = fly(sender, receiver)
    per_time: dict[float, int] = {}
    for t, way, raw in sent:
        if way == "down" and isinstance(PduFactory.from_raw(file_pdu(raw)), FileDataPdu):
            per_time[t] = per_time.get(t, 0) + 1
    assert max(per_time.values()) == 2 and sum(per_time.values()) == 11
    assert [o.ok for o in receiver.take_outcomes()] == [True]
