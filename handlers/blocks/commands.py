"""Ephemeral answers to slash commands."""
from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.ids import ActionId

GMAIL_USAGE = """*MailMagnet — `/gmail` commands*
• `/gmail connect` — connect your Gmail (Google sign-in; MailMagnet never sees your password)
• `/gmail disconnect` — disconnect and delete everything stored about your mailbox
• `/gmail status` — your mailbox, settings, last sync and last error
• `/gmail sharing [private|public|custom] [metadata|subject|full]` — who may see your emails, and how much
• `/gmail magnet on|off` — alerts when a CRM contact writes to you
• `/gmail labels on|off` — file customer mail under Deals Closing This Month / Open Deals / Customers
• `/gmail alerts dm|#channel` — where MailMagnet alerts go
• `/gmail why <sender email or Gmail link>` — why an email is (not) under a label
• `/gmail admin grant @user|revoke @user|policy <private|public|custom|choice>` — admins only
• `/gmail help` — this list"""


def usage(message: str | None = None) -> tuple[str, list[dict]]:
    text = (f"{message}\n\n" if message else "") + GMAIL_USAGE
    return text, [SectionBlock(text=MarkdownTextObject(text=text[:3000])).to_dict()]


def connect_prompt(url: str, address: str | None = None) -> tuple[str, list[dict]]:
    intro = ("Connect your Gmail to MailMagnet. You'll sign in on Google's own page; MailMagnet never sees "
             "your password, and stores only message ids, senders and dates — never subjects or bodies.")
    if address:
        intro = f"You're connected as *{address}*. Authenticate again to reconnect or switch mailbox.\n" + intro
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=intro)),
        ActionsBlock(block_id="gmail_connect", elements=[
            ButtonElement(text="Authenticate", action_id=ActionId.CONNECT_AUTHENTICATE.value, url=url,
                          style="primary"),
        ]),
        ContextBlock(elements=[MarkdownTextObject(text="The link works once, for 10 minutes.")]),
    ]
    return "Connect your Gmail: " + url, [b.to_dict() for b in blocks]
