"""Injected failures: rate limits, expired tokens, server errors, dropped connections, latency."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

STATUSES = (429, 401, 500, 503, "drop", None)


@dataclass
class Fault:
    """A failure applied to matching calls.

    ``path`` is a glob on the request path (``"/crm/v7/Deals*"``, ``"/oauth/v2/token"``, ``"*"``);
    ``when`` (optional) sees the call (a dict with ``method``, ``path``, ``query``, ``headers``)
    and says whether it matches too. ``count`` fires the fault on the next N matching calls,
    ``rate`` with that probability (both: at most N times); ``skip`` lets the first N matching
    calls through first. ``status`` 429 answers ``TOO_MANY_REQUESTS`` with ``retry_after``
    seconds (``Retry-After`` and ``X-RATELIMIT-*`` headers, ``details.retry_after``), 401
    answers ``INVALID_TOKEN`` (as for an expired access token), 500/503 an internal error,
    "drop" closes the connection without an answer, None only adds ``latency_ms``.
    """

    path: str = "*"
    count: int | None = None
    rate: float | None = None
    status: int | str | None = 429
    retry_after: int = 1
    latency_ms: int = 0
    skip: int = 0
    seed: int | None = None
    when: Callable[[dict[str, Any]], bool] | None = None
    hits: int = field(default=0, init=False)
    seen: int = field(default=0, init=False)
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

    def fires(self, call: dict[str, Any]) -> bool:
        if not fnmatch.fnmatchcase(call["path"], self.path):
            return False
        if self.when is not None and not self.when(call):
            return False
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
