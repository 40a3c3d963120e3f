"""Reliability tests: crashes, receiver faults, bad input, concurrency, secrets, migrations."""
