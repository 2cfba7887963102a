"""Files over the space link: the CCSDS File Delivery Protocol (CCSDS 727.0-B-5), class 2.

Both ends use the ``cfdp-py`` library (``cfdppy``, with ``spacepackets`` for the PDUs); this
module is the only one of the project that imports them (an import contract), and it keeps them
pure: files live in a bounded in-memory filestore, and time is the caller's.

* **On the wire**: each PDU is the data field of a CCSDS space packet with no secondary header,
  APID :data:`CFDP_APID` (CCSDS 727.0 over the space packet protocol, as Yamcs and cFS CF carry
  it): telemetry packets on the downlink's playback virtual channel, telecommand packets (type-BD
  frames: CFDP recovers its own losses) on the uplink. Every PDU carries its CRC-16
  (``crc_flag``), and every file its CRC-32 checksum (EOF PDU).
* **Entities**: the ground is :data:`GROUND_ENTITY`; a node is its APID (the dictionary's,
  known to both ends), two octets each.
* **Acknowledged mode** (class 2): the sender (:class:`FileSender`, on board) sends metadata,
  file data and EOF; the receiver (:class:`FileReceiver`, on the ground) answers EOF with an ACK
  and asks for what it lacks with NAKs (immediately for a gap, again every ``nak_interval``);
  the sender answers NAKs by sending those segments again and the receiver ends with Finished,
  which the sender ACKs. A blackout in the middle does not restart a file: the segments that
  arrived stay, only the lost ones go again (the timers' limits are set for the longest
  blackout the bench expects, :data:`ACK_LIMIT` x :data:`ACK_INTERVAL`).
* **Time**: ``cfdp-py``'s timers read the host's wall clock. This module points them at the time
  its callers hand in (every :meth:`FileSender.step` and :meth:`FileReceiver.step` sets it before
  running the library): the simulated clock in SIL, so a transfer is byte-identical on a rerun,
  and the node's monotonic clock in wall-clock mode (decision 0056).
* **Hostile input**: a PDU that does not parse, belongs to no transaction, or names a file this
  end refuses (:func:`check_name`) is counted under a named reason (:attr:`FileSender.rejects`)
  and dropped; a receiver never holds more than :data:`MAX_FILE_SIZE` octets per file.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Final

import spacepackets.countdown as _countdown
from cfdppy import CfdpState, PacketDestination, get_packet_destination
from cfdppy.filestore import VirtualFilestore
from cfdppy.handler import (
    DestHandler,
    LocalEntityConfig,
    RemoteEntityConfig,
    RemoteEntityConfigTable,
    SourceHandler,
)
from cfdppy.handler.source import TransactionStep as SourceStep
from cfdppy.mib import CheckTimerProvider, DefaultFaultHandlerBase, EntityType, IndicationConfig
from cfdppy.request import PutRequest
from cfdppy.user import CfdpUserBase, TransactionFinishedParams, TransactionParams
from spacepackets.cfdp import (
    ChecksumType,
    ConditionCode,
    Direction,
    DirectiveType,
    FilestoreResponseStatusCode,
    PduFactory,
    TransactionId,
    TransmissionMode,
)
from spacepackets.cfdp.pdu import AckPdu, NakPdu
from spacepackets.cfdp.pdu.ack import TransactionStatus
from spacepackets.countdown import Countdown
from spacepackets.seqcount import SeqCountProvider
from spacepackets.util import UnsignedByteField

from hal.errors import HalError
from hal.protocol.file_names import NAME, bad_name
from hal.protocol.spacepacket import APID_CFDP, TYPE_TC, TYPE_TM, SpacePacket

__all__ = [
    "ACK_INTERVAL",
    "ACK_LIMIT",
    "CFDP_APID",
    "GROUND_ENTITY",
    "MAX_FILE_SIZE",
    "NAME",
    "CfdpError",
    "FileReceiver",
    "FileSender",
    "MemoryFilestore",
    "Outcome",
    "check_name",
]

CFDP_APID: Final = APID_CFDP
"""The APID of the space packets that carry CFDP PDUs, both ways."""
GROUND_ENTITY: Final = 1
"""The ground's CFDP entity id."""
ENTITY_OCTETS: Final = 2
MAX_PDU: Final = 512
"""The largest PDU either end builds, octets (a file data PDU carries about 490 octets)."""
MAX_FILE_SIZE: Final = 1 << 20
"""The largest file either end holds, octets."""
MAX_FILES: Final = 64
"""Files an in-memory filestore holds at most."""
ACK_INTERVAL: Final = 10.0
"""Seconds the sender waits for the ACK of its EOF (and the receiver for that of its Finished)
before sending it again."""
ACK_LIMIT: Final = 60
"""How often that may expire before the transaction is abandoned: 600 s of silence, above any
blackout of the bench."""
NAK_INTERVAL: Final = 10.0
"""Seconds the receiver waits before asking again for what it still lacks."""
NAK_LIMIT: Final = 60
CHECK_LIMIT: Final = 3
ENDED_KEPT: Final = 64
"""Transactions a receiver remembers as ended: a late copy of one of their PDUs is dropped."""


