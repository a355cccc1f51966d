"""Gmail message ids are opaque strings (a Gmail-compatible server mints them with '-' and '_'): Open and Reply
work on them, and what stops a forged id is ownership — the message must be in a mailbox the clicker may see
and be with the contact — never the id's shape."""
from __future__ import annotations

import json

import pytest

from handlers.blocks.compose import COMPOSE_CALLBACK
from handlers.blocks.ids import ActionId
from tests.support.slack import shown_text
from tests.support.contact_world import CONTACTS, DEALS, JANE, contact_command, ephemeral_of, open_email, open_values
from tests.support.compose import dm_texts, reply_from_detail, submit
from testsupport.stack import REP, REP_GMAIL, TEAM, start_stack
from handlers.blocks.refusals import STALE_BUTTON

COLLEAGUE, COLLEAGUE_GMAIL = "U200COL", "colleague@gmail.example"


@pytest.fixture
def urlsafe(database_url):
    running = start_stack(database_url, scheduler=True, start_scheduler=False, gmail_message_ids="urlsafe")
    yield running
    running.stop()


def test_open_and_reply_work_on_an_id_with_dash_and_underscore(urlsafe):
    stack = urlsafe
    stack.add_rep()
    stack.import_crm(CONTACTS, DEALS)
    stack.connect_with_magnet()
    gmail_id = stack.gmail.insert_message(REP_GMAIL, sender=f"Jane Doe <{JANE}>", to=REP_GMAIL,
                                          subject="Opaque ids", body="Answer me.",
                                          message_id_header="<opaque@acme.example>")
    assert "-" in gmail_id and "_" in gmail_id

    # From the contact view: Open, then Reply in the detail.
    post = contact_command(stack, JANE)
    value = open_values(post)[0]
    assert value["g"] == gmail_id
    detail = open_email(stack, REP, json.dumps(value), message=ephemeral_of(stack, REP, post))
    assert "Answer me." in shown_text(detail)
    compose = reply_from_detail(stack, REP, value, detail)
    assert compose["callback_id"] == COMPOSE_CALLBACK and "Re: Opaque ids" in json.dumps(compose)
    assert submit(stack, compose, subject="Re: Opaque ids", body="Done.") is None
    sent = stack.slack.wait_for(lambda: stack.gmail.sent_messages(REP_GMAIL), timeout=10)[-1]
    assert sent["headers"]["In-Reply-To"] == "<opaque@acme.example>"
    stack.slack.wait_for(lambda: [t for t in dm_texts(stack) if "Sent your reply to" in t])

    # From the alert the sync posted: Reply.
    stack.run("sync")
    dm = stack.slack.dm_channel(TEAM, REP)
    alert = [m for m in stack.slack.messages(dm) if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"][-1]
    assert alert["metadata"]["event_payload"]["gmail_id"] == gmail_id
    reply = next(e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == "alert_reply")
    before = len(stack.slack.view_calls)
    stack.driver.block_action(REP, "alert_reply", value=reply["value"], channel_id=dm, message=alert)
    compose = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                            if c["method"] == "views.update"], timeout=15)[-1]["view"]
    assert compose["callback_id"] == COMPOSE_CALLBACK and "Re: Opaque ids" in json.dumps(compose)


def test_a_forged_id_of_another_mailbox_or_out_of_bounds_is_refused(urlsafe):
    """A colleague with a mailbox of their own edits their Open/Reply value to name the rep's message: Gmail is
    asked only for the colleague's own mailbox, where that id is nothing, and the answer says so. An id longer
    than any column holds is refused before any Gmail call."""
    stack = urlsafe
    stack.add_rep()
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=COLLEAGUE_GMAIL)
    stack.import_crm(CONTACTS, DEALS)
    stack.connect()
    stack.connect(COLLEAGUE, COLLEAGUE_GMAIL)
    secret = stack.gmail.insert_message(REP_GMAIL, sender=f"Jane Doe <{JANE}>", to=REP_GMAIL,
                                        subject="Rep's secret", body="Only for the rep.")
    stack.gmail.insert_message(COLLEAGUE_GMAIL, sender=f"Jane Doe <{JANE}>", to=COLLEAGUE_GMAIL,
                               subject="Colleague's own", body="Hi colleague.")
    post = contact_command(stack, JANE, user=COLLEAGUE)
    own = next(v for v in open_values(post) if v["g"] != secret)
    message = ephemeral_of(stack, COLLEAGUE, post)

    for forged_id in (secret, "../../" + secret, secret + "?format=raw", "x" * 65):
        forged = json.dumps({**own, "g": forged_id})
        detail = open_email(stack, COLLEAGUE, forged, message=message)
        shown = shown_text(detail)
        assert "Rep's secret" not in shown and "Only for the rep." not in shown
        if len(forged_id) > 64:
            assert STALE_BUTTON in shown  # longer than any Gmail id the store keeps: no Gmail call
        else:
            assert "no longer in the mailbox" in shown  # looked for in the colleague's own mailbox only
        before = len(stack.slack.view_calls)
        response = stack.driver.block_action(COLLEAGUE, ActionId.EMAIL_REPLY.value, value=forged, message=message)
        assert response.status == 200
        answer = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                               if c["method"] == "views.update"], timeout=15)[-1]["view"]
        assert answer["title"]["text"] != "Reply" and not answer.get("submit") and "Rep's secret" not in json.dumps(answer), (forged_id, answer)
    assert stack.gmail.sent_messages(COLLEAGUE_GMAIL) == []
