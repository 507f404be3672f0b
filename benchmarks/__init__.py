"""Measurement scripts behind `results/`: each runs as `python -m benchmarks.NAME` from the repository root."""
