"""Issue 16 point 8, hostile input through the running server: a lone surrogate in an ingest field, an amount
Python would read but a person would not write (`1_000`), an email whose Reply-To holds hundreds of addresses,
and an unauthenticated `/healthz` that must not say which host answers."""
from __future__ import annotations

import json
import os
import socket

import pytest

from handlers.blocks.ids import ActionId
from tests.support.ingest import crm_counts, put
from tests.support.slack import connected, rep, shown_text  # noqa: F401 - fixtures
from tests.support.contact_world import CONTACTS, DEALS, JANE, contact_command, ephemeral_of, open_email, open_values
from testsupport.stack import REP, REP_GMAIL, http_get
from usecases.crm import create_api_key

JANE_RECORD = {"email": JANE, "first_name": "Jane", "external_id": "S-1"}


def problems(answer: dict) -> list[tuple[int, str]]:
    return [(problem["index"], problem["field"]) for problem in answer.get("problems", [])]


# -- a lone surrogate ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, record, field", [
    ("contacts", {**JANE_RECORD, "first_name": "Jane \ud800"}, "first_name"),
    ("contacts", {**JANE_RECORD, "company": "\udfff"}, "company"),
    ("contacts", {**JANE_RECORD, "email": "jane\ud83d@acme.example"}, "email"),
    ("contacts", {**JANE_RECORD, "external_id": "S-\udc00"}, "external_id"),
    ("deals", {"name": "Renewal \ud800", "contact_email": JANE, "stage": "Proposal"}, "name"),
], ids=["first_name", "company", "email", "external_id", "deal name"])
def test_a_lone_surrogate_is_a_422_naming_the_field(stack, kind, record, field):
    key = create_api_key(stack.services, "surrogates")
    if kind == "deals":
        assert put(stack, "contacts", [JANE_RECORD], key)[0] == 200
    before = crm_counts(stack)
    # json.dumps writes the lone surrogate as the escape `\ud800`: valid JSON, not valid Unicode.
    status, answer = put(stack, kind, json.dumps([record]).encode(), key)
    assert status == 422, answer
    assert problems(answer) == [(0, field)]
    assert "Unicode" in answer["problems"][0]["reason"]
    assert crm_counts(stack) == before


# -- amounts as people write them ------------------------------------------------------------------------------

@pytest.mark.parametrize("amount", ["1_000", "1_000.50", "١٠٠٠", "1 000", "0x10"])
def test_an_amount_python_reads_but_nobody_writes_is_refused_with_the_reason(stack, amount):
    key = create_api_key(stack.services, "amounts")
    assert put(stack, "contacts", [JANE_RECORD], key)[0] == 200
    deal = {"name": "Renewal", "contact_email": JANE, "stage": "Proposal", "amount": amount}
    status, answer = put(stack, "deals", [deal], key)
    assert status == 422 and problems(answer) == [(0, "amount")]
    assert "expected a number like 1234.50" in answer["problems"][0]["reason"]
    assert crm_counts(stack) == (1, 0)
    assert put(stack, "deals", [{**deal, "amount": "1000.50"}], key)[0] == 200  # as a person writes it


# -- a Reply-To with hundreds of addresses ---------------------------------------------------------------------

def reply_modal(stack, reply_to: str) -> dict:
    stack.gmail.insert_message(REP_GMAIL, sender=f"Jane Doe <{JANE}>", to=REP_GMAIL, subject="Everyone",
                               body="Reply to all of us.", extra_headers={"Reply-To": reply_to})
    post = contact_command(stack, JANE)
    value = open_values(post)[0]
    detail = open_email(stack, REP, json.dumps(value), message=ephemeral_of(stack, REP, post))
    before = len(stack.slack.view_calls)
    stack.driver.block_action(REP, ActionId.EMAIL_REPLY.value, value=json.dumps(value), view=detail)
    call = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                         if c["method"] == "views.update"], timeout=15)[-1]
    failed = [c for c in stack.slack.calls_to("views.update") if not c.ok]
    assert failed == [], failed[-1].response  # Slack took the modal
    return call["view"]


def addresses(count: int) -> str:
    return ", ".join(f"p{n}@crowd.example" for n in range(count))


def test_a_reply_to_with_300_addresses_gets_a_clear_note_not_a_broken_modal(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    modal = reply_modal(stack, addresses(300))
    shown = shown_text(modal)
    assert "300 addresses" in shown and "Reply from Gmail" in shown
    assert not modal.get("submit")  # nothing to send from here


def test_a_reply_to_with_40_addresses_lists_a_few_and_says_how_many_more(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    modal = reply_modal(stack, addresses(40))
    shown = shown_text(modal)
    assert "p0@crowd.example" in shown and "p9@crowd.example" in shown
    assert "p10@crowd.example" not in shown and "and 30 more" in shown
    assert "all 40" in shown


# -- /healthz --------------------------------------------------------------------------------------------------

def test_healthz_names_no_host_and_no_process(live):
    status, _, body = http_get(f"{live.server.url}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert socket.gethostname() not in body and f":{os.getpid()}" not in body
