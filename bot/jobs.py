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
  count of today when it hands the lease back.
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

from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job, Lease
from crm_store.models import AccountStatus, GmailAccount, utcnow
from gmail import metering
from gmail.accounts import save_refreshed_credentials
from gmail.alert_results import write_alert_results
from gmail.sweep import HistorySweep, plan_poll
from telemetry import metrics
from telemetry.failpoints import failpoint
from telemetry.log_context import in_job
from usecases import upkeep
from usecases.context import Services
from usecases.mailbox_run import MailboxRunner, RunOutcome
from usecases.push import PushOutcome, mailboxes_to_sync

log = logging.getLogger(__name__)


# The longest the dispatch loop sleeps without looking at the database.
POLL_SECONDS = 1.0
REFILE_CHECK_SECONDS = 5
# How often a replica looks for mailbox incidents to tell the admins of (revoked, failing for an hour).
INCIDENT_CHECK_SECONDS = 15
DEAD_OWNER_CHECK_SECONDS = 2


__all__ = ["Jobs", "RunOutcome"]


class Jobs:
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
        self._requested: set = set()
        self.last_cycle: dict[str, str] = {}
        # The CRM sync (Zoho) runs beside the mailboxes, one run at a time, on its own thread.
        self._crm_pool = ThreadPoolExecutor(1, thread_name_prefix="crm-sync")
        self._crm_run: Future | None = None
        self._refile = upkeep.RefileTrigger(services)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.pipeline is None:
            log.warning("Gmail is not configured: the scheduler runs no mailbox jobs")
        self._scheduler.every(max(5, self.lease_seconds // 3)).seconds.do(self._renew_leases)
        self._scheduler.every(DEAD_OWNER_CHECK_SECONDS).seconds.do(self.release_dead_leases)
        self.release_dead_leases()  # a restarted replica takes its predecessor's mailboxes at once
        self._scheduler.every(1).hours.do(self.housekeeping)
        # The weekly response-time digest: checked every 10 minutes, sent once a week per workspace (claimed in the
        # database), on a pool thread so the chart and the uploads never hold the scheduler loop.
        self._scheduler.every(10).minutes.do(lambda: self._push_pool.submit(self.send_response_digests))
        self._scheduler.every(REFILE_CHECK_SECONDS).seconds.do(self.refile_changed)
        self._scheduler.every(INCIDENT_CHECK_SECONDS).seconds.do(self.tell_admins)
        self.refile_changed()  # from here on; what changed before start waits for the mailboxes' scheduled runs
        zoho = self.services.zoho
        if zoho is not None:
            self._scheduler.every(zoho.interval_seconds).seconds.do(self.start_crm_sync)
            self.start_crm_sync()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def start_crm_sync(self) -> bool:
        """Start a Zoho CRM sync unless one is running here (another replica's run holds the database lease:
        this one then ends at once, "skipped")."""
        with self._lock:
            if self._stopping.is_set() or (self._crm_run is not None and not self._crm_run.done()):
                return False
            self._crm_run = self._crm_pool.submit(in_job("crm_sync", None, self._crm_sync))
        return True

    def _crm_sync(self):
        return upkeep.scheduled_crm_sync(self.services, owner=self.owner, stopping=self._stopping.is_set)

    def tell_admins(self) -> int:
        """DM the admins of each new mailbox incident, once across replicas (usecases/overview.py). Never raises:
        it runs on the scheduler's loop."""
        from usecases.overview import tell_admins_of_incidents

        try:
            return tell_admins_of_incidents(self.services)
        except Exception:  # noqa: BLE001 - the database or Slack: logged; the next check tries again
            log.exception("could not tell the admins of mailbox incidents")
            return 0

    def refile_changed(self) -> int:
        """Bring label runs forward after CRM category changes (`upkeep.RefileTrigger`); wakes the loop if any."""
        brought = self._refile.check()
        if brought:
            self._wake.set()
        return brought

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

    def _lease_holders(self, account_ids: list[int]) -> dict[int, str | None]:
        """Who holds each (still connected) mailbox's lease now; None: nobody."""
        if not account_ids:
            return {}
        now = self.clock()
        with session_scope(self.services.engine) as session:
            rows = session.exec(select(GmailAccount.id, GmailAccount.lease_owner, GmailAccount.lease_expires_at)
                                .where(GmailAccount.id.in_(account_ids),
                                       GmailAccount.status == AccountStatus.CONNECTED.value)).all()
        return {account_id: owner if expires is not None and expires >= now else None
                for account_id, owner, expires in rows}

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

    def release_dead_leases(self) -> int:
        """Free the leases of dead processes on this host (never raises: it runs on the scheduler's loop)."""
        try:
            freed = leases.release_dead(self.services.engine)
        except Exception:  # noqa: BLE001 - the database is away: the leases expire as before
            log.warning("could not look for the leases of dead replicas", exc_info=True)
            return 0
        if freed:
            log.info("%d leases of dead replicas on this host freed", freed)
            self._wake.set()
        return freed

    def _renew_leases(self) -> None:
        with self._lock:
            held = list(self._in_flight)
        leases.renew(self.services.engine, self.owner, held, self.lease_seconds)

    # -- requests from the web side --------------------------------------------------------------

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
        taken = leases.claim_leases(self.services.engine, self.owner, Job.SYNC, limit=1, force=True,
                                    lease_seconds=self.lease_seconds, account_ids=[account_id])
        if not taken:
            leases.request_sync(self.services.engine, [account_id])
            with self._lock:
                running = self._in_flight.get(account_id)  # ours: whoever waits for this waits for that run
                if running is not None:
                    self._requested.add(running)
            if running is not None:
                running.add_done_callback(self._forget_request)
            self._wake.set()
            return False
        future = self._submit(taken[0], Job.SYNC, pool=self._push_pool)
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
        decision = mailboxes_to_sync(self.services.engine, envelope)
        for account_id in decision.to_sync:
            self.request_sync(account_id)
        return decision.outcome

    def mailbox_connected(self, account: GmailAccount) -> None:
        self.request_sync(account.id)

    # -- the weekly response-time digest ----------------------------------------------------------

    def send_response_digests(self, *, force: bool = False) -> int:
        """Send the digests that are due (usecases/response_digest.py); returns how many were sent."""
        from usecases.response_digest import due_digests

        sent = 0
        try:
            for digest in due_digests(self.services, self.clock(), force=force):
                try:
                    self.services.notifier.send_response_digest(digest)
                    sent += 1
                except Exception as error:  # noqa: BLE001 - one recipient's failure never stops the others
                    log.warning("response-time digest to %s not sent: %s", digest.recipient_slack_id, error)
        except Exception:  # noqa: BLE001 - the next check tries again
            log.exception("response-time digests failed")
        return sent

    # -- housekeeping ----------------------------------------------------------------------------

    def housekeeping(self) -> None:
        upkeep.housekeeping(self.services)
