"""Bench files: the keys of external ground equipment (decision 0044), ``tm_udp``, ``tc_udp`` and
``uplink``, read back, and each mistake refused in one line naming the file and the field."""

from __future__ import annotations

import pytest

from hal.bench import UPLINKS, Bench, BenchError, default_bench_path, parse_bench

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
"""
LANDER = 'radio = "sim"\nscid = 100\nspi = 1\n'
MAV = 'radio = "sim"\nscid = 101\nspi = 2\n'
EXTERNAL = 'tc_udp = "127.0.0.1:10025"\nuplink = "external"\n'


def bench(lander: str = "", mav: str = "", *, base: str = BASE) -> Bench:
    text = base.replace(LANDER, LANDER + lander).replace(MAV, MAV + mav)
    return parse_bench(text, "bench.toml")


def test_without_the_keys_the_station_commands_and_nothing_goes_on_udp():
    for node in bench().nodes.values():
        assert (node.tm_udp, node.tc_udp, node.uplink) == (None, None, "station")
        assert not node.external_uplink
    assert UPLINKS == ("station", "external")


def test_the_default_bench_names_no_udp_port_and_shows_them_in_a_comment():
    text = default_bench_path().read_text(encoding="utf-8")
    assert '#   tm_udp = "127.0.0.1:10015"' in text and '#   uplink = "external"' in text
    shown = "\n".join(line.removeprefix("#   ") for line in text.splitlines()
                      if line.startswith(("#   tm_udp", "#   tc_udp", "#   uplink")))  # fmt: skip
    node = bench(shown + "\n").nodes["lander"]  # the comment's example is a valid node
    assert node.tm_udp == ("127.0.0.1", 10015) and node.tc_udp == ("127.0.0.1", 10025)
    for node in parse_bench(text, "default.toml").nodes.values():
        assert node.tm_udp is None and node.tc_udp is None and node.uplink == "station"


def test_the_ports_read_back_as_address_and_port():
    b = bench('tm_udp = "localhost:10015"\n' + EXTERNAL, 'tm_udp = "[::1]:10016"\n')
    lander, mav = b.nodes["lander"], b.nodes["mav"]
    assert lander.tm_udp == ("127.0.0.1", 10015) and lander.tc_udp == ("127.0.0.1", 10025)
    assert lander.uplink == "external" and lander.external_uplink
    assert mav.tm_udp == ("::1", 10016) and mav.tc_udp is None and mav.uplink == "station"


def test_two_nodes_may_send_their_tm_to_one_port():
    b = bench('tm_udp = "127.0.0.1:10015"\n', 'tm_udp = "127.0.0.1:10015"\n')
    assert b.nodes["lander"].tm_udp == b.nodes["mav"].tm_udp


def test_a_real_radio_with_a_ground_end_may_have_external_equipment():
    real = 'radio = "/dev/ttyUSB4"\nground = "/dev/ttyUSB5"\nscid = 100\nspi = 1\n'
    text = BASE.replace('clock = "sim"', 'clock = "wall"').replace(LANDER, real + EXTERNAL)
    assert parse_bench(text, "bench.toml").nodes["lander"].external_uplink


ADDRESS = 'must be "host:port", an IP address (or localhost) and a UDP port 1..65535'
BAD = [
    ("no-port", 'tm_udp = "127.0.0.1"\n', "", f'nodes.lander.tm_udp: {ADDRESS}'),
    ("port-zero", 'tm_udp = "127.0.0.1:0"\n', "", f"nodes.lander.tm_udp: {ADDRESS}"),
    ("port-huge", 'tm_udp = "127.0.0.1:65536"\n', "", f"nodes.lander.tm_udp: {ADDRESS}"),
    ("port-sign", 'tm_udp = "127.0.0.1:+99"\n', "", f"nodes.lander.tm_udp: {ADDRESS}"),
    ("host-name", 'tm_udp = "yamcs.example:10015"\n', "", f"nodes.lander.tm_udp: {ADDRESS}"),
    ("v6-bare", 'tm_udp = "::1:10015"\n', "", f"nodes.lander.tm_udp: {ADDRESS}"),
    ("number", "tm_udp = 10015\n", "",
     f'nodes.lander.tm_udp: {ADDRESS} ("127.0.0.1:10015"), not 10015'),
    ("long", f'tm_udp = "{"1" * 300}"\n', "", "of at most 128 characters, not 300"),
    ("tc-bad", 'tc_udp = "127.0.0.1:x"\nuplink = "external"\n', "",
     f"nodes.lander.tc_udp: {ADDRESS}"),
    ("uplink-word", 'uplink = "yamcs"\n', "",
     'nodes.lander.uplink: must be "station" or "external", not "yamcs"'),
    ("external-without-tc", 'uplink = "external"\n', "",
     'nodes.lander.uplink: "external" needs nodes.lander.tc_udp, the UDP port where the station '
     "takes the external equipment's TC frames"),
    ("tc-without-external", 'tc_udp = "127.0.0.1:10025"\n', "",
     'nodes.lander.tc_udp: TC frames from external equipment need uplink = "external": the node '
     "has one FARM-1, and the station and the equipment cannot both command it"),
    ("tc-shared", EXTERNAL, EXTERNAL,
     'nodes.mav.tc_udp: "127.0.0.1:10025" is already used by nodes.lander.tc_udp'),
    ("tc-shared-by-name", EXTERNAL, EXTERNAL.replace("127.0.0.1", "localhost"),
     'nodes.mav.tc_udp: "127.0.0.1:10025" is already used by nodes.lander.tc_udp'),
    ("tm-to-a-tc-port", EXTERNAL, 'tm_udp = "127.0.0.1:10025"\n',
     'nodes.mav.tm_udp: "127.0.0.1:10025" is nodes.lander.tc_udp, where the station takes TC '
     "frames"),
    ("tm-to-its-own-tc-port", EXTERNAL + 'tm_udp = "127.0.0.1:10025"\n', "",
     'nodes.lander.tm_udp: "127.0.0.1:10025" is nodes.lander.tc_udp'),
    ("unknown-key", 'tm_upd = "127.0.0.1:10015"\n', "",
     "unknown key 'tm_upd' in nodes.lander (did you mean 'tm_udp'?"),
]  # fmt: skip


@pytest.mark.parametrize(("lander", "mav", "expected"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])  # fmt: skip
def test_each_mistake_is_one_line_naming_the_file_and_the_field(lander, mav, expected):
    with pytest.raises(BenchError) as caught:
        bench(lander, mav)
    message = str(caught.value)
    assert message.startswith("bench.toml: ") and "\n" not in message
    assert expected in message, message


def test_a_real_radio_without_a_ground_end_has_no_station_to_serve_udp():
    real = BASE.replace('clock = "sim"', 'clock = "wall"').replace(
        LANDER, 'radio = "/dev/ttyUSB4"\nscid = 100\nspi = 1\n'
    )
    for key, extra in (("tm_udp", 'tm_udp = "127.0.0.1:10015"\n'), ("tc_udp", EXTERNAL)):
        with pytest.raises(BenchError) as caught:
            parse_bench(real.replace("spi = 1\n", "spi = 1\n" + extra, 1), "bench.toml")
        assert str(caught.value) == (
            f"bench.toml: nodes.lander.{key}: the station holds no ground end of this real radio "
            "to serve it from (set nodes.lander.ground)"
        )
