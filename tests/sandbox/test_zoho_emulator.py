"""The Zoho CRM emulator over real HTTP (plain `requests`, as a Zoho client would call it)."""
from __future__ import annotations

from datetime import timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
import requests

from sandbox.zoho_emulator import Fault, ZohoEmulator
from tests.support.zoho_emulator import CLIENT_ID, CLIENT_SECRET, START, get, grant
from tests.support.zoho_emulator import auth, zoho  # noqa: F401 - fixtures

CONTACT_FIELDS = "Email,Secondary_Email,First_Name,Last_Name,Account_Name,Phone,Owner,Modified_Time"


def contacts(zoho, count, step=1):
    ids = []
    for n in range(count):
        ids.append(zoho.add_contact(f"person{n}@acme.example", first_name=f"P{n}", company="Acme"))
        zoho.advance(step)
    return ids


# --------------------------------------------------------------------------- OAuth


def test_refresh_token_grant_answers_like_zoho_accounts(zoho):
    response = grant(zoho)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "scope", "api_domain", "token_type", "expires_in"}
    assert (body["api_domain"], body["token_type"], body["expires_in"]) == (zoho.api_url, "Bearer", 3600)

    # Zoho answers a refused grant with HTTP 200 and an error field.
    assert grant(zoho, client_secret="wrong").json() == {"error": "invalid_client"}
    assert grant(zoho, refresh_token="1000.unknown").json() == {"error": "invalid_code"}
    revoked = zoho.issue_refresh_token(CLIENT_ID)
    zoho.revoke_refresh_token(revoked)
    assert grant(zoho, refresh_token=revoked).json() == {"error": "invalid_code"}
    assert grant(zoho, grant_type="authorization_code").json() == {"error": "unsupported_grant_type"}
    # The parameters may also come in the query string, as Zoho's own examples send them.
    query = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "refresh_token": zoho.issue_refresh_token(CLIENT_ID)}
    assert "access_token" in requests.post(zoho.token_url, params=query, timeout=10).json()


def test_access_tokens_are_checked_and_expire(zoho, auth):
    assert get(zoho, "Contacts", auth, fields="Email").status_code == 204
    missing = get(zoho, "Contacts", {}, fields="Email")
    assert (missing.status_code, missing.json()["code"]) == (401, "AUTHENTICATION_FAILURE")
    wrong = get(zoho, "Contacts", {"Authorization": "Zoho-oauthtoken 1000.nope"}, fields="Email")
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
    zoho.advance(3601)
    assert get(zoho, "Contacts", auth, fields="Email").json()["code"] == "INVALID_TOKEN"
    fresh = {"Authorization": f"Zoho-oauthtoken {grant(zoho).json()['access_token']}"}
    zoho.expire_access_tokens()
    assert get(zoho, "Contacts", fresh, fields="Email").status_code == 401


# --------------------------------------------------------------------------- records


def test_records_carry_zoho_shapes_and_only_the_fields_asked(zoho, auth):
    ana = zoho.add_contact("Ana.Lima@acme.example", first_name="Ana", last_name="Lima", company="Acme",
                           phone="+1 555 0101", secondary_email="ana@acme-group.example", owner="rep@sales.example")
    zoho.advance(5)
    deal = zoho.add_deal("Acme renewal", stage="Negotiation", contact_id=ana, closing_date="2026-11-28",
                         amount=48000.5, owner="rep@sales.example")

    [record] = get(zoho, "Contacts", auth, fields=CONTACT_FIELDS).json()["data"]
    assert record["id"] == ana and record["Email"] == "Ana.Lima@acme.example"
    assert record["Account_Name"]["name"] == "Acme" and record["Account_Name"]["id"].isdigit()
    assert record["Owner"] == {"name": "Rep", "id": record["Owner"]["id"], "email": "rep@sales.example"}
    assert record["Modified_Time"] == "2026-11-20T12:00:00+00:00"
    [deal_record] = get(zoho, "Deals", auth, fields="Deal_Name,Contact_Name,Amount").json()["data"]
    assert deal_record == {"id": deal, "Deal_Name": "Acme renewal", "Contact_Name": {"name": "Ana Lima", "id": ana},
                           "Amount": 48000.5}

    missing = get(zoho, "Contacts", auth)
    assert (missing.status_code, missing.json()["code"], missing.json()["details"]) == (
        400, "REQUIRED_PARAM_MISSING", {"param_name": "fields"})
    assert get(zoho, "Widgets", auth, fields="Email").json()["code"] == "INVALID_MODULE"
    assert get(zoho, "Contacts", auth, fields="Email", per_page=201).json()["details"] == {"param_name": "per_page"}


