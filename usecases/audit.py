"""The audit log of views of someone else's emails (SPEC §5): one row per viewer per email per surface.

Rows are inserted with ON CONFLICT DO NOTHING on (viewer, mailbox, message, surface), so a view
written again — a Slack retry, an alert re-posted after a crash, a second click — adds nothing.
No content is ever written: who, whose mailbox, which contact and message id, how much, where, when.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from crm_store.models import AuditLog, AuditSurface, GmailAccount, utcnow
from crm_store.sharing import Visibility


def record_views(session: Session, account: GmailAccount, *, contact_id: int | None,
                 views: Iterable[tuple[int, str, Visibility]], surface: AuditSurface,
                 channel_id: str | None = None) -> int:
    """`views`: (viewer CRM user id, Gmail message id, level shown). The owner's own views are not audited."""
    now = utcnow()
    rows = [dict(viewer_user_id=viewer, account_id=account.id, mailbox_address=account.email_address,
                 contact_id=contact_id, gmail_id=gmail_id, surface=surface.value, depth=level.depth_name,
                 channel_id=channel_id, viewed_at=now)
            for viewer, gmail_id, level in views
            if viewer != account.crm_user_id and level > Visibility.NONE]
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(AuditLog.__table__).values(rows).on_conflict_do_nothing(
        index_elements=["viewer_user_id", "account_id", "gmail_id", "surface"])
    return session.execute(statement).rowcount or 0
