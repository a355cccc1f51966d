"""Sending mail through the rep's Gmail (`messages.send`), threaded when replying (SPEC F6)."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from crm_store.addresses import parse_addresses
from gmail.client import MailboxClient
from gmail.conversations import is_with_contact
from gmail.messages import header_map

ORIGINAL_HEADERS = ("Subject", "Message-ID", "References", "From", "Reply-To", "To", "Cc")


@dataclass
class Original:
    """The message being answered: what threading and the recipient need, read from Gmail when replying."""

    thread_id: str | None
    message_id: str
    references: str
    subject: str
    from_header: str = ""
    reply_to_header: str = ""
    to_header: str = ""
    cc_header: str = ""
    label_ids: list[str] = field(default_factory=list)

    @property
    def reply_recipients(self) -> list[tuple[str, str]]:
        """(name, address) to answer: the message's Reply-To, else its From (RFC 5322 §3.6.2)."""
        return parse_addresses(self.reply_to_header) or parse_addresses(self.from_header)

    def is_with(self, contact: frozenset[str]) -> bool:
        """Whether this message is with the contact (gmail.conversations' rule, the same as every view's)."""
        return is_with_contact(contact, label_ids=self.label_ids,
                               from_header=self.from_header, to_header=self.to_header, cc_header=self.cc_header)


def original_of(mailbox: MailboxClient, gmail_id: str) -> Original:
    message = mailbox.get_message(gmail_id, format="metadata", headers=ORIGINAL_HEADERS)
    headers = header_map(message.get("payload", {}))
    return Original(message.get("threadId"), headers.get("message-id", ""), headers.get("references", ""),
                    headers.get("subject", ""), headers.get("from", ""), headers.get("reply-to", ""),
                    headers.get("to", ""), headers.get("cc", ""), list(message.get("labelIds") or []))


def reply_subject(subject: str) -> str:
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()


def recipient_header(recipients: list[tuple[str, str]]) -> str:
    return ", ".join(formataddr((name, address)) for name, address in recipients)


def compose(*, sender: str, to: str, subject: str, body: str, original: Original | None = None) -> str:
    """An RFC 5322 message, base64url-encoded as Gmail's `raw` wants it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if original is not None and original.message_id:
        message["In-Reply-To"] = original.message_id
        message["References"] = f"{original.references} {original.message_id}".strip()
    message.set_content(body)
    return base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")


def send_email(mailbox: MailboxClient, *, sender: str, to: str, subject: str, body: str,
               original: Original | None = None) -> dict:
    raw = compose(sender=sender, to=to, subject=subject, body=body, original=original)
    return mailbox.send(raw, thread_id=original.thread_id if original else None)
