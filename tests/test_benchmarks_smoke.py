"""The benchmark code runs and measures what it claims (no timing is asserted here: machines are
shared and noisy; the figures belong to ``make bench``)."""

from benchmarks import codec, control_port, pty_link, space_link


def test_all_implementations_build_identical_packets():
    codec.check_same_bytes()


def test_codec_benchmark_reports_every_operation_for_every_implementation():
    results = codec.run(budget=0.004)
    ops = {"tm_encode", "tm_pack", "tm_decode", "tc_encode", "tc_pack", "tc_decode"}
    assert set(results) == {"msr", "spacepackets", "struct"}
    for figures in results.values():
        assert set(figures) == ops
        assert all(rate > 0 for rate in figures.values())


def test_pty_benchmark_delivers_every_packet_in_order():
    result = pty_link.run(count=3000)
    assert result["received"] == 3000
    assert result["out_of_order"] == 0
    assert result["rejects"] == 0


def test_space_link_benchmark_verifies_every_frame_and_rebuilds_every_packet():
    result = space_link.run(budget=0.004)
    uplink, downlink = result["uplink"], result["downlink"]
    assert uplink["checks"]["accepted"] > 0 and uplink["checks"]["rejected"] == 0
    assert downlink["checks"]["packets"] > 0 and downlink["checks"]["rejected"] == 0
    for name in ("tc_frame", "tc_path"):
        assert uplink[name]["plain"] > 0 and uplink[name]["authenticated"] > 0
    for name in ("tm_build", "tm_parse"):
        assert downlink[name]["frames"] > 0 and downlink[name]["plain"] > 0


def test_control_port_benchmark_answers_every_command_both_ways():
    result = control_port.run(count=200, rounds=1)  # a refused command would raise
    assert result["validated_per_second"] > 0 and result["plain_per_second"] > 0
    assert result["ratio"] == result["validated_per_second"] / result["plain_per_second"]
