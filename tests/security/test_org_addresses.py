"""THREATS.md, "whoever writes CRM data": a contact whose address is the organisation's own (a connected
mailbox, a CRM user's email or secondary email, an allowed alias) would turn "emails with this contact" into
a rep's whole mailbox and alert on every colleague's email. Replayed through the running stack: the ingest API
over HTTP with a real key, a CSV file through the CLI, Zoho through its emulator, and mail through the Gmail
emulator and serve's jobs. SPEC §5 "What a view may list"."""
from __future__ import annotations

import json
import logging

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Contact, CrmUser
from sandbox.zoho_emulator import ZohoEmulator
from tests.support.alerts import alerts_in
from tests.support.cli import run_cli
from tests.support.ingest import metric, put
from tests.support.slack import shown_text
from tests.support.contact_world import contact_command
from testsupport.stack import REP, REP_EMAIL, REP_GMAIL, TEAM, start_stack
from usecases.crm import create_api_key, sync_zoho

JANE = {"email": "jane@acme.example", "first_name": "Jane", "company": "Acme", "external_id": "C-JANE"}
ORGANISATION = "the organisation's own address"


def contact_emails(stack) -> set[str]:
    with session_scope(stack.engine) as session:
        return set(session.exec(select(Contact.email)).all())


def crm_user_emails(stack) -> set[str]:
    with session_scope(stack.engine) as session:
        return set(session.exec(select(CrmUser.email)).all())


# -- the three entries refuse the organisation's addresses ---------------------------------------------------


def test_the_ingest_api_refuses_a_contact_with_a_reps_own_address_and_writes_nothing(stack):
    stack.add_rep()
    stack.connect()  # REP_GMAIL is a connected mailbox (and the alias an admin allowed), REP_EMAIL a CRM user's
    key = create_api_key(stack.services, "crm-webhook")
    users_before = crm_user_emails(stack)
    records = [
        JANE,
        {"email": REP_GMAIL, "first_name": "Not", "last_name": "A customer", "owner_email": "mallory@crm.example"},
        {"email": "partner@globex.example", "secondary_email": REP_EMAIL.upper(), "external_id": "C-SNEAKY"},
    ]
    status, answer = put(stack, "contacts", records, key)

    assert status == 422
    problems = [(p["index"], p["field"]) for p in answer["problems"]]
    assert problems == [(1, "email"), (2, "secondary_email")]
    assert all(ORGANISATION in p["reason"] for p in answer["problems"])
    # All or nothing: not Jane, not the contacts, not even the owner the refused record named.
    assert contact_emails(stack) == set()
    assert crm_user_emails(stack) == users_before

    # The same contacts without the organisation's addresses go in.
    status, answer = put(stack, "contacts", [JANE, {**records[2], "secondary_email": None}], key)
    assert status == 200 and answer["created"] == 2


def test_the_ingest_api_refuses_an_update_that_gives_a_contact_a_crm_users_address(stack):
    stack.add_rep()
    key = create_api_key(stack.services, "crm-webhook")
    assert put(stack, "contacts", [JANE], key)[0] == 200
    status, answer = put(stack, "contacts", [{**JANE, "secondary_email": REP_EMAIL}], key)
    assert status == 422
    assert [(p["index"], p["field"]) for p in answer["problems"]] == [(0, "secondary_email")]
    with session_scope(stack.engine) as session:
        assert session.exec(select(Contact.secondary_email)).one() is None


def test_a_csv_import_skips_a_reps_own_address_and_names_the_line_and_column(stack, database_url, tmp_path):
    stack.add_rep()
    stack.connect()
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "email,secondary_email,first_name,company,owner_email\n"
        "jane@acme.example,,Jane,Acme,owner@crm.example\n"
        f"{REP_GMAIL},,Rep,Ourselves,owner@crm.example\n"
        f"bob@globex.example,{REP_EMAIL},Bob,Globex,\n"
    )
    # No --skip-invalid: such a row is not bad data, it is simply not a contact (README, CRM import).
    result = run_cli(database_url, "import", "contacts", str(contacts))

    assert result.returncode == 0, result.stderr
    assert "1 created" in result.stdout and "2 skipped" in result.stdout
    lines = result.stderr.splitlines()
    assert any(line.startswith("line 3, column email:") and ORGANISATION in line for line in lines), lines
    assert any(line.startswith("line 4, column secondary_email:") and ORGANISATION in line for line in lines), lines
    assert contact_emails(stack) == {"jane@acme.example"}


@pytest.fixture
def zoho():
    with ZohoEmulator() as emulator:
        emulator.register_client("1000.ORG", "org-secret")
        yield emulator


