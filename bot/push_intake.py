"""Pub/Sub pushes taken off the web threads, one mailbox's waiting pushes folded into one (SPEC §8 overload).

Taking a push is a write (`Jobs.push_received`'s claim; a read too when it claims nothing). On the web threads,
under twice the load `serve` can carry, every waitress thread ended up waiting for the database: pushes were
answered after Pub/Sub's 10-second deadline (a nack: delivered again, more work) and Slack's requests waited behind
them for a thread. Here the intake threads take the pushes; the web thread waits for its push to be taken, as
before, but at most ANSWER_WITHIN_SECONDS:

- Normally a push is taken in milliseconds and its answer is what it was: 204 once the mailbox's sync is started
  or recorded, 503 when the database is away (Pub/Sub delivers it again).
- Past capacity the answer comes after ANSWER_WITHIN_SECONDS at most, while the push waits here, in memory, to be
  taken. Waiting pushes of the same mailbox are one (the newest history id stands for them all), so what waits is
  bounded by the number of mailboxes, and the more pushes wait, the fewer reads and writes each costs. Such a push
  is answered 503, not acknowledged (bot/routes/gmail.py): if the process dies before taking it, Pub/Sub delivers
  it again after its push backoff, and nothing rests on memory alone.
- At most `max_held` web threads wait for the intake at once (half of HTTP_THREADS): past that a push is answered
  at once, so Slack's requests always find a thread.
- More than MAX_WAITING mailboxes waiting (an address flood from a holder of the push credentials): the push is
  taken on the web thread, the old way.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from contextvars import copy_context
from typing import Any, Callable

from gmail.push import Push, push_address
from usecases.push import PushOutcome

log = logging.getLogger(__name__)

# As many pushes taken at once as when the web threads took them (HTTP_THREADS): on a starved machine a take waits
# (pool, SQLite write gate, interpreter lock) far longer than it works, and 4 threads took fewer a second.
INTAKE_THREADS = 16
ANSWER_WITHIN_SECONDS = 2.0  # well inside Pub/Sub's 10-second push deadline
MAX_WAITING = 10_000


class _Waiting:
    """One mailbox's pushes waiting to be taken: the envelope that stands for them all, and their outcome."""

    def __init__(self, push: Push, envelope: Any):
        self.push, self.envelope = push, envelope
        self.context = copy_context()  # the request's log context (telemetry/log_context.py), for its lines
        self.taken = threading.Event()
        self.outcome: PushOutcome | None = None
        self.error: BaseException | None = None
        self.answered_early = False  # a web thread stopped waiting for it

    def absorb(self, push: Push, envelope: Any) -> None:
        """A later push of the same mailbox: the one with the newer history id stands for both (no history id
        means "sync whatever is there", which covers any)."""
        if self.push.history_id is None:
            return
        if push.history_id is None or push.history_id > self.push.history_id:
            self.push, self.envelope = push, envelope


class PushIntake:
    def __init__(self, take: Callable[[Any], PushOutcome], *, threads: int = INTAKE_THREADS,
                 answer_within: float = ANSWER_WITHIN_SECONDS, max_held: int = 8, max_waiting: int = MAX_WAITING):
        self._take = take
        self.answer_within = answer_within
        self.max_held = max_held
        self._held = 0  # web threads waiting for their push to be taken
        self.max_waiting = max_waiting
        self._waiting: dict[str, _Waiting] = {}
        self._order: deque[str] = deque()
        self._busy = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = threads
        self._started = False  # the threads start with the first push (an app built and never served has none)

    def submit(self, envelope: Any) -> PushOutcome | None:
        """What became of the push, once taken; None when it still waits to be taken after `answer_within` (it
        will be). Raises what taking it raised (the database being away)."""
        push = push_address(envelope)
        if push is None:
            return PushOutcome.IGNORED  # names no mailbox: nothing to read or write
        with self._cond:
            waiting = self._waiting.get(push.address)
            if waiting is not None:
                waiting.absorb(push, envelope)
            elif len(self._waiting) < self.max_waiting and not self._stopping:
                waiting = self._waiting[push.address] = _Waiting(push, envelope)
                self._order.append(push.address)
                self._start()
                self._cond.notify()
            hold = waiting is not None and self._held < self.max_held
            if hold:
                self._held += 1
        if waiting is None:
            return self._take(envelope)
        try:
            taken = hold and waiting.taken.wait(self.answer_within)
        finally:
            if hold:
                with self._cond:
                    self._held -= 1
        if not taken:
            waiting.answered_early = True
            return None
        if waiting.error is not None:
            raise waiting.error
        return waiting.outcome

    def _start(self) -> None:
        if not self._started:
            self._started = True
            for n in range(self._threads):
                threading.Thread(target=self._run, name=f"push-intake-{n}", daemon=True).start()

    def waiting(self) -> int:
        """Mailboxes with pushes waiting to be taken."""
        with self._cond:
            return len(self._waiting)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._order and not self._stopping:
                    self._cond.wait()
                if not self._order:
                    return
                waiting = self._waiting.pop(self._order.popleft())
                self._busy += 1
            try:
                waiting.outcome = waiting.context.run(self._take, waiting.envelope)
            except Exception as error:  # noqa: BLE001 - handed to the web thread waiting for it
                waiting.error = error
                if waiting.answered_early:
                    log.warning("a push answered early was not taken (%s); Pub/Sub delivers it again",
                                type(error).__name__)
            finally:
                with self._cond:
                    self._busy -= 1
                    if self._stopping:  # only `drain` waits for the work to end; the idle threads sleep on
                        self._cond.notify_all()
                waiting.taken.set()

    def drain(self, timeout: float = 10.0) -> bool:
        """Stop taking new pushes into memory and take those waiting; False if some still wait after `timeout`."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self._order and not self._busy, timeout)
