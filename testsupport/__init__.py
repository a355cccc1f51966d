"""Dev-only test support: the loopback stack, harness and demo shared by tests and benchmarks (not in the wheel)."""
