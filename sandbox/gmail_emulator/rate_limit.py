"""Gmail's per-user rate limit: quota units per user over a moving window.

Google publishes 250 quota units per user per second as a moving average
(15,000 per user per minute in the newer wording) and answers a call over it
with HTTP 429, reason ``rateLimitExceeded``.  Here every admitted call leaves
``(time, units)`` in its user's window; a call is refused when the units
still inside the window plus its own would exceed the budget.  A refused
call costs nothing, so a client that keeps retrying never locks itself out
for good.  A call that is admitted and then fails an injected fault gets its
units back (faults cost nothing, as everywhere in the emulator).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class Charge:
    """Units one admitted call holds in its user's window (refund sets units to 0)."""

    at: float
    units: int


class UserRateLimiter:
    def __init__(self, units_per_second: float, window_seconds: float = 1.0, clock=time.monotonic) -> None:
        if units_per_second <= 0 or window_seconds <= 0:
            raise ValueError("units_per_second and window_seconds must be positive")
        self.units_per_second = units_per_second
        self.window_seconds = window_seconds
        self.budget = units_per_second * window_seconds
        self._clock = clock
        self._windows: dict[str, deque[Charge]] = {}
        self._lock = threading.Lock()

    def _window(self, user: str, now: float) -> deque[Charge]:
        window = self._windows.setdefault(user, deque())
        while window and window[0].at <= now - self.window_seconds:
            window.popleft()
        return window

    def admit(self, user: str, units: int) -> Charge | float:
        """The charge of an admitted call, or the seconds to wait before this call would fit.

        A call that costs more than the whole budget is admitted when the
        window is empty: with Google's 250 units no method costs that much,
        and a tiny test budget should slow a client down, not lock it out.
        """
        with self._lock:
            now = self._clock()
            window = self._window(user, now)
            used = sum(charge.units for charge in window)
            if used + units <= self.budget or not used:
                charge = Charge(now, units)
                window.append(charge)
                return charge
            # The oldest charges leave the window first: find when enough of them have.
            freed = 0.0
            for charge in window:
                freed += charge.units
                if used - freed + units <= self.budget:
                    return max(0.0, charge.at + self.window_seconds - now)
            return self.window_seconds

    def refund(self, charge: Charge) -> None:
        with self._lock:
            charge.units = 0
