"""Idempotency keys of requests with side effects (Slack retries, replays, double clicks).

A key is claimed with one INSERT … ON CONFLICT DO NOTHING: of two identical requests, exactly one wins,
on any replica. Keys are kept a day (Slack retries within minutes); the housekeeping job deletes older ones.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm_store.models import ProcessedSlackRequest, utcnow

KEEP_FOR = timedelta(days=1)
MAX_KEY = 200


def _fit(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return key[:80] + ":" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _insert(engine: Engine):
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(ProcessedSlackRequest.__table__)


def claim(engine: Engine, key: str, *, window: timedelta | None = None) -> bool:
    """True for the first request with this key (or the first after `window`), False for a repeat."""
    key = _fit(key)
    now = utcnow()
    with engine.begin() as connection:
        table = ProcessedSlackRequest.__table__
        inserted = connection.execute(
            _insert(engine).values(key=key, created_at=now).on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.key)  # psycopg gives no rowcount for INSERT … ON CONFLICT
        ).first() is not None
        if inserted or window is None:
            return bool(inserted)
        # Seen before, but long enough ago to be a deliberate second click: take it over atomically.
        return bool(connection.execute(
            update(table).where(table.c.key == key, table.c.created_at < now - window).values(created_at=now)
        ).rowcount)


def seen(engine: Engine, key: str) -> bool:
    """Whether a key was claimed (a read: it never waits for a writer)."""
    table = ProcessedSlackRequest.__table__
    with engine.connect() as connection:
        return connection.execute(select(table.c.key).where(table.c.key == _fit(key))).first() is not None


def delete_expired(session: Session, now: datetime) -> None:
    """Forget keys older than KEEP_FOR (the housekeeping job, `usecases.upkeep`, the one place that prunes)."""
    table = ProcessedSlackRequest.__table__
    session.execute(delete(table).where(table.c.created_at < now - KEEP_FOR))
