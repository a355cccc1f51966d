"""`/gmail why` (SPEC F9): why one email, or a sender's emails, are (not) under a label in this mailbox."""
from __future__ import annotations

import re
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crm_store.addresses import parse_addresses
from crm_store.categories import Category, LabelNames, StageRules
from crm_store.db import session_scope
from crm_store.explain import Explanation, Reason, explain_sender
from crm_store.models import CategoryChange, Contact, GmailAccount, MailboxMessage, utcnow
from gmail.client import MailboxClient
from gmail.errors import NotFound
from gmail.messages import from_gmail_metadata

# Gmail API ids are 16 hex digits; web links end with one (older links) or an opaque token (newer ones).
_MESSAGE_ID = re.compile(r"(?:^|[/#])([0-9a-f]{16})/?$", re.IGNORECASE)


class Filing(StrEnum):
    """Whether and when an email was filed, or why not (the rules in gmail/labels.py); the facts of each are
    `FilingStatus`'s fields named beside it."""

    FILED = "filed"  # label, at: when it was filed
    BEING_FILED = "being_filed"  # label: the last label run stopped halfway
    LABELS_OFF = "labels_off"
    LEFT_ALONE = "left_alone"  # its sender has no label category
    NOT_IN_INBOX = "not_in_inbox"
    WAITING = "waiting"  # for the next label run (interval_minutes, last_run)
    BEFORE_LABELS = "before_labels"  # at: received, before labels were switched on (since); lookback_days
    BACKFILL_PENDING = "backfill_pending"  # lookback_days, the next label run
    TOO_OLD = "too_old"  # at: received, more than lookback_days ago
    CRM_CHANGED = "crm_changed"  # the sender's CRM record changed: the next label run
    NOT_SEEN_YET = "not_seen_yet"  # the next sync picks it up
    NOT_FILED = "not_filed"  # it had no category (or had left the Inbox) when last looked at


@dataclass(frozen=True)
class FilingStatus:
    filing: Filing
    label: str | None = None
    at: datetime | None = None
    since: datetime | None = None
    lookback_days: int = 0
    interval_minutes: int = 0
    last_run: datetime | None = None
    email_of: datetime | None = None  # for one of a sender's emails: when it arrived


@dataclass
class WhyAnswer:
    explanation: Explanation
    message_status: list[FilingStatus] = field(default_factory=list)


def message_id_in(text: str) -> str | None:
    match = _MESSAGE_ID.search(text.strip().strip("<>"))
    return match.group(1).lower() if match else None


def filing_status(account: GmailAccount, row: MailboxMessage | None, category: Category | None, labels: LabelNames,
                  *, lookback_days: int, label_interval_minutes: int, in_inbox: bool | None = None,
                  received_at: datetime | None = None, now: datetime | None = None,
                  change_pending: bool = False) -> FilingStatus:
    """Whether and when this message was filed, or the reason it was not (the rules in gmail/labels.py).
    `in_inbox`/`received_at`: what Gmail says of a message MailMagnet has no row for; `change_pending`: the
    sender's CRM record changed after this mailbox's last label run."""
    if row is not None and row.filed_category:
        label = labels.name_for(Category(row.filed_category))
        if row.needs_filing:
            return FilingStatus(Filing.BEING_FILED, label=label)
        return FilingStatus(Filing.FILED, label=label, at=row.filed_at)
    if not account.labels_enabled:
        return FilingStatus(Filing.LABELS_OFF)
    if category is None:
        return FilingStatus(Filing.LEFT_ALONE)
    run = dict(interval_minutes=label_interval_minutes, last_run=account.last_label_run_at, lookback_days=lookback_days)
    inside = row.in_inbox if row is not None else in_inbox
    if inside is False:
        return FilingStatus(Filing.NOT_IN_INBOX, **run)
    if row is not None and row.needs_filing:
        return FilingStatus(Filing.WAITING, **run)
    received = row.received_at if row is not None else received_at
    lookback = timedelta(days=lookback_days)
    enabled = account.labels_enabled_at
    if received is not None and enabled is not None and received < enabled - lookback:
        return FilingStatus(Filing.BEFORE_LABELS, at=received, since=enabled, **run)
    if not account.backfill_done:
        return FilingStatus(Filing.BACKFILL_PENDING, **run)
    if received is not None and received < (now or utcnow()) - lookback:
        return FilingStatus(Filing.TOO_OLD, at=received, **run)
    if change_pending:
        return FilingStatus(Filing.CRM_CHANGED, **run)
    return FilingStatus(Filing.NOT_SEEN_YET if row is None else Filing.NOT_FILED, **run)


