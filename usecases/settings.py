"""Changes a rep makes to their own mailbox: MailMagnet, labels, sharing, where alerts go, noise
control, explicit shares (SPEC F2–F4, §3, §5). Shared by slash commands, the App Home and the setup modal.

Each use case resolves the actor, checks Mail Integration (F10) and that the mailbox is theirs,
applies the rule (crm_store), commits, then asks the scheduler for work the change makes due.
It returns what changed as a small result (handlers/blocks/settings.py words it); a refusal that names
something (a channel, a contact, a colleague) is a DomainError carrying it and a `Reason`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from crm_store.categories import contacts_for_address
from crm_store.db import session_scope
from crm_store.errors import DomainError, LabelsNeedMagnet
from crm_store.mailboxes import (
    MagnetChange,
    mute_contact,
    parse_clock,
    set_alert_destination,
    set_digest,
    set_labels,
    set_magnet,
    set_quiet_hours,
    set_sharing,
    share_with,
    unmute_contact,
    unshare_with,
)
from crm_store.models import GmailAccount, Sharing, SharingDepth, SharingPolicy
from crm_store.sharing import Visibility, effective_sharing, mailbox_policy
from crm_store.users import find_user_by_email
from gmail.errors import GmailError
from gmail.label_ids import ensure_labels
from gmail.notifier import ClosedChannel
from usecases import access, visibility
from usecases.actors import SlackActorRef, acting, identify
from usecases.context import ChannelNotFound, Services
from usecases.refusals import Refusal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Switched:
    """A feature switched on or off: `changed` False when it already was; `labels_off` when switching
    MailMagnet off took the labels with it; `labels_created` (labels on): the names created in Gmail, or None
    when Gmail did not answer (the first label run creates them)."""

    enabled: bool
    changed: bool
    labels_off: bool = False
    labels_created: tuple[str, ...] | None = ()


def change_magnet(services: Services, who: SlackActorRef, enabled: bool) -> Switched:
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        changed = set_magnet(session, account, enabled)
        account_id = account.id
    if MagnetChange.MAGNET_ON in changed:
        services.request_sync(account_id)
    return Switched(enabled, bool({MagnetChange.MAGNET_ON, MagnetChange.MAGNET_OFF} & set(changed)),
                    labels_off=MagnetChange.LABELS_OFF in changed)


def create_labels_now(services: Services, account_id: int) -> list[str] | None:
    """The three labels, found or created in the rep's Gmail as labels are switched on (the seed: "three labels
    will be created in your Gmail account"); the names created, or None when Gmail could not be reached (the
    first label run creates them then)."""
    with session_scope(services.engine) as session:
        account = session.get(GmailAccount, account_id)
        session.expunge(account)
    created: list[str] = []
    try:
        ensure_labels(services.engine, services.labels, account_id, services.mailbox_client(account), created)
    except GmailError as error:
        log.info("labels of mailbox %s not created yet: %s", account_id, error)
        return None
    return created


def change_labels(services: Services, who: SlackActorRef, enabled: bool) -> Switched:
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        changed = set_labels(session, account, enabled)  # F4: refuses while MailMagnet is off
        account_id = account.id
    if changed and enabled:
        created = create_labels_now(services, account_id)
        services.request_sync(account_id)
        return Switched(True, True, labels_created=None if created is None else tuple(created))
    return Switched(enabled, changed)


@dataclass(frozen=True)
class SharingView:
    """The rep's effective sharing, its depth, and the organisation's policy."""

    sharing: Sharing
    depth: SharingDepth | None
    policy: SharingPolicy

    @property
    def policy_fixed(self) -> bool:
        return self.policy is not SharingPolicy.CHOICE


def _sharing_view(session, account: GmailAccount) -> SharingView:
    policy = mailbox_policy(session, account)
    depth = SharingDepth(account.sharing_depth) if account.sharing_depth else None
    return SharingView(effective_sharing(policy, account), depth, policy)


def show_sharing(services: Services, who: SlackActorRef) -> SharingView:
    with acting(services, who) as (session, actor):
        return _sharing_view(session, access.require_own_connected_mailbox(session, actor))


def change_sharing(services: Services, who: SlackActorRef, sharing: Sharing | None,
                   depth: SharingDepth | None) -> SharingView:
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        set_sharing(session, account, sharing, depth)  # refuses a choice the organisation's policy does not allow
        return _sharing_view(session, account)


@dataclass(frozen=True)
class SetupChoices:
    address: str
    policy: str
    sharing: str
    depth: str
    magnet: bool
    labels: bool


def setup_choices(services: Services, who: SlackActorRef) -> SetupChoices:
    """What the setup modal shows: the mailbox's current settings."""
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        return SetupChoices(account.email_address, mailbox_policy(session, account).value, account.sharing,
                            account.sharing_depth, account.magnet_enabled, account.labels_enabled)


