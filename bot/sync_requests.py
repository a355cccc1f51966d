"""Syncs asked for from the web side (bot/jobs.py's `Jobs` is built on this): a Gmail push, a mailbox connected, a
setting changed. What a push asks for is `usecases.push`; this says when it runs, with what backpressure.

Uses the scheduler's state (`Jobs`): its lock, the mailboxes in flight and those whose queued run will ask Gmail
itself, the push pool's load and limit, and `_submit`.
"""
from __future__ import annotations

import time
from concurrent.futures import wait
from typing import Any

from crm_store import leases
from crm_store.leases import Job, Lease
from crm_store.push_leases import PushClaim, claim_pushed
from crm_store.models import GmailAccount
from gmail.push import Push, push_address
from telemetry import metrics
from usecases.push import PushOutcome, decide, mailboxes_to_sync


class SyncRequests:
    def request_sync(self, account_id: int) -> bool:
        """Sync one mailbox as soon as possible; True if this replica started it now.

        The mailbox is leased first (due or not), so the dispatch loop cannot take the run from under the
        caller (`wait_for_requested` waits for it). Only when it is busy is a request recorded: the run
        holding it starts again when done (or, if it just ended, the loop sees the request within a second).
        Backpressure: a run of the mailbox queued here and not started covers the request (nothing written); with
        PUSH_QUEUE_LIMIT push runs already queued or running, the request is recorded and the polling sweep takes
        it, so an overload makes pushes slower, never a queue that grows without bound.
        """
        if self.pipeline is None or self._stopping.is_set():
            leases.request_sync(self.services.engine, [account_id])
            return False
        with self._lock:
            waiting_run = self._in_flight.get(account_id) if account_id in self._will_ask else None
            held_here = account_id in self._in_flight  # leased by this replica: a run queued or running, a poll
            overloaded = waiting_run is None and self._push_load >= self.push_queue_limit
            if waiting_run is not None:
                self._requested.add(waiting_run)
        if waiting_run is not None:
            # A run of this mailbox is queued here and will ask Gmail itself: it reads this push's news too.
            metrics.PUSH_BACKPRESSURE.labels(result="coalesced").inc()
            waiting_run.add_done_callback(self._forget_request)
            return False
        if overloaded:
            # Backpressure: recorded on the mailbox; the dispatch loop's next sweep polls it with many others.
            metrics.PUSH_BACKPRESSURE.labels(result="deferred").inc()
            leases.request_sync(self.services.engine, [account_id])
            self._wake.set()
            return False
        # This replica holds the lease (its run is past its history.list, or a poll has the mailbox): a claim could
        # only fail, a write for nothing, and under load many pushes come while their mailbox runs (issue 17).
        taken = [] if held_here else leases.claim_leases(
            self.services.engine, self.owner, Job.SYNC, limit=1, force=True, lease_seconds=self.lease_seconds,
            account_ids=[account_id])
        if not taken:
            # The run holding the mailbox sees the request at its release and runs again (ended just now: the
            # dispatch loop sees it within a second).
            leases.request_sync(self.services.engine, [account_id])
            with self._lock:
                running = self._in_flight.get(account_id)  # ours: whoever waits for this waits for that run
                if running is not None:
                    self._requested.add(running)
            if running is not None:
                running.add_done_callback(self._forget_request)
            self._wake.set()
            return False
        return self._run_requested(taken[0])

    def _run_requested(self, lease: Lease) -> bool:
        """Run a mailbox leased for a request now, on the push pool; True if it started."""
        future = self._submit(lease, Job.SYNC, pool=self._push_pool)
        if future is None:
            return False
        with self._lock:
            self._requested.add(future)
        future.add_done_callback(self._forget_request)
        return True

    def requested_in_flight(self) -> int:
        """Syncs started (or waited for) by `request_sync` that have not finished: for /metrics."""
        with self._lock:
            return len(self._requested)

    def _forget_request(self, future) -> None:
        with self._lock:
            self._requested.discard(future)

    def wait_for_requested(self, timeout: float = 30.0) -> None:
        """Wait until the syncs started by `request_sync` (pushes, setting changes) are done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = list(self._requested)
            if not pending:
                return
            wait(pending, timeout=max(0.0, deadline - time.monotonic()))

    def push_received(self, envelope: Any) -> PushOutcome:
        """A Gmail Pub/Sub push: sync the mailboxes it names now (`usecases.push` says which). Returns what became
        of it: "accepted", "coalesced" (nothing new to read) or "ignored" (an envelope naming no mailbox of ours)."""
        push = push_address(envelope)
        if push is None:
            return PushOutcome.IGNORED
        claim = self._claim_pushed(push)
        if claim is not None and claim.lease is not None:
            return PushOutcome.ACCEPTED
        if claim is not None and claim.seen is not None:  # the claim's statement saw the mailbox: no read again
            decision = decide(push, claim.seen)
        else:
            decision = mailboxes_to_sync(self.services.engine, envelope)
        for account_id in decision.to_sync:
            self.request_sync(account_id)
        return decision.outcome

    def _claim_pushed(self, push: Push) -> PushClaim | None:
        """The common push, in one statement: the mailbox has news and is free, and this replica has room, so it is
        leased and its run started as `request_sync` would; or it has nothing new, and the statement says so. None
        when the claim was not tried (no room: `request_sync`'s backpressure decides); then, as when the claim
        could not say, the push is read and decided as before."""
        if self.pipeline is None or self._stopping.is_set():
            return None
        with self._lock:
            if self._push_load >= self.push_queue_limit:
                return None
            # A run of this mailbox queued or running here holds its lease: the claim would take nothing (a burst of
            # pushes for one mailbox would each pay a write for nothing). Decided below, as before.
            if self._pushed.get(push.address) in self._in_flight:
                return None
        claim = claim_pushed(self.services.engine, self.owner, push.address, push.history_id,
                             lease_seconds=self.lease_seconds)
        if claim.lease is not None:
            with self._lock:
                self._pushed[push.address] = claim.lease.account_id
            self._run_requested(claim.lease)
        return claim

    def mailbox_connected(self, account: GmailAccount) -> None:
        self.request_sync(account.id)
