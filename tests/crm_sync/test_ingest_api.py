"""The ingest API's request handling (what `PUT /crm/v1/{contacts,deals}` answers), on both databases."""
from __future__ import annotations

import json

from sqlmodel import func, select

from crm_store.api_keys import create_key, revoke_key
from crm_store.db import session_scope
from crm_store.models import Contact, Deal
from crm_store.sources import crm_data_status
from crm_sync.ingest_api import MAX_REQUEST_BYTES, handle_ingest_request

CONTACTS = [{"external_id": "C-1", "email": "ana@acme.example", "first_name": "Ana"},
            {"external_id": "C-2", "email": "ben@globex.example"}]


def put(engine, kind, records, key):
    body = records if isinstance(records, bytes) else json.dumps(records).encode()
    return handle_ingest_request(engine, kind, authorization=f"Bearer {key}" if key else None, body=body)


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_request_is_answered_with_counts_and_the_same_body_twice_changes_nothing(engine):
    key = create_key(engine, "zapier")

    first = put(engine, "contacts", CONTACTS, key)
    deals = put(engine, "deals", [{"external_id": "D-1", "name": "Renewal", "contact_external_id": "C-1",
                                   "stage": "Proposal", "amount": 1200.5}], key)
    again = put(engine, "contacts", CONTACTS, key)

    assert (first.status, first.body) == (200, {"kind": "contacts", "created": 2, "updated": 0, "unchanged": 0,
                                                "deleted": 0, "skipped": 0})
    assert deals.status == 200 and deals.body["created"] == 1
    assert (again.status, again.body["unchanged"], again.body["created"], again.body["updated"]) == (200, 2, 0, 0)
    change = crm_data_status(engine).changes[-1]
    assert (change.source, change.kind, change.detail) == ("api", "contacts", "key zapier")


def test_bad_records_are_a_422_naming_each_and_nothing_is_written(engine):
    key = create_key(engine, "zapier")
    response = put(engine, "contacts", [{"email": "ok@example.com"}, {"email": "bob@"}, {"phone": "1"}], key)

    assert response.status == 422
    assert response.body["problems"] == [
        {"index": 1, "field": "email", "reason": "malformed email 'bob@'"},
        {"index": 2, "field": "email", "reason": "missing email"},
    ]
    assert count(engine, Contact) == 0
    not_a_list = put(engine, "deals", {"name": "x"}, key)
    assert (not_a_list.status, not_a_list.body["problems"]) == (
        422, [{"index": None, "field": None, "reason": "expected a JSON array of records"}])
    assert count(engine, Deal) == 0


def test_keys_size_and_json_are_checked_first(engine):
    key = create_key(engine, "zapier")
    for authorization in (None, "Bearer ", f"Basic {key}", "Bearer mm_unknown"):
        response = handle_ingest_request(engine, "contacts", authorization=authorization, body=b"[]")
        assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    revoke_key(engine, "zapier")
    assert put(engine, "contacts", CONTACTS, key).status == 401
    assert count(engine, Contact) == 0

    key = create_key(engine, "zapier")
    assert put(engine, "contacts", b"[" + b" " * MAX_REQUEST_BYTES + b"]", key).status == 413
    assert put(engine, "contacts", b"[{", key).status == 400
    assert put(engine, "contacts", "[]".encode("utf-16"), key).status == 400
    assert put(engine, "widgets", CONTACTS, key).status == 404


def test_leads_are_an_ingest_kind_and_refused_without_a_key_or_on_an_organisation_address(engine):
    key = create_key(engine, "zapier")
    lead = {"external_id": "L-1", "email": "pat@prospect.example", "lead_status": "New",
            "owner_email": "rep@sales.example"}
    assert put(engine, "leads", [lead], None).status == 401
    own = put(engine, "leads", [dict(lead, email="rep@sales.example")], key)
    assert own.status == 422 and own.body["problems"][0]["field"] == "email"
    assert count(engine, Contact) == 0
    created = put(engine, "leads", [lead], key)
    assert (created.status, created.body["kind"], created.body["created"]) == (200, "leads", 1)
    with session_scope(engine) as session:
        pat = session.exec(select(Contact)).one()
        assert pat.is_lead and pat.lead_status == "New"
    converted = put(engine, "leads", [dict(lead, converted_contact_external_id="C-9")], key)
    assert converted.status == 200 and converted.body["updated"] == 1
    with session_scope(engine) as session:
        pat = session.exec(select(Contact)).one()
        assert not pat.is_lead and pat.external_id == "C-9"
