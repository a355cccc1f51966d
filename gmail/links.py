"""Links into Gmail's web UI: what a rep clicks in Slack (an alert's "Open in Gmail", a nudge, a sent reply, the
email detail) to see the message in their own mailbox."""
from __future__ import annotations

from urllib.parse import quote

from gmail.messages import NewMessage, is_gmail_id


def gmail_url(address: str, message: NewMessage | None, gmail_id: str) -> str:
    """The link that opens the thread (else the message) in the rep's Gmail. Ids come from upstream: only a Gmail id
    (messages.is_gmail_id) goes in, percent-quoted whole, so nothing of it can end the URL or the mrkdwn link
    `<url|Open in Gmail>` it is put into; with none, the link opens the mailbox."""
    thread_id = message.thread_id if message is not None else None
    target = next((t for t in (thread_id, gmail_id) if is_gmail_id(t)), None)
    mailbox = f"https://mail.google.com/mail/?authuser={quote(address, safe='@')}"
    return f"{mailbox}#all/{quote(target, safe='')}" if target else mailbox
