"""What the sync pipeline (gmail/sync.py) hands its subscribers and gives back: a batch of new messages with what is
known of their senders, the subscriber protocol (`record` in the sync's transaction, `deliver` after it), and a
run's result. MailMagnet, the label filer and the follow-up tracker depend on this, not on the pipeline's steps."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.engine import Connection
from sqlmodel import Session

from crm_store.categories import SenderCategory
from crm_store.models import CrmUser, GmailAccount, OrgSettings
from gmail.client import MailboxClient
from gmail.messages import NewMessage


@dataclass
class SyncBatch:
    """New messages of one mailbox, with what the pipeline already knows about their senders."""

    account: GmailAccount
    messages: list[NewMessage]
    alertable_ids: set[str]
    senders: dict[str, SenderCategory]
    tz: str
    at: datetime
    # Messages stored by an earlier run, not yet filed, that a listing of the Inbox just named (backfill, full
    # resync): gmail id -> stored From address (its category is in `senders` too). Never alerted again.
    known_in_inbox: dict[str, str] = field(default_factory=dict)
    # What each subscriber's `record` left for its `deliver` (by subscriber), read in the same transaction.
    outbox: dict[str, object] = field(default_factory=dict)

    def contact_of(self, message: NewMessage) -> SenderCategory | None:
        return contact_among(self.senders, message)


def contact_among(senders: dict[str, SenderCategory], message: NewMessage) -> SenderCategory | None:
    """The first of the message's From addresses that is a contact's."""
    for address in message.from_addresses:
        found = senders.get(address)
        if found is not None and found.is_contact:
            return found
    return None


def to_file_when_new(account: GmailAccount, message: NewMessage, senders: dict[str, SenderCategory]) -> bool:
    """Whether the next label run decides a new message (its `needs_filing`): labels on, in the Inbox, from a contact
    (gmail/labels.py). The sync's INSERT sets it, so the stored row needs no UPDATE to be marked."""
    return bool(account.labels_enabled and message.in_inbox and contact_among(senders, message) is not None)


class SyncSubscriber(Protocol):
    # Optional: `read(connection, batch)`, in the pipeline's transaction before its first write, reads what `record`
    # will need. The batch holds every readable message then; `record` gets those the transaction stored (a subset).
    # On SQLite the process's other writers wait from a transaction's first write to its commit, not during a read.

    def record(self, connection: Connection, batch: SyncBatch) -> None:
        """Write what this subscriber owes for these messages, in the pipeline's transaction (SQLAlchemy Core on its
        connection: issue 17)."""

    def deliver(self, batch: SyncBatch, mailbox: MailboxClient) -> None:
        """After the commit: do the outside work (e.g. post alerts). Failures are retried later."""


class SyncStatus(StrEnum):
    """What one run did for one mailbox (also the `result` of `mailmagnet_sync_runs_total`)."""
    SYNCED = "synced"
    SKIPPED = "skipped"  # disconnected, MailMagnet off, or no credentials: nothing to read
    REVOKED = "revoked"  # Google refused the token: the mailbox is marked disconnected
    ERROR = "error"  # a Gmail error; the next run tries again
    GONE = "gone"  # the mailbox was deleted meanwhile
    # A scheduled label run with nothing to file and nothing to move: no Gmail call at all (usecases.mailbox_run).
    QUIET = "quiet"
    # The replica's lease expired and another replica took the mailbox over: nothing of this run was committed.
    LEASE_LOST = "lease_lost"


@dataclass
class SyncResult:
    account_id: int
    status: SyncStatus
    new_messages: int = 0
    initial: bool = False
    full_resync: bool = False
    backfilled: int = 0
    error: str | None = None
    history_id: str | None = None
    delivered: list[str] = field(default_factory=list)


@dataclass
class OpenMailbox:
    """A mailbox being worked on: its row as loaded, and a Gmail client on its credentials."""

    account: GmailAccount  # a `gmail.sync_store.MailboxRow`: GmailAccount's columns, read as the entity's
    mailbox: MailboxClient
    credentials: object
    token_before: str | None
    # The replica's lease owner when it runs under a lease: every commit checks the lease is still its own.
    lease_owner: str | None = None
    tz: str | None = None  # the rep's time zone (`rep_timezone`), read with the mailbox


def rep_timezone(session: Session, account: GmailAccount, default_tz: str) -> str:
    """The rep's Slack time zone, else the workspace default, else the configured default."""
    user = session.get(CrmUser, account.crm_user_id)
    if user is not None and user.timezone:
        return user.timezone
    org = session.get(OrgSettings, account.slack_team_id)
    return (org.default_timezone if org and org.default_timezone else None) or default_tz
