"""The polling sweep's side of the scheduler (bot/jobs.py's `Jobs` is built on this): a chunk of leased mailboxes
polled many per Gmail round trip (gmail/sweep.py); the quiet ones handed back in one statement as each batch
answers, the busy ones run with Gmail's first history page.

Uses the scheduler's state (`Jobs`): its lock, the mailboxes in flight, the sweep's executor and current run,
`_submit` and `request_sync`.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from crm_store import leases
from crm_store.leases import Job, Lease
from gmail.accounts import save_refreshed_credentials
from gmail.sweep import plan_poll
from telemetry import metrics
from telemetry.log_context import in_job

log = logging.getLogger(__name__)


class PollingSweeps:
    def _start_sweep(self, taken: list[Lease]) -> None:
        with self._lock:
            for lease in taken:
                self._in_flight[lease.account_id] = None
        try:
            future = self._sweeper.submit(in_job("poll_sweep", None, self._sweep_chunk), taken)
        except RuntimeError:  # shutting down
            for lease in taken:
                with self._lock:
                    self._in_flight.pop(lease.account_id, None)
                leases.release(self.services.engine, self.owner, lease.account_id)
            return
        with self._lock:
            self._sweep_run = future

    def _sweep_chunk(self, taken: list[Lease]) -> None:
        """Poll a chunk of leased mailboxes. As each batch of answers comes in, its quiet mailboxes are handed
        back in one statement and its busy ones go to the pipeline: no mailbox is held longer than its batch."""
        by_id = {lease.account_id: lease for lease in taken}
        started = time.monotonic()
        try:
            plan = plan_poll(self.services.engine, self.services.cipher, self.services.google, list(by_id),
                             now=self.clock(), watch_topic=self.services.settings.gmail_pubsub_topic)
        except Exception:  # noqa: BLE001 - the sweep failing must not strand its mailboxes
            log.exception("polling sweep failed; its mailboxes are synced one by one")
            for lease in taken:
                self._submit(lease, Job.SYNC)
            return
        # The worker pool, not the push threads: a first sync or a thousand watches to renew must never make a
        # push wait in a queue.
        for account_id in plan.full:
            self._submit(by_id[account_id], Job.SYNC)

        def finish(part) -> None:
            for account_id, credentials in part.refreshed.items():
                save_refreshed_credentials(self.services.engine, self.services.cipher, account_id, credentials, None)
            for account_id, first_page in part.busy.items():
                self._submit(by_id[account_id], Job.SYNC, first_page=first_page)
            polled = [leases.Polled(account_id, history_id,
                                    leases.next_run_at(by_id[account_id].sync_due, by_id[account_id].claimed_at,
                                                       self._poll_interval(account_id in plan.watched)))
                      for account_id, history_id in part.quiet.items()]
            try:
                again = leases.release_polled(self.services.engine, self.owner, polled, self.clock())
            finally:
                with self._lock:
                    for item in polled:
                        self._in_flight.pop(item.account_id, None)
            metrics.SYNC_RUNS.labels(job=Job.SYNC.value, result="synced").inc(len(polled))
            for account_id in again:
                if not self._stopping.is_set():
                    self.request_sync(account_id)  # a push arrived while the sweep held the mailbox

        try:
            if plan.targets:
                self.sweep.poll(plan.targets, on_batch=finish)
        except Exception:  # noqa: BLE001 - a mailbox this sweep still holds is synced on its own
            log.exception("polling sweep failed part way")
            with self._lock:
                stranded = [i for i in by_id if i in self._in_flight and self._in_flight[i] is None]
            for account_id in stranded:
                self._submit(by_id[account_id], Job.SYNC)
        finally:
            metrics.SWEEP_SECONDS.observe(time.monotonic() - started)
            self._wake.set()

    def _poll_interval(self, watched: bool) -> timedelta:
        return max(self.push_poll_interval, self.sync_interval) if watched else self.sync_interval
