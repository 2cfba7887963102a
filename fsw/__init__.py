"""Flight software of the MSR nodes (lander, mav, orbiter), one process per node.

Executive, software bus, services and mission apps. Imports ``hal`` only; it never imports
``sim_hardware`` and meets the emulated boards only on the wire, exactly as it meets real ones.
"""
