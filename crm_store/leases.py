"""Leases: which replica works on which mailbox, or runs which job, until when (several `serve` on one database).

Mailboxes: a replica claims due mailboxes with one atomic `UPDATE … WHERE id IN (SELECT … LIMIT n
FOR UPDATE SKIP LOCKED) RETURNING id` (PostgreSQL skips rows another replica is claiming;
SQLite serialises writers and ignores the locking clause). A lease expires on its own, so
the work of a replica that died is taken over once its leases run out.

Named jobs (the Zoho CRM sync) have leases of their own: crm_store/job_leases.py.

Owners name the process: `host:pid:start` (`replica_owner`, the start being the process's start time in clock ticks
since boot, from /proc), so a replica on the same host tells a dead process's leases from a live one's even when
the pid was reused, and frees them at once (`release_dead`) instead of waiting out the lease: a restarted replica
picks up its predecessor's mailboxes, and its Zoho sync, at start. Where /proc is missing the start is `-` and
leases expire as before.

Cadence: a run is due again one interval after it was *due*, not after it finished (a run
that finishes after the next tick must not push every later run back by a whole interval);
when a run started a whole interval late, it is due one interval after it started
(`next_run_at`), so a mailbox that fell behind never runs twice in a row to catch up.
"""
from __future__ import annotations

import functools
import os
import socket
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Callable, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import select, update

from crm_store.db import session_scope
from crm_store.models import AccountStatus, GmailAccount, JobLease, utcnow

UNITS_PER_POLL = 2  # a polling sweep's history.list, at Google's published cost


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22); None: no such process, or no
    /proc to tell."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def replica_owner(suffix: str = "") -> str:
    """This process as a lease owner: `host:pid:start` (+ `suffix`)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start(pid) or '-'}{suffix}"[:64]


def owner_is_dead(owner: str, host: str | None = None) -> bool:
    """True only when the owner is a process of this host that is gone (or a new process has its pid)."""
    parts = owner.split(":")
    if len(parts) < 3 or parts[0] != (host or socket.gethostname()) or not parts[1].isdigit() or parts[2] == "-" \
            or not os.path.isdir("/proc/self"):
        return False
    return process_start(int(parts[1])) != parts[2]


def release_dead(engine: Engine, now: datetime | None = None) -> int:
    """Free the mailbox and job leases held by dead processes of this host; how many were freed."""
    now = now or utcnow()
    host = socket.gethostname()
    table = JobLease.__table__
    with session_scope(engine) as session:
        owners = set(session.exec(select(GmailAccount.lease_owner).where(
            GmailAccount.lease_owner.is_not(None), GmailAccount.lease_expires_at >= now,
            GmailAccount.lease_owner.startswith(f"{host}:")).distinct()).all())
        owners |= set(session.execute(sa.select(table.c.owner).where(
            table.c.expires_at >= now, table.c.owner.startswith(f"{host}:"))).scalars())
    dead = [owner for owner in owners if owner_is_dead(owner, host)]
    if not dead:
        return 0
    with session_scope(engine) as session:
        freed = session.execute(
            update(GmailAccount).where(GmailAccount.lease_owner.in_(dead))
            .values(lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False)).rowcount
        freed += session.execute(sa.delete(table).where(table.c.owner.in_(dead))).rowcount
    return freed


class LeaseLost(Exception):
    """The mailbox's lease is no longer this replica's (it expired and another took it): commit nothing."""


_run_lease: ContextVar[str | None] = ContextVar("mailbox_run_lease_owner", default=None)


@contextmanager
def running_under(owner: str | None) -> Iterator[None]:
    """Mark this thread's mailbox run as holding the lease of `owner` (None: no lease), for `fence`."""
    token = _run_lease.set(owner)
    try:
        yield
    finally:
        _run_lease.reset(token)


def fence(session, account_id: int, owner: str | None = None) -> None:
    """Before a run under a lease commits: raise LeaseLost (rolling the transaction back) unless the lease is still
    this run's (`owner`, else the one `running_under` names; no lease: nothing to check). The row stays locked to
    the commit, so no replica takes the mailbox over in between."""
    owner = owner if owner is not None else _run_lease.get()
    if owner is not None and not holds_lease(session, account_id, owner):
        raise LeaseLost(f"mailbox {account_id}: the lease is no longer {owner}'s; nothing committed")


# The push path's statements are Core, built once with bind parameters (issue 17: building an ORM statement per
# call cost more CPU than running it). Table columns, not the model's attributes: no ORM compilation either.
_T = GmailAccount.__table__
_LEASE_OF = sa.select(_T.c.status, _T.c.lease_owner, _T.c.lease_expires_at).where(
    _T.c.id == sa.bindparam("b_id")).with_for_update()


