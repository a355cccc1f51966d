"""A contact's emails in one mailbox, live from Gmail (SPEC F5): one `messages.list` whose query is built from
the contact's validated addresses, then metadata through `/batch`. Nothing here is stored or logged.

Which messages are with a contact (SPEC §5 "What a view may list") is decided here, once, for every surface
(the `/contact` list and *Show more*, *Open*, *Reply*, the App Home list, and therefore the audit log): a
message is with the contact only when its own headers, as fetched, show one of the contact's addresses as the
counterparty — the From of a received message, a To or Cc of a sent one. Gmail's search only pre-filters (it
matches words, so `jane@acme.example` also finds `x.jane@acme.example`, and a contact in Cc of someone else's
message). The organisation's own addresses are never a contact's: a contact whose address is a rep's own
would otherwise make that rep's whole mailbox "emails with this contact".

A view continues where it stopped with a cursor per mailbox: the Gmail page token of the page it is in
and how many of that page's messages it has shown. Listing asks for `offset + want` messages from that
token, so one call gives the next `want` candidates; `advance` says where the next page starts.
"""
from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlmodel import Session

from crm_store.addresses import is_valid_address, parse_addresses, sender_addresses
from crm_store.contact_search import addresses_of
from crm_store.models import Contact
from crm_store.organisation import organisation_among
from gmail.client import MailboxClient
from gmail.messages import header_map, is_gmail_id

LIST_HEADERS = ("From", "To", "Cc", "Date", "Message-ID")
SUBJECT_HEADER = "Subject"
MAX_LIST = 500
SENT_LABEL = "SENT"
DRAFT_LABEL = "DRAFT"


# -- which messages are with a contact -------------------------------------------------------------------

def _own_addresses(contact: Contact) -> set[str]:
    return {address.strip().lower() for address in addresses_of(contact) if address and address.strip()}


def addresses_by_contact(session: Session, contacts: Iterable[Contact]) -> dict[int, frozenset[str]]:
    """Per contact id, the addresses by which mail is with that contact: theirs, lower-cased, less the
    organisation's own (one query for all of them; asked at every view, so a contact whose address later
    becomes a CRM user's stops matching at once)."""
    own = {contact.id: _own_addresses(contact) for contact in contacts}
    organisation = organisation_among(session, set().union(*own.values())) if own else frozenset()
    return {contact_id: frozenset(addresses - organisation) for contact_id, addresses in own.items()}


def contact_addresses(session: Session, contact: Contact) -> frozenset[str]:
    return addresses_by_contact(session, [contact])[contact.id]


def is_sent(label_ids: Iterable[str]) -> bool:
    """Sent by the mailbox: Gmail's SENT label, which only mail that left it carries. Never the From header,
    which anyone can write (a stranger's mail "From" the rep lands in the Inbox), and never a draft."""
    labels = set(label_ids or ())
    return SENT_LABEL in labels and DRAFT_LABEL not in labels


def counterparties(*, label_ids: Iterable[str], from_header: str, to_header: str,
                   cc_header: str) -> frozenset[str]:
    """Whom a message of this mailbox is with: the recipients (To, Cc) of one it sent, else the sender (From)
    of one it received; nobody for a draft, which the rep has not sent to anyone yet."""
    if DRAFT_LABEL in set(label_ids or ()):
        return frozenset()
    if is_sent(label_ids):
        return frozenset(address for header in (to_header, cc_header) for _, address in parse_addresses(header))
    return frozenset(sender_addresses(from_header))


def is_with_contact(contact: frozenset[str], *, label_ids: Iterable[str], from_header: str,
                    to_header: str, cc_header: str) -> bool:
    """`contact` comes from `contact_addresses` (the organisation's addresses already taken out)."""
    return bool(contact & counterparties(label_ids=label_ids,
                                         from_header=from_header, to_header=to_header, cc_header=cc_header))


# -- the Gmail query: a pre-filter, built from validated addresses only ---------------------------------

# Characters an address may hold to be put in a query, besides letters and digits (any script): none of them
# means anything to Gmail's search box inside a quoted phrase, and none ends the phrase. Everything else —
# quotes, brackets, braces, colons (`label:`, `in:anywhere`), `|`, `*`, spaces, control characters — keeps the
# address out of the query.
_LOCAL_EXTRA = frozenset("._+-'%&=")
_DOMAIN_EXTRA = frozenset(".-")


def _plain(text: str, extra: frozenset[str]) -> bool:
    return bool(text) and all(c in extra or unicodedata.category(c)[0] in "LN" for c in text)


def searchable(address: str) -> bool:
    """Whether an address may go into a Gmail query: a valid address (crm_store.addresses) made only of
    letters, digits and a few inert characters (so no operator, `OR` or `label:` can stand apart in it), its
    local part and domain labels not starting with `-` (negation). An address that fails is never searched
    for; mail found by another of the contact's addresses can still match it by its headers."""
    if not is_valid_address(address) or address != address.strip():
        return False
    local, _, domain = address.rpartition("@")
    if not _plain(local, _LOCAL_EXTRA) or not _plain(domain, _DOMAIN_EXTRA):
        return False
    return local[0] not in "-." and all(label and label[0] != "-" for label in domain.split("."))


def contact_query(addresses: Iterable[str]) -> str | None:
    """The pre-filter the verified-headers rule then checks, shaped like it: received from the contact, or
    sent (`in:sent`, `from:me`) to or copying them. Each address quoted; None when no address is searchable."""
    usable = [a for a in dict.fromkeys(a.strip().lower() for a in addresses if isinstance(a, str)) if searchable(a)]
    if not usable:
        return None
    group = " OR ".join(f'"{address}"' for address in usable)
    return f"from:({group}) OR ((in:sent OR from:me) (to:({group}) OR cc:({group})))"


# -- one message, in memory only ---------------------------------------------------------------------------

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

    def sent_by(self) -> bool:
        return is_sent(self.label_ids)

    def is_with(self, contact: frozenset[str]) -> bool:
        return is_with_contact(contact, label_ids=self.label_ids,
                               from_header=self.from_header, to_header=self.to_header, cc_header=self.cc_header)


def copy_from_metadata(message: dict[str, Any], *, with_subject: bool) -> EmailCopy:
    headers = header_map(message.get("payload", {}))
    millis = int(message.get("internalDate") or 0)
    return EmailCopy(
        gmail_id=message["id"], thread_id=message.get("threadId") if is_gmail_id(message.get("threadId")) else None,
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
