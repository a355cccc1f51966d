"""The scheduler's periodic jobs besides mailbox runs: housekeeping, bringing label runs forward after CRM
category changes, and the scheduled Zoho CRM sync. `bot/jobs.py` says when; these say what.

- Housekeeping (hourly) drops expired request keys, OAuth states, old alerts, consumed category changes, and
  stored messages nothing needs any more (`gmail.retention.delete_old_messages`).
- A CRM category change brings the label run forward: every few seconds the newest change is read, and the
  label run is made due now for the labelled mailboxes holding mail from the contacts changed since the last
  look (`category_changes.bring_refiling_forward`).
- The scheduled Zoho sync stops between two committed pages when the replica stops; a failure is logged and
  counted, and the next interval tries again.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlmodel import select

from crm_store import category_changes, processed_requests
from crm_store.db import session_scope
from crm_store.models import (
    Alert,
    AlertStatus,
    CategoryChange,
    GmailAccount,
    GmailOAuthState,
    utcnow,
)
from crm_store.sources import ChangeSource
from gmail.followups import forget_old as forget_old_followups
from gmail.retention import delete_old_messages
from telemetry import metrics
from usecases.context import Services
from usecases.crm import sync_zoho

log = logging.getLogger(__name__)


def housekeeping(services: Services, now: datetime | None = None) -> int:
    """Delete what nothing needs any more; returns how many stored messages went."""
    now = now or utcnow()
    engine = services.engine
    with session_scope(engine) as session:
        processed_requests.delete_expired(session, now)
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
        forget_old_followups(session, now)  # answered or done ones the weekly digest no longer needs
    deleted = delete_old_messages(engine, lookback_days=services.settings.backfill_lookback_days, now=now)
    if deleted:
        log.info("housekeeping: %s stored messages past the lookback deleted", deleted)
    return deleted


class RefileTrigger:
    """Brings label runs forward after CRM category changes; remembers the newest change it looked at."""

    def __init__(self, services: Services):
        self.services = services
        self.seen: int | None = None  # the newest category change whose mailboxes were brought forward

    def check(self) -> int:
        """Bring forward the label runs of mailboxes with mail from contacts whose category changed since the last
        look (one read when nothing changed). Returns how many were brought forward; the first look only notes
        where the log is (what changed before waits for the mailboxes' scheduled runs).

        Never raises: the scheduler calls it at start and then on a thread nobody reads the result of. Changes it
        could not look at wait for their mailboxes' scheduled label runs, as before."""
        try:
            with session_scope(self.services.engine) as session:
                latest = category_changes.latest_id(session)
            seen, self.seen = self.seen, latest
            if seen is None or latest <= seen:
                return 0
            brought = category_changes.bring_refiling_forward(self.services.engine, seen, latest, utcnow())
        except Exception:  # noqa: BLE001 - the database or a bug: logged; the regular cadence still files the mail
            log.exception("could not bring label runs forward after CRM changes")
            return 0
        if brought:
            log.info("%d mailboxes re-file now: CRM categories changed", brought)
        return brought


class CrmSyncStopped(Exception):
    """Raised between two committed pages of a CRM sync when the replica stops."""


def scheduled_crm_sync(services: Services, *, owner: str, stopping: Callable[[], bool]):
    """The scheduler's Zoho CRM sync: stops after a committed page once `stopping()`; never raises."""
    def stop_when_asked(module: str, stream: str, page: int) -> None:
        if stopping():
            raise CrmSyncStopped("this replica is stopping; the next run resumes after the last page")

    try:
        return sync_zoho(services, owner=owner, on_page=stop_when_asked)
    except CrmSyncStopped:
        log.info("Zoho CRM sync stopped after a committed page (shutting down)")
    except Exception:  # noqa: BLE001 - the database or a bug: logged, counted, retried next interval
        metrics.CRM_SYNC_RUNS.labels(source=ChangeSource.ZOHO, result="failed").inc()
        log.exception("Zoho CRM sync failed")
    return None
