"""Gmail calls for several mailboxes at once, for one person waiting in Slack (contact view, App Home).

One long-lived, bounded pool per running app: each of its threads keeps its own Gmail service and HTTP
connection (httplib2 is not thread-safe), so a view of five mailboxes costs five parallel round trips,
not five discovery builds. A mailbox that does not answer within the deadline is reported as
unavailable while the others are shown; its call finishes (or times out) on its own thread.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from usecases.context import Services

log = logging.getLogger(__name__)

MAILBOX_THREADS = 16
POOL_KEY = "mailbox_view_pool"
_lock = threading.Lock()

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    key: Any
    value: T | None = None
    error: BaseException | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out


def _pool(services: Services) -> ThreadPoolExecutor:
    with _lock:
        pool = services.extras.get(POOL_KEY)
        if pool is None:
            pool = services.extras[POOL_KEY] = ThreadPoolExecutor(max_workers=MAILBOX_THREADS,
                                                                   thread_name_prefix="mailbox-view")
        return pool


def run_all(services: Services, calls: dict[Any, Callable[[], T]], *, timeout: float) -> dict[Any, Outcome[T]]:
    """Run each call on the pool; collect what finished within `timeout` seconds of now."""
    if not calls:
        return {}
    pool = _pool(services)
    futures: dict[Any, Future] = {key: pool.submit(call) for key, call in calls.items()}
    deadline = time.monotonic() + timeout
    wait_for_futures(list(futures.values()), timeout=max(0.0, deadline - time.monotonic()))
    outcomes: dict[Any, Outcome[T]] = {}
    for key, future in futures.items():
        if not future.done():
            outcomes[key] = Outcome(key, timed_out=True)
            continue
        error = future.exception()
        outcomes[key] = Outcome(key, error=error) if error is not None else Outcome(key, value=future.result())
    return outcomes


def shutdown(services: Services) -> None:
    with _lock:
        pool = services.extras.pop(POOL_KEY, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