def test_timestamps_follow_the_organisation_time_zone():
    with ZohoEmulator(org_timezone=timezone(timedelta(hours=5, minutes=30))) as zoho:
        zoho.register_client(CLIENT_ID, CLIENT_SECRET)
        zoho.set_time(START)
        zoho.add_contact("a@example.com")
        headers = {"Authorization": f"Zoho-oauthtoken {grant(zoho).json()['access_token']}"}
        [record] = get(zoho, "Contacts", headers, fields="Modified_Time").json()["data"]
        assert record["Modified_Time"] == "2026-11-20T17:30:00+05:30"


def test_page_tokens_page_through_a_sorted_listing(zoho, auth):
    ids = contacts(zoho, 5)
    seen, token, pages = [], None, []
    while True:
        params = {"fields": "Email,Modified_Time", "per_page": 2, "sort_by": "Modified_Time", "sort_order": "asc"}
        if token:
            params["page_token"] = token
        body = get(zoho, "Contacts", auth, **params).json()
        pages.append(body["info"])
        seen += [record["id"] for record in body["data"]]
        if not body["info"]["more_records"]:
            break
        token = body["info"]["next_page_token"]
    assert seen == ids
    assert [(info["count"], info["more_records"]) for info in pages] == [(2, True), (2, True), (1, False)]
    first = pages[0]
    assert (first["per_page"], first["sort_by"], first["sort_order"], first["page_token"]) == (
        2, "Modified_Time", "asc", None)
    assert first["page_token_expiry"] == "2026-11-21T12:00:05+00:00"
    assert pages[1]["page_token"] == pages[0]["next_page_token"]
    assert pages[2]["next_page_token"] is None and pages[2]["page_token_expiry"] is None

    # Default order: id, newest first. Page numbers work up to the 2,000th record.
    assert [r["id"] for r in get(zoho, "Contacts", auth, fields="Email").json()["data"]] == ids[::-1]
    assert get(zoho, "Contacts", auth, fields="Email", page=2, per_page=2).json()["data"][0]["id"] == ids[2]
    assert get(zoho, "Contacts", auth, fields="Email", page=11, per_page=200).json()["code"] == \
        "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert get(zoho, "Contacts", auth, fields="Email", page=1, page_token=token).json()["code"] == \
        "AMBIGUITY_DURING_PROCESSING"

    # A page token lasts a day.
    zoho.advance(86400)
    auth = {"Authorization": f"Zoho-oauthtoken {grant(zoho).json()['access_token']}"}  # an hour, that one
    expired = get(zoho, "Contacts", auth, fields="Email", page_token=token)
    assert (expired.status_code, expired.json()["code"], expired.json()["details"]) == (
        400, "INVALID_DATA", {"param_name": "page_token"})


