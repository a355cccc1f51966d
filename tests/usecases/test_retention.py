"""Retention: what is kept of a mailbox's mail stays proportional to its recent mail. Housekeeping deletes stored
messages from non-contacts older than the lookback, in bounded batches, and nothing still needed: filed mail,
mail waiting to be filed, recent mail, contacts' mail. A full resync afterwards hands nothing twice."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import MailboxMessage, utcnow
from tests.support.alerts import CONTACTS, DEALS, alerts_in
from testsupport.stack import REP, REP_GMAIL, TEAM

OLD = timedelta(days=45)  # the lookback is 30 days


def stored(stack) -> set[str]:
    with session_scope(stack.engine) as session:
        return set(session.exec(select(MailboxMessage.gmail_id)))


def test_housekeeping_deletes_old_non_contact_rows_and_keeps_what_is_needed(live):
    live.add_rep()
    live.import_crm(CONTACTS + "lou@lost.example,Lou,Loss,Lost Inc,C3,\n",
                    DEALS + "Lost cause,C3,Closed Lost,2026-01-01,,D3\n")
    live.connect_with_magnet(labels=True)
    live.run("labels")
    now = utcnow()
    old_stranger = live.mail("news@lists.example", "Old newsletter", date=now - OLD)
    recent_stranger = live.mail("news@lists.example", "Recent newsletter", date=now - timedelta(days=2))
    old_contact_unfiled = live.mail("lou@lost.example", "Old, lost deal", date=now - OLD)
    old_filed = live.mail("jane@acme.example", "Old and filed", date=now - OLD)
    live.run("labels")
    old_waiting = live.mail("bob@globex.example", "Old, waiting for the label run", date=now - OLD)
    live.run("sync")
    # Years of old newsletters: far more than one batch.
    account_id = live.account_id()
    with session_scope(live.engine) as session:
        session.execute(sa.insert(MailboxMessage.__table__), [
            {"account_id": account_id, "gmail_id": f"old{i:06d}", "from_address": f"n{i % 97}@lists.example",
             "received_at": now - OLD - timedelta(minutes=i), "needs_filing": False} for i in range(12_000)])
    assert len(stored(live)) == 12_005

    live.services.jobs.housekeeping()
    assert stored(live) == {recent_stranger, old_contact_unfiled, old_filed, old_waiting}
    assert old_stranger not in stored(live)

    live.run("labels")
    assert "Customers" in live.gmail.label_names(REP_GMAIL, old_waiting)
    # A full resync lists the Inbox within the lookback only: nothing deleted comes back, nothing is alerted twice.
    dm = live.slack.dm_channel(TEAM, REP)
    alerts = len(alerts_in(live, dm))
    live.gmail.expire_history(REP_GMAIL)
    outcome = live.run("sync")[0]
    assert outcome.sync.full_resync and outcome.sync.new_messages == 0
    assert len(alerts_in(live, dm)) == alerts and old_stranger not in stored(live)
