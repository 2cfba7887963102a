"""Hardware abstraction layer: the lowest layer of the MSR emulator.

``hal.protocol`` declares every wire format (CCSDS space packets with PUS-C headers, CRCs,
device-link framing) and is pure: no I/O, no threads, no clocks. ``hal.links`` moves bytes over
serial ports, pseudo-terminals and sockets behind one ``Link`` interface. ``hal`` imports no other
package of the project; the flight software, the simulator and the ground tools all build on it.
"""
