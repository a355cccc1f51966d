"""The sync's transaction reads before it writes (issue 17): on SQLite every other writer of the process waits from a
transaction's first write to its commit (crm_store/sqlite_gate.py), so MailMagnet's one read of the senders (their
facts, mutes, and what waits) comes before the messages' INSERT. On a starved machine a read inside that window
also waited for the interpreter lock while every other writer waited for it."""
from __future__ import annotations

import sqlalchemy as sa

from gmail.notifier import ALERT_EVENT_TYPE
from testsupport.stack import REP
from tests.support.alerts import CONTACTS, DEALS


def test_the_senders_are_read_before_the_syncs_first_write_and_the_alert_still_goes_out(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    statements: list[str] = []

    def seen(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(" ".join(statement.split()).upper())

    sa.event.listen(live.engine, "before_cursor_execute", seen)
    try:
        live.run("sync")
    finally:
        sa.event.remove(live.engine, "before_cursor_execute", seen)
    stored = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO MAILBOX_MESSAGES"))
    senders = [i for i, s in enumerate(statements) if "MUTED_CONTACTS" in s and s.startswith("SELECT")]
    assert senders and senders[0] < stored  # once, before the first write of the sync's transaction
    assert len(senders) == 1
    alerts = [m for m in live.slack.messages(live.slack.dm_channel("T0001", REP))
              if (m.get("metadata") or {}).get("event_type") == ALERT_EVENT_TYPE]
    assert len(alerts) == 1 and "Renewal question" in str(alerts[0])
