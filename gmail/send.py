"""Sending mail through the rep's Gmail (`messages.send`), threaded when replying (SPEC F6)."""
from __future__ import annotations

import base64
import re
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


# Line breaks and other control characters: a header value must stay on its line (a decoded RFC 2047 name from a
# stranger's Reply-To, a CRM name from a CSV or Zoho may hold them; EmailMessage refuses them with ValueError).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


class UnusableAddress(ValueError):
    """An address that cannot be written into a header (control characters, no @, not encodable)."""

    def __init__(self, address: str):
        super().__init__(f"unusable address {address[:80]!r}")
        self.address = address


def one_line_name(name: str | None) -> str:
    """A display name safe for a header: control characters (CR, LF, NUL, …) become spaces, runs of space one."""
    return " ".join(_CONTROLS.sub(" ", name or "").split())


def mail_address(name: str | None, address: str) -> str:
    """`Name <address>` for a To header (email.utils.formataddr, the name on one line). Raises UnusableAddress when
    the address itself cannot go into a header."""
    if not address or _CONTROLS.search(address) or " " in address or "@" not in address:
        raise UnusableAddress(address or "")
    try:
        return formataddr((one_line_name(name), address))
    except ValueError:  # UnicodeEncodeError: formataddr takes ASCII addresses only
        raise UnusableAddress(address) from None


def recipient_header(recipients: list[tuple[str, str]]) -> str:
    return ", ".join(mail_address(name, address) for name, address in recipients)


def compose(*, sender: str, to: str, subject: str, body: str, original: Original | None = None) -> str:
    """An RFC 5322 message, base64url-encoded as Gmail's `raw` wants it."""
    message = EmailMessage()
    message["From"] = sender
    try:
        message["To"] = to
    except ValueError:  # a caller's To that did not go through mail_address: never an unhandled error
        raise UnusableAddress(to) from None
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
