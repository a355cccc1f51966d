"""The category-change log (`category_changes`): which contacts' deals changed, so label runs re-file only
their mail. Each mailbox remembers the highest id it has handled and later reads only ids above it.

That is only sound if ids become visible in order: once a reader sees id N, no id below N may still be
uncommitted. PostgreSQL hands out ids from a sequence when a row is inserted, not when it commits, so two
CRM writers overlapping (the Zoho sync and an API request) could commit 41 after a label run read 42, and
41 would never be re-filed for that mailbox. Writers therefore take an exclusive transaction-level advisory
lock before inserting (held until they commit), and readers take the same lock shared just for reading the
highest id: they wait while a writer is between its insert and its commit. SQLite serialises writers
already, so there is nothing to take there.

A change also brings the next label run forward for the mailboxes it concerns (`bring_refiling_forward`, called by
each replica's scheduler every few seconds): a contact's deal won in the CRM re-files its mail within seconds of the
change arriving rather than at the mailbox's next scheduled run, up to LABEL_INTERVAL_SECONDS later.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from crm_store.db import session_scope
from crm_store.models import AccountStatus, CategoryChange, Contact, GmailAccount, MailboxMessage, utcnow

_LOCK_KEY = 0x4D4D_4343  # "MMCC": this log's advisory lock, in PostgreSQL's one 64-bit key space
_CHUNK = 1_000
# Past this many contacts changed at once (a full CRM sync, a big import) every labelled mailbox's run is brought
# forward: the look-up per mailbox would cost more than the runs, which make no Gmail call when nothing moves.
MANY_CONTACTS = 500


def record(connection: Connection, contact_ids: Iterable[int]) -> None:
    """Log a category change for each contact, in the caller's transaction."""
    rows = [{"contact_id": contact_id, "changed_at": utcnow()} for contact_id in sorted(set(contact_ids))]
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    for start in range(0, len(rows), _CHUNK):
        connection.execute(sa.insert(CategoryChange.__table__), rows[start:start + _CHUNK])


def latest_id(session: Session) -> int:
    """The highest id such that every change up to it is committed (0 for an empty log)."""
    statement = sa.select(sa.func.max(CategoryChange.id))
    if session.get_bind().dialect.name != "postgresql":
        return session.execute(statement).scalar() or 0
    session.execute(sa.text("SELECT pg_advisory_lock_shared(:key)"), {"key": _LOCK_KEY})
    try:
        return session.execute(statement).scalar() or 0
    finally:
        session.execute(sa.text("SELECT pg_advisory_unlock_shared(:key)"), {"key": _LOCK_KEY})


def bring_refiling_forward(engine: Engine, after_id: int, upto_id: int, now: datetime) -> int:
    """Make the label run due now for labelled mailboxes holding mail from a contact of the changes after
    `after_id` up to `upto_id` (their primary or secondary email; the (account, from address) index is probed per
    mailbox and address). Returns how many mailboxes were brought forward.

    A run already under way for a mailbox sets its next run when it ends, over this one; if it read the change
    log before the change, the change waits for that next run, as it would have without this."""
    if upto_id <= after_id:
        return 0
    in_window = sa.and_(CategoryChange.id > after_id, CategoryChange.id <= upto_id)
    changed = sa.select(CategoryChange.contact_id).where(in_window)
    labelled = sa.and_(GmailAccount.labels_enabled.is_(True), GmailAccount.magnet_enabled.is_(True),
                       GmailAccount.status == AccountStatus.CONNECTED.value,
                       GmailAccount.next_label_at > now)  # NULL: due already
    with session_scope(engine) as session:
        contacts = session.execute(sa.select(sa.func.count(sa.distinct(CategoryChange.contact_id)))
                                   .where(in_window)).scalar() or 0
        if not contacts:
            return 0
        if contacts <= MANY_CONTACTS:
            addresses = sa.union(
                sa.select(Contact.email).where(Contact.id.in_(changed)),
                sa.select(Contact.secondary_email).where(Contact.id.in_(changed), Contact.secondary_email.is_not(None)),
            )
            labelled = sa.and_(labelled, sa.exists().where(MailboxMessage.account_id == GmailAccount.id,
                                                           MailboxMessage.from_address.in_(addresses)))
        return session.execute(
            sa.update(GmailAccount).where(labelled).values(next_label_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
