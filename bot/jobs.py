"""The scheduler: per-mailbox sync and label runs on a thread, leased so replicas share the work.

- Cadence: each mailbox is due for a sync every SYNC_INTERVAL_SECONDS and for a label run (which syncs
  too) every LABEL_INTERVAL_SECONDS, counted from when its previous run was due (`leases.next_run_at`),
  so a run that ends after the next beat never makes the mailbox skip it; a run longer than its interval
  is followed at once by the next one, never overlapped by it.
- One dispatch loop per replica leases what is due (label runs first: they sync too), keeps up to twice
  WORKER_CONCURRENCY mailboxes in flight on a bounded pool, and sleeps until the earliest due time, a run
  ending or a request, at most POLL_SECONDS (work made due elsewhere: another replica, a setting).
- A lease makes sure a mailbox is never worked on twice at once, by this replica or another; a replica
  that dies loses its leases when they expire; SIGTERM hands them back.
- A Gmail push asks for an immediate sync, unless the mailbox's cursor is already at or past the push's
  history id (Pub/Sub sends one push per change, late and repeated). If another run holds the mailbox,
  the request stays recorded and that run starts again when done: at most one pending sync per mailbox.
- What a run does is `usecases.mailbox_run` (sync → post → file → renew the watch); what a push asks for is
  `usecases.push`; housekeeping, the refile trigger (every REFILE_CHECK_SECONDS) and the Zoho sync are
  `usecases.upkeep`; every INCIDENT_CHECK_SECONDS the admins are DMed of mailboxes newly revoked or failing for
  an hour, once per incident whichever replica looks first (`usecases.overview.tell_admins_of_incidents`).
  This module keeps the leases, the threads and the timing, and adds each run's Gmail units to the mailbox's
  count of today when it hands the lease back, with the run's alert results in the same transaction.
- Built on four parts with their own reasons to change: syncs asked for by the web side and their backpressure
  (bot/sync_requests.py), the polling sweep (bot/polling.py), the periodic jobs (bot/periodic.py), the leases this
  replica holds: renewed, looked at, freed when their process died (bot/held_leases.py).
"""
from __future__ import annotations

import logging
import threading
import time
from functools import partial
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any, Callable

import schedule
from sqlmodel import select

from bot.held_leases import HeldLeases
from bot.periodic import PeriodicJobs
from bot.polling import PollingSweeps
from bot.sync_requests import SyncRequests
from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job, Lease
from crm_store.models import AccountStatus, GmailAccount, utcnow
from gmail import metering
from gmail.alert_results import write_alert_results
from gmail.sweep import HistorySweep
from gmail.sync import SyncResult, SyncStatus
from telemetry import metrics
from telemetry.failpoints import failpoint
from telemetry.log_context import in_job
from usecases import upkeep
from usecases.context import Services
from usecases.mailbox_run import MailboxRunner, RunOutcome

log = logging.getLogger(__name__)


# The longest the dispatch loop sleeps without looking at the database.
POLL_SECONDS = 1.0
REFILE_CHECK_SECONDS = 5
# How often a replica looks for mailbox incidents to tell the admins of (revoked, failing for an hour).
INCIDENT_CHECK_SECONDS = 15
DEAD_OWNER_CHECK_SECONDS = 2
HOUSEKEEPING_SECONDS = 3600


__all__ = ["Jobs", "RunOutcome"]


