"""Changes a rep makes to their own mailbox: MailMagnet, labels, sharing, where alerts go, noise
control, explicit shares (SPEC F2–F4, §3, §5). Shared by slash commands, the App Home and the setup modal.

Each use case resolves the actor, checks Mail Integration (F10) and that the mailbox is theirs,
applies the rule (crm_store), commits, then asks the scheduler for work the change makes due.
It returns the sentence the rep reads, or a small result.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from crm_store.categories import contacts_for_address
from crm_store.db import session_scope
from crm_store.errors import InvalidInput, LabelsNeedMagnet, NotAllowed
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
from usecases import access
from usecases.actors import SlackActorRef, identify, resolve
from usecases.context import ChannelNotFound, Services
from usecases.wording import clock, escape, sharing_line

log = logging.getLogger(__name__)


def change_magnet(services: Services, who: SlackActorRef, enabled: bool) -> str:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        changed = set_magnet(session, account, enabled)
        account_id = account.id
    if MagnetChange.MAGNET_ON in changed:
        services.request_sync(account_id)
        return ("MailMagnet is *on*: you'll get an alert when a CRM contact writes to you "
                "(to change where, `/gmail alerts dm|#channel`).")
    if MagnetChange.MAGNET_OFF in changed:
        return "MailMagnet is *off*." + (" Labels were switched off too, since they need MailMagnet."
                                          if MagnetChange.LABELS_OFF in changed else "")
    return f"MailMagnet was already {'on' if enabled else 'off'}."


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


def change_labels(services: Services, who: SlackActorRef, enabled: bool) -> str:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        changed = set_labels(session, account, enabled)  # F4: refuses while MailMagnet is off
        account_id = account.id
    if changed and enabled:
        created = create_labels_now(services, account_id)
        services.request_sync(account_id)
        where = ("Gmail did not answer just now, so the labels will be created at the first label run"
                 if created is None else "the three labels are in your Gmail" +
                 (f" (created: {', '.join(created)})" if created else ""))
        return ("Labels are *on*: customer mail in your Inbox is filed under Deals Closing This Month, Open Deals "
                f"and Customers (recent Inbox mail first, then every new email); {where}.")
    if changed:
        return "Labels are *off*. Mail already filed stays where it is."
    return f"Labels were already {'on' if enabled else 'off'}."


@dataclass(frozen=True)
class SharingView:
    line: str
    policy: str

    @property
    def policy_fixed(self) -> bool:
        return self.policy != SharingPolicy.CHOICE.value


def show_sharing(services: Services, who: SlackActorRef) -> SharingView:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        policy = mailbox_policy(session, account)
        return SharingView(sharing_line(effective_sharing(policy, account).value, account.sharing_depth), policy.value)


def change_sharing(services: Services, who: SlackActorRef, sharing: Sharing | None, depth: SharingDepth | None) -> str:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        set_sharing(session, account, sharing, depth)  # refuses a choice the organisation's policy does not allow
        line = sharing_line(effective_sharing(mailbox_policy(session, account), account).value,
                            account.sharing_depth)
    return f"Sharing is now: {line}."


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
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        return SetupChoices(account.email_address, mailbox_policy(session, account).value, account.sharing,
                            account.sharing_depth, account.magnet_enabled, account.labels_enabled)


def save_setup(services: Services, who: SlackActorRef, *, sharing: Sharing | None, depth: SharingDepth | None,
               magnet: bool, labels: bool) -> SetupChoices:
    """The setup modal's choices applied together (all or nothing)."""
    if labels and not magnet:
        raise LabelsNeedMagnet("Labels file the mail MailMagnet picks up: tick MailMagnet alerts too, or untick "
                               "Label your email.")
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
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

    @property
    def label(self) -> str:
        return f"<#{self.id}>" if self.id else f"#{escape(self.name or '')}"


BOT_MENTION = "@MailMagnet"


def _channel_for_alerts(services: Services, team_id: str, rep_slack_id: str, choice: ChannelChoice):
    directory = services.directory
    if directory is None:
        raise InvalidInput("Alerts can only go to your DM on this server.")
    invite = (f"invite {BOT_MENTION} to {choice.label} first (`/invite {BOT_MENTION}` in that channel), then run "
              "this again")
    channel_id = choice.id or directory.find_channel(team_id, choice.name or "")
    if channel_id is None:
        raise InvalidInput(f"I can't find {choice.label}. If it is a private channel, {invite}.")
    try:
        channel = directory.channel(team_id, channel_id)
    except ChannelNotFound:
        raise InvalidInput(f"I can't see {choice.label}: {invite}.") from None
    label = f"<#{channel.id}>"
    if channel.is_direct:
        raise InvalidInput("That is a direct message: use `/gmail alerts dm` for alerts in your DM with MailMagnet.")
    if channel.is_archived:
        raise InvalidInput(f"{label} is archived: choose another channel.")
    outside = access.channel_outside_organisation(services, channel)
    if outside:
        raise NotAllowed(f"MailMagnet never posts about your mailbox in {label}: {outside}. Choose a channel only "
                         "your organisation is in, or `/gmail alerts dm`.")
    if not channel.bot_is_member:
        raise InvalidInput(f"MailMagnet is not in {label}: {invite}.")
    members = directory.channel_members(team_id, channel.id)
    if channel.is_private and rep_slack_id not in members:
        raise NotAllowed(f"You are not a member of {label}: alerts about your mailbox can only go to private "
                         "channels you are in.")
    return channel, members


