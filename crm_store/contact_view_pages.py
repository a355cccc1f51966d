"""Where each contact view's "Show more" continues (`ContactViewPage`): page tokens, never content."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, delete, select

from crm_store.models import ContactViewPage, utcnow

# A response_url lives 30 minutes; a "Show more" older than this has nothing to continue.
KEEP_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class MailboxCursor:
    """Continue a mailbox's list at `offset` into the page that `token` names (None: the first page)."""

    token: str | None
    offset: int = 0


@dataclass(frozen=True)
class SavedView:
    view_id: str
    slack_team_id: str
    slack_user_id: str
    contact_id: int
    surface: str
    shown: int
    cursors: dict[int, MailboxCursor]


def new_view_id() -> str:
    return secrets.token_urlsafe(18)[:24]


def save_view(session: Session, view: SavedView) -> None:
    """Replace the view's rows: one per mailbox that has more to show (none: nothing more anywhere)."""
    session.execute(delete(ContactViewPage).where(ContactViewPage.view_id == view.view_id))
    now = utcnow()
    for account_id, cursor in view.cursors.items():
        session.add(ContactViewPage(view_id=view.view_id, account_id=account_id, slack_team_id=view.slack_team_id,
                                    slack_user_id=view.slack_user_id, contact_id=view.contact_id,
                                    surface=view.surface, page_token=cursor.token, page_offset=cursor.offset,
                                    shown=view.shown, created_at=now))
    session.execute(delete(ContactViewPage).where(ContactViewPage.created_at < now - KEEP_FOR))


def load_view(session: Session, view_id: str) -> SavedView | None:
    rows = session.exec(select(ContactViewPage).where(ContactViewPage.view_id == view_id,
                                                      ContactViewPage.created_at >= utcnow() - KEEP_FOR)).all()
    if not rows:
        return None
    first = rows[0]
    return SavedView(view_id, first.slack_team_id, first.slack_user_id, first.contact_id, first.surface, first.shown,
                     {row.account_id: MailboxCursor(row.page_token, row.page_offset) for row in rows})
