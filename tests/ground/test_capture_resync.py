"""``msr capture decode --keys`` across a resync (decision 0023): the resync frame is checked
with the key itself and named; the frames after it are checked with its session's key, and a
frame of another session is said not to be this session's."""

from __future__ import annotations

from ground_tools.capture import decode_to_text
from hal.links.pcap import DLT_USER0, PcapWriter
from hal.protocol.framing import ASM
from hal.protocol.sdls import SecurityAssociation, authenticate, resync_frame, session_association
from hal.protocol.tc_frame import UNLOCK, TcFrame

KEY = bytes(range(32))
SA = SecurityAssociation(1, KEY)
NONCE = bytes(range(16))


def test_frames_after_a_resync_are_checked_with_the_session_key(tmp_path):
    session = session_association(SA, NONCE)
    frames = [
        resync_frame(42, 0, SA, NONCE, 5),
        authenticate(TcFrame(42, 0, UNLOCK, bypass=1, control=1), session, 6),
        authenticate(TcFrame(42, 0, UNLOCK, bypass=1, control=1), SA, 7),
    ]
    path = tmp_path / "ground-lander.tx.pcap"
    with PcapWriter(path, DLT_USER0) as writer:
        for index, frame in enumerate(frames):
            writer.write(ASM + frame, float(index))
    lines = [line for line in decode_to_text(path, keys={1: KEY}) if "TC frame" in line]
    assert len(lines) == 3, lines
    assert "sn=5 MAC ok" in lines[0] and f"Resync (nonce {NONCE.hex()})" in lines[0]
    assert "sn=6 MAC ok (session)" in lines[1] and "Unlock" in lines[1]
    assert "sn=7 MAC BAD (not this session's)" in lines[2]
