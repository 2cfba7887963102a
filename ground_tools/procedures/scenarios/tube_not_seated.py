"""Scenario: a tube does not seat (``msr campaign --scenario tube_not_seated``).

Slot 0's seat switch never closes (the ``not_seated`` fault on the OS container's slots, index
0): the first tube is pushed in, not seated, taken out and pushed in again
``sta.seat_retries`` times, then rejected: set down near the lander (``sta.tube_rejected``) and
slot 0 avoided from then on. The ground loads the rejected tube again from the ground near the
lander, into slot 1, and the campaign goes on to the Earth Entry System. The OS carries one tube
fewer than its capacity at most.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()

phase("scenario: slot 0 will not seat its tube")
fault("os_container.slots", "not_seated", index=0)  # stays: the slot is damaged
result = campaign.load_one("depot")
check(
    lambda: result.final == "completion_failed" and "not_seated" in result.final_reason,
    "the load failed not_seated",
)
rejected = wait_event("lander", "sta.tube_rejected", timeout=60, contains="slot 0")
serial = rejected.values["detail"].split()[1]
wait_event("lander", "sta.not_seated", timeout=60, contains=f"tube {serial} in slot 0")

phase("scenario: the rejected tube is loaded again from the ground, into slot 1")
check(lambda: campaign.load_one("ground_near_lander").ok, "loaded from the ground")
wait_event("lander", "sta.tube_loaded", timeout=60, contains=f"tube {serial} seated in slot 1")

campaign.load_tubes()
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
