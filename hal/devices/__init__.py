"""HAL drivers: one client per board, request/response over a packet channel, with timeouts,
bounded retries, a health record and reopening of lost links (:mod:`hal.devices.base`)."""
