"""Sending mail (SPEC F6): `/email` with its validation errors, a reply from an email's detail and from an alert —
threaded, to the Reply-To — sending refused to anyone but the mailbox owner, a grant without gmail.send, and
Gmail's sending limits turned into words."""
from __future__ import annotations

import json

from crm_store.db import session_scope
from crm_store.models import AccountStatus, GmailAccount
from gmail.config import GMAIL_MODIFY_SCOPE
from handlers.blocks.compose import BODY_BLOCK, COMPOSE_CALLBACK, SUBJECT_BLOCK, TO_BLOCK
from handlers.blocks.ids import ActionId
from sandbox.gmail_emulator import Fault
from tests.support.slack import account_of, shown_text
from tests.support.contact_world import (
    CONTACTS,
    DEALS,
    JANE,
    buttons,
    contact_command,
    ephemeral_of,
    mail_from_jane,
    open_email,
    open_values,
)
from testsupport.stack import REP, REP_GMAIL, TEAM
from tests.support.compose import dm_texts, reply_from_detail, submit

COLLEAGUE = "U200COL"


def email_command(stack, text: str, user: str = REP):
    """`/email <text>`: the compose modal it opened, or its ephemeral answer."""
    before = len(stack.slack.view_calls)
    response = stack.driver.slash_command(user, "/email", text)
    assert response.status == 200

    def answered():
        opened = [c for c in stack.slack.view_calls[before:] if c["method"] == "views.open"]
        return opened or stack.slack.response_url_posts(response.response_url)

    result = stack.slack.wait_for(answered, timeout=15)[-1]
    return result.get("view") or result