def test_the_zoho_sync_skips_a_reps_own_address_counts_it_and_logs_no_address(database_url, zoho, caplog):
    stack = start_stack(database_url, zoho_client_id="1000.ORG", zoho_client_secret="org-secret",
                        zoho_refresh_token=zoho.issue_refresh_token("1000.ORG"), zoho_accounts_url=zoho.accounts_url,
                        zoho_api_url=zoho.api_url)
    try:
        stack.add_rep()
        stack.connect()
        zoho.add_contact("jane@acme.example", first_name="Jane", company="Acme")
        own = zoho.add_contact(REP_GMAIL, first_name="Rep", company="Ourselves")
        zoho.add_contact("bob@globex.example", first_name="Bob", secondary_email=REP_EMAIL)
        counted_before = metric(stack, 'mailmagnet_crm_records_total{kind="contacts",result="skipped_organisation"')

        with caplog.at_level(logging.INFO):
            result = sync_zoho(stack.services)

        assert result.ok, result.reason
        contacts = result.modules["Contacts"]
        assert contacts.created == 1 and contacts.skipped == 2 and contacts.skipped_organisation == 2
        reported = {(p.record_id, p.field) for p in contacts.problems}
        assert (own, "Email") in reported and len(reported) == 2
        assert all(ORGANISATION in p.reason for p in contacts.problems)
        assert "2 the organisation's own" in result.summary()
        assert contact_emails(stack) == {"jane@acme.example"}
        assert metric(stack, 'mailmagnet_crm_records_total{kind="contacts",result="skipped_organisation"') \
            == counted_before + 2
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "skipped" in logged
        assert REP_GMAIL not in logged and REP_EMAIL not in logged  # the log says why, never whose address
    finally:
        stack.stop()


# -- a contact that becomes the organisation's address later stops matching ---------------------------------

COLLEAGUE = "sam@crm.example"
CONTACTS = (
    "email,first_name,last_name,company,external_id\n"
    f"{COLLEAGUE},Sam,Lee,Old Customer Inc,C-SAM\n"
    "jane@acme.example,Jane,Doe,Acme,C-JANE\n"
)
DEALS = (
    "name,contact_external_id,stage,closing_date,external_id\n"
    "Old deal,C-SAM,Negotiation,2099-03-01,D-SAM\n"
    "Acme renewal,C-JANE,Negotiation,2099-01-15,D-JANE\n"
)


def test_a_contact_who_became_a_crm_user_raises_no_alert_and_is_not_filed(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    dm = live.slack.dm_channel(TEAM, REP)
    before = live.mail(f"Sam Lee <{COLLEAGUE}>", "Before Sam joined us")
    live.run("sync")
    live.run("labels")
    assert len(alerts_in(live, dm)) == 1  # a customer then: alerted and filed
    assert "Open Deals" in live.gmail.label_names(REP_GMAIL, before)

    # Sam joins the sales team: the CRM now names him as a deal owner, which makes him a CRM user.
    key = create_api_key(live.services, "crm-webhook")
    status, _ = put(live, "deals", [{"name": "Acme renewal", "contact_external_id": "C-JANE", "stage": "Negotiation",
                                     "closing_date": "2099-01-15", "owner_email": COLLEAGUE,
                                     "external_id": "D-JANE"}], key)
    assert status == 200 and COLLEAGUE in crm_user_emails(live)

    colleague_mail = live.mail(f"Sam Lee <{COLLEAGUE}>", "HR: your disciplinary hearing")
    # His old contact's deal is won meanwhile: a category change that would move his filed mail.
    assert put(live, "deals", [{"name": "Old deal", "contact_external_id": "C-SAM", "stage": "Closed Won",
                                "external_id": "D-SAM"}], key)[0] == 200
    live.run("sync")
    live.run("labels")

    alerts = alerts_in(live, dm)
    assert len(alerts) == 1, [a["text"] for a in alerts]  # no alert for a colleague's email
    assert "HR: your disciplinary hearing" not in json.dumps([a.get("blocks") for a in alerts])
    labels = live.gmail.label_names(REP_GMAIL, colleague_mail)
    assert "INBOX" in labels and not labels & {"Deals Closing This Month", "Open Deals", "Customers"}
    # What was filed while Sam was a customer stays where it is: neither moved to Customers nor put back.
    assert live.gmail.label_names(REP_GMAIL, before) & {"Open Deals", "Customers", "INBOX"} == {"Open Deals"}

    why = shown_text(live.command(REP, f"why {COLLEAGUE}"))
    assert ORGANISATION in why
    assert "left it where it was" in why and "filed under Open Deals" in why  # the new email, then the old one
    found = shown_text(contact_command(live, COLLEAGUE))
    assert "No CRM contact matches" in found and "Old Customer Inc" not in found


def test_mailmagnet_explain_says_a_connected_mailbox_is_the_organisations_own(live, database_url):
    live.add_rep()
    live.import_crm(f"email,first_name\n{COLLEAGUE},Sam\n")
    live.add_rep("U300SAM", COLLEAGUE, gmail="sam.lee@gmail.example")
    live.connect("U300SAM", "sam.lee@gmail.example")
    for sender in (COLLEAGUE, "Sam <SAM.LEE@gmail.example>"):
        explained = run_cli(database_url, "explain", sender, "--json")
        assert explained.returncode == 0, explained.stderr
        answer = json.loads(explained.stdout)
        assert answer["contact"] is None and answer["category"] is None
        assert ORGANISATION in answer["reason"], answer