def holds_lease(session, account_id: int, owner: str, now: datetime | None = None) -> bool:
    """In the caller's transaction: whether `owner` still holds the mailbox's lease. The row stays locked until the
    transaction ends (PostgreSQL), so no other replica can claim it between this check and the commit."""
    now = now or utcnow()
    row = session.execute(_LEASE_OF, {"b_id": account_id}).first()
    return row is not None and _held(row[1], row[2], owner, now)


def _held(lease_owner: str | None, expires: datetime | None, owner: str, now: datetime) -> bool:
    if lease_owner != owner or expires is None:
        return False
    expires = expires if expires.tzinfo is not None else expires.replace(tzinfo=now.tzinfo)
    return expires >= now


def run_owner(owner: str | None = None) -> str | None:
    """The lease a run's commits check: `owner`, else the one `running_under` names (None: no lease)."""
    return owner if owner is not None else _run_lease.get()


def lease_held():
    """In a statement's WHERE: the lease is b_lease_owner's at b_lease_now (as `holds_lease` judges), so a
    conditional UPDATE fences the transaction it is in; the row stays locked to the commit."""
    return sa.and_(_T.c.lease_owner == sa.bindparam("b_lease_owner"),
                   _T.c.lease_expires_at >= sa.bindparam("b_lease_now", type_=_T.c.lease_expires_at.type))


def fenced_status(session, account_id: int, owner: str | None = None) -> AccountStatus | None:
    """`fence` and the mailbox's status in one statement (a catch-up's chunks before the last want both): raises
    LeaseLost as `fence` does; else the status (None: the mailbox is gone), the row locked to the commit."""
    owner = owner if owner is not None else _run_lease.get()
    now = utcnow()
    row = session.execute(_LEASE_OF, {"b_id": account_id}).first()
    if owner is not None and (row is None or not _held(row[1], row[2], owner, now)):
        raise LeaseLost(f"mailbox {account_id}: the lease is no longer {owner}'s; nothing committed")
    return None if row is None else AccountStatus(row[0])


class Job(StrEnum):
    SYNC = "sync"
    LABELS = "labels"


def _free(now):
    """`now`: a moment, or a bind parameter standing for it."""
    return sa.or_(_T.c.lease_expires_at.is_(None), _T.c.lease_expires_at < now)


def _due(job: Job, now):
    working = sa.and_(_T.c.status == AccountStatus.CONNECTED.value, _T.c.magnet_enabled.is_(True))
    if job is Job.SYNC:
        when = sa.or_(_T.c.next_sync_at.is_(None), _T.c.next_sync_at <= now, _T.c.sync_requested.is_(True))
        return sa.and_(working, when)
    when = sa.or_(_T.c.next_label_at.is_(None), _T.c.next_label_at <= now)
    return sa.and_(working, _T.c.labels_enabled.is_(True), when)


@dataclass(frozen=True)
class Lease:
    """A mailbox this replica now works on, and when each job was due when it was claimed (None: at once)."""

    account_id: int
    claimed_at: datetime
    sync_due: datetime | None
    label_due: datetime | None


