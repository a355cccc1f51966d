"""The sync's look-ups of a thread's open follow-up use the (mailbox, thread) index, not a scan of the mailbox's
open follow-ups (which grow with every unanswered thread, and are looked at for every contact email)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm_store.db import session_scope
from crm_store.models import utcnow
from gmail import followups
from tests.factories import make_contact, make_mailbox

NOW = utcnow()


def plan(connection, statement, params: dict) -> str:
    """The database's plan for the statement as the product sends it (run once here to see what is sent)."""
    sent: list = []
    note = lambda _c, _cursor, sql, parameters, *_: sent.append((sql, parameters))  # noqa: E731
    sa.event.listen(connection, "before_cursor_execute", note)
    try:
        connection.execute(statement, params)
    finally:
        sa.event.remove(connection, "before_cursor_execute", note)
    sql, parameters = sent[-1]
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # the table is small here: ask what it would use
        return "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql, parameters))
    return "\n".join(row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters))


def test_a_threads_open_follow_up_is_found_through_the_thread_index(engine):
    with session_scope(engine) as session:
        mailbox = make_mailbox(session, "rep@sales.example").id
        customer = make_contact(session, "jane@acme.example").id
    opened = {"account_id": mailbox, "thread_id": "t1", "contact_id": customer, "gmail_id": "m1", "received_at": NOW,
              "due_at": NOW + timedelta(hours=24)}
    lookups = {
        "open one unless one is open": (followups._OPEN_UNLESS_OPEN, opened),
        "a newer message of the thread": (followups._REPLY_TO_NEWER, {"b_account_id": mailbox, "b_thread_id": "t1",
                                                                       "b_received": NOW, "b_gmail": "m2"}),
        "the rep's replies": (followups._ANSWERED, {"b_account_id": mailbox, "b_threads": ["t1", "t2"],
                                                    "b_at": NOW}),
    }
    with engine.begin() as connection:
        for what, (statement, params) in lookups.items():
            assert "ix_followups_account_thread" in plan(connection, statement, params), what
        connection.rollback()
