"""Alerts that waited (a retry after a failed post, a digest) when Google revoked the mailbox's access are dropped:
the rep who reconnects, maybe days later, gets alerts for mail from then on only (red team of the mailbox run).

A reconnect starts the mailbox's cursor from "now" (mail that came while access was revoked is not news), so an
alert from before the revoke, posted after the reconnect, would be the one stale exception; a digest would mix it
with today's mail. The revoke happens as in production: the rep removes the app in their Google account, and the
next run is refused (`invalid_grant`); the reconnect goes through /gmail connect and Google's consent over HTTP."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, AlertStatus, GmailAccount, utcnow
from gmail.notifier import ALERT_EVENT_TYPE, DIGEST_EVENT_TYPE
from sandbox.slack_emulator.faults import Fault
from testsupport.stack import REP, REP_GMAIL
from tests.support.alerts import CONTACTS, DEALS


def posted(live) -> list[str]:
    """The alerts and digests in the rep's DM, as JSON text (to look for subjects in)."""
    return [json.dumps(m.get("blocks")) for m in live.slack.messages(live.slack.dm_channel("T0001", REP))
            if (m.get("metadata") or {}).get("event_type") in (ALERT_EVENT_TYPE, DIGEST_EVENT_TYPE)]


def statuses(live, account_id) -> list[str]:
    with session_scope(live.engine) as session:
        return [a.status for a in session.exec(select(Alert).where(Alert.account_id == account_id)
                                               .order_by(Alert.id))]


def revoked_at_google(live, account_id) -> None:
    """The rep removes the app from their Google account; the next run is refused and marks the mailbox."""
    live.gmail.revoke_access(REP_GMAIL)
    live.gmail.expire_access_tokens(REP_GMAIL)
    live.run("sync")
    with session_scope(live.engine) as session:
        assert session.get(GmailAccount, account_id).status == "revoked"
    assert [m for m in live.slack.dms(REP) if "lost access" in (m.get("text") or "")]


def reconnected(live, account_id) -> None:
    """/gmail connect and Google's consent again; the first run starts the cursor from "now"."""
    live.connect()
    assert live.account_id() == account_id  # the same mailbox, settings kept: reconnected, not connected anew
    live.run("sync")


def test_an_alert_waiting_for_its_retry_is_not_posted_after_a_revoke_and_reconnect(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    outage = live.slack.add_fault(Fault(status=500, accepted=False, rate=1.0))
    live.mail('"Jane Doe" <jane@acme.example>', "Before the revoke")
    live.run("sync")  # stamped, not posted: the next run would retry it
    live.slack.remove_fault(outage)
    assert statuses(live, account_id) == [AlertStatus.PENDING.value]

    revoked_at_google(live, account_id)
    reconnected(live, account_id)
    live.mail('"Jane Doe" <jane@acme.example>', "After the reconnect")
    live.run("sync")

    texts = posted(live)
    assert not any("Before the revoke" in text for text in texts)
    assert len(texts) == 1 and "After the reconnect" in texts[0]  # the mailbox works again: only new mail


def test_a_digest_waiting_at_the_revoke_brings_no_mail_from_before_it_after_the_reconnect(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet(digest_enabled=True, last_digest_at=utcnow())
    live.mail('"Jane Doe" <jane@acme.example>', "Before the revoke")
    live.run("sync")  # queued: the last digest went out just now
    assert statuses(live, account_id) == [AlertStatus.QUEUED_DIGEST.value]

    revoked_at_google(live, account_id)
    reconnected(live, account_id)
    live.update_mailbox(last_digest_at=utcnow() - timedelta(days=2))  # days later: the digest is due
    live.mail('"Jane Doe" <jane@acme.example>', "After the reconnect")
    live.run("sync")

    texts = posted(live)
    assert not any("Before the revoke" in text for text in texts)
    assert len(texts) == 1 and "After the reconnect" in texts[0]