def test_a_page_token_continues_after_its_last_record_when_records_change_between_pages(zoho, auth):
    """The listing's order is kept between pages; an edit or a delete between two pages must still be
    seen by the next page, as in a keyset (an edited record moves along in Modified_Time order)."""
    ids = contacts(zoho, 6)
    params = {"fields": "Email", "per_page": 2, "sort_by": "Modified_Time", "sort_order": "desc"}
    first = get(zoho, "Contacts", auth, **params).json()
    assert [r["id"] for r in first["data"]] == [ids[5], ids[4]]
    zoho.delete_record("Contacts", ids[3])
    zoho.edit_record("Contacts", ids[2], Phone="+1 555")  # now the newest: behind the token, not read again
    second = get(zoho, "Contacts", auth, fields="Email", per_page=2, page_token=first["info"]["next_page_token"]).json()
    assert [r["id"] for r in second["data"]] == [ids[1], ids[0]]
    assert second["info"]["more_records"] is False

    ascending = {**params, "sort_order": "asc"}
    first = get(zoho, "Contacts", auth, **ascending).json()
    assert [r["id"] for r in first["data"]] == [ids[0], ids[1]]
    zoho.edit_record("Contacts", ids[0], Phone="+1 556")  # moves past the token: read again at the end
    rest = get(zoho, "Contacts", auth, fields="Email", per_page=2, page_token=first["info"]["next_page_token"]).json()
    assert [r["id"] for r in rest["data"]] == [ids[4], ids[5]]
    last = get(zoho, "Contacts", auth, fields="Email", per_page=2, page_token=rest["info"]["next_page_token"]).json()
    # Same second as ids[2]'s edit: the id breaks the tie.
    assert [r["id"] for r in last["data"]] == [ids[0], ids[2]] and last["info"]["more_records"] is False


def test_if_modified_since_returns_what_changed_after_it(zoho, auth):
    ids = contacts(zoho, 3, step=10)  # modified at :00, :10, :20
    since = {"If-Modified-Since": "2026-11-20T12:00:10+00:00"}
    assert [r["id"] for r in get(zoho, "Contacts", auth, since, fields="Email").json()["data"]] == [ids[2]]
    # The same instant written in another zone.
    ist = {"If-Modified-Since": "2026-11-20T17:30:10+05:30"}
    assert [r["id"] for r in get(zoho, "Contacts", auth, ist, fields="Email").json()["data"]] == [ids[2]]

    nothing = get(zoho, "Contacts", auth, {"If-Modified-Since": "2026-11-20T12:00:20+00:00"}, fields="Email")
    assert (nothing.status_code, nothing.content) == (304, b"")
    zoho.advance(5)
    zoho.edit_record("Contacts", ids[0], Phone="+1 555")
    changed = get(zoho, "Contacts", auth, {"If-Modified-Since": "2026-11-20T12:00:20+00:00"},
                  fields="Phone,Modified_Time").json()["data"]
    assert changed == [{"id": ids[0], "Phone": "+1 555", "Modified_Time": "2026-11-20T12:00:35+00:00"}]
    bad = get(zoho, "Contacts", auth, {"If-Modified-Since": "yesterday"}, fields="Email")
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_DATA")
    assert get(zoho, "Deals", auth, fields="Deal_Name").status_code == 204


def test_deleted_records_list_recycled_and_permanent_deletes(zoho, auth):
    ids = contacts(zoho, 3)
    zoho.delete_record("Contacts", ids[0], by="admin@sales.example")
    zoho.advance(10)
    zoho.delete_record("Contacts", ids[1], permanent=True)

    body = get(zoho, "Contacts/deleted", auth, type="all").json()
    assert [item["id"] for item in body["data"]] == [ids[1], ids[0]]  # newest first
    recycled, permanent = body["data"][1], body["data"][0]
    assert recycled["type"] == "recycle" and recycled["display_name"] == "P0 person0"
    assert recycled["deleted_by"]["name"] == "Admin" and recycled["deleted_time"] == "2026-11-20T12:00:03+00:00"
    assert permanent == {"deleted_by": None, "id": ids[1], "display_name": None, "type": "permanent",
                         "created_by": None, "deleted_time": "2026-11-20T12:00:13+00:00"}
    assert body["info"] == {"per_page": 200, "count": 2, "page": 1, "more_records": False}
    assert [i["id"] for i in get(zoho, "Contacts/deleted", auth, type="recycle").json()["data"]] == [ids[0]]
    newer = get(zoho, "Contacts/deleted", auth, {"If-Modified-Since": "2026-11-20T12:00:03+00:00"}).json()
    assert [item["id"] for item in newer["data"]] == [ids[1]]
    paged = get(zoho, "Contacts/deleted", auth, per_page=1, page=1).json()
    assert paged["info"]["more_records"] is True
    assert get(zoho, "Contacts/deleted", auth, {"If-Modified-Since": "2026-11-20T12:00:13+00:00"}).status_code == 304
    assert get(zoho, "Deals/deleted", auth).status_code == 204
    assert get(zoho, "Contacts/deleted", auth, type="some").json()["details"] == {"param_name": "type"}
    # Deleted records are gone from the listing.
    assert [r["id"] for r in get(zoho, "Contacts", auth, fields="Email").json()["data"]] == [ids[2]]


