"""Downlink frames with a valid FECF but an unexpected header or CLCW value (issue 17,
decision 0029): the ground end of the space link counts each under a named reason and goes on.

Every field of the TM primary header and of the CLCW is varied over its value classes; each
frame carries a correct frame error control, so only the field checks can reject it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal.links.space_link import GroundSpaceLink, SpaceLinkConfig
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc
from hal.protocol.sdls import SecurityAssociation

from .link_helpers import MemoryLink
from .tm_frames import clcw, data_size
from .tm_frames import tm_frame as build_frame

SA = SecurityAssociation(7, bytes(range(32)))
CONFIG = SpaceLinkConfig(scid=42, vcid=0, tm_frame_length=128, t1=0.5)
DATA_SIZE = data_size(CONFIG.tm_frame_length)


def tm_frame(**fields: Any) -> bytes:
    """A frame of CONFIG's length with a valid FECF (``tm_frames.tm_frame``)."""
    return build_frame(CONFIG.tm_frame_length, **fields)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def ground(active: bool = False) -> Iterator[tuple[GroundSpaceLink, MemoryLink, Clock]]:
    """A ground end over an in-memory link, closed on the way out (its link holds descriptors);
    ``active``: COP-1 running with frames outstanding."""
    clock = Clock()
    link = MemoryLink(bytearray(), bytearray())
    link.open()
    end = GroundSpaceLink(link, SA, CONFIG, monotonic=clock)
    try:
        if active:
            end.start("no_clcw_check")
            end.send_many([PusTc(apid=0x10, service=17, subtype=1).pack()] * 3)
        yield end, link, clock
    finally:
        end.close()


def feed(end: GroundSpaceLink, link: MemoryLink, frame: bytes) -> None:
    link.inbox += ASM + frame
    end.poll(0)


BAD_FRAMES = {
    "version 1": (dict(version=1), "bad_version"),
    "version 3": (dict(version=3), "bad_version"),
    "another spacecraft": (dict(scid=43), "wrong_scid"),
    "spacecraft 1023": (dict(scid=1023), "wrong_scid"),
    "no OCF": (dict(ocf_flag=0), "ocf_flag"),
    "secondary header": (dict(shf=1), "secondary_header"),
    "packet order flag": (dict(pof=1), "packet_order_flag"),
    "segment length id 0": (dict(slid=0), "segment_length_id"),
    "first header pointer beyond the data field": (dict(fhp=DATA_SIZE), "first_header_pointer"),
    "first header pointer 0x7FD": (dict(fhp=0x7FD), "first_header_pointer"),
    "sync flag 1": (dict(sync=1), "sync_flag"),
    "CLCW type 1": (dict(ocf=clcw(type=1)), "clcw_bad_type"),
    "CLCW version 1": (dict(ocf=clcw(version=1)), "clcw_bad_version"),
    "CLCW version 3": (dict(ocf=clcw(version=3)), "clcw_bad_version"),
    "CLCW spare0": (dict(ocf=clcw(spare0=2)), "clcw_bad_spare0"),
    "CLCW spare1": (dict(ocf=clcw(spare1=1)), "clcw_bad_spare1"),
    "CLCW COP 0": (dict(ocf=clcw(cop=0)), "clcw_not_cop1"),
    "CLCW COP 3": (dict(ocf=clcw(cop=3)), "clcw_not_cop1"),
    "CLCW of another TC channel": (dict(ocf=clcw(vcid=63)), "clcw_wrong_vcid"),
    "all ones OCF": (dict(ocf=0xFFFFFFFF), "clcw_bad_type"),
}


@pytest.mark.parametrize("active", [False, True], ids=["cop_idle", "cop_active"])
@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_a_frame_with_a_bad_field_is_counted_by_its_reason(case: str, active: bool) -> None:
    fields, reason = BAD_FRAMES[case]
    with ground(active) as (end, link, _):
        feed(end, link, tm_frame(**fields))
        feed(end, link, tm_frame(**fields, mc=1, vc=1))
        assert end.stats()["rejects"].get(reason) == 2
        # and the link goes on: a good frame after them is taken
        frames_before = end.reassembler.stats.frames
        feed(end, link, tm_frame(mc=2, vc=2))
        assert end.reassembler.stats.frames == frames_before + 1


