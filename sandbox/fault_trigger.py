"""When an injected fault fires: the part every emulator's faults share.

A fault fires on the next ``count`` matching calls, or on each with probability ``rate`` (both: at most
``count`` times), after letting the first ``skip`` matching calls through. One seedable generator per fault,
so a seeded run fires on the same calls; the counters are behind a lock because the emulators answer
requests on many threads.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Trigger:
    rate: float | None = None
    count: int | None = None
    seed: int | None = None
    skip: int = 0
    hits: int = field(default=0, init=False)
    seen: int = field(default=0, init=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.rate is None and self.count is None:
            raise ValueError("a Fault needs rate= (probability) or count= (next N calls)")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        self._rng = random.Random(self.seed)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def _draw(self) -> bool:
        """For a call that matches: does the fault fire on it? Counts it either way."""
        with self._lock:
            if self.exhausted:
                return False
            self.seen += 1
            if self.seen <= self.skip:
                return False
            if self.rate is not None and self._rng.random() >= self.rate:
                return False
            self.hits += 1
            return True
