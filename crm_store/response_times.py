"""Customer response times per mailbox (SPEC §3, the managers' weekly digest), from the follow-up state alone:
when a customer's first unanswered email in a thread came, and when the rep's reply was seen. No content."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

import sqlalchemy as sa
from sqlmodel import Session

from crm_store.models import Followup


@dataclass(frozen=True)
class ResponseTimes:
    account_id: int
    threads: int  # customer threads whose wait began in the period
    answered: int
    within_4h: int
    within_24h: int
    median_first_response: timedelta | None  # of the answered ones; None when none was answered

    @property
    def unanswered(self) -> int:
        return self.threads - self.answered


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def response_times(session: Session, account_ids: Iterable[int], since: datetime, until: datetime,
                   ) -> dict[int, ResponseTimes]:
    """Per mailbox, the customer threads whose wait began in [since, until): how many were answered within 4 h
    and 24 h (wall-clock), and the median time to the first reply. Every mailbox asked for has an entry."""
    ids = sorted(set(account_ids))
    waits: dict[int, list[timedelta | None]] = {account_id: [] for account_id in ids}
    table = Followup.__table__
    for start in range(0, len(ids), 400):
        rows = session.execute(sa.select(table.c.account_id, table.c.received_at, table.c.answered_at).where(
            table.c.account_id.in_(ids[start:start + 400]), table.c.received_at >= since,
            table.c.received_at < until))
        for account_id, received_at, answered_at in rows:
            waits[account_id].append(None if answered_at is None else _aware(answered_at) - _aware(received_at))
    result = {}
    for account_id, found in waits.items():
        answered = sorted(wait for wait in found if wait is not None)
        result[account_id] = ResponseTimes(
            account_id=account_id, threads=len(found), answered=len(answered),
            within_4h=sum(1 for wait in answered if wait <= timedelta(hours=4)),
            within_24h=sum(1 for wait in answered if wait <= timedelta(hours=24)),
            median_first_response=statistics.median(answered) if answered else None)
    return result
