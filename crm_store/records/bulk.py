"""Bulk reads and writes for a batch of records: chunked `IN` look-ups, one statement per thousand rows, the
PostgreSQL planner hint, the retry of a batch that raced another, and the write that both kinds end with.

Existing records are loaded with chunked `IN` queries and writes are bulk statements: a constant number
of statements per thousand records, on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from crm_store import category_changes
from crm_store.db import session_scope
from crm_store.models import CrmUser, utcnow
from crm_store.records.batch import Batch, Row
from crm_store.users import get_or_create_user

__all__ = ["Upsert", "WritePlan", "chunks", "in_every_query_plan", "load_rows", "retrying", "write_batch"]

# Keys per IN (...) query; two lists per query stay under SQLite's oldest 999-variable limit.
IN_CHUNK = 400
_WRITE_CHUNK = 1000
# Concurrent requests may create the same contact at once: the loser's unique violation is retried.
_ATTEMPTS = 3

T = TypeVar("T")


def chunks(items: Iterable, size: int = IN_CHUNK) -> Iterator[list]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def in_every_query_plan(connection: Connection) -> None:
    """Let PostgreSQL plan every IN (...) look-up with its values, for this transaction only.

    psycopg prepares a statement run five times, and PostgreSQL may then keep a
    generic plan made while the table was nearly empty: a sequential scan that
    compares each row with the 400 parameters one by one (~100 ms per chunk at
    20k deals instead of ~2 ms).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def load_rows(connection: Connection, table: sa.Table, columns: Sequence[str],
              lookups: Sequence[tuple[Sequence[str], Iterable]]) -> dict[int, sa.Row]:
    """Rows (by id) whose value in any of a look-up's columns is one of its values, in chunked IN queries."""
    selected = [table.c[name] for name in columns]
    found: dict[int, sa.Row] = {}
    for keys, values in lookups:
        for chunk in chunks(sorted(values)):
            matches = sa.or_(*(table.c[key].in_(chunk) for key in keys))
            for row in connection.execute(sa.select(*selected).where(matches)):
                found[row.id] = row
    return found


def _owner_ids(session: Session, emails: set[str]) -> dict[str, int]:
    """CRM user ids by email; the owners not known yet are created with no permissions."""
    users: dict[str, int] = {}
    table = CrmUser.__table__
    for chunk in chunks(sorted(emails)):
        for user_id, email in session.connection().execute(
                sa.select(table.c.id, table.c.email).where(table.c.email.in_(chunk))):
            users[email] = user_id
    for email in sorted(emails - users.keys()):
        users[email] = get_or_create_user(session, email).id
    return users


def _bulk_insert(connection: Connection, table: sa.Table, rows: list[dict], advance: Callable[[int], None]) -> None:
    for chunk in chunks(rows, _WRITE_CHUNK):
        connection.execute(sa.insert(table), chunk)
        advance(len(chunk))


def _bulk_update(connection: Connection, table: sa.Table, rows: list[dict], advance: Callable[[int], None]) -> None:
    """UPDATE by id, one executemany per chunk; every dict has the same keys."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(f"b_{name}") for name in columns})
    )
    for chunk in chunks(rows, _WRITE_CHUNK):
        connection.execute(statement, [{f"b_{name}": value for name, value in row.items()} for row in chunk])
        advance(len(chunk))


def retrying(engine: Engine, work: Callable[[Session], T]) -> T:
    """`work` in a transaction of its own, run again (up to three times in all) when another transaction
    created or changed the same records meanwhile: a unique key taken, or a PostgreSQL serialization
    failure or deadlock."""
    for attempt in range(_ATTEMPTS):
        try:
            with session_scope(engine) as session:
                return work(session)
        except (IntegrityError, DBAPIError) as error:
            if attempt + 1 == _ATTEMPTS or not _retryable(error):
                raise
    raise AssertionError("unreachable")


def _retryable(error: DBAPIError) -> bool:
    if isinstance(error, IntegrityError):
        return True
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01")  # serialization failure, deadlock


# --------------------------------------------------------------------------- the write both kinds end with


@dataclass
class WritePlan:
    inserts: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)  # {"id", every column, "updated_at"}
    changes: list[tuple[dict, dict]] = field(default_factory=list)  # (before, after) of each update
    deletes: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Upsert:
    """What differs between contacts and deals in the write that ends a batch."""
    table: sa.Table
    columns: tuple[str, ...]
    wanted: Callable[[Row], dict[str, Any]]  # the columns a record sets (owner_id aside)
    current: Callable[[sa.Row], dict[str, Any]]  # an existing row's columns, comparable with `wanted`
    # Deletes the ids; returns the contacts whose category may have changed by it.
    delete: Callable[[Connection, list[int]], set[int]]
    # The contacts whose category the inserts and updates may have changed.
    touched: Callable[[WritePlan], set[int]]


def write_batch(session: Session, batch: Batch, spec: Upsert, rows: list[Row], existing: dict[int, sa.Row]) -> None:
    """Reject or go on (`Batch.finish`), then delete, update and insert in bulk (in that order: each may
    free an address the next one takes), count, and record the category changes."""
    batch.finish()
    result = batch.result
    plan = _plan(session, spec, rows, existing, result)
    progress = batch.progress
    progress.stage("writing", len(plan.deletes) + len(plan.inserts) + len(plan.updates))
    connection = session.connection()
    touched = spec.delete(connection, plan.deletes) if plan.deletes else set()
    progress.advance(len(plan.deletes))
    _bulk_update(connection, spec.table, plan.updates, progress.advance)
    _bulk_insert(connection, spec.table, plan.inserts, progress.advance)
    result.changed_contact_ids |= touched | spec.touched(plan)
    category_changes.record(connection, result.changed_contact_ids)


def _plan(session: Session, spec: Upsert, rows: list[Row], existing: dict[int, sa.Row], result) -> WritePlan:
    """Which good rows insert, update (only those that change something) or delete; counts the rest unchanged."""
    upserts = [row for row in rows if row.ok and not row.deleted]
    owners = _owner_ids(session, {row.values["owner_email"] for row in upserts if row.values.get("owner_email")})
    now = utcnow()
    plan = WritePlan()
    for row in upserts:
        wanted = spec.wanted(row)
        if "owner_email" in row.values:
            wanted["owner_id"] = owners[row.values["owner_email"]] if row.values["owner_email"] else None
        if row.target is None:
            plan.inserts.append({name: wanted.get(name) for name in spec.columns} | {"updated_at": now})
            continue
        current = spec.current(existing[row.target])
        merged = current | wanted
        if merged == current:
            result.unchanged += 1
            continue
        plan.updates.append({"id": row.target, **merged, "updated_at": now})
        plan.changes.append((current, merged))
    deletes = [row for row in rows if row.ok and row.deleted]
    plan.deletes = sorted({row.target for row in deletes if row.target is not None})
    result.unchanged += sum(1 for row in deletes if row.target is None)
    result.created, result.updated, result.deleted = len(plan.inserts), len(plan.updates), len(plan.deletes)
    return plan
