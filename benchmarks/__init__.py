"""Benchmarks: scripts that time minigrad against a baseline run side by side in one process."""
