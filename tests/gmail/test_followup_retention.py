"""Housekeeping of follow-ups (gmail.followups.forget_old): answered or done ones go once the weekly digest no
longer needs them, and open ones go once they have been due for longer than messages are kept — without it a
thread nobody answers keeps its row for as long as the mailbox is connected (db.bytes_per_mailbox_day)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Followup
from gmail.followups import KEEP_ANSWERED, KEEP_OPEN, forget_old
from tests.factories import make_contact, make_mailbox

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_forget_old_keeps_what_the_digest_or_a_nudge_still_needs(engine):
    rows = {  # thread: (received, due, answered, done, snoozed until)
        "answered-long-ago": (NOW - KEEP_ANSWERED - 3 * DAY, NOW - KEEP_ANSWERED - 2 * DAY,
                              NOW - KEEP_ANSWERED - DAY, None, None),
        "done-long-ago": (NOW - KEEP_ANSWERED - 3 * DAY, NOW - KEEP_ANSWERED - 2 * DAY, None,
                          NOW - KEEP_ANSWERED - DAY, None),
        "answered-last-week": (NOW - 8 * DAY, NOW - 7 * DAY, NOW - 6 * DAY, None, None),
        "open-due-long-ago": (NOW - KEEP_OPEN - 3 * DAY, NOW - KEEP_OPEN - DAY, None, None, None),
        "open-due-lately": (NOW - KEEP_OPEN - 3 * DAY, NOW - KEEP_OPEN + DAY, None, None, None),
        "open-snoozed-lately": (NOW - KEEP_OPEN - 3 * DAY, NOW - KEEP_OPEN - DAY, None, None, NOW - DAY),
        "open-not-due-yet": (NOW - KEEP_OPEN - 3 * DAY, NOW + DAY, None, None, None),
    }
    with session_scope(engine) as session:
        account = make_mailbox(session, "rep@sales.example")
        contact = make_contact(session, "jane@acme.example")
        for thread, (received, due, answered, done, snoozed) in rows.items():
            session.add(Followup(account_id=account.id, thread_id=thread, contact_id=contact.id, gmail_id=thread,
                                 received_at=received, due_at=due, answered_at=answered, done_at=done,
                                 snoozed_until=snoozed))
    with session_scope(engine) as session:
        assert forget_old(session, NOW) == 3
    with session_scope(engine) as session:
        kept = set(session.exec(select(Followup.thread_id)).all())
    assert kept == {"answered-last-week", "open-due-lately", "open-snoozed-lately", "open-not-due-yet"}