class CfdpError(HalError):
    """A file or PDU this end refuses (``reason``: ``busy``, ``no_file``, ``bad_name``,
    ``too_big``, ``store_full``, ``bad_checksum``, ``bad_pdu``)."""


def check_name(name: str) -> str:
    """``name`` if it is a file name this protocol carries (:data:`NAME`), else
    :class:`CfdpError` (reason ``bad_name``) naming the problem."""
    problem = bad_name(name)
    if problem is not None:
        raise CfdpError(problem, reason="bad_name")
    return name


# ---------------------------------------------------------------------------------- time

_now_ms = 0


def _time_ms() -> int:
    return _now_ms


def _set_time(now: float) -> None:
    global _now_ms
    _now_ms = round(now * 1000)


_countdown.time_ms = _time_ms  # cfdp-py's timers (spacepackets.countdown) read the caller's time


# ---------------------------------------------------------------------------------- filestore


class MemoryFilestore(VirtualFilestore):
    """The files of one end, in memory: at most :data:`MAX_FILES` of :data:`MAX_FILE_SIZE`
    octets each. Paths are names (:func:`check_name`); nothing touches a disk."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}

    @staticmethod
    def _name(path: Path | str) -> str:
        return check_name(Path(path).name if str(path) not in (".", "") else "")

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` as ``name`` (replacing a file of that name)."""
        name = check_name(name)
        if len(data) > MAX_FILE_SIZE:
            raise CfdpError(f"{name}: {len(data)} octets, above {MAX_FILE_SIZE}", reason="too_big")
        if name not in self.files and len(self.files) >= MAX_FILES:
            raise CfdpError(f"{name}: the store holds {MAX_FILES} files", reason="store_full")
        self.files[name] = bytearray(data)

    def get(self, name: str) -> bytes | None:
        """The octets of ``name``, or None."""
        data = self.files.get(name)
        return None if data is None else bytes(data)

    def read_data(self, file: Path, offset: int | None, read_len: int | None = None) -> bytes:
        data = self.files.get(self._name(file))
        if data is None:
            raise FileNotFoundError(file)
        start = offset or 0
        end = len(data) if read_len is None else start + read_len
        return bytes(data[start:end])

    def read_from_opened_file(self, bytes_io: BinaryIO, offset: int, read_len: int) -> bytes:
        bytes_io.seek(offset)
        return bytes_io.read(read_len)

    def is_directory(self, path: Path) -> bool:
        return False

    def filename_from_full_path(self, path: Path) -> str | None:
        return Path(path).name or None

    def file_exists(self, path: Path) -> bool:
        try:
            return self._name(path) in self.files
        except CfdpError:
            return False

    def truncate_file(self, file: Path) -> None:
        self.files[self._name(file)] = bytearray()

    def file_size(self, file: Path) -> int:
        data = self.files.get(self._name(file))
        if data is None:
            raise FileNotFoundError(file)
        return len(data)

    def write_data(self, file: Path, data: bytes, offset: int | None) -> None:
        name = self._name(file)
        start = offset or 0
        if start < 0 or start + len(data) > MAX_FILE_SIZE:
            raise CfdpError(f"{name}: a write to octet {start + len(data)}, above "
                            f"{MAX_FILE_SIZE}", reason="too_big")  # fmt: skip
        buf = self.files.setdefault(name, bytearray())
        if len(buf) < start:
            buf.extend(bytes(start - len(buf)))
        buf[start : start + len(data)] = data

    def create_file(self, file: Path) -> FilestoreResponseStatusCode:
        name = self._name(file)
        if name not in self.files and len(self.files) >= MAX_FILES:
            return FilestoreResponseStatusCode.CREATE_NOT_ALLOWED
        self.files[name] = bytearray()
        return FilestoreResponseStatusCode.CREATE_SUCCESS

    def delete_file(self, file: Path) -> FilestoreResponseStatusCode:
        if self.files.pop(self._name(file), None) is None:
            return FilestoreResponseStatusCode.DELETE_FILE_DOES_NOT_EXIST
        return FilestoreResponseStatusCode.DELETE_SUCCESS

    def rename_file(self, old_file: Path, new_file: Path) -> FilestoreResponseStatusCode:
        return FilestoreResponseStatusCode.NOT_PERFORMED

    def replace_file(self, replaced_file: Path, source_file: Path) -> FilestoreResponseStatusCode:
        return FilestoreResponseStatusCode.NOT_PERFORMED

    def create_directory(self, dir_name: Path) -> FilestoreResponseStatusCode:
        return FilestoreResponseStatusCode.NOT_PERFORMED

    def remove_directory(
        self, dir_name: Path, recursive: bool = False
    ) -> FilestoreResponseStatusCode:
        return FilestoreResponseStatusCode.NOT_PERFORMED

    def list_directory(
        self, dir_name: Path, file_name: Path, recursive: bool = False
    ) -> FilestoreResponseStatusCode:
        return FilestoreResponseStatusCode.NOT_PERFORMED

    def calculate_checksum(
        self, checksum_type: ChecksumType, file_path: Path, size_to_verify: int,
        segment_len: int = 4096,
    ) -> bytes:  # fmt: skip
        if checksum_type != ChecksumType.CRC_32:
            raise CfdpError(f"checksum {checksum_type!r} is not used here", reason="bad_checksum")
        data = self.files.get(self._name(file_path), bytearray())
        return zlib.crc32(bytes(data[:size_to_verify])).to_bytes(4, "big")


