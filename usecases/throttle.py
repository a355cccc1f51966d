"""A few passes per key, then one every so many seconds; what comes sooner is dropped (the caller counts it).

For answers nobody must get many of at once (THREATS "Bounded work": one person must not take the bot's threads or
Slack's rate away from others), such as MailMagnet's answers in a person's Messages tab: Slack takes about one
post a second per channel, so a flood typed there gets two answers, not one `chat.postMessage` each, whose 429
retries would sleep on the Slack listener threads everyone's requests need. The limit holds per running replica.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Hashable

from usecases.context import Services

# Answers in one DM: two at once (a person typing "hi" then "help"), then one every five seconds — well under
# Slack's one post a second per channel, which the DM's alerts and digests share.
DM_ANSWER_BURST = 2
DM_ANSWER_INTERVAL_SECONDS = 5.0
MAX_KEYS = 10_000  # full keys are forgotten first; memory stays bounded whatever the flood


class Throttle:
    """A token bucket per key: `burst` passes at once, then one every `interval` seconds."""

    def __init__(self, interval: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_KEYS):
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) / self.interval)

    def allow(self, key: Hashable) -> bool:
        """True and one pass taken, or False (nothing taken) when the key has none left right now."""
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens < 1:
                return False
            if key not in self._buckets and len(self._buckets) >= self._max_keys:
                self._buckets = {k: v for k, v in self._buckets.items() if self._tokens(k, now) < self.burst}
                if len(self._buckets) >= self._max_keys:
                    return False  # that many floods at once: nobody new is answered until they pass
            self._buckets[key] = (tokens - 1, now)
            return True


_lock = threading.Lock()


def dm_answers(services: Services) -> Throttle:
    """The running app's throttle of answers in the Messages tab, keyed by (workspace, channel)."""
    with _lock:
        if services.dm_answers is None:
            services.dm_answers = Throttle(DM_ANSWER_INTERVAL_SECONDS, DM_ANSWER_BURST)
        return services.dm_answers
