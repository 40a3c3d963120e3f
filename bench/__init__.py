"""Benchmarks of Retention Console against its own sandboxes: `python -m bench [--quick]`.

See `bench.run` for the figures printed and how each is measured.
"""
