"""One run of one mailbox, the path of new mail: sync → post → file → renew the watch (SPEC §3).

The scheduler (`bot/jobs.py`) leases a mailbox, calls `MailboxRunner.run` on a worker thread, and releases the
lease with what the outcome says (did it sync, is the mailbox watched); leases, threads and timing are its, the
work is here. A push and a poll take the same path: a push asks the scheduler for an immediate run
(`usecases.push`), the polling sweep hands a mailbox with news to a run with Gmail's first history page.

    run ─ quiet label run? ─ yes → done, no Gmail call
        └ open (credentials, client) → pull (history.list → metadata → record alerts and rows to file, commit
          → post the new alerts) → post what still waits (retries, a due digest) → file labels (label runs)
          → renew users.watch when due → close (store a refreshed token)

A Gmail error anywhere in the run ends it: revoked access marks the mailbox, any other error is recorded on it
and the next run tries again. Any other exception is logged, counted and recorded: one mailbox's failure never
stops the others.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import update

from crm_store.db import session_scope
from crm_store import leases
from crm_store.leases import Job, LeaseLost
from crm_store.models import GmailAccount, utcnow
from gmail import alert_results
from gmail.errors import GmailError
from gmail.followups import FollowupNudger, FollowupTracker, WorkingHours
from gmail.labels import LabelFiler
from gmail.magnet import MailMagnet
from gmail.sync import MailboxSync, SyncResult, SyncStatus
from gmail.watch import is_watched, renew_watch, watch_due
from telemetry import metrics
from usecases.alerts import AlertAudiencePolicy
from usecases.context import Services

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    account_id: int
    job: Job
    sync: SyncResult | None = None
    filed: dict[str, int] = field(default_factory=dict)
    refiled: int = 0
    alerts: int = 0
    error: str | None = None
    watched: bool = False  # Gmail pushes this mailbox's news (its users.watch is active)
    quiet: bool = False  # a label run with nothing to file or move: no Gmail call made
    # The run's alert results not written yet (`run(..., defer_alert_results=True)`): the caller writes them with
    # its own last transaction (`gmail.alert_results.write_alert_results`).
    alert_results: list[dict] = field(default_factory=list)

    @property
    def synced(self) -> bool:
        """The run asked Gmail for news (so it counts as the mailbox's sync beat)."""
        return self.sync is not None and not self.quiet


class MailboxRunner:
    """Built once per process from the services: the pipeline and its subscribers (MailMagnet, the label filer)."""

    def __init__(self, services: Services):
        settings = services.settings
        self.services = services
        self.magnet = MailMagnet(services.engine, services.notifier, AlertAudiencePolicy(services), services.rules,
                                 services.labels, default_tz=settings.default_timezone,
                                 digest_interval=timedelta(minutes=settings.digest_interval_minutes))
        self.filer = LabelFiler(services.engine, services.rules, services.labels,
                                default_tz=settings.default_timezone, lookback_days=settings.backfill_lookback_days)
        # Follow-ups (SPEC §3): tracked in the sync's transaction, nudged after each run of the mailbox.
        working_hours = WorkingHours.parse(services.config.followup_working_hours)
        self.followups = FollowupTracker(working_hours, default_tz=settings.default_timezone)
        self.nudger = FollowupNudger(services.engine, services.notifier, working_hours, services.rules,
                                     default_tz=settings.default_timezone)
        self.pipeline: MailboxSync | None = None
        if services.gmail is not None and services.cipher is not None:
            self.pipeline = MailboxSync(
                services.engine, services.gmail, services.cipher, services.google, services.sync_config,
                services.rules, [self.magnet, self.filer, self.followups], default_tz=settings.default_timezone,
                on_revoked=services.notifier.ask_to_reconnect,
            )

    def run(self, account_id: int, job: Job, *, first_page: dict | None = None, may_skip_sync: bool = False,
            lease_owner: str | None = None, defer_alert_results: bool = False) -> RunOutcome:
        """One run for one mailbox. A scheduled label run (`may_skip_sync`) with nothing to file and nothing to
        move makes no Gmail call at all; `run-once labels` always syncs first. Never raises. The alerts' results
        are written in one transaction at the end, or left in `outcome.alert_results` for the caller's
        (`defer_alert_results`: the scheduler writes them with the lease's release)."""
        with alert_results.run_alerts() as alerts:
            outcome = self._run_logged(account_id, job, first_page, may_skip_sync, lease_owner)
        outcome.alert_results = alerts.results
        if not defer_alert_results and alerts.results:
            try:
                with self.services.engine.begin() as connection:
                    alert_results.write_alert_results(connection, alerts.results)
            except Exception:  # noqa: BLE001 - unrecorded posts are found in Slack's history by the next run
                log.exception("results of mailbox %s's alerts not recorded", account_id)
            outcome.alert_results = []
        return outcome

    def _run_logged(self, account_id: int, job: Job, first_page: dict | None, may_skip_sync: bool,
                    lease_owner: str | None) -> RunOutcome:
        outcome = RunOutcome(account_id, job)
        started = time.monotonic()
        try:
            if job is Job.LABELS and may_skip_sync and self.filer.quiet_run(account_id):
                outcome.quiet = True  # the sync job polls on its own beat
                outcome.sync = SyncResult(account_id, SyncStatus.QUIET)
                return outcome
            with leases.running_under(lease_owner):  # every commit of the run checks the lease (fencing)
                outcome.sync = self._run(account_id, job, first_page, outcome, lease_owner)
            metrics.labelled(metrics.SYNC_RUNS, job.value, outcome.sync.status.value).inc()
            metrics.NEW_MESSAGES.inc(outcome.sync.new_messages)
        except LeaseLost as lost:  # fenced: this replica was too slow; the replica holding the lease does the work
            log.warning("%s run stopped: %s", job.value, lost)
            outcome.sync = SyncResult(account_id, SyncStatus.LEASE_LOST)
            metrics.labelled(metrics.SYNC_RUNS, job.value, SyncStatus.LEASE_LOST.value).inc()
        except Exception as error:  # noqa: BLE001 - one mailbox's failure never stops the others
            log.exception("%s run failed for mailbox %s", job.value, account_id)
            outcome.error = f"{type(error).__name__}: {error}"
            metrics.labelled(metrics.SYNC_RUNS, job.value, "crash").inc()
            self._record_error(account_id, outcome.error)
        finally:
            metrics.labelled(metrics.SYNC_SECONDS, job.value).observe(time.monotonic() - started)
        return outcome

    def _run(self, account_id: int, job: Job, first_page: dict | None, outcome: RunOutcome,
             lease_owner: str | None = None) -> SyncResult:
        opened = self.pipeline.open(account_id, lease_owner=lease_owner)
        if isinstance(opened, SyncResult):
            return opened  # gone, or not to be synced
        try:
            result = self.pipeline.pull(opened, first_page=first_page)
            if result.status is not SyncStatus.SYNCED:
                return result
            account, mailbox, now = opened.account, opened.mailbox, utcnow()
            outcome.watched = is_watched(account, now)
            outcome.alerts += self.magnet.deliver_waiting(account, mailbox)
            try:
                self.nudger.run(account, opened.tz)  # the rep's time zone, read by the open: no read again
            except Exception:  # noqa: BLE001 - a nudge that fails now is due again at the next run
                log.exception("follow-up nudges of mailbox %s failed; they are retried", account.id)
            if job is Job.LABELS and account.labels_enabled:
                filed = self.filer.run(account, mailbox)
                outcome.filed, outcome.refiled = filed.filed, filed.refiled
                for label, count in filed.filed.items():
                    metrics.MESSAGES_FILED.labels(label=label).inc(count)
            topic = self.services.settings.gmail_pubsub_topic
            if watch_due(account, now, topic):
                renew_watch(self.services.engine, account, mailbox, topic, now)
            return result
        except GmailError as error:
            return self.pipeline.failed(opened, error)
        finally:
            self.pipeline.close(opened)

    def _record_error(self, account_id: int, error: str) -> None:
        with session_scope(self.services.engine) as session:
            session.execute(update(GmailAccount).where(GmailAccount.id == account_id)
                            .values(last_sync_error=error[:500],
                                    failing_since=sa.func.coalesce(GmailAccount.failing_since, utcnow()))
                            .execution_options(synchronize_session=False))
