"""Noise control (SPEC §3) and explicit shares: `/gmail quiet|digest|mute|unmute|share|unshare`."""
from __future__ import annotations

from slack_bolt import Respond

from crm_store.categories import contacts_for_address
from crm_store.errors import InvalidInput
from crm_store.identity import require_mail_integration
from crm_store.mailboxes import (
    connected_mailbox_of,
    mute_contact,
    parse_clock,
    set_digest,
    set_quiet_hours,
    share_with,
    unmute_contact,
    unshare_with,
)
from crm_store.models import Sharing
from crm_store.sharing import effective_sharing, org_policy
from crm_store.users import find_user_by_email, find_user_by_slack
from handlers.blocks.commands import message
from handlers.blocks.wording import clock, escape
from handlers.context import SlackRequest
from handlers.identity import slack_identity
from handlers.parsing import (
    OFF_WORDS,
    UsageError,
    clock_range,
    email_address,
    mentioned_user,
    on_off,
)


def _say(respond: Respond, text: str) -> None:
    reply, blocks = message(text)
    respond(text=reply, blocks=blocks, response_type="ephemeral")


def quiet(request: SlackRequest, args: list[str], respond: Respond) -> None:
    with request.scope() as (session, actor):
        user = require_mail_integration(session, actor)
        if len(args) == 1 and args[0].lower() in OFF_WORDS:
            start = end = None
        elif not args:
            raise UsageError("Give the hours to keep quiet, e.g. `/gmail quiet 22:00-07:00`, or `off`.", "quiet")
        else:
            first, last = clock_range(args, "quiet")
            start, end = parse_clock(first), parse_clock(last)
        account = connected_mailbox_of(session, user)
        set_quiet_hours(session, account, start, end)
        zone = user.timezone or request.services.settings.default_timezone
    if start is None:
        _say(respond, "Quiet hours are off: alerts arrive as emails do.")
    else:
        _say(respond, f"Quiet hours set: no alerts between {clock(start)} and {clock(end)} ({zone}).")


def digest(request: SlackRequest, args: list[str], respond: Respond) -> None:
    with request.scope() as (session, actor):
        user = require_mail_integration(session, actor)
        enabled = on_off(args, "digest")
        set_digest(session, connected_mailbox_of(session, user), enabled)
    _say(respond, "Digest is *on*: MailMagnet batches your alerts into a summary instead of one message per email."
         if enabled else "Digest is *off*: one alert per email.")


def _contact_address(args: list[str], topic: str) -> str:
    if len(args) != 1:
        raise UsageError(f"`/gmail {topic}` takes one contact e-mail address.", topic)
    return email_address(args[0], topic)


def _set_muted(request: SlackRequest, args: list[str], respond: Respond, muted: bool) -> None:
    topic = "mute" if muted else "unmute"
    with request.scope() as (session, actor):
        user = require_mail_integration(session, actor)
        address = _contact_address(args, topic)
        account = connected_mailbox_of(session, user)
        contacts = contacts_for_address(session, address)
        if not contacts:
            raise InvalidInput(f"{escape(address)} is not a CRM contact, so MailMagnet sends no alerts for it anyway.")
        contact = contacts[0]
        changed = mute_contact(session, account, contact.id) if muted else unmute_contact(session, account, contact.id)
        name = escape(contact.display_name)
    if muted:
        _say(respond, f"Muted {name}: no more alerts for their emails." if changed else f"{name} was already muted.")
    else:
        _say(respond, f"Unmuted {name}: their emails alert you again." if changed else f"{name} was not muted.")


def mute(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _set_muted(request, args, respond, True)


def unmute(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _set_muted(request, args, respond, False)


def _colleague(request: SlackRequest, session, slack_user_id: str, email: str | None):
    """The CRM user behind a mentioned Slack user: linked already, or by their Slack profile email."""
    viewer = find_user_by_slack(session, request.team_id, slack_user_id)
    if viewer is None and email:
        viewer = find_user_by_email(session, email)
    if viewer is None:
        raise InvalidInput(f"<@{slack_user_id}> is not a CRM user yet, so they see no emails in MailMagnet. "
                           "An admin can add them with `/gmail admin link`.")
    return viewer


def _set_shared(request: SlackRequest, args: list[str], respond: Respond, shared: bool) -> None:
    topic = "share" if shared else "unshare"
    with request.scope() as (session, actor):
        require_mail_integration(session, actor)
    if len(args) != 1:
        raise UsageError(f"`/gmail {topic}` takes one @colleague.", topic)
    slack_user_id = mentioned_user(args[0], topic)
    # users.info (cached) before the transaction: no Slack call while holding the database.
    email = slack_identity(request.client, request.team_id, slack_user_id).email
    with request.scope() as (session, actor):
        owner = require_mail_integration(session, actor)
        viewer = _colleague(request, session, slack_user_id, email)
        changed = share_with(session, owner, viewer) if shared else unshare_with(session, owner, viewer)
        account = connected_mailbox_of(session, owner) if shared else None
        custom = account is not None and effective_sharing(org_policy(session, request.team_id),
                                                           account) is Sharing.CUSTOM
    who = f"<@{slack_user_id}>"
    if not shared:
        _say(respond, f"{who} no longer sees your emails through a share." if changed
             else f"You had not shared your emails with {who}.")
        return
    text = f"{who} may now see your emails with CRM contacts." if changed else f"{who} already could."
    if not custom:
        text += " This applies while your sharing is *Custom* (`/gmail sharing custom`)."
    _say(respond, text)


def share(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _set_shared(request, args, respond, True)


def unshare(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _set_shared(request, args, respond, False)
