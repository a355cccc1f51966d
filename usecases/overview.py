"""The admin overview (SPEC §3 "For admins"): every rep's state at a glance, and telling admins of incidents.

`admin_overview` is what `/gmail admin status`, the App Home's admin section and `mailmagnet users list` show:
per CRM user of the actor's scope, granted or not, and their mailbox connected / failing (last error, since
when) / access revoked / never connected, last successful sync, Gmail quota units today, alerts and labels.
A Slack workspace admin sees the users linked in their workspace; a CRM admin and the operator see everyone.

`tell_admins_of_incidents` (the scheduler, every INCIDENT_CHECK_SECONDS) DMs the admins once per incident —
a mailbox whose Google access was revoked, or one failing for FAILING_ALERT_AFTER — claimed by one replica
with a conditional update, so replicas and restarts never tell twice. The incident ends when the mailbox
works again (reconnected, or a run succeeds), and a later one is told again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy.orm import aliased
from sqlmodel import Session, or_, select, update

from crm_store.db import session_scope
from crm_store.models import AccountStatus, CrmUser, GmailAccount, Profile, utcnow
from gmail.notifier import MailboxIncident
from usecases import access
from usecases.actors import OPERATOR, Actor, SlackActorRef, acting
from usecases.context import Services

log = logging.getLogger(__name__)

FAILING_ALERT_AFTER = timedelta(hours=1)


class RepState(StrEnum):
    NOT_GRANTED = "not_granted"  # no Mail Integration
    NEVER_CONNECTED = "never_connected"  # granted, no mailbox
    CONNECTED = "connected"
    FAILING = "failing"  # connected, the last run failed
    REVOKED = "revoked"  # Google revoked the access: the rep must reconnect


@dataclass(frozen=True)
class RepRow:
    email: str
    name: str | None
    slack_team_id: str | None
    slack_user_id: str | None
    role: str | None
    manager_email: str | None
    granted: bool
    admin: bool
    state: RepState
    mailbox: str | None = None
    last_error: str | None = None
    failing_since: datetime | None = None
    last_sync_at: datetime | None = None
    quota_units_today: int = 0
    alerts_on: bool = False
    labels_on: bool = False

    def as_json(self) -> dict:
        def moment(value: datetime | None) -> str | None:
            return _aware(value).isoformat() if value is not None else None

        return {"email": self.email, "name": self.name, "slack_team_id": self.slack_team_id,
                "slack_user_id": self.slack_user_id, "role": self.role, "manager_email": self.manager_email,
                "granted": self.granted, "admin": self.admin, "state": self.state.value, "mailbox": self.mailbox,
                "last_error": self.last_error, "failing_since": moment(self.failing_since),
                "last_sync_at": moment(self.last_sync_at), "quota_units_today": self.quota_units_today,
                "alerts": self.alerts_on, "labels": self.labels_on}


@dataclass(frozen=True)
class TeamOverview:
    rows: list[RepRow]
    workspace: str | None  # the workspace shown, None: the whole organisation

    def count(self, state: RepState) -> int:
        return sum(1 for row in self.rows if row.state is state)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def overview_rows(session: Session, workspace: str | None) -> list[RepRow]:
    """Every CRM user that is a rep or could become one: linked to Slack (in `workspace`, when given) or granted.
    One statement of plain columns (10,000 reps: no ORM object each)."""
    manager = aliased(CrmUser)
    query = (select(CrmUser.email, CrmUser.name, CrmUser.slack_team_id, CrmUser.slack_user_id, CrmUser.role,
                    manager.email, Profile.mail_integration, Profile.is_admin, GmailAccount.email_address,
                    GmailAccount.status, GmailAccount.last_sync_error, GmailAccount.failing_since,
                    GmailAccount.last_sync_at, GmailAccount.quota_day, GmailAccount.quota_units,
                    GmailAccount.magnet_enabled, GmailAccount.labels_enabled)
             .join(Profile, Profile.id == CrmUser.profile_id)
             .outerjoin(manager, manager.id == CrmUser.manager_id)
             .outerjoin(GmailAccount, GmailAccount.crm_user_id == CrmUser.id))
    if workspace is not None:
        query = query.where(CrmUser.slack_team_id == workspace)
    else:
        query = query.where(or_(CrmUser.slack_user_id.is_not(None), Profile.mail_integration.is_(True)))
    today = utcnow().date().isoformat()
    rows = []
    for (email, name, team, slack_user, role, manager_email, granted, admin, mailbox, status, error, failing_since,
         last_sync_at, quota_day, quota_units, magnet, labels) in session.exec(query.order_by(CrmUser.email)).all():
        state = _state(granted, mailbox is not None, status, failing_since, error)
        rows.append(RepRow(
            email=email, name=name, slack_team_id=team, slack_user_id=slack_user, role=role,
            manager_email=manager_email, granted=granted, admin=admin, state=state, mailbox=mailbox,
            last_error=error if state in (RepState.FAILING, RepState.REVOKED) else None,
            failing_since=failing_since, last_sync_at=last_sync_at,
            quota_units_today=(quota_units or 0) if quota_day == today else 0,
            alerts_on=bool(magnet), labels_on=bool(labels)))
    return rows


def _state(granted: bool, has_mailbox: bool, status: str | None, failing_since, error: str | None) -> RepState:
    if has_mailbox:
        if status == AccountStatus.REVOKED:
            return RepState.REVOKED
        return RepState.FAILING if failing_since is not None or error else RepState.CONNECTED
    return RepState.NEVER_CONNECTED if granted else RepState.NOT_GRANTED


def admin_overview(services: Services, who: SlackActorRef) -> TeamOverview:
    """`/gmail admin status` and the App Home's admin section: the admin's scope (access.admin_scope)."""
    with acting(services, who) as (session, actor):  # one session for the request (issue 18)
        workspace = access.admin_scope(actor)
        return TeamOverview(overview_rows(session, workspace), workspace)


def overview_if_admin(services: Services, who: SlackActorRef) -> TeamOverview | None:
    """The App Home's admin section: the overview for an admin, None for anyone else."""
    with acting(services, who) as (session, actor):
        if not actor.is_any_admin:
            return None
        workspace = access.admin_scope(actor)
        return TeamOverview(overview_rows(session, workspace), workspace)


