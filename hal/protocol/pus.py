"""PUS-C telecommand and telemetry packets (ECSS-E-ST-70-41C, sections 7.4.3 and 7.4.4).

A PUS-C packet is a CCSDS space packet (see :mod:`hal.protocol.spacepacket`) whose data field
starts with a PUS secondary header and ends with the packet error control field::

    TC:  primary header (6) | TC secondary header (5)  | application data  | CRC-16 (2)
    TM:  primary header (6) | TM secondary header (13) | source data       | CRC-16 (2)

TC secondary header, 5 octets (7.4.4.1)::

    bits 0-3   TC packet PUS version number     2 (PUS-C)
    bits 4-7   acknowledgement flags            bit 3 acceptance, 2 start, 1 progress,
                                                0 completion (ECSS numbering, bit 0 = MSB)
    octet 1    service type id                  0..255
    octet 2    message subtype id               0..255
    octets 3-4 source id                        0..65535

TM secondary header, 13 octets (7.4.3.1)::

    bits 0-3   TM packet PUS version number     2 (PUS-C)
    bits 4-7   spacecraft time reference status 0..15
    octet 1    service type id                  0..255
    octet 2    message subtype id               0..255
    octets 3-4 message type counter             per destination and type, wraps at 65536
    octets 5-6 destination id                   0..65535
    octets 7-12 time                            CUC 4+2 (see :mod:`hal.protocol.cuc`)

Packet error control (7.4.3.3, 7.4.4.3): CRC-16/CCITT-FALSE over the whole packet before it.

Request id (6.1.5), 4 octets: the telecommand's packet id and packet sequence control, the way
every verification report names the request it answers (:class:`RequestId`)::

    bits 0-2   packet version number            0
    bit  3     packet type                      1 (telecommand)
    bit  4     secondary header flag            1
    bits 5-15  APID                             0..2047
    bits 16-17 sequence flags                   3 unsegmented
    bits 18-31 sequence count                   0..16383

Failure codes (:class:`FailureCode`) are one table for the whole project: the flight software's
verification reports and every board's failure reports give a shared name the same number.
A device failure report (TM[1,2] or TM[1,8] from a board, :data:`DeviceFailureReport`) is the
request id, the failure code (1 octet) and a detail (2 octets: which field, or a value the
device names).

The headers are declared once with construct (:data:`TcHeader`, :data:`TmHeader`); the classes
below encode and decode through codecs generated from those declarations
(:mod:`hal.protocol.layout`), so the declaration stays single and the hot path stays fast.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import construct as cs

from hal.errors import EncodeError, HeaderError, LengthError, TruncatedError
from hal.protocol.crc import append_crc16, check_crc16
from hal.protocol.cuc import CucTime, CucTimeField
from hal.protocol.layout import compile_fixed
from hal.protocol.spacepacket import (
    MAX_DATA_FIELD_SIZE,
    PRIMARY_HEADER_SIZE,
    SEQ_UNSEGMENTED,
    TYPE_TC,
    TYPE_TM,
    PrimaryHeader,
)

__all__ = [
    "ACK_ACCEPTANCE",
    "ACK_ALL",
    "ACK_COMPLETION",
    "ACK_NONE",
    "ACK_PROGRESS",
    "ACK_START",
    "DEVICE_FAILURE_SIZE",
    "PUS_VERSION",
    "REQUEST_ID_SIZE",
    "DeviceFailure",
    "DeviceFailureReport",
    "FailureCode",
    "PusPacket",
    "PusTc",
    "PusTcPacket",
    "PusTm",
    "PusTmPacket",
    "RequestId",
    "RequestIdLayout",
    "TcHeader",
    "TmHeader",
]

PUS_VERSION: Final = 2
CRC_SIZE: Final = 2
TC_SECONDARY_HEADER_SIZE: Final = 5
TM_SECONDARY_HEADER_SIZE: Final = 13
TC_HEADER_SIZE: Final = PRIMARY_HEADER_SIZE + TC_SECONDARY_HEADER_SIZE
TM_HEADER_SIZE: Final = PRIMARY_HEADER_SIZE + TM_SECONDARY_HEADER_SIZE
MIN_TC_SIZE: Final = TC_HEADER_SIZE + CRC_SIZE
MIN_TM_SIZE: Final = TM_HEADER_SIZE + CRC_SIZE
MAX_APP_DATA: Final = MAX_DATA_FIELD_SIZE - TC_SECONDARY_HEADER_SIZE - CRC_SIZE
MAX_SOURCE_DATA: Final = MAX_DATA_FIELD_SIZE - TM_SECONDARY_HEADER_SIZE - CRC_SIZE

ACK_ACCEPTANCE: Final = 0b0001
ACK_START: Final = 0b0010
ACK_PROGRESS: Final = 0b0100
ACK_COMPLETION: Final = 0b1000
ACK_ALL: Final = 0b1111
ACK_NONE: Final = 0b0000

TcSecondaryHeader = cs.Struct(
    "pus"
    / cs.BitStruct(
        "version" / cs.Const(PUS_VERSION, cs.BitsInteger(4)) * "TC packet PUS version, 2",
        "ack_flags" / cs.BitsInteger(4) * "verification reports asked for (ACK_* bits)",
    ),
    "service" / cs.Int8ub * "service type id, 0..255",
    "subtype" / cs.Int8ub * "message subtype id, 0..255",
    "source_id" / cs.Int16ub * "id of the commanding source, 0..65535",
)

TmSecondaryHeader = cs.Struct(
    "pus"
    / cs.BitStruct(
        "version" / cs.Const(PUS_VERSION, cs.BitsInteger(4)) * "TM packet PUS version, 2",
        "time_ref_status" / cs.BitsInteger(4) * "spacecraft time reference status, 0..15",
    ),
    "service" / cs.Int8ub * "service type id, 0..255",
    "subtype" / cs.Int8ub * "message subtype id, 0..255",
    "msg_counter" / cs.Int16ub * "message type counter, 0..65535, wraps",
    "dest_id" / cs.Int16ub * "id of the destination, 0..65535",
    "time" / CucTimeField * "on-board time of the report, CUC 4+2",
)

RequestIdLayout = cs.Struct(
    "request"
    / cs.BitStruct(
        "version" / cs.Const(0, cs.BitsInteger(3)) * "packet version number, 0",
        "type" / cs.Const(TYPE_TC, cs.BitsInteger(1)) * "packet type, 1: a telecommand",
        "sec_header_flag" / cs.BitsInteger(1) * "secondary header flag of the request",
        "apid" / cs.BitsInteger(11) * "APID of the request, 0..2047",
        "seq_flags" / cs.BitsInteger(2) * "sequence flags of the request",
        "seq_count" / cs.BitsInteger(14) * "sequence count of the request, 0..16383",
    ),
)
"""The request id, 4 octets (ECSS-E-ST-70-41C 6.1.5): packet id and sequence control."""

DeviceFailureReport = cs.Struct(
    "request_id" / RequestIdLayout,
    "code" / cs.Int8ub * "failure code (FailureCode, or the device's own from 16 up)",
    "detail" / cs.Int16ub * "which field, or a value the device names",
)
"""Source data of a board's TM[1,2] / TM[1,8]: request id 4, code 1, detail 2 octets."""