def change_pending(session: Session, account: GmailAccount, address: str | None) -> bool:
    """Whether a CRM change for the contact of `address` is still to be seen by this mailbox's label run."""
    if not address:
        return False
    contacts = select(Contact.id).where(sa.or_(Contact.email == address, Contact.secondary_email == address))
    return session.exec(select(CategoryChange.id).where(
        CategoryChange.id > account.last_category_change_id, CategoryChange.contact_id.in_(contacts)).limit(1)
    ).first() is not None


def explain_for_mailbox(engine: Engine, account: GmailAccount, query: str, *, mailbox: MailboxClient | None,
                        at: datetime, tz: str, rules: StageRules, labels: LabelNames, lookback_days: int,
                        label_interval_minutes: int) -> WhyAnswer:
    """`query` is a sender (address or From header), a Gmail link or a Gmail message id."""
    gmail_id = message_id_in(query)
    with session_scope(engine) as session:
        if gmail_id is not None:
            return _explain_message(session, account, gmail_id, mailbox=mailbox, at=at, tz=tz, rules=rules,
                                    labels=labels, lookback_days=lookback_days,
                                    label_interval_minutes=label_interval_minutes)
        explanation = explain_sender(session, query, at=at, tz=tz, rules=rules, labels=labels)
        answer = WhyAnswer(explanation)
        if explanation.address:
            rows = session.exec(select(MailboxMessage).where(
                MailboxMessage.account_id == account.id, MailboxMessage.from_address == explanation.address)
                .order_by(MailboxMessage.received_at.desc()).limit(5)).all()
            pending = change_pending(session, account, explanation.address)
            for row in rows:
                status = filing_status(account, row, explanation.category, labels, lookback_days=lookback_days,
                                       label_interval_minutes=label_interval_minutes, now=at,
                                       change_pending=pending)
                answer.message_status.append(dataclasses.replace(status, email_of=row.received_at))
        return answer


def _explain_message(session: Session, account: GmailAccount, gmail_id: str, *, mailbox: MailboxClient | None,
                     at: datetime, tz: str, rules: StageRules, labels: LabelNames, lookback_days: int,
                     label_interval_minutes: int) -> WhyAnswer:
    row = session.exec(select(MailboxMessage).where(MailboxMessage.account_id == account.id,
                                                    MailboxMessage.gmail_id == gmail_id)).first()
    in_inbox = None
    received = None
    if row is not None:
        sender = row.from_address
    elif mailbox is not None:
        try:
            message = from_gmail_metadata(mailbox.get_message(gmail_id))
        except NotFound:
            explanation = Explanation(gmail_id, None, None, None, None, None, Reason.NO_SUCH_EMAIL)
            return WhyAnswer(explanation)
        sender, in_inbox, received = message.from_header, message.in_inbox, message.received_at
    else:
        explanation = Explanation(gmail_id, None, None, None, None, None, Reason.NO_RECORD)
        return WhyAnswer(explanation)
    if not parse_addresses(sender):
        sender = sender or gmail_id
    explanation = explain_sender(session, sender, at=at, tz=tz, rules=rules, labels=labels)
    status = filing_status(account, row, explanation.category, labels, lookback_days=lookback_days,
                           label_interval_minutes=label_interval_minutes, in_inbox=in_inbox, received_at=received,
                           now=at, change_pending=change_pending(session, account, explanation.address))
    return WhyAnswer(explanation, [status])
