"""Replies go where the customer asked (Reply-To, else From), audit rows are written once, and nothing stored
about a disconnected mailbox's email survives in the request log (issue 9, findings 6, 7, 10)."""
from __future__ import annotations

import json

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, AlertStatus, AuditLog, ProcessedSlackRequest
from testsupport.stack import REP, REP_GMAIL, TEAM

CONTACTS = ("email,secondary_email,first_name,last_name,company,external_id\n"
            "jane@acme.example,jane.private@home.example,Jane,Doe,Acme,C1\n")
DEALS = "name,contact_external_id,stage,closing_date,amount,external_id\nAcme renewal,C1,Negotiation,2099-01-15,1000,D1\n"
COLLEAGUE = "U200COL"


def alerts_in(stack, channel):
    return [m for m in stack.slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]


def button(alert, action_id):
    return next(e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == action_id)


def reply_through_slack(stack, alert, channel, text="Thanks, let's talk Tuesday."):
    value = button(alert, "alert_reply")["value"]
    views_before, sent_before = len(stack.slack.view_calls), len(stack.gmail.sent_messages(REP_GMAIL))
    stack.driver.block_action(REP, "alert_reply", value=value, channel_id=channel, message=alert)
    updated = stack.slack.wait_for(lambda: [v for v in stack.slack.view_calls[views_before:]
                                            if v["method"] == "views.update"] or None, timeout=15)[-1]["view"]
    subject = next(b for b in updated["blocks"] if b.get("block_id") == "reply_subject")
    values = {"reply_subject": {"subject": {"type": "plain_text_input",
                                            "value": subject["element"].get("initial_value", "")}},
              "reply_body": {"body": {"type": "plain_text_input", "value": text}}}
    response = stack.driver.view_submission(REP, updated, values=values)
    assert response.status == 200
    sent = stack.slack.wait_for(lambda: stack.gmail.sent_messages(REP_GMAIL)[sent_before:] or None, timeout=15)
    return sent[-1], updated


def test_reply_goes_to_reply_to_else_from_in_the_same_thread(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    # Jane writes from her secondary address and asks for answers at her assistant's.
    original = live.gmail.insert_message(
        REP_GMAIL, sender="Jane Doe <jane.private@home.example>", to=REP_GMAIL, subject="Pricing",
        body="Please reply to my assistant.", message_id_header="<pricing-1@home.example>",
        extra_headers={"Reply-To": "Assistant <assistant@acme.example>"})
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    sent, modal = reply_through_slack(live, alerts_in(live, dm)[-1], dm)
    assert "assistant@acme.example" in json.dumps(modal["blocks"])
    assert "assistant@acme.example" in sent["to"] and "jane@acme.example" not in sent["to"]
    assert sent["subject"] == "Re: Pricing"
    assert sent["headers"].get("In-Reply-To") == "<pricing-1@home.example>"
    assert "<pricing-1@home.example>" in sent["headers"].get("References", "")
    assert sent["threadId"] == live.gmail.message(REP_GMAIL, original)["threadId"]

    # Without Reply-To: the address the email came from, not the contact's primary address.
    live.mail("Jane Doe <jane.private@home.example>", "Second question")
    live.run("sync")
    sent, _ = reply_through_slack(live, alerts_in(live, dm)[-1], dm)
    assert "jane.private@home.example" in sent["to"] and "jane@acme.example" not in sent["to"]


def test_an_alert_posted_again_after_a_crash_is_audited_once(live):
    live.add_rep()
    live.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    live.import_crm(CONTACTS, DEALS)
    bot = live.slack.default_team().bot_user_id
    live.slack.add_channel(TEAM, "G0DEALS", "deals", members=[REP, COLLEAGUE, bot], is_private=True)
    live.connect_with_magnet(alert_channel="G0DEALS", sharing="public", sharing_depth="subject")
    live.mail("jane@acme.example", "Quarterly numbers")
    live.run("sync")
    assert len(alerts_in(live, "G0DEALS")) == 1
    # The process died after posting and before recording it, and never got to stamp it: posted again.
    with session_scope(live.engine) as session:
        alert = session.exec(select(Alert)).one()
        alert.status, alert.slack_ts, alert.attempted_at = AlertStatus.PENDING.value, None, None
        session.add(alert)
    live.run("sync")
    assert len(alerts_in(live, "G0DEALS")) == 2
    with session_scope(live.engine) as session:
        rows = session.exec(select(AuditLog)).all()
    assert [(r.surface, r.depth, r.channel_id) for r in rows] == [("channel_alert", "subject", "G0DEALS")]


def test_after_disconnect_no_request_record_names_the_mailboxs_email(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.mail("jane@acme.example", "Hello")
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    alert = alerts_in(live, dm)[-1]
    gmail_id = alert["metadata"]["event_payload"]["gmail_id"]
    for action_id in ("alert_view_contact", "alert_mute_contact"):
        before = len(live.slack.response_url_posts())
        live.driver.block_action(REP, action_id, value=button(alert, action_id)["value"], channel_id=dm,
                                 message=alert)
        live.slack.wait_for(lambda: live.slack.response_url_posts()[before:] or None, timeout=10)
    prompt = live.command(REP, "disconnect")
    confirm = next(e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "gmail_disconnect_confirm")
    before = len(live.slack.response_url_posts())
    live.driver.block_action(REP, "gmail_disconnect_confirm", value=confirm["value"], channel_id=dm,
                             message=prompt)
    live.slack.wait_for(lambda: any("Disconnected" in (p.get("text") or "")
                                    for p in live.slack.response_url_posts()[before:]), timeout=15)
    with session_scope(live.engine) as session:
        keys = [row.key for row in session.exec(select(ProcessedSlackRequest)).all()]
        assert session.exec(select(Alert)).all() == []
    assert keys and not [k for k in keys if gmail_id in k]
