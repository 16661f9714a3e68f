"""Benchmarks: concernlog against the bare FastAPI stack (see bench/README.md)."""
