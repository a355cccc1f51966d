"""Slack's chat.postMessage limit: about one message per second per channel, short bursts tolerated.

A token bucket per channel: it holds up to ``burst`` posts and refills at
``per_second``.  A post that finds it empty is refused with HTTP 429 and a
``Retry-After`` of whole seconds (how Slack sends it, and what slack_sdk's
``RateLimitErrorRetryHandler`` reads with ``int()``), counted as the time
until the next post fits.  A refused post takes nothing from the bucket.
"""
from __future__ import annotations

import math
import time
from typing import Callable


class ChannelPostRate:
    """Not thread-safe on its own: SlackEmulator calls it under its lock."""

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        if burst < 1:
            raise ValueError("burst is how many posts fit at once: at least 1")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # channel id -> (tokens, when counted)

    def admit(self, channel_id: str) -> int | None:
        """None when the post may go; else the Retry-After seconds (at least 1)."""
        now = self._clock()
        tokens, counted = self._buckets.get(channel_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - counted) * self.per_second)
        if tokens >= 1.0:
            self._buckets[channel_id] = (tokens - 1.0, now)
            return None
        self._buckets[channel_id] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.per_second))
