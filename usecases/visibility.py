"""Who sees how much of whose emails (SPEC §5): a viewer's level on a mailbox's emails with a contact, what a
channel's readers may see of an alert, and which mailboxes a contact's view may list. The sharing rules' half of
the permission decisions; `usecases/access.py` holds the other half (who may act on whom).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlmodel import Session, or_, select

from crm_store.errors import NotAllowed, NotConnected
from crm_store.models import AccountStatus, Contact, CrmUser, Deal, EmailShare, GmailAccount, ManagersSee, OrgSettings, Sharing
from crm_store.sharing import (
    Visibility,
    custom_allowed_users,
    effective_sharing,
    managers_of,
    managers_see,
    mailbox_policy,
    reports_of,
)
from gmail.notifier import AudienceDecision, ClosedChannel
from usecases.actors import Actor, workspace_allowed
from usecases.context import ChannelInfo, Services
from usecases.refusals import Refusal


# -- who sees how much of whose emails (SPEC §5) ----------------------------------------------------

def visibility_for_users(session: Session, account: GmailAccount, contact_id: int | None,
                         viewer_ids: Iterable[int | None]) -> dict[int | None, Visibility]:
    """What each viewer (a CRM user id; None for someone who is not a CRM user) may see of this
    mailbox's emails with this contact.

    Public: every CRM user linked in the mailbox's workspace. Custom: the contact's owner, the owners
    of its deals and the users the rep shared with — CRM relationships, valid in every workspace of
    the organisation. Private: nobody. The owner always sees everything.
    """
    viewers = list(dict.fromkeys(viewer_ids))
    result: dict[int | None, Visibility] = {}
    if account.status != AccountStatus.CONNECTED:
        # A disconnected or revoked mailbox's emails are no longer associated with anyone (F8).
        return {viewer: Visibility.NONE for viewer in viewers}
    sharing = effective_sharing(mailbox_policy(session, account), account)
    depth = Visibility.of_depth(account.sharing_depth)
    workspace_users: set[int] = set()
    if sharing is Sharing.PUBLIC:
        known = [v for v in viewers if v is not None]
        if known:
            workspace_users = set(session.exec(select(CrmUser.id).where(
                CrmUser.id.in_(known), CrmUser.slack_team_id == account.slack_team_id)).all())
    custom: set[int] = set()
    if sharing is Sharing.CUSTOM and contact_id is not None:
        custom = custom_allowed_users(session, account, contact_id)
    for viewer in viewers:
        if viewer is not None and viewer == account.crm_user_id:
            result[viewer] = Visibility.OWNER
        elif viewer is None or contact_id is None or sharing is Sharing.PRIVATE:
            result[viewer] = Visibility.NONE
        elif sharing is Sharing.PUBLIC:
            result[viewer] = depth if viewer in workspace_users else Visibility.NONE
        else:
            result[viewer] = depth if viewer in custom else Visibility.NONE
    _managers_see_reports(session, account, contact_id, result)
    return result


def _managers_see_reports(session: Session, account: GmailAccount, contact_id: int | None,
                          result: dict[int | None, Visibility]) -> None:
    """SPEC §1 Roles: with the organisation's `managers_see` on, everyone above the rep in the reporting line sees
    the rep's emails with a contact at that depth, whatever the rep's sharing (more, if the sharing gives more).
    Only emails with a contact: `contact_id` None (mail with nobody of the CRM) stays the owner's alone, and every
    surface lists a message under a contact only on its verified headers."""
    if contact_id is None:
        return
    see = managers_see(session, account.slack_team_id)
    if see is ManagersSee.NONE:
        return
    level = Visibility.of_depth(see.value)
    above = set(managers_of(session, account.crm_user_id))
    for viewer, current in result.items():
        if viewer in above and current < level:
            result[viewer] = level


def visibility(session: Session, account: GmailAccount, contact_id: int | None, viewer_id: int | None) -> Visibility:
    return visibility_for_users(session, account, contact_id, [viewer_id])[viewer_id]


def unrelated_user_visibility(session: Session, account: GmailAccount) -> Visibility:
    """What any CRM user of the mailbox's workspace may see with no relationship to the contact."""
    if account.status != AccountStatus.CONNECTED:
        return Visibility.NONE
    sharing = effective_sharing(mailbox_policy(session, account), account)
    return Visibility.of_depth(account.sharing_depth) if sharing is Sharing.PUBLIC else Visibility.NONE


@dataclass(frozen=True)
class ChannelAudience:
    """Who can read a channel, as the sharing rules need it."""

    channel: ChannelInfo | None  # None: the rep's own DM
    member_crm_ids: tuple[int | None, ...] = ()  # None for members who are not CRM users of this workspace
    outside: ClosedChannel | None = None  # why people outside the organisation can read it (channel_outside_organisation)

    @property
    def is_dm(self) -> bool:
        return self.channel is None


def channel_outside_organisation(services: Services, channel: ChannelInfo) -> ClosedChannel | None:
    """SPEC §5: a channel shared with another organisation is an outside audience, whoever its members are
    today: Slack Connect (an invitation pending included, since accepting it shows the history), or a channel
    shared with a workspace this deployment does not serve (an org-shared channel reaching beyond the allowed
    workspaces). The reason, or None when only the organisation can read it."""
    if channel.is_ext_shared:
        return ClosedChannel.SLACK_CONNECT
    for team_id in channel.shared_with:
        if not (workspace_allowed(services, team_id, None) or workspace_allowed(services, None, team_id)):
            return ClosedChannel.UNSERVED_WORKSPACE
    return None


