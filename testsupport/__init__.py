"""Dev-only test support: the loopback stack, harness and demo that tests, benchmarks and `make demo` share (never in the runtime wheel)."""
