"""Scenario: a heater zone of the igloo fails (``msr campaign --scenario heater_zone_failure``).

While the igloo keeps the MAV warm, the prime heater element of zone 3 goes open (the
``heater_zone_failure`` fault on the igloo's heaters). The igloo app sees the zone draw no
current while switched on, switches it to its redundant element and reports it
(``igloo.zone_fault``); the zone keeps its setpoint, no zone is left off. The MAV, reading the
same zones through its umbilical, finds every zone in limits: it conditions, arms and launches,
and the campaign goes on to the Earth Entry System.
"""

# ruff: noqa: F821 - the procedure's names (bench, ...) are handed in by the runner

from ground_tools.procedures.steps import Campaign

campaign = Campaign(bench, tubes=globals().get("TUBES", 30), phase=globals().get("phase", print))
campaign.housekeeping()
campaign.prepare_lander()

phase("scenario: zone 3's prime heater element opens")
wait_check("lander.igloo.status.conditioning == True", timeout=120)
fault("igloo.heaters", "heater_zone_failure", index=3)  # the prime element, for good
wait_event("lander", "igloo.zone_fault", timeout=3600,
           contains="zone 3 prime heater open: switched to the redundant element")  # fmt: skip
wait_check("lander.igloo.status.zones_redundant == 1", timeout=120)
check("lander.igloo.status.zones_failed == 0")

campaign.load_tubes()
campaign.close_and_hand_over()
campaign.condition_mav()
check("mav.launch.status.zone_min >= -40")
check("lander.igloo.status.zones_failed == 0")
campaign.arm_mav()
campaign.launch_mav()
campaign.capture_and_return()
