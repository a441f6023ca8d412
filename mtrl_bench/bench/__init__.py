"""Benchmarks that print figures: each speed is reported against a baseline measured in the same run."""
