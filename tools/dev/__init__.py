"""Local development: run_local, the simulator (sim), azurite, stack, demo, schemas."""
