"""`/gmail why` (SPEC F9): why one email, or a sender's emails, are (not) under a label in this mailbox."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crm_store.addresses import parse_addresses
from crm_store.categories import Category, LabelNames, StageRules
from crm_store.db import session_scope
from crm_store.explain import Explanation, explain_sender
from crm_store.models import GmailAccount, MailboxMessage
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


def looks_like_link(text: str) -> bool:
    return "mail.google.com" in text or text.strip().startswith(("http://", "https://", "<http"))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "an unknown time"


def filing_status(account: GmailAccount, row: MailboxMessage | None, category: Category | None, labels: LabelNames,
                  *, lookback_days: int, label_interval_minutes: int, in_inbox: bool | None = None,
                  received_at: datetime | None = None) -> str:
    """Whether and when this message was filed, or the reason it was not."""
    if row is not None and row.filed_category:
        current = labels.name_for(Category(row.filed_category))
        return f"This email was filed under {current} on {_when(row.filed_at)}."
    if not account.labels_enabled:
        return "Labels are off for your mailbox, so nothing is filed (`/gmail labels on`)."
    if category is None:
        return "MailMagnet left it where it was."
    if row is not None and row.needs_filing:
        return (f"It is waiting for the next label run (every {label_interval_minutes} minutes; "
                f"last run {_when(account.last_label_run_at)}).")
    received = row.received_at if row is not None else received_at
    enabled = account.labels_enabled_at
    if received is not None and enabled is not None and received < enabled - timedelta(days=lookback_days):
        return (f"It arrived on {_when(received)}, before labels were switched on ({_when(enabled)}); "
                f"only new mail and the last {lookback_days} days of the Inbox are filed.")
    if in_inbox is False:
        return "It is not in the Inbox, and only Inbox mail is filed."
    if row is not None:
        return ("It was not in the Inbox, or its sender was not a CRM contact yet, when MailMagnet saw it; "
                "mail is filed once, on arrival.")
    return "MailMagnet has not seen it yet: the next sync picks it up within a minute."


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
            for row in rows:
                status = filing_status(account, row, explanation.category, labels, lookback_days=lookback_days,
                                       label_interval_minutes=label_interval_minutes)
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
                           label_interval_minutes=label_interval_minutes, in_inbox=in_inbox, received_at=received)
    return WhyAnswer(explanation, [status])
