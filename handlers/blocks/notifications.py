"""DMs the bot sends on its own: connection confirmed, access revoked."""
from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.ids import ActionId
from handlers.blocks.wording import escape


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
             f"read the channel may see of your emails, and for some of your emails that is nothing: {escape(reason)}. "
             "`/gmail sharing` or `/gmail alerts` change this."))]
    return text, [b.to_dict() for b in blocks]
