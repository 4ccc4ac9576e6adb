"""Benchmarks: they print numbers; nothing here is asserted in tests."""
