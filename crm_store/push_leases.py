"""A Gmail push's mailbox leased in one statement (issue 17): the push route's read of the mailbox and the claim of
its lease were a read and a write, a transaction each, for every push. The claim here leases the mailbox of the
push's address only when the push has news for it: connected, MailMagnet on, lease free, and its cursor not at or
past the push's history id (`gmail.push.already_synced`, which the caller keeps for every other case).

The cursor is text (Gmail history ids are unsigned 64-bit). The statement compares it as a number only where that
is certain without parsing it in SQL: a shorter cursor, or one of the same length ordering lower (decimal digits of
equal length order as their numbers). Whatever this leaves unclaimed — a cursor it cannot judge, a lease held, a
mailbox not ours — the caller decides as before, with `already_synced` in Python.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_store.leases import Job, Lease, claim_statement, claim_values
from crm_store.models import GmailAccount, utcnow

_T = GmailAccount.__table__
_OURS = (_T.c.email_address == sa.bindparam("b_address"), _T.c.magnet_enabled.is_(True))
_LENGTH = sa.bindparam("b_history_length", type_=sa.Integer)
_NEWS = _OURS + (sa.or_(_T.c.history_id.is_(None), sa.func.length(_T.c.history_id) < _LENGTH,
                        sa.and_(sa.func.length(_T.c.history_id) == _LENGTH,
                                _T.c.history_id < sa.bindparam("b_history", type_=_T.c.history_id.type))),)


def claim_pushed(engine: Engine, owner: str, address: str, history_id: int | None, *, lease_seconds: int,
                 now: datetime | None = None) -> Lease | None:
    """Lease the mailbox of `address` (normalised, as `gmail.push.push_address` gives it) for a sync when the push
    has news for it (`history_id` None: any); None when this claimed nothing."""
    now = now or utcnow()
    values = claim_values(owner, 1, lease_seconds, now) | {"b_address": address}
    if history_id is not None:
        values.update(b_history=str(history_id), b_history_length=len(str(history_id)))
    statement = claim_statement(Job.SYNC, True, False, _OURS if history_id is None else _NEWS)
    with engine.begin() as connection:
        row = connection.execute(statement, values).first()
    return None if row is None else Lease(row[0], now, row[1], row[2])
