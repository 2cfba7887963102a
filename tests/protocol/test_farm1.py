"""FARM-1 (CCSDS 232.1-B-2 section 6): every row of its state table, and its invariant."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.protocol.farm1 import Farm1, FarmState
from hal.protocol.tc_frame import UNLOCK, TcFrame, set_vr_command


def ad(ns):
    return TcFrame(42, 1, b"cmd", seq=ns)


def bc(data):
    return TcFrame(42, 1, data, bypass=1, control=1)


def test_in_sequence_frames_are_accepted_and_v_r_advances_modulo_256():
    farm = Farm1(1, vr=254)
    assert [farm.receive(ad(n)).accepted for n in (254, 255, 0)] == [True] * 3
    assert farm.vr == 1
    assert farm.clcw.report_value == 1 and farm.clcw.retransmit == 0


def test_a_gap_sets_retransmit_and_the_missing_frame_clears_it():
    farm = Farm1(1, window=10)
    farm.receive(ad(0))
    result = farm.receive(ad(2))  # frame 1 was lost
    assert (result.accepted, result.reason) == (False, "out_of_sequence")
    assert farm.clcw.retransmit == 1
    assert farm.receive(ad(1)).accepted
    assert farm.retransmit == 0


def test_duplicates_in_the_negative_window_are_discarded_quietly():
    farm = Farm1(1, window=10)
    for n in range(3):
        farm.receive(ad(n))
    result = farm.receive(ad(1))
    assert (result.accepted, result.reason) == (False, "duplicate")
    assert farm.state is FarmState.OPEN and farm.retransmit == 0


def test_a_frame_in_the_lockout_area_locks_out_until_unlock():
    farm = Farm1(1, window=10)
    assert farm.receive(ad(100)).reason == "lockout"
    assert farm.state is FarmState.LOCKOUT and farm.clcw.lockout == 1
    assert not farm.receive(ad(0)).accepted  # even the right one
    assert farm.receive(bc(set_vr_command(50))).accepted  # Set V(R) is ignored in lockout
    assert farm.vr == 0
    assert farm.receive(bc(UNLOCK)).reason == "unlock"
    assert farm.state is FarmState.OPEN and farm.clcw.lockout == 0
    assert farm.receive(ad(0)).accepted


def test_set_v_r_and_the_farm_b_counter():
    farm = Farm1(1)
    farm.receive(bc(set_vr_command(77)))
    assert farm.vr == 77
    farm.receive(TcFrame(42, 1, b"bd", bypass=1))
    farm.receive(bc(UNLOCK))
    assert farm.farm_b_counter == 3
    farm.receive(bc(UNLOCK))
    assert farm.farm_b_counter == 0  # modulo 4
    assert farm.receive(bc(b"\x99")).reason == "bad_control_command"


def test_no_buffer_means_wait_then_release():
    farm = Farm1(1)
    result = farm.receive(ad(0), buffer_available=False)
    assert result.reason == "no_buffer"
    assert farm.state is FarmState.WAIT and farm.clcw.wait == 1 and farm.clcw.retransmit == 1
    assert not farm.receive(ad(0)).accepted
    farm.buffer_released()
    assert farm.receive(ad(0)).accepted and farm.wait == 0


def test_type_bd_frames_pass_in_every_state():
    farm = Farm1(1)
    farm.receive(ad(200))
    assert farm.state is FarmState.LOCKOUT
    assert farm.receive(TcFrame(42, 1, b"recovery", bypass=1)).accepted


@pytest.mark.parametrize("window", [1, 3, 256])
def test_window_width_is_checked(window):
    with pytest.raises(ValueError, match="window"):
        Farm1(1, window=window)


@given(st.lists(st.integers(0, 255), max_size=300), st.integers(0, 255))
def test_accepted_type_ad_frames_are_exactly_consecutive(arrivals, start):
    farm = Farm1(1, vr=start)
    accepted = [n for n in arrivals if farm.receive(ad(n)).accepted]
    assert accepted == [(start + i) & 0xFF for i in range(len(accepted))]
    assert farm.vr == (start + len(accepted)) & 0xFF
