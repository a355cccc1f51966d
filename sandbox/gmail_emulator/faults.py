"""Injected failures: rate limits, server errors, dropped and hanging connections."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..fault_trigger import Trigger

STATUSES = (429, 403, 500, 503, "drop", "timeout", None)
BATCH = "batch"  # the method of a fault on a /batch request as a whole (never matched by a glob)


@dataclass
class Fault(Trigger):
    """A failure applied to matching Gmail calls.

    ``method`` is a discovery method id or a glob ("*", "gmail.users.messages.*"), or ``BATCH`` ("batch"):
    then the ``/batch`` request itself fails, before any of its parts runs.
    ``rate`` is the probability per matching call; ``count`` fires the fault on
    the next N matching calls (with ``rate`` too: at most N times).  ``status``
    429/403/500/503 answers Google's error body, "drop" closes the connection
    without an answer, "timeout" hangs ``timeout_seconds`` and then drops,
    None only adds ``latency_ms``.  ``reason`` picks the 403 flavour
    (userRateLimitExceeded, rateLimitExceeded, dailyLimitExceeded).
    """

    method: str = "*"
    status: int | str | None = 503
    latency_ms: int = 0
    user: str | None = None
    reason: str = "userRateLimitExceeded"
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        super().__post_init__()

    def fires(self, method_id: str, user: str | None) -> bool:
        if not fnmatch.fnmatchcase(method_id, self.method):
            return False
        if self.user is not None and (user or "").lower() != self.user.lower():
            return False
        return self._draw()

