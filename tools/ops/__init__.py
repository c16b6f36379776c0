"""Producers and operators: enqueue, results, poison."""
