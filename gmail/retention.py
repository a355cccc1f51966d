"""Retention: stored messages nothing needs any more are deleted by housekeeping (`usecases.upkeep`), so a
mailbox's rows stay proportional to its recent mail. What may go and why is `delete_old_messages`'s docstring."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Contact, MailboxMessage, utcnow

# Retention keeps a day more than the lookback, so the listing of a full resync never names a deleted row.
RETENTION_MARGIN = timedelta(days=1)

RETENTION_BATCH_ROWS = 5_000
RETENTION_MAX_BATCHES = 40


def delete_old_messages(engine: Engine, *, lookback_days: int, now: datetime | None = None,
                        batch_rows: int = RETENTION_BATCH_ROWS, max_batches: int = RETENTION_MAX_BATCHES) -> int:
    """Housekeeping: delete stored messages nothing needs any more, so a mailbox's rows stay proportional to its
    recent mail. Returns how many were deleted.

    Deleted: messages from non-contacts (no contact's primary or secondary email) received before the lookback
    (plus a day), unfiled and not waiting to be filed. Kept: filed messages (moved between labels when their
    contact's category changes), messages waiting for the label run, contacts' messages (`/gmail why` lists
    them), and everything within the lookback: a backfill or a full resync lists the Inbox within the lookback
    and must find each message it names stored, or it would hand it over (and alert it) again; older messages are
    never listed again, and history.list never returns a message twice. Mail that becomes a contact's later is
    filed only within the lookback, so nothing older is needed for that either.

    In batches of `batch_rows` found through the received-time index, each its own short transaction, at most
    `max_batches` per call (the next housekeeping goes on)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=lookback_days) - RETENTION_MARGIN
    message = MailboxMessage
    from_contact = sa.or_(sa.exists().where(Contact.email == message.from_address),
                          sa.exists().where(Contact.secondary_email == message.from_address))
    # Walks the received-time index in order (the index of rows to file holds only `needs_filing` ones, so it can
    # never serve `IS NOT TRUE`; before it was partial, `= false` made SQLite walk the whole flag index and sort).
    deletable = sa.and_(message.received_at < cutoff, message.filed_category.is_(None),
                        message.needs_filing.is_not(True), sa.not_(from_contact))
    deleted = 0
    resume: datetime | None = None
    for _ in range(max_batches):
        with session_scope(engine) as session:
            query = select(message.id, message.received_at).where(deletable)
            if resume is not None:
                query = query.where(message.received_at >= resume)  # what was kept before it is not looked at again
            rows = session.exec(query.order_by(message.received_at, message.id).limit(batch_rows)).all()
            if rows:
                session.execute(sa.delete(message).where(message.id.in_([row[0] for row in rows]))
                                .execution_options(synchronize_session=False))
        deleted += len(rows)
        if len(rows) < batch_rows:
            break
        resume = rows[-1][1]
    return deleted
