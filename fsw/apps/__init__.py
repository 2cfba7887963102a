"""The mission apps of the flight software: the Sample Transfer Arm (lander), the MAV launch
sequencer (mav), and capture, containment and return (orbiter), with what they share (the
onboard sample inventory, :mod:`fsw.apps.custody`). Apps decide; they reach the boards only
through the HAL clients the node gives them, and hold no serial code and no sleeps."""
