"""Per-call latency with jitter, so benchmarks see Google's and Slack's response times.

Shared by the emulators. Each method (a Gmail discovery method id, a Slack
method such as ``chat.postMessage``, or a glob: ``"*"``, ``"chat.*"``) gets a
base latency and a jitter; every call draws uniformly from ``[ms - jitter, ms + jitter]``,
clamped at 0.  One seedable generator serves every draw, so a seeded run
draws the same sequence of latencies (which call gets which still depends
on the order the calls arrive in).  The draw happens here; the wait happens
on the request's own thread, outside every lock, so concurrent calls overlap.
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

    def clear(self) -> None:
        with self._lock:
            self._settings.clear()

    def setting_for(self, method_id: str) -> LatencySetting | None:
        """An exact entry wins over globs; among globs the slowest base latency wins."""
        with self._lock:
            exact = self._settings.get(method_id)
            if exact is not None:
                return exact
            matching = [s for pattern, s in self._settings.items() if fnmatch.fnmatchcase(method_id, pattern)]
        return max(matching, key=lambda s: s.ms, default=None)

    def draw_ms(self, method_id: str) -> float:
        setting = self.setting_for(method_id)
        if setting is None:
            return 0.0
        if not setting.jitter_ms:
            return setting.ms
        with self._lock:
            offset = self._rng.uniform(-setting.jitter_ms, setting.jitter_ms)
        return max(0.0, setting.ms + offset)