TcHeader = cs.Struct("primary" / PrimaryHeader, "secondary" / TcSecondaryHeader)
"""Primary + TC secondary header, 11 octets."""

TmHeader = cs.Struct("primary" / PrimaryHeader, "secondary" / TmSecondaryHeader)
"""Primary + TM secondary header, 19 octets."""

PusTcPacket = cs.Struct(
    "primary" / PrimaryHeader,
    "secondary" / TcSecondaryHeader,
    "app_data" / cs.Bytes(cs.this.primary.data_length + 1 - TC_SECONDARY_HEADER_SIZE - CRC_SIZE),
    "crc" / cs.Int16ub * "CRC-16/CCITT-FALSE over everything before it",
)
"""A whole PUS-C TC packet (reference declaration; the classes use the generated codec)."""

PusTmPacket = cs.Struct(
    "primary" / PrimaryHeader,
    "secondary" / TmSecondaryHeader,
    "source_data" / cs.Bytes(cs.this.primary.data_length + 1 - TM_SECONDARY_HEADER_SIZE - CRC_SIZE),
    "crc" / cs.Int16ub * "CRC-16/CCITT-FALSE over everything before it",
)
"""A whole PUS-C TM packet (reference declaration; the classes use the generated codec)."""

TC_LAYOUT = compile_fixed(TcHeader, "pus_tc_header")
TM_LAYOUT = compile_fixed(TmHeader, "pus_tm_header")
_tc_pack = TC_LAYOUT.pack
_tc_unpack = TC_LAYOUT.unpack_from
_tm_pack = TM_LAYOUT.pack
_tm_unpack = TM_LAYOUT.unpack_from
REQUEST_ID_LAYOUT = compile_fixed(RequestIdLayout, "pus_request_id")
DEVICE_FAILURE_LAYOUT = compile_fixed(DeviceFailureReport, "pus_device_failure")
REQUEST_ID_SIZE: Final = 4
DEVICE_FAILURE_SIZE: Final = 7


