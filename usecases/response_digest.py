"""The weekly customer response-time digest (SPEC §3): to each manager for their reports, and to the workspace's
admins for every rep, once a week per workspace.

Who gets it: every CRM admin linked to a Slack user of the workspace sees every rep with a mailbox there; a CRM
user whose direct reports (`crm_users.manager_id`) have mailboxes there sees those reports. A
recipient with no rep to report on gets nothing. The week is the seven days before the run; the workspace's
digest is claimed (`org_settings.response_digest_at`, a conditional update) before anything is sent, so of
several replicas one sends it, once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from crm_store.db import insert_once, session_scope
from crm_store.models import CrmUser, GmailAccount, OrgSettings, Profile
from crm_store.response_times import ResponseTimes, response_times
from usecases.context import Services

WEEK = timedelta(days=7)
SEND_WEEKDAY, SEND_HOUR = 0, 9  # Monday from 09:00 in the workspace's default time zone


@dataclass(frozen=True)
class RepLine:
    name: str
    times: ResponseTimes


@dataclass
class ResponseDigest:
    team_id: str
    recipient_slack_id: str
    as_admin: bool  # everyone in the workspace (else: the recipient's reports)
    since: datetime
    until: datetime
    reps: list[RepLine] = field(default_factory=list)


def _due(now: datetime, tz: str) -> bool:
    local = now.astimezone(ZoneInfo(tz))
    return local.weekday() == SEND_WEEKDAY and local.hour >= SEND_HOUR


def claim_week(session: Session, team_id: str, now: datetime) -> bool:
    """True once per workspace per week (the caller then sends)."""
    insert_once(session, OrgSettings, team_id=team_id)
    return bool(session.execute(
        sa.update(OrgSettings).where(OrgSettings.team_id == team_id,
                                     sa.or_(OrgSettings.response_digest_at.is_(None),
                                            OrgSettings.response_digest_at <= now - WEEK + timedelta(hours=1)))
        .values(response_digest_at=now).execution_options(synchronize_session=False)).rowcount)


def digests_for_team(session: Session, team_id: str, now: datetime) -> list[ResponseDigest]:
    """Every digest the workspace's recipients get for the week before `now` (nothing is claimed here)."""
    since = now - WEEK
    reps = list(session.exec(select(GmailAccount, CrmUser).join(CrmUser, CrmUser.id == GmailAccount.crm_user_id)
                             .where(GmailAccount.slack_team_id == team_id)))
    if not reps:
        return []
    times = response_times(session, [account.id for account, _ in reps], since, now)
    lines = {user.id: RepLine(user.name or user.email, times[account.id]) for account, user in reps}
    digests: list[ResponseDigest] = []
    admins = session.exec(select(CrmUser).join(Profile, Profile.id == CrmUser.profile_id).where(
        Profile.is_admin.is_(True), CrmUser.slack_team_id == team_id, CrmUser.slack_user_id.is_not(None)))
    for admin in admins:
        digests.append(ResponseDigest(team_id, admin.slack_user_id, True, since, now,
                                      sorted(lines.values(), key=lambda line: line.name.lower())))
    by_manager: dict[int, list[RepLine]] = {}  # managers (SPEC §1): their direct reports
    for _, user in reps:
        if user.manager_id is not None:
            by_manager.setdefault(user.manager_id, []).append(lines[user.id])
    already = {digest.recipient_slack_id for digest in digests}
    for manager_id, team_lines in by_manager.items():
        manager = session.get(CrmUser, manager_id)
        if manager is None or manager.slack_team_id != team_id or not manager.slack_user_id \
                or manager.slack_user_id in already:
            continue  # not linked in this workspace, or an admin who already sees everyone
        digests.append(ResponseDigest(team_id, manager.slack_user_id, False, since, now,
                                      sorted(team_lines, key=lambda line: line.name.lower())))
    return digests


def due_digests(services: Services, now: datetime, *, force: bool = False) -> list[ResponseDigest]:
    """The digests to send now: for each workspace with mailboxes whose week is due (Monday from 09:00 in its
    default time zone) and that this call claimed. `force` sends whatever the day (the CLI)."""
    out: list[ResponseDigest] = []
    with session_scope(services.engine) as session:
        teams = sorted(set(session.exec(select(GmailAccount.slack_team_id))))
    for team_id in teams:
        with session_scope(services.engine) as session:
            org = session.get(OrgSettings, team_id)
            tz = (org.default_timezone if org and org.default_timezone else None) or services.config.default_timezone
            if not force and not _due(now, tz):
                continue
            if not claim_week(session, team_id, now) and not force:
                continue
            out.extend(digests_for_team(session, team_id, now))
    return out
