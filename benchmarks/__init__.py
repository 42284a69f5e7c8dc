"""Benchmark scripts; each writes its figures to benchmarks/results/."""
