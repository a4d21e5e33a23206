"""Benchmarks: scripts that print figures; kept apart from the test suite."""
