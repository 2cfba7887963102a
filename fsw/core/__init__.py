"""The flight-software framework: software bus, components, executive, command dispatch,
telemetry, and the core services every node runs (DESIGN.md section 5)."""
