"""Injected failures: rate limits, expired tokens, server errors, dropped connections, latency, and the answers
of a hostile or broken Zoho (endless pages, wrong JSON types, huge bodies, a foreign `api_domain`)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable

from ..fault_trigger import Trigger

STATUSES = (429, 401, 500, 503, "drop", "answer", None)


@dataclass
class Fault(Trigger):
    """A failure applied to matching calls.

    ``path`` is a glob on the request path (``"/crm/v7/Deals*"``, ``"/oauth/v2/token"``, ``"*"``);
    ``when`` (optional) sees the call (a dict with ``method``, ``path``, ``query``, ``headers``)
    and says whether it matches too. ``count`` fires the fault on the next N matching calls,
    ``rate`` with that probability (both: at most N times); ``skip`` lets the first N matching
    calls through first. ``status`` 429 answers ``TOO_MANY_REQUESTS`` with ``retry_after``
    seconds (``Retry-After`` and ``X-RATELIMIT-*`` headers, ``details.retry_after``), 401
    answers ``INVALID_TOKEN`` (as for an expired access token), 500/503 an internal error,
    "drop" closes the connection without an answer, None only adds ``latency_ms``.

    "answer" is a hostile or broken Zoho: it answers 200 with ``answer(call)`` instead of anything the emulator
    would say — a JSON value (sent encoded), or bytes sent as they are — without checking the request (a page
    token it made up is as good as any). ``unsized`` sends it without a Content-Length, streamed until the
    connection closes, as a server can.
    """

    path: str = "*"
    status: int | str | None = 429
    retry_after: int = 1
    latency_ms: int = 0
    when: Callable[[dict[str, Any]], bool] | None = None
    answer: Callable[[dict[str, Any]], Any] | None = None
    unsized: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        if (self.status == "answer") != (self.answer is not None):
            raise ValueError('status="answer" goes with answer=, and answer= with status="answer"')
        super().__post_init__()

    def fires(self, call: dict[str, Any]) -> bool:
        if not fnmatch.fnmatchcase(call["path"], self.path):
            return False
        if self.when is not None and not self.when(call):
            return False
        return self._draw()
