"""Benchmarks: `make bench` (or `python -m benchmarks [name ...]`). Each prints ratios against a
baseline measured in the same run, on the same machine."""
