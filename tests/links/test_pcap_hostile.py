"""Hostile capture files (issue 17, decision 0029): truncated files and absurd lengths are
refused with an error naming the file, and the reader never asks for more memory than the file
holds, whatever its header claims; checked under an address-space limit as well."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hal.links.pcap import MAX_RECORD, CaptureError, PcapReader, PcapWriter

ROOT = Path(__file__).resolve().parents[2]


def _pcap(snaplen: int, records: list[tuple[int, bytes]]) -> bytes:
    """A little-endian pcap file; each record as (claimed incl_len, bytes actually present)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 147)
    for incl_len, data in records:
        out += struct.pack("<IIII", 1, 0, incl_len, incl_len) + data
    return out


def test_the_74_byte_file_claiming_4_gib_is_a_corrupt_record(tmp_path: Path) -> None:
    path = tmp_path / "huge.pcap"
    path.write_bytes(_pcap(0xFFFFFFFF, [(0xFFFFFFF0, b"\x1a\xcf\xfc\x1d" + bytes(30))]))
    assert path.stat().st_size == 74
    with PcapReader(path) as reader, pytest.raises(CaptureError) as err:
        list(reader)
    assert str(path) in str(err.value) and "exceeds" in str(err.value)
    assert err.value.reason == "capture_record"


def test_a_record_longer_than_what_remains_is_the_truncated_end(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    path.write_bytes(_pcap(65535, [(4, b"abcd"), (MAX_RECORD, b"only a little")]))
    with PcapReader(path) as reader:
        assert [frame for _, frame in reader] == [b"abcd"]
        assert reader.truncated


@pytest.mark.parametrize("size", [0, 1, 23])
def test_a_file_shorter_than_its_header_names_the_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "short.pcap"
    path.write_bytes(_pcap(65535, [])[:size])
    with pytest.raises(CaptureError, match=r"short\.pcap.*shorter than"):
        PcapReader(path)


def test_every_cut_of_a_real_capture_reads_a_prefix_or_names_the_problem(tmp_path: Path) -> None:
    whole = tmp_path / "whole.pcap"
    frames = [bytes([i]) * (10 + i) for i in range(6)]
    with PcapWriter(whole) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, float(i))
    raw = whole.read_bytes()
    cut = tmp_path / "cut.pcap"
    for size in range(len(raw) + 1):
        cut.write_bytes(raw[:size])
        try:
            with PcapReader(cut) as reader:
                got = [frame for _, frame in reader]
        except CaptureError as exc:
            assert size < 24 and str(cut) in str(exc)
            continue
        assert got == frames[: len(got)]
        assert reader.truncated == (
            got != frames and size != 24 + sum(16 + len(f) for f in frames[: len(got)])
        )


MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    from hal.links.pcap import CaptureError, PcapReader
    from ground_tools.capture import decode_to_text
    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + 64 * 2**20, vm + 64 * 2**20))
    try:
        with PcapReader(sys.argv[1]) as reader:
            print("records", len(list(reader)), "truncated", reader.truncated)
    except CaptureError as exc:
        print("refused:", exc)
    for line in decode_to_text(sys.argv[1]):
        print(line)
    """
)


@pytest.mark.parametrize(
    "claim", [0xFFFFFFF0, MAX_RECORD, 2**31], ids=["4GiB", "max_record", "2GiB"]
)
def test_no_reader_allocates_what_the_header_claims_under_a_memory_limit(
    tmp_path: Path, claim: int
) -> None:
    path = tmp_path / "claim.pcap"
    path.write_bytes(_pcap(0xFFFFFFFF, [(claim, b"\x1a\xcf\xfc\x1d" + bytes(30))]))
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "MemoryError" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if claim > MAX_RECORD:
        assert "refused:" in done.stdout and str(path) in done.stdout
    else:
        assert "records 0 truncated True" in done.stdout
    assert "error" in done.stdout  # the capture decoder's closing note names the problem