def test_every_reason_is_logged_once_then_logarithmically(caplog: pytest.LogCaptureFixture) -> None:
    with ground() as (end, link, _):
        with caplog.at_level("WARNING", logger="hal.links.space_link"):
            for i in range(8):
                feed(end, link, tm_frame(ocf=clcw(type=1), mc=i, vc=i))
                feed(end, link, tm_frame(scid=7, mc=i, vc=i))
        assert end.stats()["rejects"]["clcw_bad_type"] == 8
        assert end.stats()["rejects"]["wrong_scid"] == 8
        lines = [r.getMessage() for r in caplog.records]
        assert sum("clcw_bad_type" in line for line in lines) == 4  # the 1st, 2nd, 4th and 8th
        assert sum("wrong_scid" in line for line in lines) == 4


def test_protocol_legal_but_unexpected_clcw_flags_are_served_not_fatal() -> None:
    """Lockout, wait, retransmit, no RF, an N(R) ahead of V(S): COP-1 raises an alert or
    waits; the ground end neither raises nor stops taking frames."""
    with ground(active=True) as (end, link, clock):
        words = [clcw(lockout=1), clcw(wait=1, retransmit=1), clcw(no_rf=1, no_bit_lock=1),
                 clcw(report=200), clcw(farm_b=3, status=7), clcw(retransmit=1)]  # fmt: skip
        for i, word in enumerate(words):
            clock.now += 1.0
            feed(end, link, tm_frame(ocf=word, mc=i, vc=i))
        assert end.reassembler.stats.frames == len(words)
        assert end.fop.counts["alert_lockout"] >= 1


header_fields = st.fixed_dictionaries({
    "version": st.integers(0, 3), "scid": st.sampled_from([42, 0, 43, 1023]),
    "vcid": st.integers(0, 7), "ocf_flag": st.integers(0, 1), "mc": st.integers(0, 255),
    "vc": st.integers(0, 255), "shf": st.integers(0, 1), "sync": st.integers(0, 1),
    "pof": st.integers(0, 1), "slid": st.integers(0, 3),
    "fhp": st.one_of(st.integers(0, 0x7FF), st.sampled_from([0, 0x7FE, 0x7FF, DATA_SIZE])),
    "ocf": st.one_of(st.integers(0, 0xFFFFFFFF), st.builds(
        clcw, cop=st.integers(0, 3), vcid=st.integers(0, 63), lockout=st.integers(0, 1),
        wait=st.integers(0, 1), retransmit=st.integers(0, 1), farm_b=st.integers(0, 3),
        report=st.integers(0, 255))),
    "data": st.binary(max_size=DATA_SIZE).filter(lambda d: ASM[:2] not in d),
})  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(header_fields, min_size=1, max_size=8), active=st.booleans())
def test_no_frame_of_any_field_value_class_ends_the_ground_end(
    frames: list[dict[str, object]], active: bool
) -> None:
    with ground(active) as (end, link, clock):
        stats = end.reassembler.stats
        for fields in frames:
            clock.now += 0.3
            taken, rejected, clcw_rejects = stats.frames, _rejects(end), _clcw_rejects(end)
            feed(end, link, tm_frame(**fields))  # type: ignore[arg-type]
            # each frame is either taken by the reassembler or rejected under a named reason (by
            # the deframer, e.g. bad_version, or by the frame decoder)
            assert stats.frames > taken or _rejects(end) > rejected
            word = int(fields["ocf"])  # type: ignore[call-overload]
            unexpected = word & 0xE0030100 or (word >> 24) & 3 != 1 or (word >> 18) & 63 != 0
            if stats.frames > taken and unexpected:  # its OCF is not this channel's COP-1 CLCW
                assert _clcw_rejects(end) == clcw_rejects + 1
        assert all(isinstance(r, str) and r for r in end.stats()["rejects"])


def _rejects(end: GroundSpaceLink) -> int:
    return sum(end.stats()["rejects"].values()) - _clcw_rejects(end)


def _clcw_rejects(end: GroundSpaceLink) -> int:
    return sum(n for reason, n in end.rejects.items() if reason.startswith("clcw_"))