def save_setup(services: Services, who: SlackActorRef, *, sharing: Sharing | None, depth: SharingDepth | None,
               magnet: bool, labels: bool) -> SetupChoices:
    """The setup modal's choices applied together (all or nothing)."""
    if labels and not magnet:
        raise LabelsNeedMagnet(Refusal.LABELS_NEED_MAGNET_TICKED)
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        set_sharing(session, account, sharing, depth)
        changed = set_magnet(session, account, magnet)  # off also switches labels off
        labels_on = set_labels(session, account, labels) and labels
        policy = mailbox_policy(session, account)
        saved = SetupChoices(account.email_address, policy.value, effective_sharing(policy, account).value,
                             account.sharing_depth, account.magnet_enabled, account.labels_enabled)
        account_id = account.id
    if labels_on:
        create_labels_now(services, account_id)
    if MagnetChange.MAGNET_ON in changed or labels_on:
        services.request_sync(account_id)
    return saved


# -- where alerts go ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelChoice:
    """A channel as the rep typed it: its id when Slack sent one, else its name."""

    id: str | None
    name: str | None


class ChannelRefusal(StrEnum):
    NO_DESTINATION = "no_destination"  # this server posts alerts to DMs only
    NOT_FOUND = "not_found"
    CANNOT_SEE = "cannot_see"
    DIRECT = "direct"
    ARCHIVED = "archived"
    OUTSIDE = "outside"  # shared with another organisation
    BOT_NOT_MEMBER = "bot_not_member"
    REP_NOT_MEMBER = "rep_not_member"  # a private channel the rep is not in


class AlertChannelRefused(DomainError):
    """Alerts cannot go to that channel: why, which channel (as typed, or its id once known), and for OUTSIDE
    the reason visibility.channel_outside_organisation gave."""

    def __init__(self, reason: ChannelRefusal, channel: ChannelChoice, outside: ClosedChannel | None = None):
        super().__init__("")
        self.reason, self.channel, self.outside = reason, channel, outside


def _channel_for_alerts(services: Services, team_id: str, rep_slack_id: str, choice: ChannelChoice):
    directory = services.directory
    if directory is None:
        raise AlertChannelRefused(ChannelRefusal.NO_DESTINATION, choice)
    channel_id = choice.id or directory.find_channel(team_id, choice.name or "")
    if channel_id is None:
        raise AlertChannelRefused(ChannelRefusal.NOT_FOUND, choice)
    try:
        channel = directory.channel(team_id, channel_id)
    except ChannelNotFound:
        raise AlertChannelRefused(ChannelRefusal.CANNOT_SEE, choice) from None
    known = ChannelChoice(channel.id, channel.name)
    if channel.is_direct:
        raise AlertChannelRefused(ChannelRefusal.DIRECT, known)
    if channel.is_archived:
        raise AlertChannelRefused(ChannelRefusal.ARCHIVED, known)
    outside = visibility.channel_outside_organisation(services, channel)
    if outside:
        raise AlertChannelRefused(ChannelRefusal.OUTSIDE, known, outside)
    if not channel.bot_is_member:
        raise AlertChannelRefused(ChannelRefusal.BOT_NOT_MEMBER, known)
    members = directory.channel_members(team_id, channel.id)
    if channel.is_private and rep_slack_id not in members:
        raise AlertChannelRefused(ChannelRefusal.REP_NOT_MEMBER, known)
    return channel, members


class ChannelCaveat(StrEnum):
    """What the rep should know about the channel they chose (SPEC §5)."""

    PUBLIC_GOES_TO_DM = "public_goes_to_dm"  # a public channel, and the sharing does not let everyone see
    PUBLIC_NO_DEALS = "public_no_deals"  # a public channel: name and company only
    OUTSIDER_GOES_TO_DM = "outsider_goes_to_dm"  # someone in it is not a CRM user
    PRIVATE_SHARING_GOES_TO_DM = "private_sharing_goes_to_dm"
    CUSTOM_SHARING_PER_CONTACT = "custom_sharing_per_contact"


@dataclass(frozen=True)
class AlertDestination:
    """Where alerts go now: the rep's DM (channel_id None) or a channel, with what the rep should know."""

    channel_id: str | None
    caveat: ChannelCaveat | None = None
    sharing: Sharing | None = None


