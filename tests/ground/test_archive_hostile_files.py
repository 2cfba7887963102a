"""Archive files cut short or garbage (issue 17, decision 0029): ``Archive.open_readonly``
refuses them with an error naming the file and the problem, and never reads more than the file
holds; checked under an address-space limit as well."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ground_tools.archive import Archive, ArchiveError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archive_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("whole") / "archive.sqlite"
    with Archive(path) as archive:
        for n in range(600):
            archive.add_packet("lander", "core.status", n * 0.1,
                               {"seq": n, "uptime": n * 0.1, "mode": "NOMINAL", "ok": True,
                                "temps": [n, -n]})  # fmt: skip
            archive.add_event("lander", n * 0.1, 7, "core.tick", "info", f"packet {n}")
    return path.read_bytes()


def test_the_whole_file_reads(tmp_path: Path, archive_bytes: bytes) -> None:
    path = tmp_path / "archive.sqlite"
    path.write_bytes(archive_bytes)
    with Archive.open_readonly(path) as archive:
        assert len(archive.points("lander.core.status.seq")) == 600


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.1, 0.5, 0.9, 0.999])
def test_a_truncated_archive_is_refused_by_name(
    tmp_path: Path, archive_bytes: bytes, fraction: float
) -> None:
    path = tmp_path / "cut.sqlite"
    path.write_bytes(archive_bytes[: int(len(archive_bytes) * fraction)])
    with pytest.raises(ArchiveError) as err:
        Archive.open_readonly(path)
    message = str(err.value)
    assert str(path) in message
    assert any(w in message for w in ("truncated", "empty", "not a database")), message


@pytest.mark.parametrize(
    "content",
    [b"SQLite format 3\x00" + bytes(range(256)) * 4, b"SQLite format 3\x00", b"\xff" * 4096,
     b"SQLite format 3\x00" + b"\x00\x03" + bytes(82) + b"\xff" * 4000],
    ids=["garbage_after_magic", "magic_only", "noise", "bad_page_size"],
)  # fmt: skip
def test_garbage_is_refused_by_name(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match=r"garbage\.sqlite"):
        Archive.open_readonly(path)


def test_a_header_claiming_huge_pages_under_a_memory_limit(
    tmp_path: Path, archive_bytes: bytes
) -> None:
    path = tmp_path / "huge.sqlite"
    head = bytearray(archive_bytes[:4096])
    head[28:32] = (0xFFFFFFFF).to_bytes(4, "big")  # pages: 2^32 - 1 of 4096 octets
    path.write_bytes(bytes(head))
    probe = textwrap.dedent(
        """
        import resource, sys
        from ground_tools.archive import Archive, ArchiveError
        with open("/proc/self/status") as status:
            vm = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + 64 * 2**20, vm + 64 * 2**20))
        try:
            Archive.open_readonly(sys.argv[1])
        except ArchiveError as exc:
            print("refused:", exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stdout
    assert f"refused: {path}: truncated archive" in done.stdout


def test_a_live_archive_mid_checkpoint_is_read_not_refused(tmp_path: Path) -> None:
    """A checkpoint writes page 1, with the grown page count, before the pages that grow the
    file; a reader that opens then finds the header ahead of the file. The pages are in the
    WAL beside it, so the archive is live, not cut short (seen once in CI as `msr plot`
    refusing a running bench's archive)."""
    live = tmp_path / "live"
    live.mkdir()
    writer = Archive(live / "archive.sqlite")
    for n in range(600):
        writer.add_packet("lander", "core.status", n * 0.1, {"seq": n, "ok": True})
    writer.commit()
    copy = tmp_path / "archive.sqlite"
    for suffix in ("", "-wal", "-shm"):
        source = live / f"archive.sqlite{suffix}"
        if source.exists():
            copy.with_name(copy.name + suffix).write_bytes(source.read_bytes())
    writer.close()
    assert copy.with_name(copy.name + "-wal").stat().st_size > 0
    head = bytearray(copy.read_bytes())
    head[28:32] = (int.from_bytes(head[28:32], "big") + 64).to_bytes(4, "big")
    copy.write_bytes(bytes(head))
    with Archive.open_readonly(copy) as archive:
        assert len(archive.points("lander.core.status.seq")) == 600
    copy.with_name(copy.name + "-wal").unlink()  # the same header with no WAL: cut short
    with pytest.raises(ArchiveError, match="truncated archive"):
        Archive.open_readonly(copy)