# ---------------------------------------------------------------------------------- the ends


@dataclass(frozen=True)
class Outcome:
    """How one transaction ended, at either end.

    Attributes:
        name: the file's name.
        seq: the transaction's sequence number (unique per sender).
        source: the sending entity.
        condition: the CFDP condition code's name (``NO_ERROR`` when delivered).
        ok: delivered whole (receiver: checksum verified; sender: Finished says so).
        size: octets of the file.
        checksum: CRC-32 of the octets delivered (receiver) or sent (sender).
        data: the file (receiver, when ``ok``; empty otherwise).
        started, finished: the times the transaction started and ended.
        naks: NAK PDUs the receiver sent (the segments it asked for again).
    """

    name: str
    seq: int
    source: int
    condition: str
    ok: bool
    size: int
    checksum: int
    data: bytes = b""
    started: float = 0.0
    finished: float = 0.0
    naks: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The outcome without the data, for reports."""
        return {
            "name": self.name, "seq": self.seq, "source": self.source,
            "condition": self.condition, "ok": self.ok, "size": self.size,
            "checksum": f"{self.checksum:08x}", "started": self.started,
            "finished": self.finished, "naks": self.naks,
        }  # fmt: skip


class _Faults(DefaultFaultHandlerBase):
    """The library's fault callbacks: nothing to do here, the transaction's outcome carries
    its condition (:class:`Outcome`)."""

    def notice_of_suspension_cb(self, transaction_id: TransactionId, cond: ConditionCode,
                                progress: int) -> None:  # fmt: skip
        pass

    def notice_of_cancellation_cb(self, transaction_id: TransactionId, cond: ConditionCode,
                                  progress: int) -> None:  # fmt: skip
        pass

    def abandoned_cb(self, transaction_id: TransactionId, cond: ConditionCode,
                     progress: int) -> None:  # fmt: skip
        pass

    def ignore_cb(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        pass


class _Timers(CheckTimerProvider):
    def provide_check_timer(
        self, local_entity_id: UnsignedByteField, remote_entity_id: UnsignedByteField,
        entity_type: EntityType,
    ) -> Countdown:  # fmt: skip
        return Countdown.from_seconds(NAK_INTERVAL)


class _User(CfdpUserBase):
    """Collects the library's indications."""

    def __init__(self, vfs: MemoryFilestore) -> None:
        super().__init__(vfs)
        self.finished: deque[TransactionFinishedParams] = deque()
        self.started: deque[TransactionId] = deque()
        self.metadata: dict[int, str] = {}

    def transaction_indication(self, transaction_indication_params: TransactionParams) -> None:
        self.started.append(transaction_indication_params.transaction_id)

    def transaction_finished_indication(self, params: TransactionFinishedParams) -> None:
        self.finished.append(params)

    def metadata_recv_indication(self, params: Any) -> None:
        self.metadata[params.transaction_id.seq_num.value] = str(params.dest_file_name)

    # indications this project does not act on (the outcome says what happened)
    def eof_sent_indication(self, transaction_id: TransactionId) -> None:
        pass

    def eof_recv_indication(self, transaction_id: TransactionId) -> None:
        pass

    def file_segment_recv_indication(self, params: Any) -> None:
        pass

    def report_indication(self, transaction_id: TransactionId, status_report: Any) -> None:
        pass

    def suspended_indication(self, transaction_id: TransactionId, cond_code: ConditionCode) -> None:
        pass

    def resumed_indication(self, transaction_id: TransactionId, progress: int) -> None:
        pass

    def fault_indication(
        self, transaction_id: TransactionId, cond_code: ConditionCode, progress: int
    ) -> None:
        pass

    def abandoned_indication(
        self, transaction_id: TransactionId, cond_code: ConditionCode, progress: int
    ) -> None:
        pass


