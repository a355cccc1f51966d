"""A Gmail push's mailbox leased in one statement (issue 17), which also says what it saw when it leased nothing:
the push route's read of the mailbox and the claim of its lease were a read and a write, a transaction each, for
every push, then a claim and a read for a push with nothing new (the common push: Pub/Sub sends one per change, late
and repeated). The claim leases the mailbox of the push's address only when the push has news for it: connected,
MailMagnet on, lease free, and its cursor not at or past the push's history id (`gmail.push.already_synced`, which
the caller keeps for every other case, on the cursor this statement gives back).

The cursor is text (Gmail history ids are unsigned 64-bit). The statement compares it as a number only where that
is certain without parsing it in SQL: a shorter cursor, or one of the same length ordering lower (decimal digits of
equal length order as their numbers). Whatever this leaves unclaimed — a cursor it cannot judge, a lease held, a
mailbox not ours — the caller decides as before, with `already_synced` in Python.

One statement either way, two shapes (an UPDATE … RETURNING gives back only the rows it changed):
- PostgreSQL: the mailbox read and the claim are CTEs of one SELECT (a data-modifying CTE): a push with no news
  writes nothing, and every outcome is decided on what the read gave.
- SQLite (no UPDATE in a CTE): one UPDATE that also matches the mailbox a push has certainly no news for, leaving
  its columns as they were, so RETURNING gives back its cursor. That rewrites the row (a WAL page per such push;
  the UPDATE took the write lock before, too). A mailbox with news it cannot lease (held) is not matched: the
  caller reads it, as before. The address is unique (one mailbox at most), so no LIMIT.
"""
from __future__ import annotations

import functools
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_store.leases import Job, Lease, claim_statement, claim_values
from crm_store.models import AccountStatus, GmailAccount, utcnow

_T = GmailAccount.__table__
_OURS = (_T.c.email_address == sa.bindparam("b_address"), _T.c.magnet_enabled.is_(True))
_LENGTH = sa.bindparam("b_history_length", type_=sa.Integer)
# The cursor is certainly behind the push's history id (bound: b_history, b_history_length); `_behind` in Python.
_BEHIND = sa.or_(_T.c.history_id.is_(None), sa.func.length(_T.c.history_id) < _LENGTH,
                 sa.and_(sa.func.length(_T.c.history_id) == _LENGTH,
                         _T.c.history_id < sa.bindparam("b_history", type_=_T.c.history_id.type)))
_NEWS = _OURS + (_BEHIND,)
# What the caller decides on when nothing was leased: as `usecases.push` reads it.
_SEEN = _OURS + (_T.c.status == AccountStatus.CONNECTED.value,)


class PushClaim(NamedTuple):
    """What the claim did and saw. `lease`: the mailbox leased for a sync (None: none). `seen`: the connected,
    MailMagnet-on mailboxes of the address with their cursors, as the statement saw them; None when it cannot say
    (SQLite, news that was not leased): the caller reads them."""

    lease: Lease | None
    seen: list[tuple[int, str | None]] | None


@functools.cache
def _postgres_statement(with_history: bool):
    """The read and the claim as CTEs of one SELECT; a full join, so a lease taken is never dropped from the answer."""
    seen = sa.select(_T.c.id, _T.c.history_id).where(*_SEEN).cte("seen")
    claimed = claim_statement(Job.SYNC, True, False, _NEWS if with_history else _OURS).cte("claimed")
    return (sa.select(sa.func.coalesce(claimed.c.id, seen.c.id), seen.c.history_id, claimed.c.id.is_not(None),
                      claimed.c.next_sync_at, claimed.c.next_label_at)
            .select_from(seen.join(claimed, claimed.c.id == seen.c.id, full=True)))


@functools.cache
def _sqlite_statement(with_history: bool):
    """One UPDATE: leases the mailbox with news, and matches (changing nothing) the one with certainly none."""
    behind = _BEHIND if with_history else sa.true()
    now = sa.bindparam("b_now", type_=_T.c.lease_expires_at.type)
    free = sa.or_(_T.c.lease_expires_at.is_(None), _T.c.lease_expires_at < now)
    leased = lambda value, column: sa.case((behind, value), else_=column)  # noqa: E731 - as it was: no news
    return (_T.update().where(*_SEEN, sa.or_(sa.and_(behind, free), sa.not_(behind)))
            .values(lease_owner=leased(sa.bindparam("b_owner"), _T.c.lease_owner),
                    lease_expires_at=leased(sa.bindparam("b_expires", type_=_T.c.lease_expires_at.type),
                                            _T.c.lease_expires_at),
                    # A sync request is consumed by the run that starts now (as `claim_statement` does).
                    sync_requested=leased(sa.false(), _T.c.sync_requested))
            # Columns only: SQLite 3.40.1 answers expressions over this table's columns in RETURNING wrongly
            # (`history_id IS NULL` gave 0 on a NULL cursor, `history_id < ?` compared the texts as numbers; the same
            # DDL made afresh does it too). Whether it leased is `_behind` on the cursor it gives back, unchanged.
            .returning(_T.c.id, _T.c.history_id, _T.c.next_sync_at, _T.c.next_label_at))


def _behind(cursor: str | None, history_id: int | None) -> bool:
    """`_BEHIND` in Python, for SQLite's row: a row it gave back was leased exactly when this is true of its cursor
    (the statement matches a row behind only to lease it). Both count characters and compare code points; SQL's
    `length` stops at a NUL, which no cursor (Gmail's decimal history id) holds."""
    if history_id is None or cursor is None:
        return True
    pushed = str(history_id)
    return len(cursor) < len(pushed) or (len(cursor) == len(pushed) and cursor < pushed)


def claim_pushed(engine: Engine, owner: str, address: str, history_id: int | None, *, lease_seconds: int,
                 now: datetime | None = None) -> PushClaim:
    """Lease the mailbox of `address` (normalised, as `gmail.push.push_address` gives it) for a sync when the push
    has news for it (`history_id` None: any); otherwise say what was seen of it. One statement."""
    now = now or utcnow()
    values = claim_values(owner, 1, lease_seconds, now) | {"b_address": address}
    if history_id is not None:
        values.update(b_history=str(history_id), b_history_length=len(str(history_id)))
    postgres = engine.dialect.name == "postgresql"
    statement = (_postgres_statement if postgres else _sqlite_statement)(history_id is not None)
    with engine.begin() as connection:
        rows = connection.execute(statement, values).all()
    if not postgres:
        rows = [(row[0], row[1], _behind(row[1], history_id), row[2], row[3]) for row in rows]
    for account_id, _cursor, leased, sync_due, label_due in rows:
        if leased:
            return PushClaim(Lease(account_id, now, sync_due, label_due), None)
    if not postgres and not rows:
        return PushClaim(None, None)  # not ours, or news it could not lease: not known here
    return PushClaim(None, [(account_id, cursor) for account_id, cursor, *_ in rows])
