"""Baseline servers: the same fan-out and JSON wire shape as Parley, each run as its own process."""
