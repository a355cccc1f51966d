"""`/gmail why` (SPEC F9): why one email, or a sender's emails, are (not) under a label in this mailbox."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crm_store.addresses import parse_addresses
from crm_store.categories import Category, LabelNames, StageRules
from crm_store.db import session_scope
from crm_store.explain import Explanation, explain_sender
from crm_store.models import CategoryChange, Contact, GmailAccount, MailboxMessage, utcnow
from gmail.client import MailboxClient
from gmail.errors import NotFound
from gmail.messages import from_gmail_metadata

# Gmail API ids are 16 hex digits; web links end with one (older links) or an opaque token (newer ones).
_MESSAGE_ID = re.compile(r"(?:^|[/#])([0-9a-f]{16})/?$", re.IGNORECASE)


@dataclass
class WhyAnswer:
    explanation: Explanation
    message_status: list[str] = field(default_factory=list)


def message_id_in(text: str) -> str | None:
    match = _MESSAGE_ID.search(text.strip().strip("<>"))
    return match.group(1).lower() if match else None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "an unknown time"


def filing_status(account: GmailAccount, row: MailboxMessage | None, category: Category | None, labels: LabelNames,
                  *, lookback_days: int, label_interval_minutes: int, in_inbox: bool | None = None,
                  received_at: datetime | None = None, now: datetime | None = None,
                  change_pending: bool = False) -> str:
    """Whether and when this message was filed, or the reason it was not (the rules in gmail/labels.py).
    `in_inbox`/`received_at`: what Gmail says of a message MailMagnet has no row for; `change_pending`: the
    sender's CRM record changed after this mailbox's last label run."""
    if row is not None and row.filed_category and not row.needs_filing:
        current = labels.name_for(Category(row.filed_category))
        return f"This email was filed under {current} on {_when(row.filed_at)}."
    if row is not None and row.filed_category:
        return (f"It is being filed under {labels.name_for(Category(row.filed_category))}: the last label run "
                "stopped halfway, the next one finishes it.")
    if not account.labels_enabled:
        return "Labels are off for your mailbox, so nothing is filed (`/gmail labels on`)."
    if category is None:
        return "MailMagnet left it where it was."
    next_run = (f"the next label run (every {label_interval_minutes} minutes; "
                f"last run {_when(account.last_label_run_at)})")
    inside = row.in_inbox if row is not None else in_inbox
    if inside is False:
        return "It is not in the Inbox (it was archived or moved before it was filed), and only Inbox mail is filed."
    if row is not None and row.needs_filing:
        return f"It is waiting for {next_run}."
    received = row.received_at if row is not None else received_at
    lookback = timedelta(days=lookback_days)
    enabled = account.labels_enabled_at
    if received is not None and enabled is not None and received < enabled - lookback:
        return (f"It arrived on {_when(received)}, before labels were switched on ({_when(enabled)}); "
                f"only new mail and the last {lookback_days} days of the Inbox are filed.")
    if not account.backfill_done:
        return (f"Labels were just switched on: it is filed with the rest of your Inbox of the last {lookback_days} "
                f"days at {next_run}.")
    if received is not None and received < (now or utcnow()) - lookback:
        return (f"It arrived on {_when(received)}, more than {lookback_days} days ago, and its sender had no label "
                "category when it was last checked; older mail is not filed later.")
    if change_pending:
        return f"Its sender's CRM record changed after the last label run; it is filed at {next_run}."
    if row is None:
        return "MailMagnet has not seen it yet: the next sync picks it up within a minute."
    return ("It was not filed when the label run last looked at it (its sender had no label category then, or it "
            "had left the Inbox); it is filed when its sender's CRM record changes.")


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
                answer.message_status.append(f"Email of {_when(row.received_at)}: {status}")
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
            explanation = Explanation(gmail_id, None, None, None, None, None,
                                      "There is no email with that id in your mailbox.")
            return WhyAnswer(explanation)
        sender, in_inbox, received = message.from_header, message.in_inbox, message.received_at
    else:
        explanation = Explanation(gmail_id, None, None, None, None, None,
                                  "MailMagnet has no record of that email in your mailbox.")
        return WhyAnswer(explanation)
    if not parse_addresses(sender):
        sender = sender or gmail_id
    explanation = explain_sender(session, sender, at=at, tz=tz, rules=rules, labels=labels)
    status = filing_status(account, row, explanation.category, labels, lookback_days=lookback_days,
                           label_interval_minutes=label_interval_minutes, in_inbox=in_inbox, received_at=received,
                           now=at, change_pending=change_pending(session, account, explanation.address))
    return WhyAnswer(explanation, [status])