class Jobs(SyncRequests, PollingSweeps, PeriodicJobs, HeldLeases):
    def __init__(self, services: Services, *, owner: str | None = None, clock: Callable[[], datetime] = utcnow):
        self.services = services
        self.clock = clock  # when things are due and leased (tests drive the cadence with a clock of their own)
        settings = services.settings
        # host:pid:start, so a replica on this host frees a dead process's leases at once (leases.release_dead).
        self.owner = owner or leases.replica_owner()
        self.runner = MailboxRunner(services)
        self.magnet, self.pipeline = self.runner.magnet, self.runner.pipeline
        self.nudger = self.runner.nudger  # follow-up nudges (tests drive its clock)
        # The polling sweep: quiet mailboxes polled many at a time (gmail/sweep.py).
        self.sweep = HistorySweep(services.gmail, concurrency=settings.sweep_concurrency) \
            if self.pipeline is not None else None
        self.sweep_chunk = settings.sweep_chunk
        # Read at every use: tests (and a compressed clock) may shorten them before `start`.
        self.sync_interval = timedelta(seconds=settings.sync_interval_seconds)
        # With Gmail pushing a mailbox's news, polling is only the safety net.
        self.push_poll_interval = timedelta(seconds=settings.push_poll_interval_seconds)
        self.label_interval = timedelta(seconds=settings.label_interval_seconds)
        self.lease_seconds = settings.lease_seconds
        self.concurrency = settings.worker_concurrency
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mailbox")
        # Pushes and setting changes: their own threads, so an alert never queues behind a polling cycle.
        self._push_pool = ThreadPoolExecutor(settings.push_workers, thread_name_prefix="push")
        self.push_queue_limit = settings.push_queue_limit
        self._push_load = 0  # runs queued or running on `_push_pool`
        self._sweeper = ThreadPoolExecutor(1, thread_name_prefix="sweep")
        self._sweep_run: Future | None = None
        self._pool_load = 0  # runs queued or running on `_pool`
        self._scheduler = schedule.Scheduler()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._active: set[int] = set()  # running now
        self._will_ask: set[int] = set()  # queued runs that will ask Gmail for news when they start
        self._in_flight: dict[int, Future | None] = {}  # leased by this replica: queued or running
        self._pushed: dict[str, int] = {}  # address -> mailbox, of the pushes this replica claimed (sync_requests)
        self._requested: set = set()
        self.last_cycle: dict[str, str] = {}
        # The CRM sync (Zoho) runs beside the mailboxes, one run at a time, on its own thread.
        self._crm_pool = ThreadPoolExecutor(1, thread_name_prefix="crm-sync")
        self._crm_run: Future | None = None
        # Housekeeping, telling the admins, the refile trigger and the dead replicas' leases: off the loop that renews
        # the leases, one run of each at a time, a thread each (a slow one never holds up another).
        self._upkeep_pool, self._upkeep_runs = ThreadPoolExecutor(4, thread_name_prefix="upkeep"), {}
        self._refile = upkeep.RefileTrigger(services)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.pipeline is None:
            log.warning("Gmail is not configured: the scheduler runs no mailbox jobs")
        self._scheduler.every(max(5, self.lease_seconds // 3)).seconds.do(self._renew_leases)
        # Every periodic job but the renewals goes to the upkeep threads (bot/periodic.py, `start_upkeep`). The looks
        # `start` makes itself are made before the loop runs: nothing is renewed yet, and each must come first.
        self._scheduler.every(DEAD_OWNER_CHECK_SECONDS).seconds.do(
            self.start_upkeep, "release_dead_leases", self.release_dead_leases)
        self.release_dead_leases()  # a restarted replica takes its predecessor's mailboxes at once
        self._scheduler.every(HOUSEKEEPING_SECONDS).seconds.do(self.start_upkeep, "housekeeping", self.housekeeping)
        # The weekly response-time digest: checked every 10 minutes, sent once a week per workspace (claimed in the
        # database), on a pool thread so the chart and the uploads never hold the scheduler loop.
        self._scheduler.every(10).minutes.do(lambda: self._push_pool.submit(self.send_response_digests))
        self._scheduler.every(REFILE_CHECK_SECONDS).seconds.do(self.start_upkeep, "refile", self.refile_changed)
        self._scheduler.every(INCIDENT_CHECK_SECONDS).seconds.do(self.start_upkeep, "tell_admins", self.tell_admins)
        # From here on, before the CRM sync below records any: what changed before start waits for the scheduled runs.
        self.refile_changed()
        zoho = self.services.zoho
        if zoho is not None:
            self._scheduler.every(zoho.interval_seconds).seconds.do(self.start_crm_sync)
            self.start_crm_sync()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._scheduler.run_pending()
                delay = self.dispatch()
            except Exception:  # noqa: BLE001 - the scheduler thread must survive any job
                log.exception("scheduler step failed")
                delay = POLL_SECONDS
            idle = self._scheduler.idle_seconds
            if idle is not None:
                delay = min(delay, max(0.0, idle))
            self._wake.wait(delay)
            self._wake.clear()

    def stop(self) -> None:
        """Stop taking work, let running mailbox work finish, hand the leases back."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sweeper.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._push_pool.shutdown(wait=True, cancel_futures=True)
        if self.sweep is not None:
            self.sweep.close()
        self._crm_pool.shutdown(wait=True, cancel_futures=True)  # the running sync stops after its page
        self._upkeep_pool.shutdown(wait=True, cancel_futures=True)
        leases.release_all(self.services.engine, self.owner)

    def in_flight(self) -> int:
        """Mailboxes this replica holds now: queued, running, or being polled."""
        with self._lock:
            return len(self._in_flight)

    def idle(self) -> bool:
        """Nothing in flight and no polling sweep running."""
        with self._lock:
            return not self._in_flight and (self._sweep_run is None or self._sweep_run.done())

    @property
    def scheduler_state(self) -> str:
        """`running`; `not started` (this process runs no scheduler, e.g. a test's); `stopped`: died or stopping."""
        if self._thread is None:
            return "not started"
        return "running" if self._thread.is_alive() and not self._stopping.is_set() else "stopped"

    def health(self) -> dict[str, Any]:
        with self._lock:
            active = len(self._active)
        running = self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()
        return {"scheduler": "running" if running else "stopped", "replica": self.owner,
                "mailboxes_in_flight": active, "last_cycles": dict(self.last_cycle)}

    # -- dispatch --------------------------------------------------------------------------------

    def dispatch(self) -> float:
        """Lease and start what is due; returns how long the loop may sleep before something falls due.

        One read says when each job is next due; a claim (a write) is made only for a job that is due. Label
        runs go to the worker pool, at most twice its size at a time; polls go to the sweep, a chunk at a time
        (it polls them many per Gmail round trip and hands back only the busy ones)."""
        if self.pipeline is None or self._stopping.is_set():
            return POLL_SECONDS
        now = self.clock()
        due = leases.next_due_by_job(self.services.engine, now)
        with self._lock:
            room = 2 * self.concurrency - self._pool_load
            sweeping = self._sweep_run is not None and not self._sweep_run.done()
        claimed = 0
        # Claim in batches once the queue has drained (at least a pool's worth): fewer, larger claims.
        if due[Job.LABELS] is not None and due[Job.LABELS] <= now and room >= self.concurrency:
            taken = leases.claim_leases(self.services.engine, self.owner, Job.LABELS, limit=room,
                                        lease_seconds=self.lease_seconds, now=now)
            for lease in taken:
                self._submit(lease, Job.LABELS, may_skip_sync=True)
            if taken:
                self.last_cycle[Job.LABELS.value] = now.isoformat()
                claimed += len(taken)
        if due[Job.SYNC] is not None and due[Job.SYNC] <= now and not sweeping:
            taken = leases.claim_leases(self.services.engine, self.owner, Job.SYNC, limit=self.sweep_chunk,
                                        lease_seconds=self.lease_seconds, now=now)
            if taken:
                self._start_sweep(taken)
                self.last_cycle[Job.SYNC.value] = now.isoformat()
                claimed += len(taken)
        if claimed:
            return 0.0  # more may be due: look again at once
        pending = [moment for job, moment in due.items()
                   if moment is not None and not (job is Job.SYNC and sweeping)
                   and not (job is Job.LABELS and room < self.concurrency)]
        if not pending:
            return POLL_SECONDS  # a sweep or a run ending wakes the loop
        wait_seconds = (min(pending) - self.clock()).total_seconds()
        if wait_seconds <= 0:
            return 0.05  # due, yet not claimable this instant (a lease just expiring): do not spin
        return min(POLL_SECONDS, wait_seconds)

    def _submit(self, lease: Lease, job: Job, *, first_page: dict | None = None, pool=None,
                may_skip_sync: bool = False) -> Future | None:
        pool = pool or self._pool
        with self._lock:
            self._in_flight[lease.account_id] = None  # counted before it can finish
            if first_page is None and not may_skip_sync:
                self._will_ask.add(lease.account_id)  # queued, and will ask Gmail what is new when it starts
            if pool is self._pool:
                self._pool_load += 1
            elif pool is self._push_pool:
                self._push_load += 1
        try:
            future = pool.submit(in_job(job.value, lease.account_id, self._work),  # its log lines name the run
                                 lease, job, first_page, may_skip_sync)
        except RuntimeError:  # the pool is shut down: hand the mailbox back
            with self._lock:
                self._in_flight.pop(lease.account_id, None)
                self._will_ask.discard(lease.account_id)
                if pool is self._pool:
                    self._pool_load -= 1
                elif pool is self._push_pool:
                    self._push_load -= 1
            leases.release(self.services.engine, self.owner, lease.account_id)
            return None
        if pool is self._pool:
            future.add_done_callback(self._pool_task_done)
        elif pool is self._push_pool:
            future.add_done_callback(self._push_task_done)
        with self._lock:
            if lease.account_id in self._in_flight:  # not finished already
                self._in_flight[lease.account_id] = future
        return future

    def _push_task_done(self, _future) -> None:
        with self._lock:
            self._push_load -= 1

    def _pool_task_done(self, _future) -> None:
        with self._lock:
            self._pool_load -= 1
        self._wake.set()  # room in the pool for the next label runs

    def run_cycle(self, job: Job) -> int:
        """Lease and run every mailbox due for `job` now, and wait for them; returns how many ran."""
        if self.pipeline is None:
            return 0
        started = time.monotonic()
        count = 0
        while not self._stopping.is_set():
            taken = leases.claim_leases(self.services.engine, self.owner, job, limit=self.concurrency * 2,
                                        lease_seconds=self.lease_seconds)
            if not taken:
                break
            wait([f for f in (self._submit(lease, job) for lease in taken) if f is not None])
            count += len(taken)
        metrics.CYCLE_SECONDS.labels(job=job.value).observe(time.monotonic() - started)
        self.last_cycle[job.value] = self.clock().isoformat()
        return count

    def run_once(self, job: Job, account_email: str | None = None) -> list[RunOutcome]:
        """`mailmagnet run-once`: every connected mailbox (or one) now, due or not."""
        if self.pipeline is None:
            return []
        with session_scope(self.services.engine) as session:
            query = select(GmailAccount.id).where(GmailAccount.status == AccountStatus.CONNECTED.value)
            if account_email:
                query = query.where(GmailAccount.email_address == account_email.strip().lower())
            wanted = list(session.exec(query))
        futures: list[Future] = []
        remaining = wanted
        deadline = time.monotonic() + self.lease_seconds
        while remaining and time.monotonic() < deadline:
            taken = leases.claim_leases(self.services.engine, self.owner, job, limit=len(remaining),
                                        lease_seconds=self.lease_seconds, account_ids=remaining, force=True)
            futures += [f for f in (self._submit(lease, job) for lease in taken) if f is not None]
            started = {lease.account_id for lease in taken}
            holders = self._lease_holders([i for i in remaining if i not in started])
            # Held by this replica's own scheduler: run it again once that run is done; released meanwhile:
            # claim it again; held by another replica: leave it to that one.
            remaining = [i for i, owner in holders.items() if owner in (self.owner, None)]
            with self._lock:
                busy = [f for i in remaining if (f := self._in_flight.get(i)) is not None]
            if busy:
                wait(busy, timeout=1.0)
            elif remaining:
                time.sleep(0.01)  # claimed, not yet handed to the pool; or just released
        return [f.result() for f in futures]

    # -- one mailbox -----------------------------------------------------------------------------

    def _work(self, lease: Lease, job: Job, first_page: dict | None = None, may_skip_sync: bool = False) -> RunOutcome:
        """Run one leased mailbox (`usecases.mailbox_run`), then hand the lease back with its next beats: a run
        that synced is the sync beat; a label run is also the label beat."""
        account_id = lease.account_id
        with self._lock:
            self._active.add(account_id)
            self._will_ask.discard(account_id)  # from here on a push may come after its history.list
        again = False
        outcome = RunOutcome(account_id, job)
        spent = metering.Tally()
        try:
            failpoint("lease.held")
            if self._lost_while_queued(lease):
                outcome.sync = SyncResult(account_id, SyncStatus.LEASE_LOST)  # the holder does it: no Gmail call
                metrics.SYNC_RUNS.labels(job=job.value, result=SyncStatus.LEASE_LOST.value).inc()
            else:
                with metering.tally() as spent:  # this mailbox's Gmail units today (the admin overview)
                    outcome = self.runner.run(account_id, job, first_page=first_page, may_skip_sync=may_skip_sync,
                                              lease_owner=self.owner, defer_alert_results=True)
        finally:
            next_sync = leases.next_run_at(lease.sync_due, lease.claimed_at, self._poll_interval(outcome.watched)) \
                if outcome.synced or job is Job.SYNC else None
            next_label = leases.next_run_at(lease.label_due, lease.claimed_at, self.label_interval) \
                if job is Job.LABELS else None
            try:
                # The alerts' results go with the release: one transaction ends the run.
                again = leases.release(self.services.engine, self.owner, account_id,
                                       next_sync_at=next_sync, next_label_at=next_label, quota_units=spent.units,
                                       also=partial(write_alert_results, results=outcome.alert_results))
            finally:
                with self._lock:
                    self._active.discard(account_id)
                    self._in_flight.pop(account_id, None)
        if again and not self._stopping.is_set():
            self.request_sync(account_id)  # a push arrived while this run held the mailbox
        return outcome
