"""The sync pipeline's own statements (gmail/sync.py), built once with bind parameters (issue 17: building them per
call through the ORM cost more CPU than running them): the mailbox as a run opens it, the new messages' INSERT, the
cursor's UPDATE."""
from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_store.db import row_class
from crm_store.leases import lease_held
from crm_store.models import AccountStatus, CrmUser, GmailAccount, MailboxMessage, OrgSettings


@functools.cache
def move_cursor(backfill: bool, leased: bool):
    """The mailbox's columns a good sync writes with its cursor (b_id, b_cursor, b_now), built once; only while the
    mailbox is connected and, `leased`, the run holds its lease (`leases.lease_held`): the statement that moves the
    cursor is the run's fence, and no rows means commit nothing (gmail/sync.py rolls back)."""
    table = GmailAccount.__table__
    values: dict = {"history_id": sa.bindparam("b_cursor", type_=table.c.history_id.type),
                    "last_sync_at": sa.bindparam("b_now", type_=table.c.last_sync_at.type), "last_sync_error": None,
                    # A failing streak (and its incident) ends with a run that works.
                    "failing_since": None, "admins_notified_at": None}
    if backfill:
        values["backfill_done"] = True
    where = [table.c.id == sa.bindparam("b_id"), table.c.status == AccountStatus.CONNECTED.value]
    if leased:
        where.append(lease_held())
    return table.update().where(*where).values(**values)


_MESSAGES = MailboxMessage.__table__


@functools.cache
def _insert_new(dialect_name: str):
    """The messages' INSERT that skips stored ones and says which it stored, built once per dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(_MESSAGES).on_conflict_do_nothing(
        index_elements=["account_id", "gmail_id"]).returning(_MESSAGES.c.gmail_id)


def store_new(connection: Connection, rows: list[dict]) -> set[str]:
    """INSERT the messages not stored yet, in one statement (SQLAlchemy's "insertmanyvalues" makes the rows one
    multi-row INSERT … RETURNING); the Gmail ids it stored."""
    if not rows:
        return set()
    return set(connection.execute(_insert_new(connection.dialect.name), rows).scalars())


_ACCOUNTS = GmailAccount.__table__

# The mailbox as a run holds it (issue 17: loading the GmailAccount entity, then expunging it, was a tenth of a push
# run's own CPU): every column as a plain attribute, read by the run's steps as they read a GmailAccount. Not
# frozen: the run keeps its cursor current (`MailboxSync.pull`).
MailboxRow = row_class(_ACCOUNTS, "MailboxRow", __name__)
_ROW_WIDTH = len(_ACCOUNTS.columns)

# The mailbox as `open` reads it, with the time zones it may use (built once: issue 17).
OPEN = (sa.select(*_ACCOUNTS.columns, CrmUser.__table__.c.timezone, OrgSettings.__table__.c.default_timezone)
        .outerjoin(CrmUser.__table__, CrmUser.__table__.c.id == _ACCOUNTS.c.crm_user_id)
        .outerjoin(OrgSettings.__table__, OrgSettings.__table__.c.team_id == _ACCOUNTS.c.slack_team_id)
        .where(_ACCOUNTS.c.id == sa.bindparam("b_id")))


def read_mailbox(connection: Connection, account_id: int) -> tuple[MailboxRow, str | None, str | None] | None:
    """The mailbox's row, the rep's time zone and the workspace's (either may be None); None when it is gone."""
    row = connection.execute(OPEN, {"b_id": account_id}).first()
    if row is None:
        return None
    return MailboxRow(*row[:_ROW_WIDTH]), row[_ROW_WIDTH], row[_ROW_WIDTH + 1]
