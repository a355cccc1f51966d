"""The ingest API's request handling (what `PUT /crm/v1/{contacts,deals}` does before the route answers), on both
databases. The HTTP statuses are the route's: tests/bot/test_crm_ingest_route.py."""
from __future__ import annotations

import json

from sqlmodel import func, select

from crm_store.api_keys import create_key, revoke_key
from crm_store.db import session_scope
from crm_store.models import Contact, Deal
from crm_store.sources import crm_data_status
import pytest

from crm_store.records.results import MAX_REQUEST_BYTES
from crm_sync.ingest_api import IngestRefused, Refusal, ingest_request

CONTACTS = [{"external_id": "C-1", "email": "ana@acme.example", "first_name": "Ana"},
            {"external_id": "C-2", "email": "ben@globex.example"}]


def put(engine, kind, records, key):
    body = records if isinstance(records, bytes) else json.dumps(records).encode()
    return ingest_request(engine, kind, authorization=f"Bearer {key}" if key else None, body=body)


def refusal(engine, kind, body: bytes, authorization: str | None) -> Refusal:
    with pytest.raises(IngestRefused) as refused:
        ingest_request(engine, kind, authorization=authorization, body=body)
    return refused.value.refusal


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_request_is_answered_with_counts_and_the_same_body_twice_changes_nothing(engine):
    key = create_key(engine, "zapier")

    first = put(engine, "contacts", CONTACTS, key)
    deals = put(engine, "deals", [{"external_id": "D-1", "name": "Renewal", "contact_external_id": "C-1",
                                   "stage": "Proposal", "amount": 1200.5}], key)
    again = put(engine, "contacts", CONTACTS, key)

    assert (first.rejected, first.as_json()) == (False, {"kind": "contacts", "created": 2, "updated": 0,
                                                         "unchanged": 0, "deleted": 0, "skipped": 0})
    assert not deals.rejected and deals.created == 1
    assert (again.rejected, again.unchanged, again.created, again.updated) == (False, 2, 0, 0)
    change = crm_data_status(engine).changes[-1]
    assert (change.source, change.kind, change.detail) == ("api", "contacts", "key zapier")


def test_bad_records_are_rejected_naming_each_and_nothing_is_written(engine):
    key = create_key(engine, "zapier")
    result = put(engine, "contacts", [{"email": "ok@example.com"}, {"email": "bob@"}, {"phone": "1"}], key)

    assert result.rejected
    assert result.as_json()["problems"] == [
        {"index": 1, "field": "email", "reason": "malformed email 'bob@'"},
        {"index": 2, "field": "email", "reason": "missing email"},
    ]
    assert count(engine, Contact) == 0
    not_a_list = put(engine, "deals", {"name": "x"}, key)
    assert (not_a_list.rejected, not_a_list.as_json()["problems"]) == (
        True, [{"index": None, "field": None, "reason": "expected a JSON array of records"}])
    assert count(engine, Deal) == 0


def test_keys_size_and_json_are_checked_first(engine):
    key = create_key(engine, "zapier")
    for authorization in (None, "Bearer ", f"Basic {key}", "Bearer mm_unknown"):
        assert refusal(engine, "contacts", b"[]", authorization) is Refusal.UNAUTHORIZED
    revoke_key(engine, "zapier")
    assert refusal(engine, "contacts", json.dumps(CONTACTS).encode(), f"Bearer {key}") is Refusal.UNAUTHORIZED
    assert count(engine, Contact) == 0

    key = create_key(engine, "zapier")
    bearer = f"Bearer {key}"
    assert refusal(engine, "contacts", b"[" + b" " * MAX_REQUEST_BYTES + b"]", bearer) is Refusal.TOO_LARGE
    assert refusal(engine, "contacts", b"[{", bearer) is Refusal.NOT_JSON
    assert refusal(engine, "contacts", "[]".encode("utf-16"), bearer) is Refusal.NOT_JSON
    assert refusal(engine, "widgets", json.dumps(CONTACTS).encode(), bearer) is Refusal.UNKNOWN_KIND
    # An unknown kind is refused before the key is looked at, a bad body only after.
    assert refusal(engine, "contacts", b"[{", None) is Refusal.UNAUTHORIZED


def test_leads_are_an_ingest_kind_and_refused_without_a_key_or_on_an_organisation_address(engine):
    key = create_key(engine, "zapier")
    lead = {"external_id": "L-1", "email": "pat@prospect.example", "lead_status": "New",
            "owner_email": "rep@sales.example"}
    assert refusal(engine, "leads", json.dumps([lead]).encode(), None) is Refusal.UNAUTHORIZED
    own = put(engine, "leads", [dict(lead, email="rep@sales.example")], key)
    assert own.rejected and own.as_json()["problems"][0]["field"] == "email"
    assert count(engine, Contact) == 0
    created = put(engine, "leads", [lead], key)
    assert (created.rejected, created.kind, created.created) == (False, "leads", 1)
    with session_scope(engine) as session:
        pat = session.exec(select(Contact)).one()
        assert pat.is_lead and pat.lead_status == "New"
    converted = put(engine, "leads", [dict(lead, converted_contact_external_id="C-9")], key)
    assert not converted.rejected and converted.updated == 1
    with session_scope(engine) as session:
        pat = session.exec(select(Contact)).one()
        assert not pat.is_lead and pat.external_id == "C-9"
