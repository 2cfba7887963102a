"""The node's challenge nonces as its composition root makes them (decision 0023): in SIL,
reproducible from the run folder, never the same for two starts of a node or two run folders;
on the wall clock, from the operating system."""

from __future__ import annotations

import shutil
from pathlib import Path

from fsw.__main__ import _nonces
from hal.protocol.sdls import NONCE_SIZE
from hal.store import NONCE_SEED_FILE, load_or_create_secret


def first_nonce(run_dir: Path, node: str = "lander", at: float = 3.0) -> bytes:
    return _nonces("sim", run_dir, node, lambda: at)()


def test_two_starts_of_a_node_at_the_same_time_present_different_nonces(tmp_path):
    assert first_nonce(tmp_path) != first_nonce(tmp_path)  # a wiped store, the same round
    assert first_nonce(tmp_path, "mav") != first_nonce(tmp_path, "lander")
    assert (tmp_path / NONCE_SEED_FILE).stat().st_mode & 0o777 == 0o600


def test_a_run_folder_reproduces_its_nonces_and_a_new_one_does_not(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    load_or_create_secret(run / NONCE_SEED_FILE)
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert first_nonce(run) == first_nonce(copy)  # a rerun from the folder: the same bytes
    other = tmp_path / "other"
    other.mkdir()
    assert first_nonce(other) not in {first_nonce(run), first_nonce(copy)}


def test_the_wall_clock_takes_the_operating_systems_random_source(tmp_path):
    source = _nonces("wall", tmp_path, "lander", lambda: 0.0)
    nonces = {source() for _ in range(8)}
    assert len(nonces) == 8 and all(len(n) == NONCE_SIZE for n in nonces)
    assert not (tmp_path / NONCE_SEED_FILE).exists()
