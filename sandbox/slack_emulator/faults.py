"""Faults with a rate, for work in flight: what a real network does to a Slack Web API call.

A careless client turns these into duplicates: a `chat.postMessage` that Slack carried out and whose answer was
lost looks, from the client's side, exactly like one that never arrived. `inject_error`/`inject_rate_limit` (the
next N calls) stay for simple cases; a `Fault` fires on each matching call with probability `rate` (or on the next
`count`, after `skip`), so it can stay on while a job posts.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..fault_trigger import Trigger

STATUSES = (429, 500, 502, 503, 504, "reset", "drop", "timeout")
NO_ANSWER = ("reset", "drop", "timeout")


@dataclass
class Fault(Trigger):
    """A failure applied to matching Web API calls.

    ``method`` is a Web API method name or a glob (``"chat.postMessage"``, ``"chat.*"``, ``"*"``). ``status``:

    - ``429``: HTTP 429, ``Retry-After: retry_after``, ``{"ok": false, "error": "ratelimited"}``; the call is
      never carried out (that is what a 429 promises).
    - ``500``/``502``/``503``/``504``: that status with ``{"ok": false, "error": error}``.
    - ``"reset"``: no answer, the connection is reset (TCP RST).
    - ``"drop"``: no answer, the connection is closed (FIN), as a load balancer that gives up does.
    - ``"timeout"``: no answer for ``timeout_seconds`` (longer than the client waits), then the connection closes.

    ``accepted`` (default True): the call is carried out first (the message is in the channel and its history,
    the view is open…) and only its answer fails; False fails before anything happens. A 429 is never accepted.
    """

    method: str = "chat.postMessage"
    status: int | str = 500
    accepted: bool = True
    retry_after: int = 1
    error: str = "internal_error"
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        if self.status == 429:
            self.accepted = False
        super().__post_init__()

    @property
    def answers(self) -> bool:
        """False when the client gets no answer at all (reset, drop, timeout)."""
        return self.status not in NO_ANSWER

    def fires(self, method: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method) and self._draw()

    def answer(self) -> tuple[int, dict[str, str], dict]:
        """The HTTP answer of a fault that answers."""
        if self.status == 429:
            return 429, {"Retry-After": str(self.retry_after)}, {"ok": False, "error": "ratelimited"}
        return int(self.status), {}, {"ok": False, "error": self.error}


class NoAnswer(Exception):
    """Raised by the Web API dispatch when the client must get no answer: the server closes the connection
    (after `hang_seconds`), with a reset when `reset`."""

    def __init__(self, *, hang_seconds: float = 0.0, reset: bool = False):
        super().__init__("no answer")
        self.hang_seconds = hang_seconds
        self.reset = reset


def no_answer(fault: Fault) -> NoAnswer:
    return NoAnswer(hang_seconds=fault.timeout_seconds if fault.status == "timeout" else 0.0,
                    reset=fault.status == "reset")