def crm_ids_of_members(session: Session, team_id: str, slack_ids: list[str]) -> tuple[int | None, ...]:
    linked = dict(session.exec(select(CrmUser.slack_user_id, CrmUser.id).where(
        CrmUser.slack_team_id == team_id, CrmUser.slack_user_id.in_(slack_ids))).all()) if slack_ids else {}
    return tuple(linked.get(slack_id) for slack_id in slack_ids)


def alert_audience(session: Session, account: GmailAccount, contact_id: int,
                   audience: ChannelAudience) -> AudienceDecision:
    """SPEC §5, channels: a public channel is readable by the whole workspace, so it gets what an
    unrelated CRM user may see and no CRM details (nothing when it is shared with another workspace of the
    organisation, whose readers Public sharing does not reach); a private channel gets the least any member may
    see, with CRM details only when every member is a CRM user. Nothing → the rep's DM."""
    if audience.is_dm:
        return AudienceDecision(Visibility.OWNER, True)
    if audience.outside:
        return AudienceDecision(Visibility.NONE, False, {}, audience.outside)
    members = [m for m in audience.member_crm_ids if m != account.crm_user_id]
    levels = visibility_for_users(session, account, contact_id, members)
    if not audience.channel.is_private and audience.channel.shared_with:
        # Org-shared with other workspaces of the organisation: everyone there can read it without joining, and
        # Public sharing stops at the mailbox's workspace, so the least such a reader may see is nothing.
        level, crm_details, viewers = Visibility.NONE, False, {}
        reason = ClosedChannel.ORG_SHARED_PUBLIC
    elif not audience.channel.is_private:
        level = unrelated_user_visibility(session, account)
        crm_details = False
        viewers = {m: level for m in members if m is not None}
        reason = None if level > Visibility.NONE else ClosedChannel.PUBLIC
    else:
        level = min(levels.values(), default=Visibility.OWNER)
        crm_details = None not in members
        viewers = {m: level for m in members if m is not None}
        reason = None
        if level == Visibility.NONE:
            reason = ClosedChannel.NOT_A_CRM_USER if None in members else ClosedChannel.SHARING_EXCLUDES_MEMBER
    if level == Visibility.NONE:
        return AudienceDecision(Visibility.NONE, False, {}, reason)
    return AudienceDecision(level, crm_details, viewers)


# -- a contact's emails across mailboxes (SPEC F5, F7) ----------------------------------------------

def mailboxes_visible_to(session: Session, actor: Actor, contact_id: int) -> list[tuple[GmailAccount, Visibility]]:
    """Every connected mailbox whose emails with this contact the actor may see, with how much (the actor's own
    at OWNER). Candidates are the mailboxes any rule could open — their own, their workspace's (Public), those
    shared with them, their reports' (managers' visibility), and all of them when the actor owns the contact or one
    of its deals (Custom) — and each
    is decided by `visibility_for_users`, like every other surface. Admins get nothing more."""
    if actor.crm_user_id is None:
        return []
    viewer = session.get(CrmUser, actor.crm_user_id)
    if viewer is None:
        return []
    related = (session.exec(select(Contact.id).where(Contact.id == contact_id, Contact.owner_id == viewer.id)).first()
               is not None or session.exec(select(Deal.id).where(Deal.contact_id == contact_id,
                                                                  Deal.owner_id == viewer.id)).first() is not None)
    query = select(GmailAccount).where(GmailAccount.status == AccountStatus.CONNECTED.value)
    if not related:
        sharers = select(EmailShare.owner_user_id).where(EmailShare.viewer_user_id == viewer.id)
        candidates = [GmailAccount.crm_user_id == viewer.id, GmailAccount.crm_user_id.in_(sharers)]
        if viewer.slack_team_id:
            candidates.append(GmailAccount.slack_team_id == viewer.slack_team_id)
        if session.exec(select(OrgSettings.team_id).where(
                OrgSettings.managers_see != ManagersSee.NONE.value)).first() is not None:
            reports = reports_of(session, viewer.id)
            if reports:
                candidates.append(GmailAccount.crm_user_id.in_(reports))
        query = query.where(or_(*candidates))
    visible = []
    for account in session.exec(query.order_by(GmailAccount.id)).all():
        level = visibility_for_users(session, account, contact_id, [viewer.id])[viewer.id]
        if level > Visibility.NONE:
            visible.append((account, level))
    return visible


def email_visibility(session: Session, actor: Actor, account_id, contact_id) -> tuple[GmailAccount, Visibility]:
    """How much of this mailbox's emails with this contact the actor may see; a refusal when nothing."""
    account = session.get(GmailAccount, account_id) if isinstance(account_id, int) else None
    if account is None or account.status != AccountStatus.CONNECTED:
        raise NotConnected(Refusal.MAILBOX_GONE_EMAILS_HIDDEN)
    level = visibility(session, account, contact_id if isinstance(contact_id, int) else None, actor.crm_user_id)
    if level == Visibility.NONE:
        raise NotAllowed(Refusal.SHARING_HIDES_EMAIL, owner_slack_id=account.slack_user_id)
    return account, level
