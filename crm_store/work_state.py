"""Counts of shared scheduler state for /metrics, read at scrape time: pushes waiting, mailboxes leased."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_store.models import GmailAccount, utcnow


def pending_pushes(engine: Engine) -> int:
    """Mailboxes whose push arrived while another run held them: each is synced again when that run ends."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(GmailAccount).where(GmailAccount.sync_requested.is_(True))
        ).scalar_one()


def leased_mailboxes(engine: Engine, owner: str | None, now: datetime | None = None) -> dict[str, int]:
    """Mailboxes leased right now (the lease not expired), held by `owner` (this replica) or by others."""
    now = now or utcnow()
    mine = sa.func.coalesce(sa.func.sum(sa.case((GmailAccount.lease_owner == owner, 1), else_=0)), 0)
    with engine.connect() as connection:
        total, ours = connection.execute(
            sa.select(sa.func.count(), mine).select_from(GmailAccount).where(GmailAccount.lease_expires_at > now)
        ).one()
    return {"this_replica": int(ours), "other_replicas": int(total) - int(ours)}
