"""The flight-software framework: software bus, components, executive, command dispatch,
telemetry, and the core services every node runs (architecture.md §5)."""
