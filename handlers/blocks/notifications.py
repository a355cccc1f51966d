"""DMs the bot sends on its own: connection confirmed, access revoked, an admin told of an incident, a new
rep invited to connect."""
from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from usecases.values import MailboxIncident
from handlers.blocks.ids import ActionId
from handlers.blocks.wording import CLOSED_CHANNELS, escape, slack_date


def admin_incident_dm(incident: MailboxIncident) -> tuple[str, list[dict]]:
    """To an admin: a rep's mailbox lost Google's access, or has failed for an hour."""
    rep = f"<@{incident.rep_slack_user_id}>"
    if incident.revoked:
        text = f"{rep}'s Gmail {escape(incident.mailbox)} lost its Google access"
        head = (f":warning: *{rep}'s Gmail {escape(incident.mailbox)} lost its Google access.* Alerts and labels "
                "are paused until they reconnect; they were asked to.")
    else:
        since = f" since {slack_date(incident.since)}" if incident.since else ""
        text = f"{rep}'s Gmail {escape(incident.mailbox)} has been failing{since}"
        head = (f":warning: *{rep}'s Gmail {escape(incident.mailbox)} has been failing{since}.* MailMagnet keeps "
                "retrying; alerts and labels wait until it works again.")
    blocks = [SectionBlock(text=MarkdownTextObject(text=head))]
    if incident.error:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Last error: {escape(incident.error[:200])}")]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text="`/gmail admin status` shows every rep. You are told once per incident.")]))
    return text, [b.to_dict() for b in blocks]


def connect_invitation_dm(granted_by: str | None) -> tuple[str, list[dict]]:
    """To a newly granted rep: one DM with the Connect button."""
    by = f"<@{granted_by}> gave you" if granted_by else "You now have"
    text = "You can now connect your Gmail to MailMagnet"
    blocks = [
        SectionBlock(text=MarkdownTextObject(
            text=f":envelope_with_arrow: *{by} the Mail Integration permission.* Connect your Gmail to get an alert "
                 "when a customer writes, your customer mail filed under the deal labels, and the emails with a "
                 "contact on their card. You choose who may see your emails.")),
        ActionsBlock(block_id="gmail_invitation", elements=[
            ButtonElement(text="Connect Gmail", action_id=ActionId.RECONNECT.value, value="invitation",
                          style="primary"),
        ]),
    ]
    return text, [b.to_dict() for b in blocks]


def connected_dm(address: str, replaced_address: str | None = None) -> tuple[str, list[dict]]:
    text = f"Connected as {escape(address)}"
    lines = [f":white_check_mark: *Connected as {escape(address)}*"]
    if replaced_address:
        lines.append(f"It replaces {escape(replaced_address)}, whose stored data MailMagnet deleted.")
    lines.append("Choose who may see these emails and whether MailMagnet alerts you and files your mail.")
    blocks = [
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
        ActionsBlock(block_id="gmail_connected", elements=[
            ButtonElement(text="Choose settings", action_id=ActionId.SETUP_OPEN.value, value=address,
                          style="primary"),
        ]),
    ]
    return text, [b.to_dict() for b in blocks]


def reconnect_dm(address: str, reason: str) -> tuple[str, list[dict]]:
    text = f"MailMagnet lost access to {escape(address)}: please reconnect"
    blocks = [
        SectionBlock(text=MarkdownTextObject(
            text=f":warning: *MailMagnet lost access to {escape(address)}.* Google no longer accepts its permission "
                 "(it was removed in your Google account, or your password changed). Alerts and labels are "
                 "paused until you reconnect.")),
        ActionsBlock(block_id="gmail_reconnect", elements=[
            ButtonElement(text="Reconnect Gmail", action_id=ActionId.RECONNECT.value, value=address,
                          style="primary"),
        ]),
        ContextBlock(elements=[MarkdownTextObject(text=f"Google said: {escape(reason[:200])}")]),
    ]
    return text, [b.to_dict() for b in blocks]


def alerts_in_dm_notice(channel: str, reason: str) -> tuple[str, list[dict]]:
    text = f"MailMagnet alerts meant for <#{channel}> come to this DM instead"
    blocks = [SectionBlock(text=MarkdownTextObject(
        text=f":lock: *Alerts meant for <#{channel}> come here instead.* An alert shows only what everyone who can "
             f"read the channel may see of your emails, and for some of your emails that is nothing: {CLOSED_CHANNELS.get(reason) or escape(reason)}. "
             "`/gmail sharing` or `/gmail alerts` change this."))]
    return text, [b.to_dict() for b in blocks]