def _remote(entity: int) -> RemoteEntityConfig:
    return RemoteEntityConfig(
        entity_id=UnsignedByteField(entity, ENTITY_OCTETS),
        max_file_segment_len=None,
        max_packet_len=MAX_PDU,
        closure_requested=True,
        crc_on_transmission=True,
        default_transmission_mode=TransmissionMode.ACKNOWLEDGED,
        crc_type=ChecksumType.CRC_32,
        positive_ack_timer_interval_seconds=ACK_INTERVAL,
        positive_ack_timer_expiration_limit=ACK_LIMIT,
        check_limit=CHECK_LIMIT,
        immediate_nak_mode=True,
        nak_timer_interval_seconds=NAK_INTERVAL,
        nak_timer_expiration_limit=NAK_LIMIT,
    )


def _local(entity: int, faults: _Faults) -> LocalEntityConfig:
    return LocalEntityConfig(UnsignedByteField(entity, ENTITY_OCTETS), IndicationConfig(), faults)


def _parse(pdu: bytes) -> Any:
    """The PDU object, or :class:`CfdpError` naming why not (any library error)."""
    try:
        parsed = PduFactory.from_raw(pdu)
    except Exception as exc:  # the library raises its own classes from several modules
        raise CfdpError(f"PDU does not decode: {exc!r}", reason="bad_pdu") from None
    if parsed is None:
        raise CfdpError("an empty PDU", reason="bad_pdu")
    return parsed


