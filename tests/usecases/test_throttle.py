"""usecases/throttle.py: a token bucket per key (the Messages tab's answers per DM)."""
from __future__ import annotations

from usecases.throttle import Throttle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_per_interval_per_key_and_other_keys_untouched():
    clock = Clock()
    throttle = Throttle(5.0, burst=2, clock=clock)
    assert [throttle.allow("dm") for _ in range(5)] == [True, True, False, False, False]
    assert throttle.allow("another dm")  # one person's flood takes nothing from another DM
    clock.now += 4.9
    assert not throttle.allow("dm")
    clock.now += 0.1
    assert throttle.allow("dm") and not throttle.allow("dm")
    clock.now += 60
    assert [throttle.allow("dm") for _ in range(3)] == [True, True, False]  # refilled to the burst, no more


def test_memory_stays_bounded_and_full_buckets_are_forgotten_first():
    clock = Clock()
    throttle = Throttle(5.0, burst=1, clock=clock, max_keys=3)
    assert all(throttle.allow(key) for key in ("a", "b", "c"))
    assert not throttle.allow("d")  # three floods in progress: a fourth key waits
    clock.now += 5
    assert throttle.allow("d")  # the others' buckets are full again and were forgotten
    assert len(throttle._buckets) == 1
