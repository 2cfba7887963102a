"""Classic pcap writing and reading."""

from __future__ import annotations

import struct

import pytest

from hal.links import DLT_USER0, CaptureError, PcapReader, PcapWriter


def test_header_bytes_are_classic_pcap(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(path):
        pass
    assert path.read_bytes() == struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147)


def test_round_trip(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    frames = [(1_700_000_000.5, b"\x1a\xcf\xfc\x1dabc"), (1_700_000_001.000001, b""), (2.0, b"z")]
    with PcapWriter(path) as writer:
        for ts, frame in frames:
            writer.write(frame, ts)
    with PcapReader(path) as reader:
        assert reader.linktype == DLT_USER0
        got = list(reader)
    assert [f for _, f in got] == [f for _, f in frames]
    assert [round(t, 6) for t, _ in got] == [round(t, 6) for t, _ in frames]


def test_each_record_is_flushed(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    writer = PcapWriter(path)
    writer.write(b"abc", 1.0)
    assert len(path.read_bytes()) == 24 + 16 + 3  # visible before close
    writer.close()
    writer.close()
    with pytest.raises(CaptureError):
        writer.write(b"late", 2.0)


def test_microsecond_carry(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(path) as writer:
        writer.write(b"a", 41.9999999)
    sec, usec = struct.unpack_from("<II", path.read_bytes(), 24)
    assert (sec, usec) == (42, 0)


def test_long_frame_is_cut_to_snaplen_keeping_its_length(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    frame = bytes(70000)
    with PcapWriter(path) as writer:
        writer.write(frame, 1.0)
    incl, orig = struct.unpack_from("<II", path.read_bytes(), 24 + 8)
    assert (incl, orig) == (65535, 70000)
    with PcapReader(path) as reader:
        assert [len(f) for _, f in reader] == [65535]


def test_truncated_last_record_is_tolerated(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(path) as writer:
        writer.write(b"first", 1.0)
        writer.write(b"second", 2.0)
    data = path.read_bytes()
    for cut in (1, 6, 6 + 10):  # inside the frame, at its start, inside the record header
        path.write_bytes(data[:-cut])
        with PcapReader(path) as reader:
            assert [f for _, f in reader] == [b"first"]
            assert reader.truncated
    path.write_bytes(data)
    with PcapReader(path) as reader:
        assert len(list(reader)) == 2
        assert not reader.truncated


def test_bad_magic_names_the_file(tmp_path) -> None:
    path = tmp_path / "not-a-capture.pcap"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))  # a pcapng section header
    with pytest.raises(CaptureError) as info:
        PcapReader(path)
    assert str(path) in str(info.value)
    assert "magic" in str(info.value)


def test_short_header_names_the_file(tmp_path) -> None:
    path = tmp_path / "short.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    with pytest.raises(CaptureError) as info:
        PcapReader(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "absent.pcap"
    with pytest.raises(CaptureError) as info:
        PcapReader(path)
    assert str(path) in str(info.value)


def test_corrupt_record_length_is_an_error(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147)
    path.write_bytes(header + struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"abc")
    with PcapReader(path) as reader, pytest.raises(CaptureError) as info:
        list(reader)
    assert str(path) in str(info.value)


def test_bad_version(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 3, 0, 0, 0, 65535, 147))
    with pytest.raises(CaptureError, match="version"):
        PcapReader(path)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(
    ("magic", "frac", "expected"), [(0xA1B2C3D4, 500_000, 7.5), (0xA1B23C4D, 250_000_000, 7.25)]
)
def test_both_byte_orders_and_resolutions(tmp_path, order, magic, frac, expected) -> None:
    path = tmp_path / "x.pcap"
    body = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 147)
    body += struct.pack(order + "IIII", 7, frac, 3, 3) + b"abc"
    path.write_bytes(body)
    with PcapReader(path) as reader:
        assert reader.byte_order == order
        assert list(reader) == [(expected, b"abc")]


def test_append_checks_the_existing_header(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(path) as writer:
        writer.write(b"one", 1.0)
    with PcapWriter(path, append=True) as writer:
        writer.write(b"two", 2.0)
    with PcapReader(path) as reader:
        assert [f for _, f in reader] == [b"one", b"two"]
    with pytest.raises(CaptureError):
        PcapWriter(path, linktype=1, append=True)