class _End:
    """What the sender and the receiver share: packets out, rejects, the transaction clock."""

    packet_type: int = TYPE_TM

    def __init__(self) -> None:
        self.store = MemoryFilestore()
        self.user = _User(self.store)
        self.faults = _Faults()
        self.rejects: Counter[str] = Counter()
        self.pdus_in = 0
        self.pdus_out = 0
        self.outcomes: deque[Outcome] = deque(maxlen=256)
        self._seq_out = 0
        self._started_at = 0.0

    def _packet(self, pdu: bytes) -> bytes:
        self.pdus_out += 1
        self._seq_out = (self._seq_out + 1) & 0x3FFF
        return SpacePacket(self.packet_type, CFDP_APID, pdu, seq_count=self._seq_out).pack()

    def _reject(self, reason: str) -> None:
        self.rejects[reason] += 1

    def take_outcomes(self) -> list[Outcome]:
        """The transactions that ended since the last call, oldest first."""
        out = list(self.outcomes)
        self.outcomes.clear()
        return out


class FileSender(_End):
    """A node's CFDP source entity: files put in its store go to the ground one at a time, in
    the order asked (at most :data:`MAX_FILES` waiting).

    Args:
        entity: this node's entity id (its APID).
        ground: the receiving entity.
        per_step: the most file data PDUs one :meth:`step` sends (the downlink's share).
    """

    packet_type = TYPE_TM

    def __init__(self, entity: int, ground: int = GROUND_ENTITY, *, per_step: int = 4) -> None:
        super().__init__()
        self.entity, self.ground, self.per_step = entity, ground, per_step
        self.handler = SourceHandler(
            _local(entity, self.faults), self.user, RemoteEntityConfigTable([_remote(ground)]),
            _Timers(), SeqCountProvider(16),
        )  # fmt: skip
        self.waiting: deque[str] = deque()
        self.current: str | None = None
        self.sent_bytes = 0
        self.data_pdus = 0
        self._seq = 0
        self._pending: list[bytes] = []
        self._done: deque[int] = deque(maxlen=ENDED_KEPT)

    @property
    def busy(self) -> bool:
        """A transaction in progress or a file waiting."""
        return self.current is not None or bool(self.waiting)

    @property
    def sending(self) -> bool:
        """Something to send now: a file waiting, or the transfer's metadata, data, EOF or
        segments asked for again (not merely an answer awaited, which its timers cover)."""
        if self.waiting or self._pending:
            return True
        if self.current is None:
            return False
        return self.handler.step not in (
            SourceStep.WAITING_FOR_EOF_ACK, SourceStep.WAITING_FOR_FINISHED, SourceStep.IDLE,
        )  # fmt: skip

    def put(self, name: str, data: bytes | None = None) -> None:
        """Queue ``name`` for the ground (storing ``data`` under it first when given).

        Raises:
            CfdpError: a bad name, a file too big, no such file, or too many waiting.
        """
        if data is not None:
            self.store.put(name, data)
        if check_name(name) not in self.store.files:
            raise CfdpError(f"{name}: no such file on board", reason="no_file")
        if len(self.waiting) >= MAX_FILES:
            raise CfdpError(f"{name}: {MAX_FILES} files already wait", reason="busy")
        self.waiting.append(name)

    def receive(self, pdu: bytes, now: float) -> None:
        """A PDU from the ground (ACK, NAK, Finished). Anything else is counted and dropped."""
        self.pdus_in += 1
        try:
            parsed = _parse(pdu)
        except CfdpError:
            self._reject("bad_pdu")
            return
        if get_packet_destination(parsed) != PacketDestination.SOURCE_HANDLER:
            self._reject("not_for_the_sender")
            return
        kind = getattr(parsed, "directive_type", None)
        if kind == DirectiveType.FINISHED_PDU and parsed.transaction_seq_num.value in self._done:
            # the ground did not get our ACK of its Finished: send it again (CFDP 4.7.1)
            conf = replace(parsed.pdu_header.pdu_conf, direction=Direction.TOWARDS_RECEIVER)
            ack = AckPdu(conf, DirectiveType.FINISHED_PDU, parsed.condition_code,
                         TransactionStatus.TERMINATED)  # fmt: skip
            self._pending.append(self._packet(ack.pack()))
            return
        if self.current is None:
            self._reject("no_transaction")
            return
        _set_time(now)
        if (
            getattr(parsed, "directive_type", None) == DirectiveType.FINISHED_PDU
            and self.handler.step == SourceStep.WAITING_FOR_EOF_ACK
        ):  # the ACK of our EOF was lost, but the Finished says the EOF arrived (decision 0056)
            self._take(AckPdu(
                parsed.pdu_header.pdu_conf, DirectiveType.EOF_PDU, ConditionCode.NO_ERROR,
                TransactionStatus.ACTIVE,
            ))  # fmt: skip
        self._take(parsed)
        self._finish(now)

    def _take(self, parsed: Any) -> None:
        try:
            self.handler.state_machine(parsed)
        except Exception as exc:  # a PDU the library will not take in this state
            self._reject(_reason(exc))
        self._pending.extend(self._take_packets())

    def _take_packets(self) -> list[bytes]:
        out = []
        while (holder := self.handler.get_next_packet()) is not None:
            raw = holder.pdu.pack()
            if holder.pdu_directive_type is None:
                self.sent_bytes += len(raw)
                self.data_pdus += 1
            out.append(self._packet(raw))
        return out

    def _finish(self, now: float) -> None:
        while self.user.finished:
            params = self.user.finished.popleft()
            fp = params.finished_params
            self._end(fp.condition_code.name, fp.condition_code == ConditionCode.NO_ERROR, now)

    def step(self, now: float) -> list[bytes]:
        """Run the sender at ``now``: start the next file when idle, send what is due (at most
        :attr:`per_step` file data PDUs); return the space packets to downlink."""
        _set_time(now)
        out, self._pending = self._pending, []
        if self.current is None and self.waiting:
            name = self.waiting.popleft()
            request = PutRequest(
                destination_id=UnsignedByteField(self.ground, ENTITY_OCTETS),
                source_file=Path(name), dest_file=Path(name),
                trans_mode=TransmissionMode.ACKNOWLEDGED, closure_requested=True,
            )  # fmt: skip
            try:
                self.handler.put_request(request)
            except Exception as exc:  # the file vanished
                self._reject(_reason(exc))
                return out
            self.current, self._started_at = name, now
        if self.current is None:
            return out
        data = 0  # file data PDUs this step: at most per_step (the metadata and EOF go free)
        for _ in range(self.per_step + 2):
            before = self.data_pdus
            try:
                self.handler.state_machine()
            except Exception as exc:
                self._reject(_reason(exc))
                self.handler.reset()
                self._end(ConditionCode.FILESTORE_REJECTION.name, False, now)
                return out
            while self.user.started:  # the transaction's number, known once it started
                self._seq = self.user.started.popleft().seq_num.value
            packets = self._take_packets()
            out.extend(packets)
            data += self.data_pdus - before
            if self.handler.state == CfdpState.IDLE or not packets or data >= self.per_step:
                break
        self._finish(now)
        return out

    def _end(self, condition: str, ok: bool, now: float) -> None:
        name = self.current or ""
        data = self.store.get(name) or b""
        seq = self._seq
        self.outcomes.append(Outcome(
            name=name, seq=seq, source=self.entity, condition=condition, ok=ok, size=len(data),
            checksum=zlib.crc32(data), started=self._started_at, finished=now,
        ))  # fmt: skip
        self._done.append(seq)
        self.current = None

    @property
    def progress(self) -> tuple[str | None, int, int]:
        """The file in transfer, the octets sent of it so far, its size."""
        if self.current is None:
            return None, 0, 0
        return self.current, self.handler.progress, self.handler.file_size or 0


