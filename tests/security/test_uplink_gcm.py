"""The AES-256-GCM uplink on a live bench (decision 0043), with real processes: the default
bench secures the lander's uplink with AES-GCM; frames built as Yamcs builds them reach the
node through the simulator's space link, where the station writes. A frame with a wrong MAC, one
secured with the wrong key, one with Yamcs's default authentication mask and one in clear are
refused, counted and reported, and consume no anti-replay number; a frame built as Yamcs builds
it, with the session key and the project's mask, executes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fsw.core.config import load_config
from fsw.core.node import nv_defaults
from fsw.core.nvstore import NvStore
from fsw.dictionary import node_dictionary
from ground_tools.api import Session, connect
from ground_tools.bench_ctl import bench_down, bench_up
from ground_tools.control_messages import MAX_LIMIT
from hal.bench import default_bench_path, load_bench
from hal.links import open_link
from hal.links.pcap import PcapReader
from hal.protocol.crc import append_crc16
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.sdls import NONCE_SIZE, parse_key_file, session_key
from hal.protocol.tc_frame import TcFrame
from tests.protocol.test_sdls_gcm import YAMCS_DEFAULT_MASK, yamcs_frame

NODE = "lander"


def _counters(run_dir: Path) -> dict[str, int]:
    store = NvStore(run_dir / "nv" / NODE, nv_defaults(load_config(NODE)), durable=False)
    return {k: v for k, v in store.get("counters").items() if k.startswith(("sn:", "session:"))}


def _inject(run_dir: Path, frames: list[bytes]) -> None:
    ports = json.loads((run_dir / "ports.json").read_text(encoding="utf-8"))
    link = open_link(ports["space_links"][NODE]["ground"])
    try:
        for frame in frames:
            link.write(ASM + frame)
    finally:
        link.close()


def _since(bench: Session, mark: int) -> list[Any]:
    packets, _ = bench.packets(mark, limit=MAX_LIMIT)
    return [p for p in packets if p.node == NODE]


def _ping(seq: int) -> bytes:
    d = node_dictionary(NODE)
    command = d.command("core.ping")
    message = command.message
    return PusTc(d.apid, message.service, message.subtype, command.encode(), seq_count=seq).pack()


def test_a_gcm_node_refuses_a_wrong_mac_and_executes_a_frame_built_as_yamcs_builds_it(
    tmp_path: Path,
) -> None:
    bench_file = load_bench(default_bench_path())
    spec = bench_file.nodes[NODE]
    assert spec.sdls == "aes-gcm"  # the default
    up = bench_up(default_bench_path(), runs_dir=tmp_path / "runs", pace="fast", run_id="run")
    try:
        with connect(up.run_dir, source="test") as bench:
            result = bench.cmd(f"{NODE} core.ping")
            assert [s for s, _, _ in result.stages].count("completed") == 1
            # on the wire the commands are ciphertext: the ping's packet is nowhere in clear
            reader = PcapReader(up.run_dir / "captures" / f"ground-{NODE}.tx.pcap")
            wire = b"".join(bytes(frame) for _, frame in reader)
            reader.close()
            assert _ping(1)[6:] not in wire

            keys = parse_key_file((up.run_dir / "keys.json").read_text(encoding="utf-8"))
            numbers = _counters(up.run_dir)
            nonce = numbers[f"session:{spec.spi}"].to_bytes(NONCE_SIZE, "big")
            session = session_key(keys[spec.spi], spec.spi, nonce)
            base = numbers[f"sn:{spec.spi}"] + 1000  # within the window, above the station's
            scid, vcid = spec.scid, spec.space_link.vcid

            def frame(key: bytes, sn: int, seq: int, **kwargs: Any) -> bytes:
                return yamcs_frame(key, spec.spi, sn, _ping(seq), scid=scid, vcid=vcid,
                                   bypass=True, **kwargs)  # fmt: skip

            wrong_mac = bytearray(frame(session, base + 1, 0x101)[:-2])
            wrong_mac[-1] ^= 0x01  # one bit of the tag
            bad = [
                append_crc16(bytes(wrong_mac)),
                frame(bytes(32), base + 2, 0x102),  # another key
                frame(session, base + 3, 0x103, mask=YAMCS_DEFAULT_MASK),  # Yamcs's own mask
                frame(keys[spec.spi], base + 4, 0x104),  # the key itself, not the session's
                TcFrame(scid, vcid, _ping(0x105) * 3, bypass=1).pack(),  # in clear
            ]
            mark = bench.status()["received"]
            _inject(up.run_dir, bad)
            bench.wait(5.0)
            after = _since(bench, mark)
            assert not [p for p in after if p.kind == "verification"], "a bad frame executed"
            rejected = [p.values["detail"] for p in after if p.name == "core.tc_rejected"]
            assert sum("bad_mac" in detail for detail in rejected) == 4, rejected
            assert _counters(up.run_dir) == numbers  # no number consumed

            mark = bench.status()["received"]
            _inject(up.run_dir, [frame(session, base + 5, 0x106)])
            bench.wait_check(
                lambda: any(
                    p.kind == "verification" and "completed" in p.name for p in _since(bench, mark)
                ),
                timeout=10,
            )
            assert _counters(up.run_dir)[f"sn:{spec.spi}"] == base + 5
    finally:
        bench_down(up.run_dir)


def test_a_clear_frame_runs_only_on_a_node_whose_bench_says_clear(tmp_path: Path) -> None:
    text = default_bench_path().read_text(encoding="utf-8")
    bench_path = tmp_path / "clear.toml"  # the lander in clear; the others keep AES-GCM
    bench_path.write_text(text.replace('sdls = "aes-gcm"', 'sdls = "clear"', 1), encoding="utf-8")
    bench_file = load_bench(bench_path)
    assert [s.sdls for s in bench_file.nodes.values()] == ["clear", "aes-gcm", "aes-gcm"]
    spec = bench_file.nodes[NODE]
    up = bench_up(bench_path, runs_dir=tmp_path / "runs", pace="fast", run_id="run")
    try:
        with connect(up.run_dir, source="test") as bench:
            links = bench.status()["nodes"]
            assert links[NODE]["sdls"] == "clear" and links["mav"]["sdls"] == "aes-gcm"
            assert links["mav"]["sync"] == "synced"  # bench up resynced the secured ones only
            result = bench.cmd(f"{NODE} core.ping")
            assert [s for s, _, _ in result.stages].count("completed") == 1
            reader = PcapReader(up.run_dir / "captures" / f"ground-{NODE}.tx.pcap")
            wire = b"".join(bytes(frame) for _, frame in reader)
            reader.close()
            assert _ping(1)[6:] in wire  # in clear on the wire
            mark = bench.status()["received"]
            packet = _ping(0x201)
            _inject(up.run_dir, [TcFrame(spec.scid, spec.space_link.vcid, packet, bypass=1).pack()])
            bench.wait_check(
                lambda: any(p.kind == "verification" for p in _since(bench, mark)), timeout=10
            )
    finally:
        bench_down(up.run_dir)