def change_alert_destination(services: Services, who: SlackActorRef,
                             choice: ChannelChoice | None) -> AlertDestination:
    with acting(services, who) as (session, actor):  # the rights first, before asking Slack
        account = access.require_own_connected_mailbox(session, actor)
        if choice is None:
            set_alert_destination(session, account, None)
            return AlertDestination(None)
        session.commit()  # nothing held in the database while Slack answers
        channel, members = _channel_for_alerts(services, who.team_id, who.user_id, choice)
        account = access.require_own_connected_mailbox(session, actor)
        set_alert_destination(session, account, channel.id)
        sharing = effective_sharing(mailbox_policy(session, account), account)
        return AlertDestination(channel.id, _destination_caveat(session, account, channel, members), sharing)


def _destination_caveat(session, account, channel, members: list[str]) -> ChannelCaveat | None:
    """SPEC §5: warn when alerts would go to the DM instead (the channel may see nothing)."""
    sharing = effective_sharing(mailbox_policy(session, account), account)
    if not channel.is_private:
        if visibility.unrelated_user_visibility(session, account) == Visibility.NONE:
            return ChannelCaveat.PUBLIC_GOES_TO_DM
        return ChannelCaveat.PUBLIC_NO_DEALS
    crm_ids = visibility.crm_ids_of_members(session, account.slack_team_id,
                                        [m for m in members if m != account.slack_user_id])
    if None in crm_ids:
        return ChannelCaveat.OUTSIDER_GOES_TO_DM
    if sharing is Sharing.PRIVATE:
        return ChannelCaveat.PRIVATE_SHARING_GOES_TO_DM
    if sharing is Sharing.CUSTOM:
        return ChannelCaveat.CUSTOM_SHARING_PER_CONTACT
    return None


# -- noise control and explicit shares --------------------------------------------------------------

@dataclass(frozen=True)
class QuietHours:
    """Quiet hours as minutes after midnight in `zone`; None: off."""

    start: int | None
    end: int | None
    zone: str


def set_quiet(services: Services, who: SlackActorRef, start: str | None, end: str | None) -> QuietHours:
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        first = parse_clock(start) if start is not None else None
        last = parse_clock(end) if end is not None else None
        set_quiet_hours(session, account, first, last)
        user = access.require_linked(session, actor)
        return QuietHours(first, last, user.timezone or services.config.default_timezone)


def change_digest(services: Services, who: SlackActorRef, enabled: bool) -> Switched:
    with acting(services, who) as (session, actor):
        set_digest(session, access.require_own_connected_mailbox(session, actor), enabled)
    return Switched(enabled, True)


class NotAContact(DomainError):
    """Mute/unmute named an address that is no CRM contact's."""

    def __init__(self, address: str):
        super().__init__("")
        self.address = address


@dataclass(frozen=True)
class MuteChange:
    contact_name: str
    muted: bool
    changed: bool


def change_mute(services: Services, who: SlackActorRef, address: str, muted: bool) -> MuteChange:
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        contacts = contacts_for_address(session, address)
        if not contacts:
            raise NotAContact(address)
        contact = contacts[0]
        changed = mute_contact(session, account, contact.id) if muted else unmute_contact(session, account, contact.id)
        return MuteChange(contact.display_name, muted, changed)


class NotACrmUserYet(DomainError):
    """A share named a colleague who is no CRM user."""

    def __init__(self, slack_user_id: str):
        super().__init__("")
        self.slack_user_id = slack_user_id


@dataclass(frozen=True)
class ShareChange:
    colleague: str  # their Slack user id
    shared: bool
    changed: bool
    custom: bool  # the rep's sharing is Custom: a share matters only then


def change_share(services: Services, who: SlackActorRef, colleague_slack_id: str, shared: bool) -> ShareChange:
    """Share (or stop sharing) one's emails with a colleague of the same workspace (Custom sharing)."""
    colleague = identify(services, SlackActorRef(who.team_id, colleague_slack_id, who.enterprise_id))
    with acting(services, who) as (session, actor):
        owner = access.require_mail_integration(session, actor)
        viewer = access.workspace_crm_user(session, who.team_id, colleague_slack_id)
        if viewer is None and colleague.email and not colleague.is_bot:
            candidate = find_user_by_email(session, colleague.email)
            # Only an unlinked CRM user with that address is them; one linked elsewhere is somebody else.
            viewer = candidate if candidate is not None and candidate.slack_user_id is None else None
        if viewer is None:
            raise NotACrmUserYet(colleague_slack_id)
        changed = share_with(session, owner, viewer) if shared else unshare_with(session, owner, viewer)
        account = access.own_mailbox(session, actor)
        custom = account is not None and effective_sharing(mailbox_policy(session, account),
                                                           account) is Sharing.CUSTOM
        return ShareChange(colleague_slack_id, shared, changed, custom)


def require_gmail_features(services: Services, who: SlackActorRef) -> None:
    """F10 before anything else: without Mail Integration the refusal, not a usage message."""
    with acting(services, who) as (session, actor):
        access.require_mail_integration(session, actor)
