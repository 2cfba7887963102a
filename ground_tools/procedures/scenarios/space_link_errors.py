"""Scenario: bit errors and a blackout on the lander's space link (``msr campaign --scenario
space_link_errors``).

While the lander loads the OS, its uplink flips bits (the ``bit_flips`` link fault on
``link:lander``, a bit-error rate of 3e-4, up only): the radio refuses every damaged frame on
its frame check or MAC, and the ground's COP-1 sends it again until the CLCW acknowledges it.
Between two loads the link is blacked out for 300 s (both ways) just as the ground sends the
next load: the frame cannot get through, COP-1 alerts after its transmission limit and, on its
own, initiates again with Unlock and resends what the lander had not accepted once the link is
back. Every command runs exactly once: the tubes seated are the loads sent. The campaign then
goes on to the Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()

phase("scenario: bit errors on the lander's uplink")
before = bench.status()["nodes"]["lander"]
noise = fault("link:lander", "bit_flips", bit_error_rate=3e-4, direction="up")
campaign.prepare_lander()
check(lambda: campaign.load_one("depot").ok, "loaded through the bit errors")

phase("scenario: a 300 s blackout as the next load is sent")
fault("link:lander", "blackout", duration=300.0)
result = campaign.load_one("depot")  # waits through the blackout for COP-1 to deliver it
check(lambda: result.ok, "loaded through the blackout")
clear_fault(noise)
link = bench.status()["nodes"]["lander"]
check(
    lambda: link["retransmissions"] > before["retransmissions"],
    f"COP-1 retransmitted ({link['retransmissions']} frames)",
)
check(
    lambda: link["alerts"] > before["alerts"] and link["recoveries"] > before["recoveries"],
    f"COP-1 alerted ({link['alerts']}) and recovered ({link['recoveries']})",
)
check(lambda: link["fop"] == "active", "COP-1 active again")
wait_check("lander.sta.status.tubes_loaded == 2", timeout=30)  # two loads sent, two ran

campaign.load_tubes()
campaign.close_and_hand_over()
campaign.launch()
campaign.capture_and_return()