class FailureCode(enum.IntEnum):
    """Failure codes shared by the flight software's verification reports and every board.

    A name means the same and has the same number everywhere; a board adds its own codes from
    16 up (its ICD names them). ``hardware_fault`` is a board's only.
    """

    UNKNOWN_APID = 1
    UNKNOWN_COMMAND = 2
    BAD_LENGTH = 3
    OUT_OF_RANGE = 4
    WRONG_MODE = 5
    HAZARD = 6
    COMPONENT_FAILED = 7
    EXECUTION_FAILED = 8
    BUSY = 9
    PRECONDITION = 10
    BAD_DATA = 11
    QUEUE_FULL = 12
    BAD_CHECKSUM = 13
    BAD_HEADER = 14
    HARDWARE_FAULT = 15

    @property
    def label(self) -> str:
        """The name as reports and documents spell it (``unknown_command``)."""
        return self.name.lower()


@dataclass(frozen=True, order=True)
class RequestId:
    """The id of a telecommand, as its verification reports name it (ECSS-E-ST-70-41C 6.1.5).

    Two requests are the same request exactly when their ids are equal: a retry re-sends the
    same id. Attributes: ``apid`` 0..2047, ``seq_flags`` 0..3, ``seq_count`` 0..16383,
    ``sec_header_flag`` 0..1 (1 for a PUS telecommand).
    """

    apid: int
    seq_flags: int
    seq_count: int
    sec_header_flag: int = 1

    @classmethod
    def of(cls, tc: PusTc) -> RequestId:
        """The id of telecommand ``tc``."""
        return cls(tc.apid, tc.seq_flags, tc.seq_count)

    def pack(self) -> bytes:
        """The 4 octets; :class:`~hal.errors.EncodeError` naming a field out of range."""
        return REQUEST_ID_LAYOUT.pack(self.sec_header_flag, self.apid, self.seq_flags,
                                      self.seq_count)  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> RequestId:
        """Decode 4 octets (at the start of ``data``).

        Raises:
            TruncatedError: fewer than 4 octets.
            HeaderError: packet version not 0 or packet type not telecommand.
        """
        if len(data) < REQUEST_ID_SIZE:
            raise TruncatedError(f"request id needs {REQUEST_ID_SIZE} octets, got {len(data)}")
        _, _, shf, apid, flags, count = REQUEST_ID_LAYOUT.unpack_from(data)
        return cls(apid, flags, count, shf)

    def __str__(self) -> str:
        return f"0x{self.apid:03X}/{self.seq_count}"


