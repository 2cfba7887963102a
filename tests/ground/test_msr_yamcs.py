"""``msr yamcs init | up | sync | down`` on a run folder, with a real Yamcs and no bench
(decision 0046): what ``init`` writes, that Yamcs takes it as written (every link, the SDLS
security association with the session's key and first IV), that ``sync`` hands a new session
over through Yamcs's REST API (COP-1 active again from a CLCW the test sends as the node's
idle frames), and that ``down`` stops it. The bench side (frames, commands,
a wrong key) is ``tests/system/test_yamcs.py``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import stat
import threading
from pathlib import Path

import pytest

from ground_tools.yamcs import INSTANCE, YamcsError, running, yaml_text
from hal.bench import default_bench_path, load_bench
from hal.protocol.clcw import Clcw
from hal.protocol.sdls import AUTH_MASK
from hal.protocol.tm_frame import FHP_IDLE_ONLY, TmFrame, data_field_size
from tests.system.operator import msr

pytestmark = pytest.mark.slow

SPI = 1
NEXT_SN = 258


def _session(run: Path, nonce: bytes, key: bytes, next_sn: int) -> None:
    record = {"node": "lander", "spi": SPI, "suite": "aes-gcm", "nonce": nonce.hex(),
              "key": key.hex(), "next_sn": next_sn}  # fmt: skip
    path = run / "ground" / "lander.session.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    os.chmod(path, 0o600)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run folder as ``msr bench up`` leaves it for a lander on UDP with an external uplink
    (the bench file, the key file, the session the station handed over)."""
    folder = tmp_path / "run"
    (folder / "ground").mkdir(parents=True)
    tm, tc = _free_udp_port(), _free_udp_port()
    text = default_bench_path().read_text(encoding="utf-8").replace(
        "[nodes.lander]\n",
        f'[nodes.lander]\ntm_udp = "127.0.0.1:{tm}"\ntc_udp = "127.0.0.1:{tc}"\n'
        'uplink = "external"\n', 1,
    )  # fmt: skip
    (folder / "bench.toml").write_text(text, encoding="utf-8")
    keys = {str(spi): bytes([spi]) * 32 for spi in (1, 2, 3)}
    (folder / "keys.json").write_text(json.dumps({"keys": {k: v.hex() for k, v in keys.items()}}))
    _session(folder, bytes(16), b"\x11" * 32, NEXT_SN)
    return folder


def test_init_writes_the_instance_of_the_bench(run: Path, tmp_path: Path) -> None:
    result = msr("yamcs", "init", "--run-dir", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = run / "yamcs"
    key = folder / "keys" / "lander.key"
    assert key.read_bytes() == b"\x11" * 32  # the session's key, not the SPI's own
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "keys").stat().st_mode) == 0o700
    assert sorted(p.name for p in (folder / "keys").iterdir()) == ["lander.key"]
    instance = (folder / "etc" / f"yamcs.{INSTANCE}.yaml").read_text(encoding="utf-8")
    assert '"name": "lander-tm"' not in instance  # YAML, not JSON
    bench = load_bench(run / "bench.toml")
    tm, tc = bench.nodes["lander"].tm_udp, bench.nodes["lander"].tc_udp
    assert tm is not None and tc is not None
    for line in (
        'name: "lander-tm"', f"port: {tm[1]}", "spacecraftId: 673", "frameLength: 1115",
        'name: "lander-tc"', 'host: "127.0.0.1"', f"port: {tc[1]}", "maxFrameLength: 1024",
        f'authMask: "{AUTH_MASK.hex()}"', f'initialSeqNum: "{NEXT_SN:024x}"',
        'rootContainer: "/MSR/lander/PUS_TM_Packet"', 'tcPatterns:',
        'epochUTC: "2031-06-30T23:59:59.999000Z"', "implicitPField: 46",
    ):  # fmt: skip
        assert line in instance, line
    assert "mav-tm" not in instance  # no tm_udp: left to the station
    assert (folder / "mdb" / "msr.xml").read_bytes().startswith(b"<?xml")


