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
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from sqlmodel import Session, or_, select, update

from crm_store.db import session_scope
from crm_store.models import AccountStatus, CrmUser, GmailAccount, Profile, utcnow
from gmail.notifier import MailboxIncident
from usecases import access
from usecases.actors import OPERATOR, Actor, SlackActorRef, resolve
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


def quota_today(account: GmailAccount, today: date | None = None) -> int:
    today = today or utcnow().date()
    return account.quota_units if account.quota_day == today.isoformat() else 0


def rep_state(granted: bool, account: GmailAccount | None) -> RepState:
    if account is not None:
        if account.status == AccountStatus.REVOKED:
            return RepState.REVOKED
        return RepState.FAILING if account.failing_since is not None or account.last_sync_error else RepState.CONNECTED
    return RepState.NEVER_CONNECTED if granted else RepState.NOT_GRANTED


def overview_rows(session: Session, workspace: str | None) -> list[RepRow]:
    """Every CRM user that is a rep or could become one: linked to Slack (in `workspace`, when given) or granted."""
    query = select(CrmUser, Profile).join(Profile, Profile.id == CrmUser.profile_id)
    if workspace is not None:
        query = query.where(CrmUser.slack_team_id == workspace)
    else:
        query = query.where(or_(CrmUser.slack_user_id.is_not(None), Profile.mail_integration.is_(True)))
    pairs = session.exec(query.order_by(CrmUser.email)).all()
    ids = [user.id for user, _ in pairs]
    accounts = {a.crm_user_id: a for a in session.exec(
        select(GmailAccount).where(GmailAccount.crm_user_id.in_(ids))).all()} if ids else {}
    manager_ids = {user.manager_id for user, _ in pairs if user.manager_id is not None}
    managers = dict(session.exec(select(CrmUser.id, CrmUser.email).where(CrmUser.id.in_(manager_ids))).all()) \
        if manager_ids else {}
    today = utcnow().date()
    rows = []
    for user, profile in pairs:
        account = accounts.get(user.id)
        state = rep_state(profile.mail_integration, account)
        rows.append(RepRow(
            email=user.email, name=user.name, slack_team_id=user.slack_team_id, slack_user_id=user.slack_user_id,
            role=user.role, manager_email=managers.get(user.manager_id), granted=profile.mail_integration,
            admin=profile.is_admin, state=state,
            mailbox=account.email_address if account else None,
            last_error=account.last_sync_error if account and state in (RepState.FAILING, RepState.REVOKED) else None,
            failing_since=account.failing_since if account else None,
            last_sync_at=account.last_sync_at if account else None,
            quota_units_today=quota_today(account, today) if account else 0,
            alerts_on=bool(account and account.magnet_enabled), labels_on=bool(account and account.labels_enabled)))
    return rows


def admin_overview(services: Services, who: SlackActorRef) -> TeamOverview:
    """`/gmail admin status` and the App Home's admin section: the admin's scope (access.admin_scope)."""
    actor = resolve(services, who)
    return overview_for(services, actor)


def overview_if_admin(services: Services, who: SlackActorRef) -> TeamOverview | None:
    """The App Home's admin section: the overview for an admin, None for anyone else."""
    actor = resolve(services, who)
    return overview_for(services, actor) if actor.is_any_admin else None


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
