"""Board emulators, one module per board, named as the board's ICD in ``hal.protocol.devices``."""
