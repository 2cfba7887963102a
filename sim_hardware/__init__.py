"""Emulated hardware for software-in-the-loop runs.

Device emulators (pure objects: ``handle(packet) -> replies``, ``advance(to_time)``) served on
pseudo-terminals by a thin host, the world model, the simulation clock and the space-link emulator.
Imports ``hal`` only; it never imports ``fsw``.
"""
