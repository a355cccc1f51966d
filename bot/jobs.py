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
- A Gmail push (or a setting that makes work due) asks for an immediate sync of one mailbox;
  if another run holds it, the request stays recorded and that run starts again when done.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import schedule
from sqlmodel import select

from bot import metrics
from bot.services import Services
from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job, Lease
from crm_store.models import (
    AccountStatus,
    Alert,
    AlertStatus,
    CategoryChange,
    GmailAccount,
    GmailOAuthState,
    ProcessedSlackRequest,
    utcnow,
)
from gmail.client import MailboxClient
from gmail.errors import GmailError
from gmail.labels import LabelFiler
from gmail.magnet import MailMagnet
from gmail.sync import MailboxSync, SyncResult

log = logging.getLogger(__name__)

WATCH_RENEW_BEFORE = timedelta(days=6)  # Gmail watches last 7 days; renew daily
# The longest the dispatch loop sleeps without looking at the database.
POLL_SECONDS = 1.0


@dataclass
class RunOutcome:
    account_id: int
    job: Job
    sync: SyncResult | None = None
    filed: dict[str, int] = field(default_factory=dict)
    refiled: int = 0
    alerts: int = 0
    error: str | None = None


class Jobs:
    def __init__(self, services: Services, *, owner: str | None = None):
        self.services = services
        settings = services.settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.magnet = MailMagnet(services.engine, services.notifier, services.rules, services.labels,
                                 default_tz=settings.default_timezone,
                                 digest_interval=timedelta(minutes=settings.digest_interval_minutes))
        self.filer = LabelFiler(services.engine, services.rules, services.labels,
                                default_tz=settings.default_timezone, lookback_days=settings.backfill_lookback_days)
        self.pipeline: MailboxSync | None = None
        if services.gmail is not None and services.cipher is not None:
            self.pipeline = MailboxSync(
                services.engine, services.gmail, services.cipher, services.google, services.sync_config,
                services.rules, [self.magnet, self.filer], default_tz=settings.default_timezone,
                on_revoked=services.notifier.ask_to_reconnect,
            )
        # Read at every use: tests (and a compressed clock) may shorten them before `start`.
        self.sync_interval = timedelta(seconds=settings.sync_interval_seconds)
        self.label_interval = timedelta(seconds=settings.label_interval_seconds)
        self.lease_seconds = settings.lease_seconds
        self.concurrency = settings.worker_concurrency
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mailbox")
        self._scheduler = schedule.Scheduler()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._active: set[int] = set()  # running now
        self._in_flight: dict[int, Future | None] = {}  # leased by this replica: queued or running
        self._requested: set = set()
        self.last_cycle: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.pipeline is None:
            log.warning("Gmail is not configured: the scheduler runs no mailbox jobs")
        self._scheduler.every(max(5, self.lease_seconds // 3)).seconds.do(self._renew_leases)
        self._scheduler.every(1).hours.do(self.housekeeping)
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._scheduler.run_pending()
                delay = self._dispatch()
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
        self._pool.shutdown(wait=True, cancel_futures=True)
        leases.release_all(self.services.engine, self.owner)

    def health(self) -> dict[str, Any]:
        with self._lock:
            active = len(self._active)
        running = self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()
        return {"scheduler": "running" if running else "stopped", "replica": self.owner,
                "mailboxes_in_flight": active, "last_cycles": dict(self.last_cycle)}

    # -- dispatch --------------------------------------------------------------------------------

    def _dispatch(self) -> float:
        """Lease and start what is due; returns how long the loop may sleep before something falls due."""
        if self.pipeline is None:
            return POLL_SECONDS
        now = utcnow()
        claimed = 0
        for job in (Job.LABELS, Job.SYNC):  # a label run syncs too: it goes first
            with self._lock:
                room = 2 * self.concurrency - len(self._in_flight)
            # Claim in batches (at least a pool's worth) once the queue has drained: fewer, larger claims.
            if room < self.concurrency or self._stopping.is_set():
                return POLL_SECONDS  # a run ending wakes the loop
            taken = leases.claim_leases(self.services.engine, self.owner, job, limit=room,
                                        lease_seconds=self.lease_seconds, now=now)
            for lease in taken:
                self._submit(lease, job)
            if taken:
                self.last_cycle[job.value] = now.isoformat()
                claimed += len(taken)
        due = leases.next_due(self.services.engine)
        if due is None:
            return POLL_SECONDS
        wait_seconds = (due - utcnow()).total_seconds()
        if wait_seconds <= 0 and not claimed:
            return 0.05  # due, yet not claimable this instant (a lease just expiring): do not spin
        return min(POLL_SECONDS, max(0.0, wait_seconds))

    def _submit(self, lease: Lease, job: Job) -> Future | None:
        with self._lock:
            self._in_flight[lease.account_id] = None  # counted before it can finish
        try:
            future = self._pool.submit(self._work, lease, job)
        except RuntimeError:  # the pool is shut down: hand the mailbox back
            with self._lock:
                self._in_flight.pop(lease.account_id, None)
            leases.release(self.services.engine, self.owner, lease.account_id)
            return None
        with self._lock:
            if lease.account_id in self._in_flight:  # not finished already
                self._in_flight[lease.account_id] = future
        return future

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
        self.last_cycle[job.value] = utcnow().isoformat()
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
        while remaining:
            taken = leases.claim_leases(self.services.engine, self.owner, job, limit=len(remaining),
                                        lease_seconds=self.lease_seconds, account_ids=remaining, force=True)
            futures += [f for f in (self._submit(lease, job) for lease in taken) if f is not None]
            started = {lease.account_id for lease in taken}
            # One this replica's scheduler is working on right now runs again once that run is done.
            remaining = self._leased_here([i for i in remaining if i not in started])
            if remaining and time.monotonic() < deadline:
                with self._lock:
                    busy = [f for i in remaining if (f := self._in_flight.get(i)) is not None]
                if busy:
                    wait(busy, timeout=1.0)
                else:
                    time.sleep(0.01)  # claimed, not yet handed to the pool
            else:
                break
        return [f.result() for f in futures]

    def _leased_here(self, account_ids: list[int]) -> list[int]:
        if not account_ids:
            return []
        with session_scope(self.services.engine) as session:
            return list(session.exec(select(GmailAccount.id).where(
                GmailAccount.id.in_(account_ids), GmailAccount.lease_owner == self.owner)))

    # -- one mailbox -----------------------------------------------------------------------------

    def _work(self, lease: Lease, job: Job) -> RunOutcome:
        account_id = lease.account_id
        outcome = RunOutcome(account_id, job)
        with self._lock:
            self._active.add(account_id)
        started = time.monotonic()
        again = False
        try:
            outcome.sync = self.pipeline.sync(account_id, then=lambda a, m: self._after_sync(a, m, job, outcome))
            metrics.SYNC_RUNS.labels(job=job.value, result=outcome.sync.status).inc()
            metrics.NEW_MESSAGES.inc(outcome.sync.new_messages)
        except Exception as error:  # noqa: BLE001 - one mailbox's failure never stops the others
            log.exception("%s run failed for mailbox %s", job.value, account_id)
            outcome.error = f"{type(error).__name__}: {error}"
            metrics.SYNC_RUNS.labels(job=job.value, result="crash").inc()
            self._record_error(account_id, outcome.error)
        finally:
            metrics.SYNC_SECONDS.labels(job=job.value).observe(time.monotonic() - started)
            # Every run syncs; a label run is also the label beat.
            next_sync = leases.next_run_at(lease.sync_due, lease.claimed_at, self.sync_interval)
            next_label = leases.next_run_at(lease.label_due, lease.claimed_at, self.label_interval) \
                if job is Job.LABELS else None
            try:
                again = leases.release(self.services.engine, self.owner, account_id,
                                       next_sync_at=next_sync, next_label_at=next_label)
            finally:
                with self._lock:
                    self._active.discard(account_id)
                    self._in_flight.pop(account_id, None)
                self._wake.set()
        if again and not self._stopping.is_set():
            self.request_sync(account_id)  # a push arrived while this run held the mailbox
        return outcome

    def _after_sync(self, account: GmailAccount, mailbox: MailboxClient, job: Job, outcome: RunOutcome) -> None:
        outcome.alerts += self.magnet.deliver_waiting(account, mailbox)
        if job is Job.LABELS and account.labels_enabled:
            filed = self.filer.run(account, mailbox)
            outcome.filed, outcome.refiled = filed.filed, filed.refiled
            for label, count in filed.filed.items():
                metrics.MESSAGES_FILED.labels(label=label).inc(count)
        topic = self.services.settings.gmail_pubsub_topic
        if topic and (account.watch_expires_at is None or account.watch_expires_at - utcnow() < WATCH_RENEW_BEFORE):
            self._watch(account, mailbox, topic)

    def _watch(self, account: GmailAccount, mailbox: MailboxClient, topic: str) -> None:
        try:
            response = mailbox.watch(topic)
        except GmailError as error:
            log.warning("users.watch failed for mailbox %s (polling continues): %s", account.id, error)
            return
        expires = datetime.fromtimestamp(int(response["expiration"]) / 1000, tz=utcnow().tzinfo)
        with session_scope(self.services.engine) as session:
            current = session.get(GmailAccount, account.id)
            if current is not None:
                current.watch_expires_at = expires
                session.add(current)

    def _record_error(self, account_id: int, error: str) -> None:
        with session_scope(self.services.engine) as session:
            account = session.get(GmailAccount, account_id)
            if account is not None:
                account.last_sync_error = error[:500]
                session.add(account)

    def _renew_leases(self) -> None:
        with self._lock:
            held = list(self._in_flight)
        leases.renew(self.services.engine, self.owner, held, self.lease_seconds)

    # -- requests from the web side --------------------------------------------------------------

    def request_sync(self, account_id: int) -> bool:
        """Sync one mailbox as soon as possible; True if this replica started it now."""
        leases.request_sync(self.services.engine, [account_id])
        if self.pipeline is None or self._stopping.is_set():
            return False
        taken = leases.claim_leases(self.services.engine, self.owner, Job.SYNC, limit=1,
                                    lease_seconds=self.lease_seconds, account_ids=[account_id])
        for lease in taken:
            future = self._submit(lease, Job.SYNC)
            if future is None:
                return False
            with self._lock:
                self._requested.add(future)
            future.add_done_callback(self._forget_request)
        if not taken:
            self._wake.set()  # held by a run: it starts again when done; or free later: the loop looks
        return bool(taken)

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

    def push_received(self, envelope: Any) -> bool:
        """A Gmail Pub/Sub push: sync that mailbox now. False for an envelope naming no mailbox of ours."""
        address = push_address(envelope)
        if address is None:
            return False
        with session_scope(self.services.engine) as session:
            ids = list(session.exec(select(GmailAccount.id).where(
                GmailAccount.email_address == address, GmailAccount.status == AccountStatus.CONNECTED.value,
                GmailAccount.magnet_enabled.is_(True))))
        for account_id in ids:
            self.request_sync(account_id)
        return bool(ids)

    def mailbox_connected(self, account: GmailAccount) -> None:
        self.request_sync(account.id)

    def mailbox_disconnected(self, account_id: int) -> None:
        """Nothing left to stop: the rows are gone, so no cycle will lease the mailbox again."""

    # -- housekeeping ----------------------------------------------------------------------------

    def housekeeping(self) -> None:
        now = utcnow()
        engine = self.services.engine
        with session_scope(engine) as session:
            session.execute(ProcessedSlackRequest.__table__.delete().where(
                ProcessedSlackRequest.created_at < now - timedelta(days=1)))
            session.execute(GmailOAuthState.__table__.delete().where(
                GmailOAuthState.created_at < now - timedelta(hours=1)))
            session.execute(Alert.__table__.delete().where(
                Alert.status.in_([AlertStatus.POSTED.value, AlertStatus.SKIPPED.value]),
                Alert.created_at < now - timedelta(days=30)))
            # Category changes every mailbox has consumed are no longer needed.
            oldest = session.exec(select(GmailAccount.last_category_change_id).where(
                GmailAccount.labels_enabled.is_(True)).order_by(GmailAccount.last_category_change_id).limit(1)).first()
            if oldest is None:
                session.execute(CategoryChange.__table__.delete())
            else:
                session.execute(CategoryChange.__table__.delete().where(CategoryChange.id <= oldest))


def push_address(envelope: Any) -> str | None:
    """The mailbox a Pub/Sub push envelope is about (its `data` is base64 JSON)."""
    try:
        data = envelope["message"]["data"]
        payload = json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))
        address = payload["emailAddress"]
    except (TypeError, KeyError, ValueError, binascii.Error):
        return None
    return address.strip().lower() if isinstance(address, str) else None
