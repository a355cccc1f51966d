"""The audit log of views of someone else's emails (SPEC §5): one row per viewer per email per surface.

Rows are inserted with ON CONFLICT DO NOTHING on (viewer, mailbox, message, surface), so a view
written again — a Slack retry, an alert re-posted after a crash, a second click — adds nothing.
No content is ever written: who, whose mailbox, which contact and message id, how much, where, when.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, or_, select

from crm_store.db import session_scope
from crm_store.models import AuditLog, AuditSurface, Contact, CrmUser, GmailAccount, utcnow
from crm_store.sharing import Visibility
from usecases import access
from usecases.actors import Actor, ActorKind, SlackActorRef, acting
from usecases.context import Services
from usecases.mailbox import allowed_addresses


def record_views(session: Session, account: GmailAccount, *, contact_id: int | None,
                 views: Iterable[tuple[int, str, Visibility]], surface: AuditSurface,
                 channel_id: str | None = None) -> int:
    """`views`: (viewer CRM user id, Gmail message id, level shown). The owner's own views are not audited.

    Each row also names the viewer's Slack user and workspace as they are now, in this transaction: the
    Slack user who asked (actors are resolved from their Slack ids to the CRM user linked to them), or the
    channel member an alert was shown to."""
    now = utcnow()
    shown = [(viewer, gmail_id, level) for viewer, gmail_id, level in views
             if viewer != account.crm_user_id and level > Visibility.NONE]
    if not shown:
        return 0
    slack_of = {user_id: (team, slack_user) for user_id, team, slack_user in session.exec(
        select(CrmUser.id, CrmUser.slack_team_id, CrmUser.slack_user_id)
        .where(CrmUser.id.in_(sorted({viewer for viewer, _, _ in shown})))).all()}
    rows = [dict(viewer_user_id=viewer, viewer_slack_team_id=slack_of.get(viewer, (None, None))[0],
                 viewer_slack_user_id=slack_of.get(viewer, (None, None))[1], account_id=account.id,
                 mailbox_address=account.email_address, contact_id=contact_id, gmail_id=gmail_id,
                 surface=surface.value, depth=level.depth_name, channel_id=channel_id, viewed_at=now)
            for viewer, gmail_id, level in shown]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(AuditLog.__table__).values(rows).on_conflict_do_nothing(
        index_elements=["viewer_user_id", "account_id", "gmail_id", "surface"])
    return session.execute(statement).rowcount or 0


# -- reading the log (`/gmail admin audit`, `mailmagnet audit`) -----------------------------------------

@dataclass(frozen=True)
class AuditQuery:
    viewer_email: str | None = None
    mailbox_email: str | None = None
    slack_user_id: str | None = None  # Slack: the viewer or the mailbox owner is this user (actor's workspace)
    since: datetime | None = None
    before_id: int | None = None  # paging: rows older than this one
    limit: int = 20


@dataclass(frozen=True)
class AuditRow:
    id: int
    viewed_at: datetime
    viewer_email: str  # the CRM user who saw it
    viewer_slack_id: str | None  # the Slack user who saw it, and their workspace, as recorded (None: before that)
    viewer_team_id: str | None
    mailbox_address: str
    mailbox_owner_slack_id: str | None  # None once the mailbox is disconnected
    mailbox_team_id: str | None
    contact_id: int | None
    contact_name: str | None
    gmail_id: str | None
    surface: AuditSurface
    depth: str | None
    channel_id: str | None

    def to_json(self) -> dict:
        return {"id": self.id, "viewed_at": self.viewed_at.isoformat(), "viewer": self.viewer_email,
                "viewer_slack_user": self.viewer_slack_id, "viewer_slack_workspace": self.viewer_team_id,
                "mailbox": self.mailbox_address, "contact_id": self.contact_id, "contact": self.contact_name,
                "gmail_id": self.gmail_id, "surface": self.surface, "depth": self.depth, "channel": self.channel_id}


@dataclass
class AuditPage:
    rows: list[AuditRow] = field(default_factory=list)
    older_than: int | None = None  # pass as before_id for the next page; None: no more rows
    workspace: str | None = None  # the Slack workspace the rows were limited to (a workspace admin)
    reader_team: str | None = None  # the Slack workspace of whoever reads the page (None: the CLI)


MAX_AUDIT_PAGE = 200


def read_audit(services: Services, actor: Actor, query: AuditQuery) -> AuditPage:
    """Newest first. A CRM admin (and the operator) reads every row; a Slack workspace admin the rows whose
    viewer is linked in their workspace or whose mailbox is one of their workspace's (`access.audit_scope`)."""
    with session_scope(services.engine) as session:
        return _read_audit(session, actor, query)


def _read_audit(session: Session, actor: Actor, query: AuditQuery) -> AuditPage:
    limit = max(1, min(MAX_AUDIT_PAGE, query.limit))
    workspace = access.audit_scope(session, actor)
    statement = (select(AuditLog, CrmUser, GmailAccount, Contact)
                 .join(CrmUser, CrmUser.id == AuditLog.viewer_user_id)
                 .join(GmailAccount, GmailAccount.id == AuditLog.account_id, isouter=True)
                 .join(Contact, Contact.id == AuditLog.contact_id, isouter=True))
    if workspace is not None:
        statement = statement.where(or_(CrmUser.slack_team_id == workspace,
                                        AuditLog.viewer_slack_team_id == workspace,
                                        GmailAccount.slack_team_id == workspace))
    if query.viewer_email:
        statement = statement.where(CrmUser.email == query.viewer_email.strip().lower())
    if query.mailbox_email:
        statement = statement.where(AuditLog.mailbox_address == query.mailbox_email.strip().lower())
    if query.slack_user_id:
        looked = (AuditLog.viewer_slack_team_id == actor.team_id) & (AuditLog.viewer_slack_user_id
                                                                    == query.slack_user_id)
        person = session.exec(select(CrmUser).where(CrmUser.slack_team_id == actor.team_id,
                                                    CrmUser.slack_user_id == query.slack_user_id)).first()
        if person is None:
            statement = statement.where(looked)
        else:
            statement = statement.where(or_(looked, AuditLog.viewer_user_id == person.id,
                                            GmailAccount.crm_user_id == person.id,
                                            AuditLog.mailbox_address.in_(sorted(allowed_addresses(session,
                                                                                                  person)))))
    if query.since is not None:
        statement = statement.where(AuditLog.viewed_at >= query.since)
    if query.before_id is not None:
        statement = statement.where(AuditLog.id < query.before_id)
    found = session.exec(statement.order_by(AuditLog.id.desc()).limit(limit + 1)).all()
    rows = [AuditRow(log.id, log.viewed_at, viewer.email, log.viewer_slack_user_id, log.viewer_slack_team_id,
                     log.mailbox_address, account.slack_user_id if account else None,
                     account.slack_team_id if account else None, log.contact_id,
                     contact.display_name if contact else None, log.gmail_id, log.surface, log.depth,
                     log.channel_id)
            for log, viewer, account, contact in found[:limit]]
    return AuditPage(rows, rows[-1].id if len(found) > limit else None, workspace,
                     actor.team_id if actor.kind is ActorKind.SLACK else None)


def audit_for_slack(services: Services, who: SlackActorRef, slack_user_id: str | None, since: datetime | None,
                    before_id: int | None = None) -> AuditPage:
    """`/gmail admin audit [@user] [since]`: admins only. One session for the request, the actor's too."""
    with acting(services, who) as (session, actor):
        return _read_audit(session, actor, AuditQuery(slack_user_id=slack_user_id, since=since, before_id=before_id,
                                                      limit=15))
