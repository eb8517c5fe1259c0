"""Benchmarks and the ``vaezoo`` command line."""