@functools.cache
def claim_statement(job: Job, force: bool, by_id: bool, where: tuple = ()):
    """The claim's one statement for this kind of claim, built once; bound: b_now, b_expires, b_owner, b_limit
    (and b_ids when `by_id`; `where`: more conditions, e.g. the push's)."""
    now = sa.bindparam("b_now", type_=_T.c.lease_expires_at.type)
    condition = _free(now)
    if not force:
        condition = sa.and_(condition, _due(job, now))
    else:
        condition = sa.and_(condition, _T.c.status == AccountStatus.CONNECTED.value)
    if by_id:
        condition = sa.and_(condition, _T.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    if where:
        condition = sa.and_(condition, *where)
    order = _T.c.next_sync_at if job is Job.SYNC else _T.c.next_label_at
    # A CTE, not `IN (subquery)`: PostgreSQL may run a locking subquery more than once, and so lease
    # more rows than asked; a CTE is evaluated exactly once.
    picked = (
        sa.select(_T.c.id).where(condition)
        .order_by(order.is_not(None), order, _T.c.id)
        .limit(sa.bindparam("b_limit", type_=sa.Integer))
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    return (
        _T.update()
        .where(_T.c.id == picked.c.id, condition)
        # A sync request is consumed by the run that starts now; one arriving during it re-arms it.
        .values(lease_owner=sa.bindparam("b_owner"), lease_expires_at=sa.bindparam("b_expires"), sync_requested=False)
        .returning(_T.c.id, _T.c.next_sync_at, _T.c.next_label_at)
    )


def claim_values(owner: str, limit: int, lease_seconds: int, now: datetime) -> dict:
    return {"b_now": now, "b_expires": now + timedelta(seconds=lease_seconds), "b_owner": owner, "b_limit": limit}


def claim_leases(engine: Engine, owner: str, job: Job, *, limit: int, lease_seconds: int,
                 now: datetime | None = None, account_ids: Iterable[int] | None = None,
                 force: bool = False) -> list[Lease]:
    """Lease up to `limit` mailboxes due for `job` (or the given ones; `force`: due or not)."""
    now = now or utcnow()
    values = claim_values(owner, limit, lease_seconds, now)
    if account_ids is not None:
        values["b_ids"] = list(account_ids)
    with engine.begin() as connection:  # Core: one statement, no ORM unit of work
        rows = connection.execute(claim_statement(job, force, account_ids is not None), values).all()
    return sorted((Lease(row[0], now, row[1], row[2]) for row in rows), key=lambda lease: lease.account_id)


def claim(engine: Engine, owner: str, job: Job, *, limit: int, lease_seconds: int, now: datetime | None = None,
          account_ids: Iterable[int] | None = None, force: bool = False) -> list[int]:
    """Lease up to `limit` mailboxes due for `job` (or the given ones; `force`: due or not); their ids."""
    return [lease.account_id for lease in claim_leases(engine, owner, job, limit=limit, lease_seconds=lease_seconds,
                                                       now=now, account_ids=account_ids, force=force)]


def next_run_at(due: datetime | None, started: datetime, interval: timedelta) -> datetime:
    """When a job is due again after a run that started at `started` for a beat due at `due`: one interval
    after the beat, so cadence does not drift with run times; one interval after the start when the run
    was not due yet (a push, a forced run) or started a whole interval late."""
    if due is not None and due <= started < due + interval:
        return due + interval
    return started + interval


@functools.cache
def _next_due_statement():
    """`next_due_by_job`'s read, built once (the dispatch loop makes it at every wake-up); bound: b_now."""
    working = sa.and_(_T.c.status == AccountStatus.CONNECTED.value, _T.c.magnet_enabled.is_(True),
                      _free(sa.bindparam("b_now", type_=_T.c.lease_expires_at.type)))
    labels_on = _T.c.labels_enabled.is_(True)
    sync_now = sa.or_(_T.c.next_sync_at.is_(None), _T.c.sync_requested.is_(True))
    labels_now = sa.and_(labels_on, _T.c.next_label_at.is_(None))
    return sa.select(sa.func.max(sa.case((sync_now, 1), else_=0)), sa.func.max(sa.case((labels_now, 1), else_=0)),
                     sa.func.min(_T.c.next_sync_at),
                     sa.func.min(sa.case((labels_on, _T.c.next_label_at), else_=None))).where(working)


def next_due_by_job(engine: Engine, now: datetime | None = None) -> dict[Job, datetime | None]:
    """For each job, the earliest time a free mailbox falls due (`now` when one is due already); None when no
    mailbox is scheduled for it. Leased mailboxes are left out: their run will say when they are due. One read."""
    now = now or utcnow()
    with engine.connect() as connection:  # Core: one read, built once
        sync_waiting, labels_waiting, sync, labels = connection.execute(_next_due_statement(), {"b_now": now}).one()
    aware = lambda moment: moment.replace(tzinfo=now.tzinfo) if moment is not None and moment.tzinfo is None \
        else moment  # noqa: E731 - SQLite gives back naive UTC
    return {Job.SYNC: now if sync_waiting else aware(sync), Job.LABELS: now if labels_waiting else aware(labels)}


def next_due(engine: Engine, now: datetime | None = None) -> datetime | None:
    """The earliest time a free mailbox falls due for either job (in the past: due now); None when none is."""
    times = [moment for moment in next_due_by_job(engine, now).values() if moment is not None]
    return min(times) if times else None


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


def quota_spent(units, now: datetime) -> dict:
    """The columns that add `units` (a number or a bind parameter) to the mailbox's quota units of today (UTC),
    starting the count again on a new day: part of a statement the caller makes anyway."""
    today = now.astimezone(timezone.utc).date().isoformat()
    return {"quota_day": today,
            "quota_units": sa.case((GmailAccount.quota_day == today, GmailAccount.quota_units + units), else_=units)}


def release(engine: Engine, owner: str, account_id: int, *, next_sync_at: datetime | None = None,
            next_label_at: datetime | None = None, quota_units: int = 0,
            also: Callable[[Connection], None] | None = None) -> bool:
    """Give the mailbox back, saying when each job is next due (and adding the run's quota units to today's).
    True when a sync was requested meanwhile (a push arrived during the run), so the caller should start
    another one. `also`: the run's last writes, in the same transaction (they are written even when the lease
    was lost meanwhile: they record what happened outside, e.g. alerts posted)."""
    values: dict = {"b_id": account_id, "b_owner": owner}
    if quota_units:
        values.update(b_today=utcnow().astimezone(timezone.utc).date().isoformat(), b_units=quota_units)
    if next_sync_at is not None:
        values["b_next_sync"] = next_sync_at
    if next_label_at is not None:
        values["b_next_label"] = next_label_at
    statement = _release_statement(bool(quota_units), next_sync_at is not None, next_label_at is not None)
    with engine.begin() as connection:  # Core: one statement (and the run's), no ORM unit of work
        # The mailbox's row first, then the run's rows: the order of every transaction on a mailbox (a disconnect
        # waiting for this one would otherwise deadlock with it on PostgreSQL: tests/gmail/test_lock_order.py).
        row = connection.execute(statement, values).first()
        if also is not None:
            also(connection)
    return bool(row and row[0] and row[1] == AccountStatus.CONNECTED.value)


@functools.cache
def _release_statement(quota: bool, next_sync: bool, next_label: bool):
    """`release`'s statement for the columns it sets, built once (as `quota_spent` says, with b_today, b_units)."""
    values: dict = {"lease_owner": None, "lease_expires_at": None}
    if quota:
        today, units = sa.bindparam("b_today", type_=_T.c.quota_day.type), sa.bindparam("b_units", type_=sa.Integer)
        values.update(quota_day=today,
                      quota_units=sa.case((_T.c.quota_day == today, _T.c.quota_units + units), else_=units))
    if next_sync:
        values["next_sync_at"] = sa.bindparam("b_next_sync", type_=_T.c.next_sync_at.type)
    if next_label:
        values["next_label_at"] = sa.bindparam("b_next_label", type_=_T.c.next_label_at.type)
    return (_T.update().where(_T.c.id == sa.bindparam("b_id"), _T.c.lease_owner == sa.bindparam("b_owner"))
            .values(**values).returning(_T.c.sync_requested, _T.c.status))


@dataclass(frozen=True)
class Polled:
    """A mailbox the polling sweep found quiet: its new cursor, and when its next poll is due."""

    account_id: int
    history_id: str
    next_sync_at: datetime


def release_polled(engine: Engine, owner: str, polled: list[Polled], now: datetime) -> list[int]:
    """Move the cursors of quiet mailboxes and hand them back, in one statement for all of them (a cycle of
    ten thousand mailboxes cannot afford a transaction each). Returns the ids for which a sync was requested
    meanwhile (a push arrived during the poll): they must run again."""
    if not polled:
        return []
    table = GmailAccount.__table__
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("b_id"), table.c.lease_owner == owner,
               table.c.status == AccountStatus.CONNECTED.value)
        .values(history_id=sa.bindparam("b_history"), next_sync_at=sa.bindparam("b_next"), last_sync_at=now,
                last_sync_error=None, failing_since=None, admins_notified_at=None, lease_owner=None,
                lease_expires_at=None,
                # Each poll was one history.list, charged to its mailbox.
                **quota_spent(UNITS_PER_POLL, now))
    )
    ids = [p.account_id for p in polled]
    with session_scope(engine) as session:
        session.connection().execute(statement, [
            {"b_id": p.account_id, "b_history": p.history_id, "b_next": p.next_sync_at} for p in polled])
        return list(session.exec(select(GmailAccount.id).where(
            GmailAccount.id.in_(ids), GmailAccount.sync_requested.is_(True),
            GmailAccount.status == AccountStatus.CONNECTED.value)).all())


_REQUESTED = _T.update().where(_T.c.id.in_(sa.bindparam("b_ids", expanding=True))).values(sync_requested=True)


def request_sync(engine: Engine, account_ids: Iterable[int]) -> None:
    """Ask for a sync as soon as possible (a push arrived for a busy mailbox, a setting changed)."""
    ids = list(account_ids)
    if ids:
        with engine.begin() as connection:  # Core, built once: a burst of pushes for a busy mailbox makes many
            connection.execute(_REQUESTED, {"b_ids": ids})


def release_all(engine: Engine, owner: str) -> int:
    """On shutdown: hand everything back at once instead of letting leases expire."""
    with session_scope(engine) as session:
        return session.execute(
            update(GmailAccount).where(GmailAccount.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
