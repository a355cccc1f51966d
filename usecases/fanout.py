"""Gmail calls for several mailboxes at once, for one person waiting in Slack (contact view, App Home).

One long-lived, bounded pool per running app: each of its threads keeps its own Gmail service and HTTP
connection (httplib2 is not thread-safe), so a view of five mailboxes costs five parallel round trips,
not five discovery builds.

Everyone shares it, so no one person can take it from the others (THREATS "Bounded work"):
- one view in flight per person (`one_view_at_a_time`): a second `/contact` or "Show more" while one is
  being fetched is refused at once (`ViewInFlight`), before it reads anything, instead of sending another
  round of calls to every colleague's Gmail; likewise one email's Open or Reply per person, in a slot of its
  own (`one_email_at_a_time`), since those call Gmail on a Slack listener thread;
- a share of the threads per person (`USER_SHARE`): a person's calls beyond it wait in that person's own
  queue, never in front of someone else's;
- a deadline per call: when it passes, the calls still waiting are cancelled (they never run), and a
  call already running gives up by then (`GmailService.deadline`: no request or retry starts after it,
  and its socket waits no longer than what was left). A mailbox that has not answered by then is
  reported as unavailable while the others are shown.
The limits hold per running replica: each has its own pool.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Generic, Hashable, Iterator, TypeVar

from crm_store.errors import DomainError
from usecases.actors import Actor, SlackActorRef
from usecases.context import Services

log = logging.getLogger(__name__)

MAILBOX_THREADS = 32
# A person's calls running at once: a view of up to this many mailboxes is one round trip, and two people
# with large views still leave threads for a third.
USER_SHARE = 8
_lock = threading.Lock()

T = TypeVar("T")
Person = Hashable


class ViewInFlight(DomainError):
    """The same person's previous view is still being fetched; the surface says so in its own words."""


@dataclass
class Outcome(Generic[T]):
    key: Any
    value: T | None = None
    error: BaseException | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out


@dataclass
class _Call:
    run: Callable[[], Any]
    deadline: float  # time.monotonic()
    future: Future


class FairPool:
    """A thread pool where each person has at most `share` calls running; the rest wait in their own queue."""

    def __init__(self, threads: int, share: int, within: Callable[[float], AbstractContextManager]):
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mailbox-view")
        self._share = share
        self._within = within  # runs a call under its deadline (the Gmail client's)
        self._lock = threading.Lock()
        self._running: dict[Person, int] = {}
        self._waiting: dict[Person, deque[_Call]] = {}
        self._viewing: set[Person] = set()

    @contextmanager
    def one_view(self, person: Person) -> Iterator[None]:
        with self._lock:
            if person in self._viewing:
                raise ViewInFlight()
            self._viewing.add(person)
        try:
            yield
        finally:
            with self._lock:
                self._viewing.discard(person)

    def submit(self, person: Person, run: Callable[[], Any], deadline: float) -> Future:
        call = _Call(run, deadline, Future())
        with self._lock:
            running = self._running.get(person, 0)
            if running < self._share:
                self._running[person] = running + 1
            else:
                self._waiting.setdefault(person, deque()).append(call)
                return call.future
        self._start(person, call)
        return call.future

    def _start(self, person: Person, call: _Call) -> None:
        try:
            self._executor.submit(self._run, person, call)
        except RuntimeError:  # shut down
            call.future.cancel()
            self._finished(person)

    def _run(self, person: Person, call: _Call) -> None:
        try:
            if not call.future.set_running_or_notify_cancel():
                return  # cancelled while waiting: its view has given up on it
            if time.monotonic() >= call.deadline:
                call.future.set_exception(TimeoutError("its deadline passed before a thread was free"))
                return
            try:
                with self._within(call.deadline):
                    result = call.run()
            except BaseException as error:  # noqa: BLE001 - handed to the waiting view as the call's outcome
                call.future.set_exception(error)
            else:
                call.future.set_result(result)
        finally:
            self._finished(person)

    def _finished(self, person: Person) -> None:
        """A call of `person` left its thread: the next of theirs still wanted takes the freed share."""
        with self._lock:
            queue = self._waiting.get(person)
            following = None
            while queue and following is None:
                candidate = queue.popleft()
                if not candidate.future.cancelled():
                    following = candidate
            if queue is not None and not queue:
                del self._waiting[person]
            if following is None:
                self._running[person] -= 1
                if not self._running[person]:
                    del self._running[person]
        if following is not None:
            self._start(person, following)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def person_of(who: Actor | SlackActorRef) -> Person:
    if isinstance(who, SlackActorRef):
        return who.team_id, who.user_id
    return (who.team_id, who.slack_user_id) if who.slack_user_id else ("crm", who.crm_user_id)


