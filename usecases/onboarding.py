"""Onboarding a team at once (SPEC §3 "For admins"): `/gmail admin grant @usergroup|#channel` and
`mailmagnet users grant --csv FILE`.

Each member (`usergroups.users.list`, `conversations.members`) with a CRM user gets Mail Integration under the
same identity rules as a single grant (SPEC §1): their CRM user is the one linked to them, else the one their
Slack-confirmed email names and nobody else holds (then linked). A bulk grant never creates a CRM user, not even
for a CRM admin; a member it cannot place is skipped with the reason, and nothing about them changes.

Each newly granted rep gets exactly one DM with a Connect button: the invitation is claimed on the CRM user
(`invited_at`, a conditional update) before it is sent, so a repeated command, a Slack retry or a second replica
sends none; taking Mail Integration away clears it, so a later grant invites again.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from sqlmodel import select, update

from crm_store.addresses import is_valid_address
from crm_store.db import session_scope
from crm_store.errors import DomainError, InvalidInput
from crm_store.models import CrmUser, GmailAccount, utcnow
from crm_store.users import find_user_by_email, find_user_by_slack, link_slack_user, normalise_email, \
    set_permissions, user_profile
from usecases import access, visibility
from usecases.actors import OPERATOR, Actor, SlackActorRef, crm_users_proven_by, resolve
from usecases.context import ChannelNotFound, Services, SlackIdentity
from usecases.refusals import Refusal

log = logging.getLogger(__name__)

# A grant's fan-out: one users.info per member (cached; Slack rate-limits it to about a hundred a minute). Larger
# teams are granted in parts or by CSV.
MAX_MEMBERS = 500


class SkipReason(StrEnum):
    APP = "app"  # a bot or an app user
    NO_CONFIRMED_EMAIL = "no_confirmed_email"  # Slack proves no email, and no CRM user is linked to them
    NO_CRM_USER = "no_crm_user"  # their confirmed email is no CRM user's
    AMBIGUOUS = "ambiguous"  # several CRM users have that email as secondary email
    LINKED_TO_SOMEONE_ELSE = "linked_to_someone_else"
    NOT_YOURS = "not_yours"  # another workspace's user, or a CRM admin: not this admin's to change
    UNKNOWN_EMAIL = "unknown_email"  # CSV: no CRM user has this email
    INVALID_EMAIL = "invalid_email"  # CSV: not an email address


@dataclass(frozen=True)
class Skipped:
    who: str  # a Slack user id, or a CSV line's email
    reason: SkipReason
    line: int | None = None  # CSV line


@dataclass
class GrantReport:
    granted: list[tuple[str | None, str]] = field(default_factory=list)  # (Slack user id, CRM email), new grants
    already: list[tuple[str | None, str]] = field(default_factory=list)  # had Mail Integration already
    skipped: list[Skipped] = field(default_factory=list)
    invited: list[str] = field(default_factory=list)  # Slack user ids DMed the Connect button
    members: int = 0


class GroupNotFound(DomainError):
    """The user group does not exist in the actor's workspace, is disabled, or the bot may not read it."""


@dataclass(frozen=True)
class GrantSource:
    """Whose members are granted: a user group (`S…`) or a channel (`C…`/`G…`, or a name to look up)."""

    usergroup_id: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None


class NotAMember(DomainError):
    """A private channel the admin is not in: its members are not theirs to learn."""


def _members(services: Services, team_id: str, source: GrantSource, actor_slack_id: str) -> list[str]:
    directory = services.directory
    if directory is None:
        raise InvalidInput(Refusal.NO_SLACK_CONNECTION)
    if source.usergroup_id is not None:
        return directory.usergroup_members(team_id, source.usergroup_id)
    channel_id = source.channel_id or directory.find_channel(team_id, source.channel_name or "")
    if channel_id is None:
        raise GroupNotFound(channel_name=source.channel_name)
    try:
        channel = directory.channel(team_id, channel_id)
    except ChannelNotFound:
        raise GroupNotFound(channel_id=channel_id) from None
    if visibility.channel_outside_organisation(services, channel):
        # People of another organisation are in it: their membership proves nothing about ours.
        raise GroupNotFound(channel_id=channel_id)
    members = directory.channel_members(team_id, channel_id)
    if channel.is_private and actor_slack_id not in members:
        raise NotAMember(channel_id=channel_id)
    return members


def grant_members(services: Services, who: SlackActorRef, source: GrantSource) -> GrantReport:
    """Mail Integration for every member of a user group or channel of the admin's workspace who has a CRM user."""
    actor = resolve(services, who)
    access.require_admin(actor)
    members = list(dict.fromkeys(_members(services, who.team_id, source, who.user_id)))
    if len(members) > MAX_MEMBERS:
        raise InvalidInput(Refusal.TOO_MANY_MEMBERS, members=len(members), limit=MAX_MEMBERS)
    report = GrantReport(members=len(members))
    for slack_id in members:
        identity = services.directory.user(who.team_id, slack_id)
        _grant_member(services, actor, identity, report)
    _invite(services, report, granted_by=who.user_id)
    return report