def test_up_sync_down_with_a_real_yamcs(run: Path, tmp_path: Path) -> None:
    assert msr("yamcs", "init", "--run-dir", str(run), cwd=tmp_path).returncode == 0
    with _clcws(run, 0):  # the node's CLCW: COP-1 active as up returns
        up = msr("yamcs", "up", "--run-dir", str(run), cwd=tmp_path, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        assert re.search(r"yamcs up: http://127\.0\.0\.1:\d+", up.stdout), up.stdout
        assert "not active" not in up.stdout, up.stdout
        yamcs = running(run)
        assert yamcs is not None
        links = {link["name"] for link in yamcs.get(f"/api/links/{INSTANCE}")["links"]}
        assert {"lander-tm", "lander-tm.vc0", "lander-tm.vc7", "lander-tc",
                "lander-tc.vc0"} <= links  # fmt: skip
        assert not any(name.startswith(("mav", "orbiter")) for name in links)
        sa = yamcs.get(f"/api/sdls/{INSTANCE}/lander-tc/{SPI}")
        assert "256" in json.dumps(sa) or "GCM" in json.dumps(sa), sa

        def seq() -> int:
            answer = yamcs.get(f"/api/sdls/{INSTANCE}/lander-tc/{SPI}/seq")
            return int.from_bytes(base64.b64decode(answer["seq"]), "big")

        assert seq() == NEXT_SN
        again = msr("yamcs", "up", "--run-dir", str(run), cwd=tmp_path)
        assert again.returncode == 2 and "already up" in again.stderr

        same = msr("yamcs", "sync", "--run-dir", str(run), cwd=tmp_path)
        assert same.returncode == 0 and "no node" in same.stdout  # the session it has
        _session(run, b"\x01" * 16, b"\x22" * 32, 4000)  # a resync: a new session
        with _clcws(run):  # the node's idle frames, their CLCW: N(R) 5
            synced = msr("yamcs", "sync", "--run-dir", str(run), cwd=tmp_path)
        assert synced.returncode == 0 and "new uplink session for lander" in synced.stdout
        assert seq() == 4000
        assert (run / "yamcs" / "keys" / "lander.key").read_bytes() == b"\x22" * 32
        status = yamcs.get(f"/api/cop1/{INSTANCE}/lander-tc.vc0/status")
        assert status["state"] == "ACTIVE" and status["vS"] == 5, status  # from the CLCW
    finally:
        down = msr("yamcs", "down", "--run-dir", str(run), cwd=tmp_path)
    assert down.returncode == 0 and "stopped" in down.stdout, down
    assert running(run) is None
    gone = msr("yamcs", "down", "--run-dir", str(run), cwd=tmp_path)
    assert gone.returncode == 2 and "no Yamcs was started" in gone.stderr


@contextlib.contextmanager
def _clcws(run: Path, nr: int = 5):
    """Idle TM frames of the lander, with a CLCW of N(R) ``nr``, on its tm_udp every 0.2 s
    (what the station forwards from a node), while the block runs."""
    bench = load_bench(run / "bench.toml")
    node = bench.nodes["lander"]
    assert node.tm_udp is not None
    clcw = Clcw(vcid=node.space_link.vcid, report_value=nr).to_int()
    size = data_field_size(node.space_link.tm_frame_length, True)
    frame = TmFrame(scid=node.scid, vcid=7, data=b"\x55" * size,
                    first_header_pointer=FHP_IDLE_ONLY, ocf=clcw).pack()  # fmt: skip
    stop = threading.Event()

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not stop.wait(0.2):
                sock.sendto(frame, node.tm_udp)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_yaml_text_quotes_every_string() -> None:
    text = yaml_text({"a": ['x: "y"\n- z', 1, True], "b": {"c": None, "d": []}})
    assert text == 'a:\n  - "x: \\"y\\"\\n- z"\n  - 1\n  - true\nb:\n  c: null\n  d: []'


def test_a_missing_instance_is_one_line(tmp_path: Path) -> None:
    from ground_tools.yamcs import yamcs_up

    with pytest.raises(YamcsError, match=r"no yamcs\.msr\.yaml"):
        yamcs_up(tmp_path, tmp_path / "nothing")
