"""The benchmark code runs and measures what it claims (no timing is asserted here: machines are
shared and noisy; the figures belong to ``make bench``)."""

from benchmarks import board_line, codec, control_port, lateness, lockstep, pty_link, space_link


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
        assert uplink[name]["aes_gcm"] > 0 and uplink[name]["aes_gcm_auth"] > 0  # decision 0043
        assert uplink[name]["aes_gcm_cost"] == uplink[name]["plain"] / uplink[name]["aes_gcm"]
        assert uplink[name]["bare"] > 0  # the frame decode alone, beside the clear suite's path
    for name in ("tm_build", "tm_parse"):
        assert downlink[name]["frames"] > 0 and downlink[name]["plain"] > 0


def test_control_port_benchmark_answers_every_command_both_ways():
    result = control_port.run(count=200, rounds=1)  # a refused command would raise
    assert result["validated_per_second"] > 0 and result["plain_per_second"] > 0
    assert result["ratio"] == result["validated_per_second"] / result["plain_per_second"]


def test_lateness_benchmark_measures_both_loops_on_the_10_hz_grid():
    result = lateness.run(seconds=1.0)
    for kind in ("executive", "sleep"):
        row = result[kind]
        assert 5 <= row["runs"] <= 10  # one run a tenth of a second, the first one excepted
        assert 0.0 <= row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert result["p99_over_sleep_ms"] == result["executive"]["p99_ms"] - result["sleep"]["p99_ms"]


def test_board_line_benchmark_keeps_the_line_busy_and_counts_the_hosts_cpu():
    result = board_line.run(seconds=2.0)
    assert result["replies"] > 0 and result["sent"] >= result["replies"]
    assert 0.0 < result["cpu_seconds"] and 0.0 < result["cpu_fraction"] < 1.0
    assert 0.0 < result["octets_per_second"]  # what it carried; its rate is make bench's


def test_lockstep_benchmark_runs_real_nodes_and_writes_its_profile(tmp_path):
    profile = tmp_path / "profile.txt"
    result = lockstep.run(rounds=50, profile_path=profile)
    assert result["rounds"] == 50 and result["ms_per_round"] > 0
    assert result["simulated_seconds"] > 0  # the rounds moved simulated time
    text = profile.read_text()
    assert "by tottime" in text and "by cumulative" in text and "collect" in text