class FileReceiver(_End):
    """The ground's CFDP destination entity for one node: files arrive whole or not at all.

    Args:
        entity: this end's entity id (the ground).
        sender: the node's entity id.
    """

    packet_type = TYPE_TC

    def __init__(self, sender: int, entity: int = GROUND_ENTITY) -> None:
        super().__init__()
        self.entity, self.sender = entity, sender
        self.handler = DestHandler(
            _local(entity, self.faults), self.user, RemoteEntityConfigTable([_remote(sender)]),
            _Timers(),
        )  # fmt: skip
        self.naks = 0
        self._pending: list[bytes] = []
        self._ended: deque[int] = deque(maxlen=ENDED_KEPT)

    @property
    def active(self) -> bool:
        """A transaction is in progress."""
        return self.handler.state != CfdpState.IDLE

    def receive(self, pdu: bytes, now: float) -> None:
        """A PDU from the node. Anything else (undecodable, another sender, a directive the
        receiver does not take) is counted by reason and dropped."""
        self.pdus_in += 1
        try:
            parsed = _parse(pdu)
        except CfdpError:
            self._reject("bad_pdu")
            return
        if parsed.source_entity_id.value != self.sender:
            self._reject("wrong_sender")
            return
        if get_packet_destination(parsed) != PacketDestination.DEST_HANDLER:
            self._reject("not_for_the_receiver")
            return
        if not self.active and parsed.transaction_seq_num.value in self._ended:
            self._reject("transaction_ended")  # a late copy: never a second transaction
            return
        kind = getattr(parsed, "directive_type", None)
        if not self.active and kind != DirectiveType.METADATA_PDU:
            # the metadata was lost: the library mishandles a transaction it did not see
            # start, so ask for it again (and the data with it) when the EOF tells the size
            self._reject("metadata_missing")
            if kind == DirectiveType.EOF_PDU:
                conf = replace(parsed.pdu_header.pdu_conf, direction=Direction.TOWARDS_SENDER)
                size = parsed.file_size
                nak = NakPdu(conf, 0, size, segment_requests=[(0, 0), (0, size)])
                self._pending.append(self._packet(nak.pack()))
                self.naks += 1
            return
        if not self.active:
            self._started_at = now
        _set_time(now)
        try:
            self.handler.state_machine(parsed)
        except Exception as exc:
            self._reject(_reason(exc))
        self._drain(now)

    def step(self, now: float) -> list[bytes]:
        """Run the receiver's timers at ``now``; return the space packets to uplink."""
        _set_time(now)
        if self.active:
            try:
                self.handler.state_machine()
            except Exception as exc:
                self._reject(_reason(exc))
            self._drain(now)
        out, self._pending = self._pending, []
        return out

    def _drain(self, now: float) -> None:
        while (holder := self.handler.get_next_packet()) is not None:
            if holder.pdu_directive_type == DirectiveType.NAK_PDU:
                self.naks += 1
            self._pending.append(self._packet(holder.pdu.pack()))
        while self.user.finished:
            params = self.user.finished.popleft()
            seq = params.transaction_id.seq_num.value
            name = Path(self.user.metadata.pop(seq, "")).name
            data = self.store.get(name) if name else None
            fp = params.finished_params
            ok = fp.condition_code == ConditionCode.NO_ERROR and data is not None
            self.outcomes.append(Outcome(
                name=name, seq=seq, source=self.sender, condition=fp.condition_code.name, ok=ok,
                size=len(data or b""), checksum=zlib.crc32(data or b""),
                data=data if ok and data is not None else b"", started=self._started_at,
                finished=now, naks=self.naks,
            ))  # fmt: skip
            self.naks = 0
            self._ended.append(seq)
            if name:
                self.store.files.pop(name, None)


def _reason(exc: BaseException) -> str:
    """A rejected PDU's reason: the library's exception class, in snake case."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
