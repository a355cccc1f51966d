"""Forged modal submissions: a modal's private_metadata names a mailbox and a message, and anyone can submit a view
with the callback id of ours and metadata of their choosing. A colleague, a guest and another workspace's admin
submit the compose modal (and its older callback) as if replying from the rep's mailbox, and the setup modal as if
it were the rep's: each gets the refusal in the modal — the answer to the submission itself, so nothing follows it —
and nothing is sent from the rep's Gmail or changed in the rep's settings. Through signed view_submission
payloads."""
from __future__ import annotations

import json

import pytest

from handlers.blocks.compose import (BODY_BLOCK, COMPOSE_CALLBACK, LEGACY_REPLY_CALLBACK, SUBJECT_BLOCK, TO_ACTION,
                                     TO_BLOCK)
from handlers.blocks.ids import FEATURE_LABELS, FEATURE_MAGNET, SETUP_ACTION, CallbackId, SetupField
from testsupport.stack import OTHER_TEAM, start_org_stack
from tests.support.slack import account_of
from tests.support.contact_world import CONTACTS, DEALS, JANE, mail_from_jane
from testsupport.stack import REP, REP_GMAIL, TEAM

COLLEAGUE, GUEST, FAR_ADMIN = "U200COL", "U404GST", "U2ADMIN"
ATTACKERS = {"colleague": (TEAM, COLLEAGUE), "guest": (TEAM, GUEST), "other workspace's admin": (OTHER_TEAM, FAR_ADMIN)}
ONLY_THE_OWNER = f"Only <@{REP}> can do that for their mailbox."
NOT_LINKED = "is not linked to a CRM user"


@pytest.fixture
def org(database_url):
    stack = start_org_stack(database_url)
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep()
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    stack.slack.add_user(TEAM, GUEST, email="guest@partner.example")
    stack.slack.add_user(OTHER_TEAM, FAR_ADMIN, email="it@initech.example", is_admin=True)
    stack.connect()
    stack.update_mailbox(sharing="private")
    stack.gmail_id = mail_from_jane(stack, "Renewal terms")
    yield stack
    stack.stop()


def compose_values(to: str = JANE) -> dict:
    return {SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": "Re: Renewal terms"}},
            BODY_BLOCK: {"body": {"type": "plain_text_input", "value": "Sent as the rep?"}},
            TO_BLOCK: {TO_ACTION: {"type": "static_select", "selected_option": {"value": to}}}}


@pytest.mark.parametrize("attacker", list(ATTACKERS))
@pytest.mark.parametrize("callback", [COMPOSE_CALLBACK, LEGACY_REPLY_CALLBACK])
def test_a_forged_compose_submission_sends_nothing_from_the_reps_mailbox(org, attacker, callback):
    team, user = ATTACKERS[attacker]
    account_id = org.account_id()
    for metadata in ({"a": account_id, "g": org.gmail_id}, {"a": account_id, "c": [1]}, {"a": account_id}):
        view = {"type": "modal", "callback_id": callback, "private_metadata": json.dumps(metadata),
                "blocks": [{"type": "input", "block_id": b} for b in (TO_BLOCK, SUBJECT_BLOCK, BODY_BLOCK)]}
        answer = org.driver_for(team).view_submission(user, view, values=compose_values())
        assert answer.status == 200
        # Handled: the submission's own answer is the refusal, shown in the modal; nothing runs after it.
        assert (answer.json or {}).get("response_action") == "errors", (attacker, metadata, answer.body)
        assert ONLY_THE_OWNER in " ".join(answer.json["errors"].values()), (attacker, metadata, answer.json)
    assert org.gmail.sent_messages(REP_GMAIL) == []


@pytest.mark.parametrize("attacker", list(ATTACKERS))
def test_a_forged_setup_submission_changes_nothing_of_the_reps(org, attacker):
    team, user = ATTACKERS[attacker]
    before = account_of(org)
    values = {SetupField.SHARING.value: {SETUP_ACTION: {"type": "radio_buttons",
                                                          "selected_option": {"value": "public"}}},
              SetupField.DEPTH.value: {SETUP_ACTION: {"type": "radio_buttons", "selected_option": {"value": "full"}}},
              SetupField.FEATURES.value: {SETUP_ACTION: {"type": "checkboxes", "selected_options": [
                  {"value": FEATURE_MAGNET}, {"value": FEATURE_LABELS}]}}}
    view = {"type": "modal", "callback_id": CallbackId.SETUP_MODAL.value,
            "private_metadata": json.dumps({"home": True, "account": org.account_id(), "address": REP_GMAIL}),
            "blocks": [{"type": "input", "block_id": field.value} for field in SetupField]}
    answer = org.driver_for(team).view_submission(user, view, values=values)
    assert answer.status == 200
    assert (answer.json or {}).get("response_action") == "errors", (attacker, answer.body)
    expected = "You have no Gmail connected" if attacker == "colleague" else NOT_LINKED  # theirs, not the rep's
    assert expected in " ".join(answer.json["errors"].values()), (attacker, answer.json)
    after = account_of(org)
    assert (after.sharing, after.sharing_depth, after.magnet_enabled, after.labels_enabled) == \
        (before.sharing, before.sharing_depth, before.magnet_enabled, before.labels_enabled)