def change_alert_destination(services: Services, who: SlackActorRef, choice: ChannelChoice | None) -> str:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:  # the rights first, before asking Slack
        access.require_own_connected_mailbox(session, actor)
    if choice is None:
        with session_scope(services.engine) as session:
            set_alert_destination(session, access.require_own_connected_mailbox(session, actor), None)
        return "MailMagnet alerts now go to your DM with MailMagnet."
    channel, members = _channel_for_alerts(services, who.team_id, who.user_id, choice)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        set_alert_destination(session, account, channel.id)
        warning = _destination_warning(session, account, channel, members)
    text = (f"MailMagnet alerts now go to <#{channel.id}>. Everyone who can read it sees them, so each alert shows "
            "only what all of them may see of your emails.")
    return text + (f"\n:warning: {warning}" if warning else "")


def _destination_warning(session, account, channel, members: list[str]) -> str | None:
    """SPEC §5: warn when alerts would go to the DM instead (the channel may see nothing)."""
    sharing = effective_sharing(mailbox_policy(session, account), account)
    if not channel.is_private:
        if access.unrelated_user_visibility(session, account) == Visibility.NONE:
            return ("It is a public channel that anyone in the workspace can read, and your sharing "
                    f"({sharing.value}) does not let everyone see your emails: alerts will come to your DM instead. "
                    "With `/gmail sharing public` they would be posted there (contact name and company only, no "
                    "deal details, since anyone may read it).")
        return "It is a public channel: alerts there show the contact's name and company, never deal details."
    crm_ids = access.crm_ids_of_members(session, account.slack_team_id,
                                        [m for m in members if m != account.slack_user_id])
    if None in crm_ids:
        return ("Someone in that channel is not a CRM user of your organisation, so alerts will come to your DM "
                "instead.")
    if sharing is Sharing.PRIVATE:
        return "Your sharing is Private, so alerts will come to your DM instead (`/gmail sharing` to change it)."
    if sharing is Sharing.CUSTOM:
        return ("Your sharing is Custom: an alert is posted there only when everyone in the channel may see "
                "your emails with that contact; the others come to your DM.")
    return None


# -- noise control and explicit shares --------------------------------------------------------------

def set_quiet(services: Services, who: SlackActorRef, start: str | None, end: str | None) -> str:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        first = parse_clock(start) if start is not None else None
        last = parse_clock(end) if end is not None else None
        set_quiet_hours(session, account, first, last)
        user = access.require_linked(session, actor)
        zone = user.timezone or services.config.default_timezone
    if first is None:
        return "Quiet hours are off: alerts arrive as emails do."
    return f"Quiet hours set: no alerts between {clock(first)} and {clock(last)} ({zone})."


def change_digest(services: Services, who: SlackActorRef, enabled: bool) -> str:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        set_digest(session, access.require_own_connected_mailbox(session, actor), enabled)
    return ("Digest is *on*: MailMagnet batches your alerts into a summary instead of one message per email."
            if enabled else "Digest is *off*: one alert per email.")


def change_mute(services: Services, who: SlackActorRef, address: str, muted: bool) -> str:
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        contacts = contacts_for_address(session, address)
        if not contacts:
            raise InvalidInput(f"{escape(address)} is not a CRM contact, so MailMagnet sends no alerts for it anyway.")
        contact = contacts[0]
        changed = mute_contact(session, account, contact.id) if muted else unmute_contact(session, account, contact.id)
        name = escape(contact.display_name)
    if muted:
        return f"Muted {name}: no more alerts for their emails." if changed else f"{name} was already muted."
    return f"Unmuted {name}: their emails alert you again." if changed else f"{name} was not muted."


def change_share(services: Services, who: SlackActorRef, colleague_slack_id: str, shared: bool) -> str:
    """Share (or stop sharing) one's emails with a colleague of the same workspace (Custom sharing)."""
    actor = resolve(services, who)
    colleague = identify(services, SlackActorRef(who.team_id, colleague_slack_id, who.enterprise_id))
    mention = f"<@{colleague_slack_id}>"
    with session_scope(services.engine) as session:
        owner = access.require_mail_integration(session, actor)
        viewer = access.workspace_crm_user(session, who.team_id, colleague_slack_id)
        if viewer is None and colleague.email and not colleague.is_bot:
            candidate = find_user_by_email(session, colleague.email)
            # Only an unlinked CRM user with that address is them; one linked elsewhere is somebody else.
            viewer = candidate if candidate is not None and candidate.slack_user_id is None else None
        if viewer is None:
            raise InvalidInput(f"{mention} is not a CRM user yet, so they see no emails in MailMagnet. "
                               "An admin can add them with `/gmail admin grant`.")
        changed = share_with(session, owner, viewer) if shared else unshare_with(session, owner, viewer)
        account = access.own_mailbox(session, actor)
        custom = account is not None and effective_sharing(mailbox_policy(session, account),
                                                           account) is Sharing.CUSTOM
    if not shared:
        return (f"{mention} no longer sees your emails through a share." if changed
                else f"You had not shared your emails with {mention}.")
    text = f"{mention} may now see your emails with CRM contacts." if changed else f"{mention} already could."
    if not custom:
        text += " This applies while your sharing is *Custom* (`/gmail sharing custom`)."
    return text


def require_gmail_features(services: Services, who: SlackActorRef) -> None:
    """F10 before anything else: without Mail Integration the refusal, not a usage message."""
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        access.require_mail_integration(session, actor)