def _pool(services: Services) -> FairPool:
    with _lock:
        pool = services.mailbox_pool
        if pool is None:
            def within(deadline: float) -> AbstractContextManager:
                gmail = services.gmail
                return gmail.deadline(deadline) if gmail is not None else nullcontext()

            pool = services.mailbox_pool = FairPool(MAILBOX_THREADS, USER_SHARE, within)
        return pool


def run_all(services: Services, actor: Actor, calls: dict[Any, Callable[[], T]], *,
            timeout: float) -> dict[Any, Outcome[T]]:
    """Run each call on the pool, within `actor`'s share; collect what finished within `timeout` seconds of
    now. What has not finished by then is cancelled if it has not started, and gives up if it has."""
    if not calls:
        return {}
    pool = _pool(services)
    person = person_of(actor)
    deadline = time.monotonic() + timeout
    futures: dict[Any, Future] = {key: pool.submit(person, call, deadline) for key, call in calls.items()}
    wait_for_futures(list(futures.values()), timeout=max(0.0, deadline - time.monotonic()))
    outcomes: dict[Any, Outcome[T]] = {}
    for key, future in futures.items():
        if not future.done():
            future.cancel()  # still waiting for a thread: it never runs
            outcomes[key] = Outcome(key, timed_out=True)
            continue
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or isinstance(error, TimeoutError):
            outcomes[key] = Outcome(key, timed_out=True)
        elif error is not None:
            outcomes[key] = Outcome(key, error=error)
        else:
            outcomes[key] = Outcome(key, value=future.result())
    return outcomes


def _one_at_a_time(use_case: Callable[..., T], slot_of: Callable[[SlackActorRef], Any]) -> Callable[..., T]:
    """`use_case(services, who, …)` run only while `slot_of(who)` is free in the pool; else ViewInFlight at once."""

    @functools.wraps(use_case)
    def guarded(services: Services, who: SlackActorRef, *args, **kwargs) -> T:
        with _pool(services).one_view(slot_of(who)):
            return use_case(services, who, *args, **kwargs)

    return guarded


def one_view_at_a_time(view: Callable[..., T]) -> Callable[..., T]:
    """For a use case `view(services, who, …)` someone waits for in Slack: while their previous one runs, a
    second is refused at once (ViewInFlight), before it reads anything."""

    return _one_at_a_time(view, person_of)


def one_email_at_a_time(action: Callable[..., T]) -> Callable[..., T]:
    """For a use case `action(services, who, …)` on one email (Open, Reply) that calls Gmail on the Slack listener
    thread: while the person's previous one runs, a second is refused at once (ViewInFlight). Its own slot,
    beside the person's view: opening an email while "Show more" loads is fine; forty Opens at once are not."""

    return _one_at_a_time(action, lambda who: ("one email", person_of(who)))


def gmail_deadline(services: Services, seconds: float) -> AbstractContextManager:
    """Gmail calls made on this thread inside the block give up `seconds` from now (`GmailService.deadline`): a
    single email's Open or Reply, run on a Slack listener thread, holds it no longer than a view's fan-out would."""
    gmail = services.gmail
    return gmail.deadline(time.monotonic() + seconds) if gmail is not None else nullcontext()


def shutdown(services: Services) -> None:
    with _lock:
        pool, services.mailbox_pool = services.mailbox_pool, None
    if pool is not None:
        pool.shutdown()
