"""Device interface control documents: one module per board, shared by HAL driver and emulator."""
