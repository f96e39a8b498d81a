"""Benchmark scripts (see benchmarks/README.md); each runs as ``python benchmarks/<name>.py``."""
