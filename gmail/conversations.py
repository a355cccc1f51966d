"""A contact's emails in one mailbox, live from Gmail (SPEC F5): one `messages.list` with a from:/to:/cc:
query over the contact's addresses, then metadata through `/batch`. Nothing here is stored or logged.

A view continues where it stopped with a cursor per mailbox: the Gmail page token of the page it is in
and how many of that page's messages it has shown. Listing asks for `offset + want` messages from that
token, so one call gives the next `want` candidates; `advance` says where the next page starts.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from crm_store.addresses import parse_addresses
from gmail.client import MailboxClient
from gmail.messages import header_map

LIST_HEADERS = ("From", "To", "Cc", "Date", "Message-ID")
SUBJECT_HEADER = "Subject"
MAX_LIST = 500


def contact_query(addresses: Iterable[str]) -> str | None:
    """`from:(a OR b) OR to:(a OR b) OR cc:(a OR b)`: mail received from and sent to the contact."""
    usable = [a for a in dict.fromkeys(a.strip().lower() for a in addresses if a)
              if a and not any(c in a for c in '(){}" ')]
    if not usable:
        return None
    group = " OR ".join(usable)
    return f"from:({group}) OR to:({group}) OR cc:({group})"


@dataclass
class EmailCopy:
    """One message of one mailbox, in memory only."""

    gmail_id: str
    thread_id: str | None
    received_at: datetime
    label_ids: list[str] = field(default_factory=list)
    from_header: str = ""
    to_header: str = ""
    cc_header: str = ""
    subject: str | None = None  # None: not fetched (the viewer may not see it)
    snippet: str = ""
    message_id_header: str = ""

    def addresses(self) -> set[str]:
        found: set[str] = set()
        for header in (self.from_header, self.to_header, self.cc_header):
            found.update(addr for _, addr in parse_addresses(header))
        return found

    def involves(self, contact_addresses: Iterable[str]) -> bool:
        return bool(self.addresses() & {a.lower() for a in contact_addresses if a})

    def sent_by(self, mailbox_address: str) -> bool:
        senders = [addr for _, addr in parse_addresses(self.from_header)]
        return "SENT" in self.label_ids or mailbox_address.lower() in senders


def copy_from_metadata(message: dict[str, Any], *, with_subject: bool) -> EmailCopy:
    headers = header_map(message.get("payload", {}))
    millis = int(message.get("internalDate") or 0)
    return EmailCopy(
        gmail_id=message["id"], thread_id=message.get("threadId"),
        received_at=datetime.fromtimestamp(millis / 1000, tz=timezone.utc),
        label_ids=list(message.get("labelIds", [])),
        from_header=headers.get("from", ""), to_header=headers.get("to", ""), cc_header=headers.get("cc", ""),
        subject=headers.get("subject", "") if with_subject else None,
        # Gmail sends the snippet HTML-escaped; it is escaped again for Slack when shown.
        snippet=html.unescape(message.get("snippet", "") or ""),
        message_id_header=headers.get("message-id", ""),
    )


@dataclass(frozen=True)
class Cursor:
    token: str | None = None
    offset: int = 0


@dataclass
class Listed:
    """The next candidates of a mailbox, and what `advance` needs to know about the page they came from."""

    cursor: Cursor
    ids: list[str]  # candidates, newest first
    page_length: int  # ids the page returned from its token
    next_token: str | None

    @property
    def has_more_after_candidates(self) -> bool:
        return self.next_token is not None

    def advance(self, consumed: int) -> Cursor | None:
        """Where the mailbox continues after `consumed` of its candidates were shown; None: nothing more."""
        offset = self.cursor.offset + consumed
        if offset < self.page_length:
            return Cursor(self.cursor.token, offset)
        if self.next_token:
            return Cursor(self.next_token, 0)
        return None


def list_candidates(mailbox: MailboxClient, query: str, cursor: Cursor, want: int) -> Listed:
    size = min(MAX_LIST, cursor.offset + want)
    ids, next_token = mailbox.list_page(query=query, page_token=cursor.token, max_results=size)
    return Listed(cursor, ids[cursor.offset:cursor.offset + want], len(ids), next_token)


def fetch_copies(mailbox: MailboxClient, ids: list[str], *, with_subject: bool) -> dict[str, EmailCopy | None]:
    headers = LIST_HEADERS + ((SUBJECT_HEADER,) if with_subject else ())
    raw = mailbox.get_metadata(ids, headers=headers) if ids else {}
    return {gmail_id: (copy_from_metadata(raw[gmail_id], with_subject=with_subject) if raw.get(gmail_id) else None)
            for gmail_id in ids}
