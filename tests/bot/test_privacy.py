"""SPEC §2/§9: after a full scenario no token, subject or body is in the database or the logs."""
from __future__ import annotations

import logging

from gmail.accounts import load_credentials
from crm_store.db import session_scope
from crm_store.models import GmailAccount
from tests.support.alerts import CONTACTS, DEALS
from testsupport.stack import REP_GMAIL
from tests.support.privacy import database_bytes

SUBJECT = "Confidential-subject-7f3a"
BODY = "Secret-body-preview-91c2"


def test_nothing_secret_is_stored_or_logged(live, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    with session_scope(live.engine) as session:
        account = session.get(GmailAccount, live.account_id())
        credentials = load_credentials(live.services.cipher, account, live.services.google)
    for i in range(3):
        live.mail("Jane <jane@acme.example>", f"{SUBJECT} {i}", body=f"{BODY} {i}")
    live.run("labels")
    live.driver.slash_command("U100REP", "/gmail", "why jane@acme.example")
    live.slack.wait_for(lambda: len(live.slack.response_url_posts()) >= 2)
    # The alert did show the subject to its owner: the content left Gmail only for Slack.
    assert any(SUBJECT in str(m.get("blocks")) for m in live.slack.dms("U100REP"))
    secrets = [SUBJECT.encode(), BODY.encode(), credentials.token.encode(), credentials.refresh_token.encode()]
    stored = database_bytes(live, database_url)
    assert not [s for s in secrets if s in stored]
    # Every log record of the bot's process at DEBUG (the emulators' own records are Google's and Slack's side).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("sandbox")).encode()
    assert not [s for s in secrets if s in logged]
    assert live.gmail.label_names(REP_GMAIL, live.gmail.user_messages(REP_GMAIL)[0]) >= {"Open Deals"}
