"""Where the stored, not yet filed messages of a mailbox are: in the Inbox, out of it, or unknown. The sync moves
them with the history's INBOX label changes, or replaces what it knew with a listing of the Inbox (a backfill, a
full resync); the label run files only mail still in the Inbox."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, update

from crm_store.models import MailboxMessage

# Rows updated per statement.
CHUNK = 500
# A listing "after:" a moment may miss messages received around it: within this margin a stored message the
# listing does not name is "unknown", not "out of the Inbox".
LISTING_MARGIN = timedelta(hours=1)


_T = MailboxMessage.__table__
# Built once (issue 17): the sync runs this whenever the history says mail left or re-entered the Inbox (after a
# label run filed it, say), and building it per call cost more CPU than running it.
_MOVED = _T.update().where(
    _T.c.account_id == sa.bindparam("b_account"), _T.c.filed_category.is_(None),
    _T.c.gmail_id.in_(sa.bindparam("b_ids", expanding=True))).values(in_inbox=sa.bindparam("b_inside"))


def apply_inbox_changes(session: Session | Connection, account_id: int, changes: dict[str, bool]) -> None:
    """Archived, moved or brought back to the Inbox since the last run (only unfiled rows matter)."""
    for state in (True, False):
        ids = [gmail_id for gmail_id, inside in changes.items() if inside is state]
        for start in range(0, len(ids), CHUNK):
            session.execute(_MOVED, {"b_account": account_id, "b_ids": ids[start:start + CHUNK], "b_inside": state})


def reconcile_inbox(session: Session | Connection, account_id: int, listing: list[str], since: datetime) -> None:
    """A listing of the Inbox after `since` replaces what the history said about unfiled messages (the
    history may have had a gap: MailMagnet off, an expired history id). Older ones become unknown."""
    edge = since + LISTING_MARGIN
    unfiled = sa.and_(MailboxMessage.account_id == account_id, MailboxMessage.filed_category.is_(None))
    session.execute(update(MailboxMessage).where(unfiled, MailboxMessage.received_at < edge,
                                                 MailboxMessage.in_inbox.is_not(None))
                    .values(in_inbox=None).execution_options(synchronize_session=False))
    session.execute(update(MailboxMessage).where(unfiled, MailboxMessage.received_at >= edge,
                                                 MailboxMessage.in_inbox.is_not(False))
                    .values(in_inbox=False).execution_options(synchronize_session=False))
    for start in range(0, len(listing), CHUNK):
        session.execute(update(MailboxMessage).where(unfiled,
                                                     MailboxMessage.gmail_id.in_(listing[start:start + CHUNK]))
                        .values(in_inbox=True).execution_options(synchronize_session=False))

