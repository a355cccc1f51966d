"""Per-call latency with jitter for the Web API, so benchmarks see Slack's response times.

Each method (a name such as ``chat.postMessage``, or a glob: ``"*"``,
``"chat.*"``) gets a base latency and a jitter; every call draws uniformly
from ``[ms - jitter, ms + jitter]``, clamped at 0.  One seedable generator
serves every draw, so a seeded run draws the same sequence (which call gets
which still depends on arrival order).  The wait happens on the request's
own thread, outside the emulator's lock, so concurrent calls overlap.
"""
from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencySetting:
    ms: float
    jitter_ms: float = 0.0


class LatencyTable:
    def __init__(self) -> None:
        self._settings: dict[str, LatencySetting] = {}
        self._rng = random.Random()
        self._lock = threading.Lock()

    def set(self, ms: float, method: str = "*", *, jitter_ms: float = 0.0, seed: int | None = None) -> None:
        if ms < 0 or jitter_ms < 0:
            raise ValueError("latency and jitter are durations: they cannot be negative")
        with self._lock:
            if seed is not None:
                self._rng = random.Random(seed)
            if ms or jitter_ms:
                self._settings[method] = LatencySetting(float(ms), float(jitter_ms))
            else:
                self._settings.pop(method, None)

    def draw_ms(self, method: str) -> float:
        """An exact entry wins over globs; among globs the slowest base latency wins."""
        with self._lock:
            setting = self._settings.get(method)
            if setting is None:
                matching = [s for pattern, s in self._settings.items() if fnmatch.fnmatchcase(method, pattern)]
                setting = max(matching, key=lambda s: s.ms, default=None)
            if setting is None:
                return 0.0
            if not setting.jitter_ms:
                return setting.ms
            return max(0.0, setting.ms + self._rng.uniform(-setting.jitter_ms, setting.jitter_ms))