def _grant_member(services: Services, actor: Actor, identity: SlackIdentity, report: GrantReport) -> None:
    slack_id = identity.user_id
    if identity.is_bot:
        report.skipped.append(Skipped(slack_id, SkipReason.APP))
        return
    with session_scope(services.engine) as session:
        user = find_user_by_slack(session, identity.team_id, slack_id)
        if user is None:
            if not identity.verified_email:
                report.skipped.append(Skipped(slack_id, SkipReason.NO_CONFIRMED_EMAIL))
                return
            proven = crm_users_proven_by(session, identity)
            if not proven:
                report.skipped.append(Skipped(slack_id, SkipReason.NO_CRM_USER))
                return
            if len(proven) > 1:
                report.skipped.append(Skipped(slack_id, SkipReason.AMBIGUOUS))
                return
            user = proven[0]
            if user.slack_user_id is not None:
                report.skipped.append(Skipped(slack_id, SkipReason.LINKED_TO_SOMEONE_ELSE))
                return
            try:
                access.require_may_link(session, actor, identity, user, user.email)
            except DomainError:
                report.skipped.append(Skipped(slack_id, SkipReason.NOT_YOURS))
                return
            link_slack_user(session, user, team_id=identity.team_id, slack_user_id=slack_id, timezone=identity.tz)
        else:
            try:
                access.require_admin_over(session, actor, user)
            except DomainError:
                report.skipped.append(Skipped(slack_id, SkipReason.NOT_YOURS))
                return
        _set_granted(session, user, slack_id, report)


def _set_granted(session, user: CrmUser, slack_id: str | None, report: GrantReport) -> None:
    if user_profile(session, user).mail_integration:
        report.already.append((slack_id, user.email))
        return
    set_permissions(session, user, mail_integration=True)
    report.granted.append((slack_id, user.email))


def claim_invitation(session, user_id: int) -> bool:
    """True for the one caller that is to DM this user the Connect button for their current grant."""
    return bool(session.execute(
        update(CrmUser).where(CrmUser.id == user_id, CrmUser.invited_at.is_(None))
        .values(invited_at=utcnow()).execution_options(synchronize_session=False)).rowcount)


def _invite(services: Services, report: GrantReport, granted_by: str | None) -> None:
    """DM each newly granted rep linked to Slack, once, unless their mailbox is connected already."""
    if services.notifier is None:
        return
    emails = [email for _, email in report.granted]
    for email in emails:
        with session_scope(services.engine) as session:
            user = find_user_by_email(session, email)
            if user is None or user.slack_user_id is None:
                continue
            connected = session.exec(select(GmailAccount.id).where(GmailAccount.crm_user_id == user.id)).first()
            if connected is not None or not claim_invitation(session, user.id):
                continue
            team_id, slack_id = user.slack_team_id, user.slack_user_id
        if services.notifier.invite_to_connect(team_id, slack_id, granted_by):
            report.invited.append(slack_id)


def invite_granted(services: Services, email: str, granted_by: str | None) -> bool:
    """The single grants' invitation (`/gmail admin grant @user`, `mailmagnet users grant EMAIL`)."""
    report = GrantReport(granted=[(None, email)])
    _invite(services, report, granted_by)
    return bool(report.invited)


def grant_csv(services: Services, text: str, actor: Actor = OPERATOR) -> GrantReport:
    """`mailmagnet users grant --csv FILE`: a column `email` (others ignored); each line's CRM user must exist
    (a grant never creates one: CRM users come from the CRM data)."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [name.strip().lower() for name in reader.fieldnames or []]
    if "email" not in fields:
        raise InvalidInput(Refusal.CSV_WITHOUT_EMAIL_COLUMN)
    report = GrantReport()
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        email = normalise_email(row.get("email") or "")
        report.members += 1
        if not is_valid_address(email):
            report.skipped.append(Skipped(email, SkipReason.INVALID_EMAIL, line))
            continue
        with session_scope(services.engine) as session:
            user = find_user_by_email(session, email)
            if user is None:
                report.skipped.append(Skipped(email, SkipReason.UNKNOWN_EMAIL, line))
                continue
            try:
                access.require_admin_over(session, actor, user)
            except DomainError:
                report.skipped.append(Skipped(email, SkipReason.NOT_YOURS, line))
                continue
            _set_granted(session, user, user.slack_user_id, report)
    _invite(services, report, granted_by=None)
    return report
