"""Injected failures: rate limits, server errors, dropped and hanging connections."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field

STATUSES = (429, 403, 500, 503, "drop", "timeout", None)


@dataclass
class Fault:
    """A failure applied to matching Gmail calls.

    ``method`` is a discovery method id or a glob ("*", "gmail.users.messages.*").
    ``rate`` is the probability per matching call; ``count`` fires the fault on
    the next N matching calls (with ``rate`` too: at most N times).  ``status``
    429/403/500/503 answers Google's error body, "drop" closes the connection
    without an answer, "timeout" hangs ``timeout_seconds`` and then drops,
    None only adds ``latency_ms``.  ``reason`` picks the 403 flavour
    (userRateLimitExceeded, rateLimitExceeded, dailyLimitExceeded).
    """

    method: str = "*"
    rate: float | None = None
    count: int | None = None
    status: int | str | None = 503
    latency_ms: int = 0
    seed: int | None = None
    user: str | None = None
    reason: str = "userRateLimitExceeded"
    timeout_seconds: float = 30.0
    hits: int = field(default=0, init=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        if self.rate is None and self.count is None:
            raise ValueError("a Fault needs rate= (probability) or count= (next N calls)")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        self._rng = random.Random(self.seed)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def fires(self, method_id: str, user: str | None) -> bool:
        if not fnmatch.fnmatchcase(method_id, self.method):
            return False
        if self.user is not None and (user or "").lower() != self.user.lower():
            return False
        with self._lock:
            if self.exhausted:
                return False
            if self.rate is not None and self._rng.random() >= self.rate:
                return False
            self.hits += 1
            return True

