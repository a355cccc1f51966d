"""The scheduler: per-mailbox sync and label runs on a thread, leased so replicas share the work.

- `schedule` fires a sync cycle every SYNC_INTERVAL_SECONDS and a label cycle every
  LABEL_INTERVAL_SECONDS; a cycle leases due mailboxes in small batches and runs them on a
  bounded pool. A lease makes sure a mailbox is never worked on twice at once, by this
  replica or another; a replica that dies loses its leases when they expire.
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
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import schedule
from sqlmodel import select

from telemetry import metrics
from usecases.alerts import AlertAudiencePolicy
from usecases.context import Services
from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job
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
        self.magnet = MailMagnet(services.engine, services.notifier, AlertAudiencePolicy(services), services.rules,
                                 services.labels,
                                 default_tz=settings.default_timezone,
                                 digest_interval=timedelta(minutes=settings.digest_interval_minutes))
        self.filer = LabelFiler(services.engine, services.rules, services.labels,
                                default_tz=settings.default_timezone)
        self.pipeline: MailboxSync | None = None
        if services.gmail is not None and services.cipher is not None:
            self.pipeline = MailboxSync(
                services.engine, services.gmail, services.cipher, services.google, services.sync_config,
                services.rules, [self.magnet, self.filer], default_tz=settings.default_timezone,
                on_revoked=services.notifier.ask_to_reconnect,
            )
        self.sync_interval = timedelta(seconds=settings.sync_interval_seconds)
        self.label_interval = timedelta(seconds=settings.label_interval_seconds)
        self.lease_seconds = settings.lease_seconds
        self.concurrency = settings.worker_concurrency
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mailbox")
        self._cycles = ThreadPoolExecutor(2, thread_name_prefix="cycle")
        self._scheduler = schedule.Scheduler()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._active: set[int] = set()
        self._requested: set = set()
        self._cycle_running: dict[Job, bool] = {Job.SYNC: False, Job.LABELS: False}
        self.last_cycle: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.pipeline is None:
            log.warning("Gmail is not configured: the scheduler runs no mailbox jobs")
        self._scheduler.every(self.sync_interval.total_seconds()).seconds.do(self.trigger_cycle, Job.SYNC)
        self._scheduler.every(self.label_interval.total_seconds()).seconds.do(self.trigger_cycle, Job.LABELS)
        self._scheduler.every(max(5, self.lease_seconds // 3)).seconds.do(self._renew_leases)
        self._scheduler.every(1).hours.do(self.housekeeping)
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()
        self.trigger_cycle(Job.SYNC)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._scheduler.run_pending()
            except Exception:  # noqa: BLE001 - the scheduler thread must survive any job
                log.exception("scheduled job failed")
            self._stopping.wait(min(0.2, max(0.01, self._scheduler.idle_seconds or 0.2)))

    def stop(self) -> None:
        """Stop taking work, let running mailbox work finish, hand the leases back."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._cycles.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        leases.release_all(self.services.engine, self.owner)

    def health(self) -> dict[str, Any]:
        with self._lock:
            active = len(self._active)
        running = self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()
        return {"scheduler": "running" if running else "stopped", "replica": self.owner,
                "mailboxes_in_flight": active, "last_cycles": dict(self.last_cycle)}

    # -- cycles ----------------------------------------------------------------------------------

    def trigger_cycle(self, job: Job) -> None:
        with self._lock:
            if self._cycle_running[job] or self._stopping.is_set():
                return  # the previous cycle is still going: it will pick up what is due
            self._cycle_running[job] = True
        self._cycles.submit(self._cycle_guarded, job)

    def _cycle_guarded(self, job: Job) -> None:
        try:
            self.run_cycle(job)
        except Exception:  # noqa: BLE001
            log.exception("%s cycle failed", job.value)
        finally:
            with self._lock:
                self._cycle_running[job] = False

    def run_cycle(self, job: Job) -> int:
        """Lease and run every mailbox due for `job`; returns how many ran."""
        if self.pipeline is None:
            return 0
        started = time.monotonic()
        count = 0
        while not self._stopping.is_set():
            ids = leases.claim(self.services.engine, self.owner, job, limit=self.concurrency * 2,
                               lease_seconds=self.lease_seconds)
            if not ids:
                break
            wait([self._pool.submit(self._work, account_id, job) for account_id in ids])
            count += len(ids)
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
        ids = leases.claim(self.services.engine, self.owner, job, limit=max(1, len(wanted)),
                           lease_seconds=self.lease_seconds, account_ids=wanted, force=True) if wanted else []
        futures = [self._pool.submit(self._work, account_id, job) for account_id in ids]
        return [f.result() for f in futures]

    # -- one mailbox -----------------------------------------------------------------------------

    def _work(self, account_id: int, job: Job) -> RunOutcome:
        outcome = RunOutcome(account_id, job)
        with self._lock:
            self._active.add(account_id)
        started = time.monotonic()
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
            now = utcnow()
            again = leases.release(self.services.engine, self.owner, account_id,
                                   next_sync_at=now + self.sync_interval,
                                   next_label_at=now + self.label_interval if job is Job.LABELS else None)
            with self._lock:
                self._active.discard(account_id)
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
            active = list(self._active)
        leases.renew(self.services.engine, self.owner, active, self.lease_seconds)

    # -- requests from the web side --------------------------------------------------------------

    def request_sync(self, account_id: int) -> bool:
        """Sync one mailbox as soon as possible; True if this replica started it now."""
        leases.request_sync(self.services.engine, [account_id])
        if self.pipeline is None or self._stopping.is_set():
            return False
        claimed = leases.claim(self.services.engine, self.owner, Job.SYNC, limit=1,
                               lease_seconds=self.lease_seconds, account_ids=[account_id])
        for claimed_id in claimed:
            future = self._pool.submit(self._work, claimed_id, Job.SYNC)
            with self._lock:
                self._requested.add(future)
            future.add_done_callback(self._forget_request)
        return bool(claimed)

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
