"""The answer to `/gmail why` (and `mailmagnet explain`'s lines). The reason quotes CRM data and what the user
typed: all of it escaped."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.wording import escape
from usecases.why import Filing, FilingStatus


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


def filing_line(status: FilingStatus) -> str:
    """One email's filing, as plain text (the caller escapes it for mrkdwn)."""
    line = FILINGS[status.filing](status)
    return f"Email of {_when(status.email_of)}: {line}" if status.email_of is not None else line


def why_blocks(label: str | None, reason: str, message_status: list[FilingStatus]) -> tuple[str, list[dict]]:
    title = f"Filed under *{escape(label)}*" if label else "Not filed under any label"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=f"{title}\n{escape(reason)}"[:3000]))]
    if message_status:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=escape("\n".join(filing_line(s) for s in message_status))[:2000])]))
    return escape(f"{label or 'Not filed'}: {reason}")[:3000], [b.to_dict() for b in blocks]
