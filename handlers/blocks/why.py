"""The answer to `/gmail why` (and `mailmagnet explain`'s lines). The reason quotes CRM data and what the user
typed: all of it escaped."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.wording import escape
from usecases.why import Category, CategoryDecision, Explanation, Filing, FilingStatus, LabelNames, Reason


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "an unknown time"


def _next_run(s: FilingStatus) -> str:
    return f"the next label run (every {s.interval_minutes} minutes; last run {_when(s.last_run)})"


FILINGS: dict[Filing, Callable[[FilingStatus], str]] = {
    Filing.FILED: lambda s: f"This email was filed under {s.label} on {_when(s.at)}.",
    Filing.BEING_FILED: lambda s: (
        f"It is being filed under {s.label}: the last label run stopped halfway, the next one finishes it."),
    Filing.LABELS_OFF: lambda s: "Labels are off for your mailbox, so nothing is filed (`/gmail labels on`).",
    Filing.LEFT_ALONE: lambda s: "MailMagnet left it where it was.",
    Filing.NOT_IN_INBOX: lambda s: (
        "It is not in the Inbox (it was archived or moved before it was filed), and only Inbox mail is filed."),
    Filing.WAITING: lambda s: f"It is waiting for {_next_run(s)}.",
    Filing.BEFORE_LABELS: lambda s: (
        f"It arrived on {_when(s.at)}, before labels were switched on ({_when(s.since)}); only new mail and the last "
        f"{s.lookback_days} days of the Inbox are filed."),
    Filing.BACKFILL_PENDING: lambda s: (
        f"Labels were just switched on: it is filed with the rest of your Inbox of the last {s.lookback_days} days "
        f"at {_next_run(s)}."),
    Filing.TOO_OLD: lambda s: (
        f"It arrived on {_when(s.at)}, more than {s.lookback_days} days ago, and its sender had no label category "
        "when it was last checked; older mail is not filed later."),
    Filing.CRM_CHANGED: lambda s: (
        f"Its sender's CRM record changed after the last label run; it is filed at {_next_run(s)}."),
    Filing.NOT_SEEN_YET: lambda s: "MailMagnet has not seen it yet: the next sync picks it up within a minute.",
    Filing.NOT_FILED: lambda s: (
        "It was not filed when the label run last looked at it (its sender had no label category then, or it had "
        "left the Inbox); it is filed when its sender's CRM record changes."),
}


def _deal_phrase(deal, month_first_day) -> str:
    if deal.closing_date is None:
        return f'"{deal.name}" (no closing date)'
    if deal.closing_date < month_first_day:
        return f'"{deal.name}" (overdue since {deal.closing_date.isoformat()})'
    return f'"{deal.name}" closing {deal.closing_date.isoformat()}'


def _list(phrases: list[str], limit: int = 3) -> str:
    shown = phrases[:limit]
    extra = len(phrases) - len(shown)
    text = ", ".join(shown)
    return f"{text} and {extra} more" if extra > 0 else text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe_decision(who: str, decision: CategoryDecision, labels: LabelNames) -> str:
    """The rule applied, as one sentence."""
    month = decision.month
    first = month.first_day
    if decision.category is Category.CLOSING_THIS_MONTH:
        deals = _list([_deal_phrase(d, first) for d in decision.deciding])
        return (
            f"{who} has {'an open deal' if len(decision.deciding) == 1 else 'open deals'} {deals}, "
            f"this month ({month.label}, {month.tz}), so the email is filed under "
            f"{labels.closing_this_month}, which takes precedence over {labels.open_deals} and {labels.customers}."
        )
    if decision.category is Category.OPEN_DEALS:
        deals = _list([_deal_phrase(d, first) for d in decision.deciding])
        tail = ""
        if decision.won_deals:
            tail = (f" It also has {_plural(len(decision.won_deals), 'won deal')}, but {labels.open_deals} "
                    f"takes precedence over {labels.customers}.")
        return (
            f"{who} has {_plural(len(decision.deciding), 'open deal')} ({deals}) but none closing in "
            f"{month.label} ({month.tz}), so the email is filed under {labels.open_deals}.{tail}"
        )
    if decision.category is Category.CUSTOMERS:
        deals = _list([f'"{d.name}" ({d.stage})' for d in decision.deciding])
        return (
            f"{who} has no open deal and {_plural(len(decision.deciding), 'won deal')} ({deals}), "
            f"so the email is filed under {labels.customers}."
        )
    if decision.lost_deals:
        deals = _list([f'"{d.name}" ({d.stage})' for d in decision.lost_deals])
        return (
            f"{who} has only lost deals ({deals}): no open or won deal, "
            "so the email is not filed under any label."
        )
    return f"{who} is a CRM contact with no deals, so the email is not filed under any label."


def _who(e: Explanation) -> str:
    who = e.contact.display_name + (f" ({e.contact.company})" if e.contact.company else "")
    return who + (f", whose secondary email is {e.address}," if e.matched_secondary else "")


EXPLANATIONS: dict[Reason, Callable[[Explanation], str]] = {
    Reason.NO_ADDRESS: lambda e: f"“{e.sender}” does not contain an email address, so there is nothing to file.",
    Reason.ORGANISATION: lambda e: (
        f"{e.address} is the organisation's own address ({e.own_role}), never a contact's: MailMagnet sends no alert "
        "for its emails and files none of them under a label (what was filed while it was a contact's stays where it "
        "is)."),
    Reason.NOT_A_CONTACT: lambda e: (
        f"{', '.join(e.addresses)} is not the primary or secondary email of any CRM contact, so the email is not "
        "filed under any label."),
    Reason.DECIDED: lambda e: describe_decision(_who(e), e.decision, e.labels),
    Reason.NO_SUCH_EMAIL: lambda e: "There is no email with that id in your mailbox.",
    Reason.NO_RECORD: lambda e: "MailMagnet has no record of that email in your mailbox.",
}


def explanation_text(explanation: Explanation) -> str:
    """Why the email is (not) under a label, as plain text (the caller escapes it for mrkdwn)."""
    return EXPLANATIONS[explanation.reason](explanation)


def filing_line(status: FilingStatus) -> str:
    """One email's filing, as plain text (the caller escapes it for mrkdwn)."""
    line = FILINGS[status.filing](status)
    return f"Email of {_when(status.email_of)}: {line}" if status.email_of is not None else line


def why_blocks(explanation: Explanation, message_status: list[FilingStatus]) -> tuple[str, list[dict]]:
    label, reason = explanation.label, explanation_text(explanation)
    title = f"Filed under *{escape(label)}*" if label else "Not filed under any label"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=f"{title}\n{escape(reason)}"[:3000]))]
    if message_status:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=escape("\n".join(filing_line(s) for s in message_status))[:2000])]))
    return escape(f"{label or 'Not filed'}: {reason}")[:3000], [b.to_dict() for b in blocks]
