"""SPEC §2/§9 after the whole of F5–F7: connect, alerts (DM and channel), contact views by the owner and a
colleague, "Show more", email details, a new email and a reply — and still no subject, snippet or body text, and
no token, in the database or the logs. The content did reach Slack (where sharing allowed): that is the point."""
from __future__ import annotations

import json
import logging

from crm_store.db import session_scope
from crm_store.models import GmailAccount
from gmail.accounts import load_credentials
from handlers.blocks.compose import BODY_BLOCK, SUBJECT_BLOCK, TO_BLOCK, TO_ACTION
from handlers.blocks.ids import ActionId
from tests.support.privacy import database_bytes
from tests.support.contact_world import (
    CONTACTS,
    DEALS,
    JANE,
    buttons,
    contact_command,
    ephemeral_of,
    open_email,
    open_values,
)
from testsupport.stack import REP, REP_GMAIL, TEAM

COLLEAGUE, COLLEAGUE_GMAIL = "U200COL", "colleague@gmail.example"
SUBJECT, SNIPPET, BODY = "Confidential-subject-5e1d", "Snippet-words-77aa", "Deep-body-text-c3f0"
SENT_SUBJECT, SENT_BODY = "Outgoing-subject-0b9e", "Outgoing-body-41d7"


def compose_values(subject: str, body: str, to: str | None = None) -> dict:
    values = {SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": subject}},
              BODY_BLOCK: {"body": {"type": "plain_text_input", "value": body}}}
    if to:
        values[TO_BLOCK] = {TO_ACTION: {"type": "static_select", "selected_option": {"value": to}}}
    return values


def test_contact_views_details_and_sends_store_and_log_no_content(live, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    live.add_rep()
    live.add_rep(COLLEAGUE, "colleague@crm.example", gmail=COLLEAGUE_GMAIL)
    live.import_crm(CONTACTS, DEALS)
    bot = live.slack.team(TEAM).bot_user_id
    live.slack.add_channel(TEAM, "G0TEAM", "team", members=[REP, COLLEAGUE, bot], is_private=True)
    live.connect_with_magnet(labels=True, sharing="public", sharing_depth="full", alert_channel="G0TEAM")
    live.connect_with_magnet(COLLEAGUE, COLLEAGUE_GMAIL)
    tokens = []
    account_ids = [live.account_id(gmail) for gmail in (REP_GMAIL, COLLEAGUE_GMAIL)]  # not inside the session below
    with session_scope(live.engine) as session:
        for account_id in account_ids:
            account = session.get(GmailAccount, account_id)
            credentials = load_credentials(live.services.cipher, account, live.services.google)
            tokens += [credentials.token, credentials.refresh_token]
    for i in range(12):
        live.gmail.insert_message(REP_GMAIL, sender=f"Jane Doe <{JANE}>", to=REP_GMAIL, cc=COLLEAGUE_GMAIL,
                                  subject=f"{SUBJECT} {i}", body=f"{SNIPPET} " + "words " * 50 + BODY,
                                  message_id_header=f"<m{i}@acme.example>")
        live.gmail.insert_message(COLLEAGUE_GMAIL, sender=f"Jane Doe <{JANE}>", to=REP_GMAIL, cc=COLLEAGUE_GMAIL,
                                  subject=f"{SUBJECT} {i}", body=f"{SNIPPET} " + "words " * 50 + BODY,
                                  message_id_header=f"<m{i}@acme.example>")
    live.run("labels")
    assert SUBJECT in json.dumps(live.slack.messages("G0TEAM"))  # the channel alert showed it

    for user in (REP, COLLEAGUE):
        post = contact_command(live, JANE, user=user)
        assert SNIPPET in json.dumps(post)
        more = ephemeral_of(live, user, post)
        live.driver.block_action(user, ActionId.CONTACT_MORE.value, message=more,
                                 value=buttons(more, ActionId.CONTACT_MORE.value)[0]["value"])
        detail = open_email(live, user, json.dumps(open_values(post)[0]), message=more)
        assert SUBJECT in json.dumps(detail)
    # The owner opened their own copy: the body reached them, and only them.
    owner_post = contact_command(live, JANE, user=REP)
    own = next(v for v in open_values(owner_post) if v["a"] == live.account_id(REP_GMAIL))
    detail = open_email(live, REP, json.dumps(own), message=ephemeral_of(live, REP, owner_post))
    assert BODY in json.dumps(detail)

    # A new email and a reply, through the compose modal.
    before = len(live.slack.view_calls)
    live.driver.slash_command(REP, "/email", JANE)
    modal = live.slack.wait_for(lambda: [c for c in live.slack.view_calls[before:]
                                         if c["method"] == "views.open"])[-1]["view"]
    live.driver.view_submission(REP, modal, values=compose_values(SENT_SUBJECT, SENT_BODY, to=JANE))
    before = len(live.slack.view_calls)
    live.driver.block_action(REP, ActionId.EMAIL_REPLY.value, value=json.dumps(own), view=detail)
    reply = live.slack.wait_for(lambda: [c for c in live.slack.view_calls[before:] if c["method"] == "views.update"
                                         and c["view"].get("submit")], timeout=15)[-1]["view"]
    live.driver.view_submission(REP, reply, values=compose_values(f"Re: {SENT_SUBJECT}", SENT_BODY))
    live.slack.wait_for(lambda: len(live.gmail.sent_messages(REP_GMAIL)) == 2, timeout=15)
    live.slack.wait_for(lambda: len([m for m in live.slack.dms(REP) if "Sent your" in (m.get("text") or "")]) == 2)

    secrets = [SUBJECT, SNIPPET, BODY, SENT_SUBJECT, SENT_BODY] + [t for t in tokens if t]
    stored = database_bytes(live, database_url)
    assert not [s for s in secrets if s.encode() in stored]
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records
                       if not r.name.startswith("sandbox"))
    assert not [s for s in secrets if s in logged]
