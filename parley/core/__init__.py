"""Parley's shared vocabulary: codes, errors, time, records, topics, event names, limits and
token claims. It imports nothing else of Parley; every other package builds on it."""