def test_email_command_validates_inside_the_modal_then_sends_to_the_chosen_address(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    view = email_command(stack, "Jane Doe")
    assert view["callback_id"] == COMPOSE_CALLBACK and view["title"]["text"] == "New email"
    to_select = next(b for b in view["blocks"] if b.get("block_id") == TO_BLOCK)["element"]
    assert [o["value"] for o in to_select["options"]] == [JANE, "jane.doe@acme-holdings.example"]

    errors = submit(stack, view, to=JANE, subject="", body="   ")
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {SUBJECT_BLOCK, BODY_BLOCK}
    forged = submit(stack, view, to="ceo@competitor.example", subject="Hi", body="Hello")
    assert forged["response_action"] == "errors" and TO_BLOCK in forged["errors"]
    assert stack.gmail.sent_messages(REP_GMAIL) == []

    assert submit(stack, view, to="jane.doe@acme-holdings.example", subject="Proposal", body="Here it is.") is None
    sent = stack.slack.wait_for(lambda: stack.gmail.sent_messages(REP_GMAIL), timeout=10)[-1]
    assert sent["to"] == "Jane Doe <jane.doe@acme-holdings.example>" and sent["subject"] == "Proposal"
    assert sent["from"] == REP_GMAIL and sent["body"].strip() == "Here it is." and "SENT" in sent["labelIds"]
    confirmation = stack.slack.wait_for(lambda: [t for t in dm_texts(stack) if "Sent your email" in t])[-1]
    assert "jane.doe@acme-holdings.example" in confirmation and "https://mail.google.com/" in confirmation


def test_email_command_for_several_contacts_offers_all_their_addresses(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    view = email_command(stack, "doe")
    options = next(b for b in view["blocks"] if b.get("block_id") == TO_BLOCK)["element"]["options"]
    assert {o["value"] for o in options} == {JANE, "jane.doe@acme-holdings.example", "john@doe-industries.example"}
    answer = email_command(stack, "Nobody Atall")
    assert "No CRM contact matches" in shown_text(answer)
    assert "/email <contact" in shown_text(email_command(stack, ""))


def test_a_reply_from_the_detail_reaches_the_reply_to_threaded(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    original = stack.gmail.insert_message(
        REP_GMAIL, sender=f"Jane Doe <{JANE}>", to=REP_GMAIL, subject="Pricing for 2027",
        body="Please answer my assistant.", message_id_header="<pricing-2@acme.example>",
        extra_headers={"Reply-To": "Jane's Assistant <assistant@acme.example>",
                       "References": "<pricing-1@acme.example>"})
    post = contact_command(stack, JANE)
    value = open_values(post)[0]
    detail = open_email(stack, REP, json.dumps(value), message=ephemeral_of(stack, REP, post))
    assert "Please answer my assistant." in shown_text(detail)  # the owner reads the body
    assert buttons(detail, ActionId.EMAIL_REPLY.value) and buttons(detail, ActionId.EMAIL_OPEN_GMAIL.value)
    compose = reply_from_detail(stack, REP, value, detail)
    assert compose["title"]["text"] == "Reply" and "assistant@acme.example" in shown_text(compose)
    assert submit(stack, compose, subject="Re: Pricing for 2027", body="Happy to help.") is None
    sent = stack.slack.wait_for(lambda: stack.gmail.sent_messages(REP_GMAIL), timeout=10)[-1]
    headers = sent["headers"]
    assert sent["to"] == "Jane's Assistant <assistant@acme.example>"  # Reply-To, not Jane's primary address
    assert headers["In-Reply-To"] == "<pricing-2@acme.example>"
    assert headers["References"] == "<pricing-1@acme.example> <pricing-2@acme.example>"
    assert sent["threadId"] == stack.gmail.message(REP_GMAIL, original)["threadId"]
    stack.slack.wait_for(lambda: [t for t in dm_texts(stack) if "Sent your reply to" in t])


def test_the_alert_reply_uses_the_same_modal_and_threading(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.gmail.insert_message(REP_GMAIL, sender=f"Jane Doe <{JANE}>", to=REP_GMAIL, subject="Quick one",
                              body="?", message_id_header="<quick@acme.example>")
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    alert = [m for m in live.slack.messages(dm) if m.get("metadata")][-1]
    reply = next(e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == "alert_reply")
    live.driver.block_action(REP, "alert_reply", value=reply["value"], channel_id=dm, message=alert)
    compose = live.slack.wait_for(lambda: [c for c in live.slack.view_calls if c["method"] == "views.update"],
                                  timeout=15)[-1]["view"]
    assert compose["callback_id"] == COMPOSE_CALLBACK and "Re: Quick one" in json.dumps(compose)
    assert submit(live, compose, subject="Re: Quick one", body="Yes.") is None
    sent = live.slack.wait_for(lambda: live.gmail.sent_messages(REP_GMAIL), timeout=10)[-1]
    assert sent["to"] == f"Jane Doe <{JANE}>" and sent["headers"]["In-Reply-To"] == "<quick@acme.example>"
    live.slack.wait_for(lambda: [t for t in dm_texts(live) if "Sent your reply to" in t])


def test_only_the_mailbox_owner_sends_from_it(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    stack.update_mailbox(sharing="public", sharing_depth="full")
    mail_from_jane(stack, "Shared with the team", body="Opening line. " + "filler " * 60 + "Closing secret.")
    post = contact_command(stack, JANE, user=COLLEAGUE)
    value = open_values(post)[0]
    detail = open_email(stack, COLLEAGUE, json.dumps(value), message=ephemeral_of(stack, COLLEAGUE, post))
    assert "Shared with the team" in shown_text(detail) and "Opening line." in shown_text(detail)  # full: snippet
    assert "Closing secret" not in shown_text(detail)  # never the body
    assert not buttons(detail, ActionId.EMAIL_REPLY.value) and not buttons(detail, ActionId.EMAIL_OPEN_GMAIL.value)
    # A forged Reply click on the rep's email, and a forged submission naming the rep's mailbox.
    refused = reply_from_detail(stack, COLLEAGUE, value, detail)
    assert f"Only <@{REP}> can do that" in shown_text(refused)
    forged = {"type": "modal", "callback_id": COMPOSE_CALLBACK, "blocks": [{"type": "input", "block_id": BODY_BLOCK}],
              "private_metadata": json.dumps({"a": value["a"], "g": value["g"]})}
    answer = submit(stack, forged, user=COLLEAGUE, subject="Re: hi", body="Sent as the rep?")
    assert answer["response_action"] == "errors" and f"Only <@{REP}>" in answer["errors"][BODY_BLOCK]
    assert stack.gmail.sent_messages(REP_GMAIL) == []


def without_send_scope(stack) -> None:
    cipher = stack.services.cipher
    with session_scope(stack.engine) as session:
        account = session.get(GmailAccount, account_of(stack).id)
        data = cipher.decrypt(account.encrypted_credentials)
        data["scopes"] = [GMAIL_MODIFY_SCOPE]
        account.encrypted_credentials = cipher.encrypt(data)
        session.add(account)


def test_a_grant_without_gmail_send_is_asked_to_reconnect_and_not_revoked(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "Can you answer?")
    without_send_scope(stack)
    answer = email_command(stack, JANE)
    assert "may not send from" in shown_text(answer) and "/gmail connect" in shown_text(answer)
    post = contact_command(stack, JANE)  # reading still works
    value = open_values(post)[0]
    detail = open_email(stack, REP, json.dumps(value), message=ephemeral_of(stack, REP, post))
    refused = reply_from_detail(stack, REP, value, detail)
    assert "may not send from" in shown_text(refused)
    assert stack.gmail.sent_messages(REP_GMAIL) == []
    assert account_of(stack).status == AccountStatus.CONNECTED.value


def test_gmail_sending_limits_become_a_clear_message(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    view = email_command(stack, JANE)
    stack.gmail.add_fault(Fault(method="gmail.users.messages.send", status=403, reason="dailyLimitExceeded", count=1))
    assert submit(stack, view, to=JANE, subject="Today", body="Hello") is None
    refusal = stack.slack.wait_for(lambda: [t for t in dm_texts(stack) if "sending limit" in t], timeout=10)[-1]
    assert "Nothing was sent" in refusal
    # A per-user rate limit that does not lift: retried (nothing went out), then the same clear message.
    stack.gmail.add_fault(Fault(method="gmail.users.messages.send", status=429, rate=1.0))
    view = email_command(stack, JANE)
    assert submit(stack, view, to=JANE, subject="Again", body="Hello") is None
    stack.slack.wait_for(lambda: len([t for t in dm_texts(stack) if "sending limit" in t]) == 2, timeout=15)
    assert stack.gmail.sent_messages(REP_GMAIL) == []
    assert account_of(stack).status == AccountStatus.CONNECTED.value
    stack.gmail.clear_faults()
    view = email_command(stack, JANE)
    assert submit(stack, view, to=JANE, subject="Finally", body="Hello") is None
    assert stack.slack.wait_for(lambda: stack.gmail.sent_messages(REP_GMAIL))[-1]["subject"] == "Finally"
    stack.slack.wait_for(lambda: [t for t in dm_texts(stack) if "Sent your email" in t])
