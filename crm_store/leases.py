"""Mailbox leases: which replica works on which mailbox, until when (several `serve` on one database).

A replica claims due mailboxes with one atomic `UPDATE … WHERE id IN (SELECT … LIMIT n
FOR UPDATE SKIP LOCKED) RETURNING id` (PostgreSQL skips rows another replica is claiming;
SQLite serialises writers and ignores the locking clause). A lease expires on its own, so
the work of a replica that died is taken over once its leases run out.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select, update

from crm_store.db import session_scope
from crm_store.models import AccountStatus, GmailAccount, utcnow


class Job(StrEnum):
    SYNC = "sync"
    LABELS = "labels"


def _free(now: datetime):
    return sa.or_(GmailAccount.lease_expires_at.is_(None), GmailAccount.lease_expires_at < now)


def _due(job: Job, now: datetime):
    working = sa.and_(GmailAccount.status == AccountStatus.CONNECTED.value, GmailAccount.magnet_enabled.is_(True))
    if job is Job.SYNC:
        when = sa.or_(GmailAccount.next_sync_at.is_(None), GmailAccount.next_sync_at <= now,
                      GmailAccount.sync_requested.is_(True))
        return sa.and_(working, when)
    when = sa.or_(GmailAccount.next_label_at.is_(None), GmailAccount.next_label_at <= now)
    return sa.and_(working, GmailAccount.labels_enabled.is_(True), when)


def claim(engine: Engine, owner: str, job: Job, *, limit: int, lease_seconds: int, now: datetime | None = None,
          account_ids: Iterable[int] | None = None, force: bool = False) -> list[int]:
    """Lease up to `limit` mailboxes due for `job` (or the given ones; `force`: due or not)."""
    now = now or utcnow()
    condition = _free(now)
    if not force:
        condition = sa.and_(condition, _due(job, now))
    else:
        condition = sa.and_(condition, GmailAccount.status == AccountStatus.CONNECTED.value)
    if account_ids is not None:
        condition = sa.and_(condition, GmailAccount.id.in_(list(account_ids)))
    order = GmailAccount.next_sync_at if job is Job.SYNC else GmailAccount.next_label_at
    # A CTE, not `IN (subquery)`: PostgreSQL may run a locking subquery more than once, and so lease
    # more rows than asked; a CTE is evaluated exactly once.
    picked = (
        select(GmailAccount.id).where(condition)
        .order_by(order.is_not(None), order, GmailAccount.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    with session_scope(engine) as session:
        rows = session.execute(
            update(GmailAccount)
            .where(GmailAccount.id == picked.c.id, condition)
            # A sync request is consumed by the run that starts now; one arriving during it re-arms it.
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds), sync_requested=False)
            .returning(GmailAccount.id)
            .execution_options(synchronize_session=False)
        ).all()
    return sorted(row[0] for row in rows)


def renew(engine: Engine, owner: str, account_ids: Iterable[int], lease_seconds: int) -> int:
    ids = list(account_ids)
    if not ids:
        return 0
    with session_scope(engine) as session:
        return session.execute(
            update(GmailAccount)
            .where(GmailAccount.id.in_(ids), GmailAccount.lease_owner == owner)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        ).rowcount


def release(engine: Engine, owner: str, account_id: int, *, next_sync_at: datetime | None = None,
            next_label_at: datetime | None = None) -> bool:
    """Give the mailbox back, saying when each job is next due. True when a sync was requested
    meanwhile (a push arrived during the run), so the caller should start another one."""
    values: dict = {"lease_owner": None, "lease_expires_at": None}
    if next_sync_at is not None:
        values["next_sync_at"] = next_sync_at
    if next_label_at is not None:
        values["next_label_at"] = next_label_at
    with session_scope(engine) as session:
        row = session.execute(
            update(GmailAccount)
            .where(GmailAccount.id == account_id, GmailAccount.lease_owner == owner)
            .values(**values)
            .returning(GmailAccount.sync_requested, GmailAccount.status)
            .execution_options(synchronize_session=False)
        ).first()
    return bool(row and row[0] and row[1] == AccountStatus.CONNECTED.value)


def request_sync(engine: Engine, account_ids: Iterable[int]) -> None:
    """Ask for a sync as soon as possible (a push arrived, a setting changed)."""
    ids = list(account_ids)
    if ids:
        with session_scope(engine) as session:
            session.execute(update(GmailAccount).where(GmailAccount.id.in_(ids)).values(sync_requested=True)
                            .execution_options(synchronize_session=False))


def release_all(engine: Engine, owner: str) -> int:
    """On shutdown: hand everything back at once instead of letting leases expire."""
    with session_scope(engine) as session:
        return session.execute(
            update(GmailAccount).where(GmailAccount.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
