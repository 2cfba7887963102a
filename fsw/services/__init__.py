"""The core's PUS services, one module each, numbered as in ECSS-E-ST-70-41C
(``pus_3_housekeeping``, ``pus_5_events``...)."""
