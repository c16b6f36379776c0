"""Measurement: bench, soak."""