def overview_for(services: Services, actor: Actor = OPERATOR) -> TeamOverview:
    with session_scope(services.engine) as session:
        workspace = access.admin_scope(actor)
        return TeamOverview(overview_rows(session, workspace), workspace)


# -- telling admins of incidents --------------------------------------------------------------------------

def _due_incidents(session: Session, now: datetime) -> list[GmailAccount]:
    return list(session.exec(select(GmailAccount).where(
        GmailAccount.admins_notified_at.is_(None),
        or_(GmailAccount.status == AccountStatus.REVOKED.value,
            GmailAccount.failing_since <= now - FAILING_ALERT_AFTER))).all())


def _claim(session: Session, account_id: int, now: datetime) -> bool:
    return bool(session.execute(
        update(GmailAccount).where(GmailAccount.id == account_id, GmailAccount.admins_notified_at.is_(None))
        .values(admins_notified_at=now).execution_options(synchronize_session=False)).rowcount)


def tell_admins_of_incidents(services: Services, now: datetime | None = None) -> int:
    """DM the admins of each mailbox newly revoked or failing for an hour, once per incident across replicas.
    Returns how many incidents were told. The claim is committed before the DMs: a crash in between loses the
    DM rather than sending it twice (the overview still shows the state)."""
    if services.notifier is None:
        return 0
    now = now or utcnow()
    told = 0
    with session_scope(services.engine) as session:
        due = [(a.id, a.crm_user_id) for a in _due_incidents(session, now)]
    for account_id, crm_user_id in due:
        with session_scope(services.engine) as session:
            account = session.get(GmailAccount, account_id)
            if account is None or not _claim(session, account_id, now):
                continue
            owner = session.get(CrmUser, crm_user_id)
            incident = MailboxIncident(
                mailbox=account.email_address, rep_slack_user_id=account.slack_user_id,
                rep_email=owner.email if owner else account.email_address,
                revoked=account.status == AccountStatus.REVOKED.value, error=account.last_sync_error,
                since=_aware(account.failing_since) if account.failing_since else None)
            recipients = access.admins_to_tell(session, account.slack_team_id)
        for team_id, slack_user_id in recipients:
            services.notifier.tell_admin(team_id, slack_user_id, incident)
        if not recipients:
            log.warning("no CRM admin linked to Slack to tell of mailbox %s's incident", account_id)
        told += 1
    return told
