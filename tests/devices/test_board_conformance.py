"""The board conformance suite: what every mission board must do on its serial line, checked
through its HAL driver, whatever the board is (procedure safe for flight hardware: pings, status
reads, refused commands, a repeated request and line noise; nothing moves, heats or fires).

By default each board's emulator is served on a pty. With ``--hil-port=/dev/... --hil-board=NAME``
(and ``--hil-baud``), the suite of board ``NAME`` runs against the real board on that port
instead, and the other boards' suites are skipped: the same procedure qualifies the emulator and
the hardware.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hal.bench import BOARD_NODES
from hal.devices import client_class
from hal.devices.base import BoardClient
from hal.links import open_link
from hal.links.channel import PacketChannel
from hal.protocol.devices import icd as common
from hal.protocol.framing import Deframer
from hal.protocol.pus import DeviceFailure, FailureCode, PusTc, RequestId
from sim_hardware.simulator import EMULATORS

BOARDS = sorted(BOARD_NODES)


@pytest.fixture(params=BOARDS)
def board(request: pytest.FixtureRequest, serve) -> Iterator[tuple[str, str, int]]:
    """``(board name, port, baud)``: the real board given on the command line, or its emulator
    served on a pty."""
    name = request.param
    port = request.config.getoption("--hil-port")
    wanted = request.config.getoption("--hil-board")
    if port and wanted:
        if wanted not in BOARD_NODES:
            pytest.fail(f"--hil-board {wanted!r} is not a mission board ({', '.join(BOARDS)})")
        if wanted != name:
            pytest.skip(f"--hil-board is {wanted}")
        yield name, port, request.config.getoption("--hil-baud")
        return
    yield name, serve(EMULATORS[name]()).path, 115200


def _client(board: tuple[str, str, int]) -> BoardClient:
    name, port, baud = board
    return client_class(name)(port, baudrate=baud, timeout=1.0, retries=2)


def test_every_device_answers_a_ping(board):
    with _client(board) as client:
        for device in client.icd.devices:
            assert client.ping(device.name) < 1.0
        assert client.health.consecutive_failures == 0 and client.health.link == "open"


def test_every_status_report_decodes_within_the_icd_ranges(board):
    with _client(board) as client:
        for device in client.icd.devices:
            report = client.status(device.name)  # checked against the ICD by the driver
            assert set(report) == {f.name for f in device.status.fields}, device.name


def test_an_unknown_command_is_refused_and_the_board_keeps_answering(board):
    name, port, baud = board
    icd = client_class(name).icd
    device = next(d for d in icd.devices if d.commands)
    service = device.commands[0].service
    unknown = next(s for s in range(255, 0, -1) if device.command_for(service, s) is None)
    deframer = Deframer(max_length=None, apid_max=icd.apids)
    with PacketChannel(open_link(port, baudrate=baud), deframer) as channel:
        reply = channel.request(PusTc(device.apid, service, unknown, seq_count=1), timeout=1.0)
    assert (reply.service, reply.subtype) in {
        (common.SERVICE_VERIFICATION, common.SUBTYPE_ACCEPTANCE_FAILED),
        (common.SERVICE_VERIFICATION, common.SUBTYPE_FAILED),
    }
    with _client(board) as client:
        client.ping(device.name)


def test_a_repeated_request_is_answered_with_the_same_report_and_new_content_is_new(board):
    """Exactly once (decision 0022): the same request id with the same content gets the stored
    report again, octet for octet; the same id with other content is a new request. Nothing
    acts: the command carries one octet too many, which every board refuses (bad_length)."""
    name, port, baud = board
    icd = client_class(name).icd
    device = next(d for d in icd.devices if d.commands)
    message = device.commands[0]
    too_long = bytes(message.size + 1)
    deframer = Deframer(max_length=None, apid_max=icd.apids)
    with PacketChannel(open_link(port, baudrate=baud), deframer) as channel:
        request = PusTc(device.apid, message.service, message.subtype, too_long, seq_count=77)
        first = channel.request(request, timeout=1.0)
        again = channel.request(request, timeout=1.0)
        other = PusTc(device.apid, message.service, message.subtype, too_long + b"\x00",
                      seq_count=77)  # fmt: skip
        new = channel.request(other, timeout=1.0)
    assert (first.service, first.subtype) == (common.SERVICE_VERIFICATION, common.SUBTYPE_FAILED)
    assert DeviceFailure.unpack(first.source_data) == DeviceFailure(
        RequestId.of(request), FailureCode.BAD_LENGTH
    )
    assert again.pack() == first.pack()  # the stored report, not a second one
    assert new.pack() != first.pack() and new.source_data == first.source_data


def test_the_suite_runs_against_a_board_given_on_the_command_line(request, tmp_path):
    """The HIL path itself: the suite, run with --hil-port on a board the simulator serves
    (standing in for the hardware), checks that board and skips the others."""
    if request.config.getoption("--hil-port"):
        pytest.skip("already running against a board given on the command line")
    sim = subprocess.Popen(
        [sys.executable, "-m", "sim_hardware", "--free-run", "--run-dir", str(tmp_path / "run")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None and "ports" in sim.stdout.readline()
        ports = json.loads((tmp_path / "run" / "ports.json").read_text())
        port = ports["boards"]["igloo"]["link"]
        result = subprocess.run(
            [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider",
             f"--hil-port={port}", "--hil-board=igloo", "-k", "not command_line"],
            capture_output=True, text=True, timeout=120, cwd=request.config.rootpath,
        )  # fmt: skip
    finally:
        sim.kill()
        sim.wait(10)
    assert result.returncode == 0, result.stdout[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"5 passed, {5 * (len(BOARDS) - 1)} skipped"), summary


def test_noise_on_the_line_does_not_stop_the_board(board):
    _, port, baud = board
    link = open_link(port, baudrate=baud)
    try:
        link.write(os.urandom(512) + b"\x1a\xcf\xfc\x1d" + os.urandom(64))
    finally:
        link.close()
    with _client(board) as client:
        for device in client.icd.devices:
            client.ping(device.name)  # retries absorb a reply lost in the noise
        assert client.health.link == "open"