@dataclass(frozen=True)
class DeviceFailure:
    """A board's failure report (TM[1,2] acceptance or TM[1,8] completion failed).

    Attributes:
        request_id: the request it answers.
        code: the failure code (:class:`FailureCode`, or the device's own from 16 up), 0..255.
        detail: which field, or a value the device names, 0..65535.
    """

    request_id: RequestId
    code: int
    detail: int = 0

    def pack(self) -> bytes:
        """The 7 octets of source data."""
        rid = self.request_id
        return DEVICE_FAILURE_LAYOUT.pack(
            rid.sec_header_flag, rid.apid, rid.seq_flags, rid.seq_count, self.code, self.detail,
        )  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> DeviceFailure:
        """Decode a report's source data.

        Raises:
            LengthError: not exactly 7 octets.
            HeaderError: the request id is not a telecommand's.
        """
        if len(data) != DEVICE_FAILURE_SIZE:
            raise LengthError(
                f"device failure report: {len(data)} octets, not {DEVICE_FAILURE_SIZE}"
            )
        _, _, shf, apid, flags, count, code, detail = DEVICE_FAILURE_LAYOUT.unpack_from(data)
        return cls(RequestId(apid, flags, count, shf), code, detail)


class PusPacket:
    """Base of PUS-C packets, with the named constructors.

    * :meth:`tc` and :meth:`tm` build a telecommand or a telemetry packet from its fields;
    * :meth:`from_raw` decodes received bytes to a :class:`PusTc` or :class:`PusTm` by the
      packet type bit (or, called on a subclass, insists on that type);
    * ``pack()`` encodes, computing the data length and the CRC.

    Decoding untrusted bytes raises only :class:`~hal.errors.ProtocolError` subclasses.
    """

    __slots__ = ("apid", "seq_count", "seq_flags", "service", "subtype")
    packet_type: ClassVar[int] = -1

    apid: int
    service: int
    subtype: int
    seq_count: int
    seq_flags: int

    @staticmethod
    def tc(*args: Any, **kwargs: Any) -> PusTc:
        """A PUS-C telecommand: the arguments of :class:`PusTc`, ranges checked by ``pack()``."""
        return PusTc(*args, **kwargs)

    @staticmethod
    def tm(*args: Any, **kwargs: Any) -> PusTm:
        """A PUS-C telemetry packet: the arguments of :class:`PusTm`, ranges checked by
        ``pack()``."""
        return PusTm(*args, **kwargs)

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview) -> PusTc | PusTm:
        """Decode one whole PUS-C packet, checking its length field and CRC.

        Raises:
            TruncatedError: fewer octets than the smallest packet of the type.
            HeaderError: packet version not 0, PUS version not 2, no secondary header, or (on a
                subclass) the other packet type.
            LengthError: the data length field disagrees with the octets given.
            CrcError: the packet error control does not match.
        """
        if len(raw) < PRIMARY_HEADER_SIZE:
            raise TruncatedError(f"PUS packet needs at least {MIN_TC_SIZE} octets, got {len(raw)}")
        is_tc = raw[0] & 0x10
        if cls is PusPacket:
            return PusTc.from_raw(raw) if is_tc else PusTm.from_raw(raw)
        raise HeaderError(f"{cls.__name__}.from_raw must be overridden")  # pragma: no cover

    def pack(self) -> bytes:  # pragma: no cover - overridden
        """Encode the packet, with data length and CRC computed."""
        raise NotImplementedError

    def _common_eq(self, other: PusPacket) -> bool:
        return all(getattr(self, n) == getattr(other, n) for n in _all_slots(type(self)))


