"""Benchmark: ``manuscript build`` against the reference Manubot toolchain (``python -m bench``)."""
