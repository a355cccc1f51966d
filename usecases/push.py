"""A Gmail Pub/Sub push: which of our mailboxes it asks to sync now.

Pub/Sub sends one push per change, late and repeated: a mailbox whose stored cursor is already at or past the
push's history id has been synced past that change, and the push is "coalesced". An envelope naming no mailbox
of ours (or none at all) is "ignored". The scheduler runs the mailboxes returned (`Jobs.push_received`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_store.models import AccountStatus, GmailAccount
from gmail.push import Push, already_synced, push_address


_T = GmailAccount.__table__
# Built once (issue 17): building it per push cost more CPU than running it.
_OF_ADDRESS = sa.select(_T.c.id, _T.c.history_id).where(
    _T.c.email_address == sa.bindparam("b_address"), _T.c.status == AccountStatus.CONNECTED.value,
    _T.c.magnet_enabled.is_(True))


class PushOutcome(StrEnum):
    """What became of a Pub/Sub push (the `result` of `mailmagnet_push_notifications_total`)."""
    ACCEPTED = "accepted"  # a sync was asked for
    COALESCED = "coalesced"  # nothing new to read: a sync already passed that change
    IGNORED = "ignored"  # names no mailbox of ours, or is not a push envelope at all
    # Decided at the route:
    QUEUED = "queued"  # answered while still waiting to be taken (past capacity; bot/push_intake.py)
    REJECTED = "rejected"  # its token was refused: nothing of the body was read
    UNVERIFIED = "unverified"  # its token could not be checked now (Pub/Sub delivers it again)
    UNAVAILABLE = "unavailable"  # the database is away (Pub/Sub delivers it again)


@dataclass
class PushDecision:
    outcome: PushOutcome
    to_sync: list[int] = field(default_factory=list)


def mailboxes_to_sync(engine: Engine, envelope: Any) -> PushDecision:
    """The connected, MailMagnet-on mailboxes of the push's address whose cursor has not passed the push's history
    id (one read)."""
    push = push_address(envelope)
    if push is None:
        return PushDecision(PushOutcome.IGNORED)
    with engine.connect() as connection:  # Core: one read, no ORM session
        mailboxes = connection.execute(_OF_ADDRESS, {"b_address": push.address}).all()
    return decide(push, mailboxes)


def decide(push: Push, mailboxes: Sequence[tuple[int, str | None]]) -> PushDecision:
    """The decision on the connected, MailMagnet-on mailboxes of the push's address and their cursors (as read here,
    or as `crm_store.push_leases.claim_pushed` saw them when it leased nothing)."""
    to_sync = [account_id for account_id, cursor in mailboxes if not already_synced(push, cursor)]
    if to_sync:
        return PushDecision(PushOutcome.ACCEPTED, to_sync)
    return PushDecision(PushOutcome.COALESCED if mailboxes else PushOutcome.IGNORED)
