"""Changes a rep makes to their own mailbox, shared by the slash commands, the App Home and the setup modal.

Each function checks the permission (F10), applies the rule in crm_store
(F4, the organisation's sharing policy), commits, then tells the scheduler
when the change makes work due. It returns the sentence the rep reads.
"""
from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from crm_store.errors import InvalidInput, NotConnected
from crm_store.identity import require_linked, require_mail_integration
from crm_store.mailboxes import (
    connected_mailbox_of,
    mailbox_of,
    set_alert_destination,
    set_labels,
    set_magnet,
    set_sharing,
)
from crm_store.models import GmailAccount, Sharing, SharingDepth
from crm_store.sharing import effective_sharing, org_policy
from gmail.accounts import disconnect_mailbox
from handlers.blocks.wording import BOT_MENTION, sharing_line
from handlers.context import SlackRequest
from handlers.parsing import ChannelRef
from handlers.status import mailbox_token

CHANNEL_PAGES = 20  # conversations.list pages searched for a bare #name (200 channels each)


def change_magnet(request: SlackRequest, enabled: bool) -> str:
    with request.scope() as (session, actor):
        account = connected_mailbox_of(session, require_mail_integration(session, actor))
        changed = set_magnet(session, account, enabled)
        account_id = account.id
    if "magnet_on" in changed:
        request.request_sync(account_id)
        return ("MailMagnet is *on*: you'll get an alert when a CRM contact writes to you "
                "(to change where, `/gmail alerts dm|#channel`).")
    if "magnet_off" in changed:
        return "MailMagnet is *off*." + (" Labels were switched off too, since they need MailMagnet."
                                          if "labels_off" in changed else "")
    return f"MailMagnet was already {'on' if enabled else 'off'}."


def change_labels(request: SlackRequest, enabled: bool) -> str:
    with request.scope() as (session, actor):
        account = connected_mailbox_of(session, require_mail_integration(session, actor))
        changed = set_labels(session, account, enabled)  # F4: refuses while MailMagnet is off
        account_id = account.id
    if changed and enabled:
        request.request_sync(account_id)
        return ("Labels are *on*: customer mail in your Inbox is filed under Deals Closing This Month, Open Deals "
                "and Customers (recent Inbox mail first, then every new email).")
    if changed:
        return "Labels are *off*. Mail already filed stays where it is."
    return f"Labels were already {'on' if enabled else 'off'}."


def change_sharing(request: SlackRequest, sharing: Sharing | None, depth: SharingDepth | None) -> str:
    with request.scope() as (session, actor):
        account = connected_mailbox_of(session, require_mail_integration(session, actor))
        set_sharing(session, account, sharing, depth)  # refuses a choice the organisation's policy does not allow
        line = sharing_line(effective_sharing(org_policy(session, request.team_id), account).value,
                            account.sharing_depth)
    return f"Sharing is now: {line}."


@dataclass(frozen=True)
class AlertChannel:
    id: str
    name: str


def _find_channel_id(request: SlackRequest, name: str) -> str | None:
    cursor = None
    for _ in range(CHANNEL_PAGES):
        page = request.client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                 limit=200, cursor=cursor)
        for channel in page.get("channels", []):
            if channel.get("name") == name:
                return channel["id"]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def resolve_alert_channel(request: SlackRequest, ref: ChannelRef) -> AlertChannel:
    """A channel MailMagnet can post to: it exists, is not archived, and the bot is a member."""
    invite = f"invite {BOT_MENTION} to {ref.label} first (`/invite {BOT_MENTION}` in that channel), then run this again"
    channel_id = ref.id or _find_channel_id(request, ref.name or "")
    if channel_id is None:
        raise InvalidInput(f"I can't find {ref.label}. If it is a private channel, {invite}.")
    try:
        info = request.client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as error:
        if error.response.get("error") in ("channel_not_found", "not_in_channel"):
            raise InvalidInput(f"I can't see {ref.label}: {invite}.") from None
        raise
    label = f"<#{channel_id}>"
    if info.get("is_im") or info.get("is_mpim"):
        raise InvalidInput("That is a direct message: use `/gmail alerts dm` for alerts in your DM with MailMagnet.")
    if info.get("is_archived"):
        raise InvalidInput(f"{label} is archived: choose another channel.")
    if not info.get("is_member"):
        raise InvalidInput(f"MailMagnet is not in {label}: invite {BOT_MENTION} to {label} first "
                           f"(`/invite {BOT_MENTION}` in that channel), then run this again.")
    return AlertChannel(channel_id, info.get("name") or channel_id)


def change_alert_destination(request: SlackRequest, ref: ChannelRef | None) -> str:
    # Check the rights before asking Slack about the channel.
    with request.scope() as (session, actor):
        connected_mailbox_of(session, require_mail_integration(session, actor))
    channel = resolve_alert_channel(request, ref) if ref is not None else None
    with request.scope() as (session, actor):
        account = connected_mailbox_of(session, require_mail_integration(session, actor))
        set_alert_destination(session, account, channel.id if channel else None)
    if channel is None:
        return "MailMagnet alerts now go to your DM with MailMagnet."
    return (f"MailMagnet alerts now go to <#{channel.id}>. Everyone there can read them, so each alert shows only "
            "what every member of the channel may see of your emails.")


def disconnect_any_mailbox(request: SlackRequest, account_id: int) -> str | None:
    """Revoke the Google grant, delete credentials and stored email metadata, stop the jobs (F8)."""
    google, cipher, _, _ = request.services.require_gmail()
    address = disconnect_mailbox(request.services.engine, cipher, google, account_id)
    if address is not None:
        request.mailbox_disconnected(account_id)
    return address


def disconnect_own_mailbox(request: SlackRequest, token: str | None = None) -> str:
    """The rep's own mailbox (the connection `token` names, when given). Allowed without Mail Integration:
    anyone may delete their own data."""
    request.services.require_gmail()
    gone = NotConnected("That mailbox is no longer connected: there is nothing to disconnect.")
    with request.scope() as (session, actor):
        user = require_linked(session, actor)
        account: GmailAccount | None = mailbox_of(session, user)
        if account is None or (token is not None and mailbox_token(account) != token):
            raise gone
        account_id = account.id
    if disconnect_any_mailbox(request, account_id) is None:
        raise gone
    return (f"Disconnected *{account.email_address}*. MailMagnet revoked its Google access and deleted the stored "
            "credentials and every stored email record of this mailbox. Run `/gmail connect` to connect again.")
