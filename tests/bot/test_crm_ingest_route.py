"""CRM data through the real server: PUT /crm/v1/{contacts,deals} with bearer keys, the label job re-filing
what the API changed, `/gmail status` saying where CRM data came from, and the CLI's `crm` commands."""
from __future__ import annotations

import json


from crm_store.records.results import MAX_REQUEST_BYTES
from sandbox.zoho_emulator import ZohoEmulator
from tests.support.cli import run_cli
from tests.support.slack import shown_text
from testsupport.stack import REP, REP_GMAIL, http_get
from usecases.crm import create_api_key
from tests.support.ingest import crm_counts, metric, put, put_with_headers

JANE = {"email": "jane@acme.example", "first_name": "Jane", "last_name": "Doe", "company": "Acme",
        "external_id": "Z-C1"}
RENEWAL = {"name": "Acme renewal", "contact_external_id": "Z-C1", "stage": "Negotiation",
           "closing_date": "2099-01-15", "amount": "1000", "external_id": "Z-D1"}


CREATED = 'mailmagnet_crm_records_total{kind="contacts",result="created",source="api"}'
REFUSED = 'mailmagnet_crm_records_total{kind="contacts",result="unauthorized",source="api"}'
# Every ingest kind is counted under its own name, leads too; only a path that is no kind is "other".
LEADS_REFUSED = 'mailmagnet_crm_records_total{kind="leads",result="unauthorized",source="api"}'
UNKNOWN_KIND = 'mailmagnet_crm_records_total{kind="other",result="unknown_kind",source="api"}'


def test_keys_validation_and_idempotence_over_http(stack):
    created_before, refused_before = metric(stack, CREATED), metric(stack, REFUSED)
    leads_refused_before, unknown_before = metric(stack, LEADS_REFUSED), metric(stack, UNKNOWN_KIND)
    key = create_api_key(stack.services, "zapier")
    status, headers, answer = put_with_headers(stack, "contacts", [JANE], None)
    assert (status, headers["WWW-Authenticate"], answer["error"]) == (401, 'Bearer realm="mailmagnet-crm"',
                                                                     "unauthorized")
    assert put(stack, "contacts", [JANE], "mm_not-a-key")[0] == 401
    assert put(stack, "leads", [{**JANE, "lead_status": "New"}], "mm_not-a-key")[0] == 401
    assert crm_counts(stack) == (0, 0)

    status, answer = put(stack, "contacts", [JANE, {**JANE, "email": "not-an-email", "external_id": "Z-C2"}], key)
    assert status == 422
    assert [(p["index"], p["field"]) for p in answer["problems"]] == [(1, "email")]
    assert crm_counts(stack) == (0, 0)  # all or nothing

    status, answer = put(stack, "contacts", [JANE], key)
    assert status == 200 and answer["created"] == 1
    status, answer = put(stack, "contacts", [JANE], key)
    assert status == 200 and answer["created"] == 0 and answer["updated"] == 0 and answer["unchanged"] == 1
    assert put(stack, "contacts", b"[" * 50_000 + b"]" * 50_000, key)[0] == 400
    assert put(stack, "contacts", b"[{", key) == (400, {"error": "invalid_json", "message": (
        "the body is not JSON: Expecting property name enclosed in double quotes: line 1 column 3 (char 2)")})
    assert put(stack, "widgets", [JANE], key)[0] == 404
    too_large = b"[" + b" " * MAX_REQUEST_BYTES + b"]"
    assert put(stack, "contacts", too_large, key)[0] == 413

    assert metric(stack, CREATED) == created_before + 1
    assert metric(stack, REFUSED) == refused_before + 2
    assert metric(stack, LEADS_REFUSED) == leads_refused_before + 1
    assert metric(stack, UNKNOWN_KIND) == unknown_before + 1


def test_a_deal_won_through_the_api_refiles_the_contacts_mail(live):
    key = create_api_key(live.services, "crm-webhook")
    live.add_rep()
    assert put(live, "contacts", [JANE], key)[0] == 200
    assert put(live, "deals", [RENEWAL], key)[0] == 200
    live.connect_with_magnet(labels=True)
    gmail_id = live.mail("jane@acme.example", "About the renewal")
    live.run("labels")
    assert "Open Deals" in live.gmail.label_names(REP_GMAIL, gmail_id)

    assert put(live, "deals", [{**RENEWAL, "stage": "Closed Won"}], key)[0] == 200
    live.run("labels")
    labels = live.gmail.label_names(REP_GMAIL, gmail_id)
    assert "Customers" in labels and "Open Deals" not in labels and "INBOX" not in labels

    status = shown_text(live.command(REP, "status"))
    assert "CRM data last changed just now (CRM ingest API)" in status


def test_the_crm_cli_creates_and_revokes_keys_and_runs_the_zoho_sync(database_url):
    created = run_cli(database_url, "crm", "keys", "create", "zapier")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("mm_")
    assert run_cli(database_url, "crm", "keys", "create", "zapier").returncode != 0  # names are unique
    assert run_cli(database_url, "crm", "keys", "revoke", "zapier").returncode == 0
    assert run_cli(database_url, "crm", "keys", "revoke", "zapier").returncode != 0

    unconfigured = run_cli(database_url, "crm", "sync", "zoho")
    assert unconfigured.returncode != 0 and "ZOHO_CLIENT_ID" in unconfigured.stderr
    with ZohoEmulator() as zoho:
        zoho.register_client("1000.CLI", "cli-secret")
        ana = zoho.add_contact("ana@acme.example", first_name="Ana", company="Acme")
        zoho.add_deal("Acme renewal", stage="Negotiation", contact_id=ana, closing_date="2099-01-28", amount=48000)
        env = {"ZOHO_CLIENT_ID": "1000.CLI", "ZOHO_CLIENT_SECRET": "cli-secret",
               "ZOHO_REFRESH_TOKEN": zoho.issue_refresh_token("1000.CLI"), "ZOHO_ACCOUNTS_URL": zoho.accounts_url,
               "ZOHO_API_URL": zoho.api_url}
        synced = run_cli(database_url, "crm", "sync", "zoho", env=env)
        assert synced.returncode == 0, synced.stderr
        assert "contacts: 1 created" in synced.stdout and "deals: 1 created" in synced.stdout
        again = run_cli(database_url, "crm", "sync", "zoho", "--full", env=env)
        assert again.returncode == 0 and "0 created" in again.stdout
        explained = json.loads(run_cli(database_url, "explain", "ana@acme.example", "--json").stdout)
        assert explained["category"] == "Open Deals"
