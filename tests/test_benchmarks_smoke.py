"""The benchmark code runs and measures what it claims (no timing is asserted here: machines are
shared and noisy; the figures belong to ``make bench``)."""

from benchmarks import codec, pty_link


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