def _all_slots(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        names.extend(getattr(klass, "__slots__", ()))
    return tuple(names)


def _check_header(
    name: str, ptype: int, want: int, shf: int, data_length: int, size: int, minimum: int
) -> None:
    if ptype != want:
        kind = "telecommand" if ptype == TYPE_TC else "telemetry"
        raise HeaderError(f"{name}: the packet is a {kind}", reason="wrong_type")
    if not shf:
        raise HeaderError(f"{name}: secondary header flag is 0", reason="no_secondary_header")
    if data_length + PRIMARY_HEADER_SIZE + 1 != size:
        raise LengthError(
            f"{name}: data length field says {data_length + PRIMARY_HEADER_SIZE + 1} octets, "
            f"got {size}"
        )
    if size < minimum:
        raise LengthError(f"{name}: {size} octets is below the minimum {minimum}")


class PusTc(PusPacket):
    """A PUS-C telecommand packet.

    Attributes:
        apid: destination application process id, 0..2047.
        service, subtype: PUS service type and message subtype, 0..255 each.
        app_data: application data (the command's arguments), up to 65529 octets.
        seq_count: packet sequence count, 0..16383.
        ack_flags: verification reports asked for (``ACK_*`` bits), 0..15.
        source_id: commanding source, 0..65535.
        seq_flags: sequence flags, normally ``SEQ_UNSEGMENTED``.
    """

    __slots__ = ("ack_flags", "app_data", "source_id")
    packet_type: ClassVar[int] = TYPE_TC

    def __init__(
        self,
        apid: int,
        service: int,
        subtype: int,
        app_data: bytes = b"",
        *,
        seq_count: int = 0,
        ack_flags: int = ACK_ALL,
        source_id: int = 0,
        seq_flags: int = SEQ_UNSEGMENTED,
    ) -> None:
        self.apid = apid
        self.service = service
        self.subtype = subtype
        self.app_data = app_data
        self.seq_count = seq_count
        self.ack_flags = ack_flags
        self.source_id = source_id
        self.seq_flags = seq_flags

    def pack(self) -> bytes:
        """Encode; raises :class:`~hal.errors.EncodeError` naming the field out of range."""
        data = self.app_data
        if len(data) > MAX_APP_DATA:
            raise EncodeError(
                f"app_data is {len(data)} octets; at most {MAX_APP_DATA} fit", reason="too_long"
            )
        head = _tc_pack(
            TYPE_TC,
            1,
            self.apid,
            self.seq_flags,
            self.seq_count,
            len(data) + TC_SECONDARY_HEADER_SIZE + CRC_SIZE - 1,
            self.ack_flags,
            self.service,
            self.subtype,
            self.source_id,
        )
        body = head + data
        return append_crc16(body)

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview) -> PusTc:
        """Decode a whole PUS-C telecommand (see :meth:`PusPacket.from_raw` for errors)."""
        size = len(raw)
        if size < MIN_TC_SIZE:
            raise TruncatedError(f"PUS TC needs at least {MIN_TC_SIZE} octets, got {size}")
        (_, ptype, shf, apid, seq_flags, seq_count, data_length, _, ack, svc, sub, src) = (
            _tc_unpack(raw)
        )
        _check_header("PUS TC", ptype, TYPE_TC, shf, data_length, size, MIN_TC_SIZE)
        check_crc16(raw, "packet error control")
        self = object.__new__(cls)
        self.apid = apid
        self.service = svc
        self.subtype = sub
        self.app_data = bytes(raw[TC_HEADER_SIZE:-CRC_SIZE])
        self.seq_count = seq_count
        self.ack_flags = ack
        self.source_id = src
        self.seq_flags = seq_flags
        return self

    def __eq__(self, other: object) -> bool:
        if type(other) is not PusTc:
            return NotImplemented
        return self._common_eq(other)

    def __hash__(self) -> int:
        return hash((TYPE_TC, self.apid, self.service, self.subtype, self.seq_count))

    def __repr__(self) -> str:
        return (
            f"PusTc(apid=0x{self.apid:03X}, service={self.service}, subtype={self.subtype}, "
            f"seq={self.seq_count}, ack=0b{self.ack_flags:04b}, source={self.source_id}, "
            f"app_data={self.app_data.hex()})"
        )


