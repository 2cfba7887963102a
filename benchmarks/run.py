"""``make bench``: every benchmark in one run, figures printed and written to runs/bench.json.

Targets are ratios measured side by side in this run (machines here are shared and noisy, so an
absolute figure from another run means little), except the pty link's absolute floor and an
emulated board's share of a core. An idle bench at ``--pace fast`` is judged beside the same
bench paced at real time: its archive may grow at most twice as fast (decision 0039). The
wall-mode rate-group lateness is judged beside a plain ``time.sleep`` loop run at the same
time; the lockstep's cost per round has no target, its profile goes to
runs/bench_lockstep_profile.txt.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    board_line,
    campaign,
    codec,
    control_port,
    idle_archive,
    lateness,
    lockstep,
    montecarlo,
    pty_link,
    space_link,
)

CODEC_TARGET = 1.0  # at least spacepackets, for every operation
PTY_TARGET = 50_000  # framed packets per second end to end
AUTH_COST_TARGET = 2.0  # authenticated uplink receive path at most 2x the plain one
AES_GCM_COST_TARGET = 1.5  # AES-256-GCM uplink receive path at most 1.5x the plain one (0043)
CAMPAIGN_WALL_TARGET = 10.0  # s: the whole nominal campaign on this 2-core machine (issue 21)
CAMPAIGN_MEMORY_TARGET = 1 << 30  # bytes: every process of the bench together
CONTROL_VALIDATION_TARGET = 0.5  # control-port commands/s validated over not validated (issue 17)
LATENESS_TARGET_MS = 1.0  # wall-mode 10 Hz group: p99 lateness at most the sleep loop's + 1 ms
BOARD_CPU_TARGET = 0.05  # one emulated board keeping a 115200-baud line saturated (issue 18)
IDLE_ARCHIVE_TARGET = 2.0  # an idle fast bench's archive growth over a real-time one's (issue 19)
MC_EFFICIENCY_TARGET = 0.8  # msr montecarlo: 2 local workers' runs/hour over 2x one's (issue 21)
MC_DASK_OVERHEAD_TARGET = 1.1  # msr montecarlo: a 2-worker Dask cluster's wall over the pool's
LATENESS_SECONDS = 60.0
PROFILE = Path("runs") / "bench_lockstep_profile.txt"


def main() -> int:
    """Run, print, write runs/bench.json; exit 1 when a target is missed."""
    started = time.time()
    results = codec.run()
    ours, ref, floor = results["msr"], results["spacepackets"], results["struct"]
    print(f"{'operation':<12}{'msr':>12}{'spacepackets':>14}{'struct':>12}{'msr/ref':>9}")
    ratios: dict[str, float] = {}
    for op in ours:
        ratios[op] = ours[op] / ref[op]
        print(f"{op:<12}{ours[op]:>12,.0f}{ref[op]:>14,.0f}{floor[op]:>12,.0f}{ratios[op]:>8.2f}x")
    pty = pty_link.run()
    print(
        f"pty link end to end: {pty['packets_per_second']:,.0f} packets/s "
        f"({pty['received']}/{pty['packets']} received, {pty['out_of_order']} out of order, "
        f"{pty['rejects']} rejects)"
    )
    link = space_link.run()
    for name in ("tc_frame", "tc_path"):
        row = link["uplink"][name]
        print(
            f"uplink {name}: plain (the clear suite's receive path) {row['plain']:,.0f}/s, "
            f"bare frame decode {row['bare']:,.0f}/s, authenticated "
            f"{row['authenticated']:,.0f}/s, authentication costs {row['cost']:.2f}x"
        )
        print(
            f"uplink {name}: AES-256-GCM {row['aes_gcm']:,.0f}/s ({row['aes_gcm_cost']:.2f}x the "
            f"plain path), GCM authentication only {row['aes_gcm_auth']:,.0f}/s "
            f"({row['aes_gcm_auth_cost']:.2f}x), HMAC {row['cost']:.2f}x; AES-GCM "
            f"{row['aes_gcm_over_bare']:.2f}x the bare frame decode"
        )
    for name in ("tm_build", "tm_parse"):
        row = link["downlink"][name]
        print(
            f"downlink {name}: {row['frames']:,.0f} TM frames/s "
            f"({row['frames'] * link['downlink']['packets_per_frame']['frames']:,.0f} packets/s); "
            f"same packets as plain framed packets: {row['plain']:,.0f} batches/s"
        )
    control = control_port.run()
    print(
        f"station control port: {control['validated_per_second']:,.0f} commands/s validated, "
        f"{control['plain_per_second']:,.0f} commands/s without validation "
        f"(ratio {control['ratio']:.2f})"
    )
    late = lateness.run(LATENESS_SECONDS)
    for kind in ("executive", "sleep"):
        row = late[kind]
        print(
            f"wall-mode 10 Hz lateness, {kind:<9}: p50 {row['p50_ms']:.3f} ms, p99 "
            f"{row['p99_ms']:.3f} ms, max {row['max_ms']:.3f} ms over {row['runs']} runs, "
            f"{row['slips']} slips"
        )
    board = board_line.run()
    print(
        f"one emulated board, 115200-baud line saturated: {board['cpu_fraction']:.1%} of a core "
        f"({board['octets_per_second']:,.0f} octets/s carried, "
        f"{board['line_fraction']:.0%} of the line)"
    )
    rounds = lockstep.run(profile_path=PROFILE)
    print(
        f"lockstep, three real nodes: {rounds['ms_per_round']:.2f} ms a round "
        f"({rounds['simulator_cpu_ms_per_round']:.2f} ms of it the simulator's CPU); "
        f"profile in {PROFILE}"
    )
    idle = idle_archive.run()
    print(
        f"idle bench at --pace fast: archive grows {idle['idle_fast_bytes_per_second']:,.0f} "
        f"octets/s, {idle['idle_over_real_time']:.2f}x a real-time bench's "
        f"({idle['real_time_bytes_per_second']:,.0f} octets/s; unbounded, with a client: "
        f"{idle['fast_with_client_bytes_per_second']:,.0f} octets/s, "
        f"{idle['unbounded_over_real_time']:,.0f}x)"
    )
    compared = campaign.before_and_after()
    mission = compared["after"]
    _print_before_and_after(compared)
    print(
        f"nominal campaign: {'ok' if mission['ok'] else 'NOT OK'}, {mission['tubes']} tubes, "
        f"{mission['sim_seconds']:,.0f} s simulated in {mission['wall_seconds']:.1f} s wall "
        f"({mission['sim_per_wall']:,.0f}x real time), peak memory "
        f"{mission['peak_memory_mib']:,.0f} MiB (all processes), {mission['rounds']:,} lockstep "
        f"rounds, {mission['ms_per_round']:.2f} ms a round"
    )
    farm = montecarlo.run()
    dask_line = ("Dask not installed" if farm["dask"] is None else
                 f"a local Dask cluster of 2 workers {farm['dask']['runs_per_hour']:,.0f}/h, "
                 f"overhead {farm['dask_overhead']:.2f}x the local pool's wall time")  # fmt: skip
    print(
        f"msr montecarlo, {farm['tubes']}-tube campaigns: local pool 1 worker "
        f"{farm['local_1']['runs_per_hour']:,.0f} runs/h, 2 workers "
        f"{farm['local_2']['runs_per_hour']:,.0f} runs/h (parallel efficiency "
        f"{farm['parallel_efficiency']:.2f}); {dask_line}; load average "
        f"{farm['local_1']['load_before']:.1f} before"
    )
    checks = {f"codec_{op}_vs_spacepackets": ratios[op] >= CODEC_TARGET for op in ratios}
    checks["montecarlo_parallel_efficiency_at_least_0.8"] = (
        farm["parallel_efficiency"] >= MC_EFFICIENCY_TARGET
    )
    checks["montecarlo_dask_overhead_at_most_1.1"] = (
        farm["dask_overhead"] is not None and farm["dask_overhead"] <= MC_DASK_OVERHEAD_TARGET
    )
    checks["montecarlo_every_run_passed"] = all(
        row is not None and row["passed"] == row["runs"]
        for row in (farm["local_1"], farm["local_2"], farm["dask"])
    )
    checks["campaign_ok"] = mission["ok"]
    checks["campaign_at_most_10_s_wall"] = mission["wall_seconds"] <= CAMPAIGN_WALL_TARGET
    checks["campaign_under_1_gib"] = mission["peak_memory_bytes"] < CAMPAIGN_MEMORY_TARGET
    checks["uplink_authentication_cost_at_most_2x"] = (
        link["uplink"]["tc_path"]["cost"] <= AUTH_COST_TARGET
        and link["uplink"]["checks"]["rejected"] == 0
    )
    checks["uplink_aes_gcm_cost_at_most_1.5x"] = (
        link["uplink"]["tc_path"]["aes_gcm_cost"] <= AES_GCM_COST_TARGET
    )
    checks["control_port_validated_at_least_half"] = control["ratio"] > CONTROL_VALIDATION_TARGET
    checks["downlink_frames_parse_clean"] = link["downlink"]["checks"]["rejected"] == 0
    checks["wall_lateness_p99_within_1_ms_of_sleep"] = (
        late["p99_over_sleep_ms"] <= LATENESS_TARGET_MS
    )
    checks["wall_rate_group_no_slip"] = late["executive"]["slips"] == 0
    checks["board_line_saturated_under_5_percent_cpu"] = (
        board["cpu_fraction"] < BOARD_CPU_TARGET and board["line_fraction"] >= 0.9
    )
    checks["idle_archive_at_most_2x_real_time"] = idle["idle_over_real_time"] <= IDLE_ARCHIVE_TARGET
    checks["pty_link_50k_packets_per_second"] = (
        pty["packets_per_second"] >= PTY_TARGET and pty["received"] == pty["packets"]
    )
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "codec_packets_per_second": results,
        "codec_ratio_vs_spacepackets": ratios,
        "pty_link": pty,
        "space_link": link,
        "control_port": control,
        "wall_lateness": late,
        "board_line": board,
        "lockstep": rounds,
        "idle_archive": idle,
        "campaign": mission,
        "campaign_before": compared["before"],
        "campaign_baseline": {"commit": compared["baseline_commit"], "why": compared["why"]},
        "montecarlo": farm,
        "targets": {
            "montecarlo_parallel_efficiency": MC_EFFICIENCY_TARGET,
            "montecarlo_dask_overhead": MC_DASK_OVERHEAD_TARGET,
            "campaign_wall_seconds": CAMPAIGN_WALL_TARGET,
            "campaign_memory_bytes": CAMPAIGN_MEMORY_TARGET,
            "codec_ratio": CODEC_TARGET,
            "control_port_validation_ratio": CONTROL_VALIDATION_TARGET,
            "wall_lateness_p99_over_sleep_ms": LATENESS_TARGET_MS,
            "board_line_cpu_fraction": BOARD_CPU_TARGET,
            "idle_archive_over_real_time": IDLE_ARCHIVE_TARGET,
            "pty_packets_per_second": PTY_TARGET,
            "uplink_authentication_cost": AUTH_COST_TARGET,
            "uplink_aes_gcm_cost": AES_GCM_COST_TARGET,
        },
        "checks": checks,
        "ok": all(checks.values()),
    }
    out = Path("runs") / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'all targets met' if report['ok'] else 'TARGET MISSED'}: {out}")
    for name, ok in checks.items():
        if not ok:
            print(f"  missed: {name}")
    return 0 if report["ok"] else 1


def _print_before_and_after(compared: dict[str, Any]) -> None:
    """The nominal campaign before the faster-campaign work (decision 0050) and now: wall time,
    rounds and each process's CPU per round."""
    before, after = compared["before"], compared["after"]
    if before is None:
        print(f"nominal campaign before {compared['baseline_commit'][:10]}: unavailable "
              f"({compared['why'] or 'no such commit here'})")  # fmt: skip
    rows = [("after", after)] if before is None else [("before", before), ("after", after)]
    for label, run in rows:
        cpu = ", ".join(f"{role} {ms:.2f}" for role, ms in run["cpu_ms_per_round"].items())
        print(
            f"nominal campaign {label}: {run['wall_seconds']:.1f} s wall, "
            f"{run['sim_seconds']:,.1f} s simulated, {run['rounds']:,} rounds; CPU ms a round: "
            f"{cpu} (total {sum(run['cpu_ms_per_round'].values()):.2f})"
        )


if __name__ == "__main__":
    sys.exit(main())
