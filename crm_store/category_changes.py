"""The category-change log (`category_changes`): which contacts' deals changed, so label runs re-file only
their mail. Each mailbox remembers the highest id it has handled and later reads only ids above it.

That is only sound if ids become visible in order: once a reader sees id N, no id below N may still be
uncommitted. PostgreSQL hands out ids from a sequence when a row is inserted, not when it commits, so two
CRM writers overlapping (the Zoho sync and an API request) could commit 41 after a label run read 42, and
41 would never be re-filed for that mailbox. Writers therefore take an exclusive transaction-level advisory
lock before inserting (held until they commit), and readers take the same lock shared just for reading the
highest id: they wait while a writer is between its insert and its commit. SQLite serialises writers
already, so there is nothing to take there.
"""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from crm_store.models import CategoryChange, utcnow

_LOCK_KEY = 0x4D4D_4343  # "MMCC": this log's advisory lock, in PostgreSQL's one 64-bit key space
_CHUNK = 1_000


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