# --------------------------------------------------------------------------- faults and calls


def test_injected_faults_answer_like_zoho(zoho, auth):
    zoho.inject(Fault(path="/crm/v7/Contacts", count=1, status=429, retry_after=7))
    limited = get(zoho, "Contacts", auth, fields="Email")
    assert limited.status_code == 429
    assert limited.json() == {"code": "TOO_MANY_REQUESTS", "details": {"retry_after": 7},
                              "message": "Rate limit exceeded. Please retry after the specified time.",
                              "status": "error"}
    assert limited.headers["Retry-After"] == "7" and limited.headers["X-RATELIMIT-REMAINING"] == "0"
    assert int(limited.headers["X-RATELIMIT-RESET"]) == int((START + timedelta(seconds=7)).timestamp() * 1000)
    assert get(zoho, "Contacts", auth, fields="Email").status_code == 204  # count=1: once

    zoho.inject(Fault(path="/crm/v7/*", count=1, status=401))
    assert get(zoho, "Deals", auth, fields="Deal_Name").json()["code"] == "INVALID_TOKEN"
    zoho.inject(Fault(path="/crm/v7/Deals", count=1, skip=1, status=500))
    assert get(zoho, "Deals", auth, fields="Deal_Name").status_code == 204  # skipped once
    assert get(zoho, "Deals", auth, fields="Deal_Name").json()["code"] == "INTERNAL_ERROR"
    zoho.inject(Fault(count=1, status="drop", when=lambda call: call["query"].get("per_page") == "3"))
    assert get(zoho, "Deals", auth, fields="Deal_Name", per_page=2).status_code == 204
    with pytest.raises(requests.ConnectionError):
        get(zoho, "Deals", auth, fields="Deal_Name", per_page=3)


def test_a_hostile_zoho_answers_what_the_test_says(zoho, auth):
    zoho.inject(Fault(path="/crm/v7/Contacts", count=1, status="answer",
                      answer=lambda call: {"data": 5, "info": {"next_page_token": call["query"].get("page_token")}}))
    broken = get(zoho, "Contacts", auth, fields="Email", page_token="made-up")
    assert broken.status_code == 200 and broken.json() == {"data": 5, "info": {"next_page_token": "made-up"}}
    assert zoho.calls_to("records", "Contacts")[-1].fault == "injected answer"

    huge = b'{"data": [], "pad": "' + b"x" * 3_000_000 + b'"}'
    zoho.inject(Fault(path="/crm/v7/Contacts", count=1, status="answer", answer=lambda call: huge, unsized=True))
    streamed = get(zoho, "Contacts", auth, fields="Email")
    assert "Content-Length" not in streamed.headers and streamed.content == huge
    with pytest.raises(ValueError):
        Fault(count=1, status="answer")


def test_calls_are_recorded_with_what_was_served(zoho, auth):
    ids = contacts(zoho, 3)
    zoho.reset_calls()
    first = get(zoho, "Contacts", auth, fields="Email", per_page=2, sort_by="Modified_Time", sort_order="asc").json()
    get(zoho, "Contacts", auth, {"If-Modified-Since": "2026-11-20T12:00:00+00:00"}, fields="Email", per_page=2,
        page_token=first["info"]["next_page_token"])

    calls = zoho.calls_to("records", "Contacts")
    assert [(c.status, c.record_ids) for c in calls] == [(200, tuple(ids[:2])), (200, (ids[2],))]
    assert calls[1].page_token == first["info"]["next_page_token"]
    assert calls[1].if_modified_since == "2026-11-20T12:00:00+00:00"
    assert zoho.served_ids("Contacts") == ids
    # The Date header is the emulator's clock, the one Modified_Time comes from.
    response = get(zoho, "Contacts", auth, fields="Email")
    assert parsedate_to_datetime(response.headers["Date"]) == zoho.now()