class PusTm(PusPacket):
    """A PUS-C telemetry packet.

    Attributes:
        apid: source application process id, 0..2047.
        service, subtype: PUS service type and message subtype, 0..255 each.
        source_data: the report's data, up to 65521 octets.
        seq_count: packet sequence count, 0..16383.
        msg_counter: message type counter, 0..65535.
        dest_id: destination id, 0..65535.
        time: on-board time of the report (:class:`~hal.protocol.cuc.CucTime`).
        time_ref_status: spacecraft time reference status, 0..15.
        seq_flags: sequence flags, normally ``SEQ_UNSEGMENTED``.
    """

    __slots__ = ("dest_id", "msg_counter", "source_data", "time", "time_ref_status")
    packet_type: ClassVar[int] = TYPE_TM

    def __init__(
        self,
        apid: int,
        service: int,
        subtype: int,
        source_data: bytes = b"",
        *,
        seq_count: int = 0,
        msg_counter: int = 0,
        dest_id: int = 0,
        time: CucTime = CucTime(0, 0),  # noqa: B008 - an immutable NamedTuple
        time_ref_status: int = 0,
        seq_flags: int = SEQ_UNSEGMENTED,
    ) -> None:
        self.apid = apid
        self.service = service
        self.subtype = subtype
        self.source_data = source_data
        self.seq_count = seq_count
        self.msg_counter = msg_counter
        self.dest_id = dest_id
        self.time = time
        self.time_ref_status = time_ref_status
        self.seq_flags = seq_flags

    def pack(self) -> bytes:
        """Encode; raises :class:`~hal.errors.EncodeError` naming the field out of range."""
        data = self.source_data
        if len(data) > MAX_SOURCE_DATA:
            raise EncodeError(
                f"source_data is {len(data)} octets; at most {MAX_SOURCE_DATA} fit",
                reason="too_long",
            )
        time = self.time
        head = _tm_pack(
            TYPE_TM,
            1,
            self.apid,
            self.seq_flags,
            self.seq_count,
            len(data) + TM_SECONDARY_HEADER_SIZE + CRC_SIZE - 1,
            self.time_ref_status,
            self.service,
            self.subtype,
            self.msg_counter,
            self.dest_id,
            time[0],
            time[1],
        )
        body = head + data
        return append_crc16(body)

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview) -> PusTm:
        """Decode a whole PUS-C telemetry packet (see :meth:`PusPacket.from_raw` for errors)."""
        size = len(raw)
        if size < MIN_TM_SIZE:
            raise TruncatedError(f"PUS TM needs at least {MIN_TM_SIZE} octets, got {size}")
        (
            _,
            ptype,
            shf,
            apid,
            seq_flags,
            seq_count,
            data_length,
            _,
            trs,
            svc,
            sub,
            cnt,
            dest,
            coarse,
            fine,
        ) = _tm_unpack(raw)
        _check_header("PUS TM", ptype, TYPE_TM, shf, data_length, size, MIN_TM_SIZE)
        check_crc16(raw, "packet error control")
        self = object.__new__(cls)
        self.apid = apid
        self.service = svc
        self.subtype = sub
        self.source_data = bytes(raw[TM_HEADER_SIZE:-CRC_SIZE])
        self.seq_count = seq_count
        self.msg_counter = cnt
        self.dest_id = dest
        self.time = CucTime(coarse, fine)
        self.time_ref_status = trs
        self.seq_flags = seq_flags
        return self

    def __eq__(self, other: object) -> bool:
        if type(other) is not PusTm:
            return NotImplemented
        return self._common_eq(other)

    def __hash__(self) -> int:
        return hash((TYPE_TM, self.apid, self.service, self.subtype, self.seq_count))

    def __repr__(self) -> str:
        return (
            f"PusTm(apid=0x{self.apid:03X}, service={self.service}, subtype={self.subtype}, "
            f"seq={self.seq_count}, counter={self.msg_counter}, dest={self.dest_id}, "
            f"time={self.time.seconds:.6f}, source_data={self.source_data.hex()})"
        )


def header_fields(packet: PusTc | PusTm) -> dict[str, Any]:
    """The packet's fields as a plain dict (for logs, archives and displays)."""
    return {name: getattr(packet, name) for name in _all_slots(type(packet))}
