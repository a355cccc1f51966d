"""Shared state for /metrics, read at scrape time: pushes waiting, mailboxes leased, mailboxes by state and how
stale their syncs are, the CRM sync's last success."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_store.models import AccountStatus, CrmSyncCursor, GmailAccount, utcnow


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


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def mailbox_states(engine: Engine) -> dict[str, tuple[int, float | None]]:
    """Per state — `connected` (its last run succeeded, or none ran yet), `failing` (its last run failed),
    `revoked` (Google access revoked) — how many mailboxes, and when the stalest last synced (epoch seconds;
    a mailbox that never synced counts from when it was connected)."""
    failing = GmailAccount.last_sync_error.is_not(None)
    synced = sa.func.min(sa.func.coalesce(GmailAccount.last_sync_at, GmailAccount.connected_at))
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(GmailAccount.status, failing, sa.func.count(), synced).group_by(GmailAccount.status, failing)
        ).all()
    states: dict[str, tuple[int, float | None]] = {}
    for status, is_failing, count, oldest in rows:
        state = "revoked" if status == AccountStatus.REVOKED.value else ("failing" if is_failing else "connected")
        number, stalest = states.get(state, (0, None))
        oldest_epoch = _epoch(oldest)
        if stalest is None or (oldest_epoch is not None and oldest_epoch < stalest):
            stalest = oldest_epoch
        states[state] = (number + int(count), stalest)
    return states


def crm_sync_states(engine: Engine) -> dict[str, tuple[float | None, bool]]:
    """Per CRM sync source (`zoho`): when its stalest stream last succeeded (epoch seconds; None if one never
    did) and whether a stream's latest run failed."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(CrmSyncCursor.name, CrmSyncCursor.last_success_at,
                                            CrmSyncCursor.last_error)).all()
    streams: dict[str, list[tuple[float | None, bool]]] = {}
    for name, succeeded_at, error in rows:
        streams.setdefault(name.split(":", 1)[0], []).append((_epoch(succeeded_at), bool(error)))
    return {source: (None if any(when is None for when, _ in states) else min(when for when, _ in states),
                     any(failed for _, failed in states))
            for source, states in streams.items()}
