"""Parley bench suite: end-to-end fan-out benchmarks against baselines (docs/benchmarks.md)."""
