"""Issue 16 point 8, a hostile or broken Zoho, played by the Zoho emulator over real HTTP against the real sync
(on SQLite and PostgreSQL): it pages forever (fresh page tokens, or the same one again), answers JSON of the wrong
types anywhere, sends a 20 MB page, and names a foreign or plain-http `api_domain` to receive the access token.
Each run ends, says why, keeps its promise never to raise, reads no unbounded answer into memory, and moves the
cursor only past what it saw."""
from __future__ import annotations

import itertools
import tracemalloc
from datetime import timedelta

import pytest
import requests
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Contact, CrmSyncCursor
from crm_store.sources import crm_data_status
from crm_sync import ZohoClient, run_zoho_sync
from crm_sync.zoho_answers import parse_zoho_time
from sandbox.zoho_emulator import Fault
from tests.support.zoho_sync import client_for, config, make_config, sleeps, zoho  # noqa: F401 - fixtures

CONTACTS = "/crm/v7/Contacts"


def sync(engine, config, zoho, client_for, **kwargs):
    return run_zoho_sync(engine, config, clock=zoho.now, client=client_for(config), **kwargs)


def cursor(engine, name: str = "zoho:Contacts") -> CrmSyncCursor | None:
    with session_scope(engine) as session:
        return session.get(CrmSyncCursor, name)


def contact_json(zoho, n: int = 1, modified=None) -> dict:
    return {"id": str(4150868000000100000 + n), "Email": f"person{n}@acme.example", "Last_Name": f"P{n}",
            "Owner": None, "Modified_Time": zoho.format_time(modified or zoho.now())}


def listing_calls(zoho) -> int:
    return len(zoho.calls_to("records", "Contacts"))


# -- pages forever --------------------------------------------------------------------------------------------

def test_a_listing_that_never_ends_is_capped_and_the_cursor_stays_behind_what_was_seen(engine, zoho, client_for):
    config = make_config(zoho, max_pages_per_run=20)
    seen_at = zoho.now() - timedelta(minutes=5)
    fresh = (f"token-{n}" for n in itertools.count())
    zoho.inject(Fault(path=CONTACTS, count=300, status="answer", answer=lambda call: {
        "data": [contact_json(zoho, 1, seen_at)], "info": {"more_records": True, "next_page_token": next(fresh)}}))

    result = sync(engine, config, zoho, client_for)

    assert result.status == "failed" and "20 pages" in result.reason
    assert listing_calls(zoho) == 20
    stored = cursor(engine)
    assert stored.page_token is None  # the next run reads from `since` again, not into the same endless listing
    assert stored.since is not None and stored.since.replace(tzinfo=seen_at.tzinfo) <= seen_at
    assert "20 pages" in (stored.last_error or "") and "20 pages" in crm_data_status(engine).sync_error()


def test_a_page_token_handed_out_again_stops_the_run_at_once(engine, zoho, config, client_for):
    zoho.inject(Fault(path=CONTACTS, count=300, status="answer", answer=lambda call: {
        "data": [contact_json(zoho)], "info": {"more_records": True, "next_page_token": "the-same-one"}}))

    result = sync(engine, config, zoho, client_for)

    assert result.status == "failed" and "again" in result.reason
    assert listing_calls(zoho) == 2
    assert cursor(engine).page_token is None


def test_a_page_token_refused_after_every_page_does_not_loop(engine, zoho, config, client_for):
    """Zoho says "more" with a token it then refuses: the fallback to the cursor must not start over forever."""
    zoho.add_contact("real@acme.example")
    zoho.inject(Fault(path=CONTACTS, count=300, status="answer", when=lambda call: "page_token" not in call["query"],
                      answer=lambda call: {"data": [contact_json(zoho)],
                                           "info": {"more_records": True, "next_page_token": "unknown-to-zoho"}}))

    result = sync(engine, config, zoho, client_for)

    assert result.status == "failed" and "refused" in result.reason and listing_calls(zoho) == 2


def test_a_deleted_listing_that_never_ends_is_capped_and_its_cursor_stays(engine, zoho, client_for):
    config = make_config(zoho, max_pages_per_run=15)
    assert sync(engine, config, zoho, client_for).ok  # the first run opens the deleted streams
    before = cursor(engine, "zoho:Contacts:deleted").since
    zoho.inject(Fault(path=CONTACTS + "/deleted", count=300, status="answer", answer=lambda call: {
        "data": [{"id": call["query"].get("page", "1"), "type": "recycle",
                  "deleted_time": zoho.format_time(zoho.now())}],
        "info": {"more_records": True, "page": int(call["query"].get("page", 1))}}))

    result = sync(engine, config, zoho, client_for)

    assert result.status == "failed" and "15 pages" in result.reason
    assert len(zoho.calls_to("deleted", "Contacts")) == 15
    assert cursor(engine, "zoho:Contacts:deleted").since == before


# -- wrong JSON types anywhere --------------------------------------------------------------------------------

WRONG_LISTINGS = {
    "data is a number": lambda zoho, call: {"data": 5},
    "data is an object": lambda zoho, call: {"data": {"id": "1", "Email": "a@acme.example"}},
    "a record is a string": lambda zoho, call: {"data": ["record"]},
    "an id is an object": lambda zoho, call: {"data": [{**contact_json(zoho), "id": {"$oid": 1}}]},
    "an id is a list": lambda zoho, call: {"data": [{**contact_json(zoho), "id": [1]}]},
    "Modified_Time is prose": lambda zoho, call: {"data": [{**contact_json(zoho), "Modified_Time": "yesterday"}]},
    "Modified_Time is a number": lambda zoho, call: {"data": [{**contact_json(zoho), "Modified_Time": 17}]},
    "info is a list": lambda zoho, call: {"data": [contact_json(zoho)], "info": [True]},
    "more_records is a string": lambda zoho, call: {"data": [contact_json(zoho)],
                                                    "info": {"more_records": "false"}},
    "next_page_token is a number": lambda zoho, call: {"data": [contact_json(zoho)],
                                                       "info": {"more_records": True, "next_page_token": 7}},
    "page_token_expiry is prose": lambda zoho, call: {
        "data": [contact_json(zoho)],
        "info": {"more_records": True, "next_page_token": "t1", "page_token_expiry": "tomorrow"}},
    "the answer is a list": lambda zoho, call: [contact_json(zoho)],
    "the answer is a string": lambda zoho, call: "OK",
    "the answer is not JSON": lambda zoho, call: b"<html>Service unavailable</html>",
    "the answer nests deeper than Python recurses": lambda zoho, call: b"[" * 200_000 + b"]" * 200_000,
}


@pytest.mark.parametrize("answer", WRONG_LISTINGS.values(), ids=WRONG_LISTINGS.keys())
def test_a_listing_of_the_wrong_shape_is_a_recorded_failure(engine, zoho, config, client_for, answer):
    zoho.inject(Fault(path=CONTACTS, count=50, status="answer", answer=lambda call: answer(zoho, call)))

    result = sync(engine, config, zoho, client_for)  # never raises

    assert result.status == "failed" and "Zoho" in result.reason
    assert "Zoho" in (cursor(engine).last_error or "")
    with session_scope(engine) as session:
        assert session.exec(select(Contact)).all() == []


WRONG_DELETED = {
    "deleted_time is prose": {"data": [{"id": "1", "type": "recycle", "deleted_time": "just now"}],
                              "info": {"more_records": False}},
    "a deleted id is a list": {"data": [{"id": ["1"], "type": "recycle"}], "info": {"more_records": False}},
    "data is a string": {"data": "none", "info": {"more_records": False}},
}


@pytest.mark.parametrize("answer", WRONG_DELETED.values(), ids=WRONG_DELETED.keys())
def test_a_deleted_listing_of_the_wrong_shape_is_a_recorded_failure(engine, zoho, config, client_for, answer):
    assert sync(engine, config, zoho, client_for).ok
    zoho.inject(Fault(path=CONTACTS + "/deleted", count=5, status="answer", answer=lambda call: answer))

    result = sync(engine, config, zoho, client_for)

    assert result.status == "failed" and "Zoho" in result.reason
    assert "Zoho" in (cursor(engine, "zoho:Contacts:deleted").last_error or "")


WRONG_TOKENS = {
    "expires_in is prose": {"access_token": "t", "expires_in": "an hour", "api_domain": None},
    "access_token is an object": {"access_token": {"value": "t"}, "expires_in": 3600},
    "the answer is a list": ["access_token"],
}


@pytest.mark.parametrize("answer", WRONG_TOKENS.values(), ids=WRONG_TOKENS.keys())
def test_a_token_answer_of_the_wrong_shape_is_a_recorded_failure(engine, zoho, config, client_for, answer):
    zoho.inject(Fault(path="/oauth/v2/token", count=5, status="answer", answer=lambda call: answer))

    result = sync(engine, config, zoho, client_for)

    assert result.status == "failed" and "Zoho" in result.reason and listing_calls(zoho) == 0


def test_a_record_modified_in_the_future_does_not_carry_the_cursor_past_what_comes_next(engine, zoho, config,
                                                                                        client_for):
    zoho.inject(Fault(path=CONTACTS, count=1, status="answer", answer=lambda call: {
        "data": [contact_json(zoho, 1, zoho.now() + timedelta(days=3650))], "info": {"more_records": False}}))
    assert sync(engine, config, zoho, client_for).ok
    assert parse_zoho_time(cursor(engine).since.isoformat()) <= zoho.now()

    zoho.advance(60)
    zoho.add_contact("later@acme.example")  # modified now: after the cursor, however far the lie went
    zoho.advance(60)
    assert sync(engine, config, zoho, client_for).ok
    with session_scope(engine) as session:
        assert session.exec(select(Contact).where(Contact.email == "later@acme.example")).first() is not None


# -- a 20 MB page ---------------------------------------------------------------------------------------------

HUGE = b'{"data": [], "info": {"more_records": false}, "padding": "' + b" " * 20_000_000 + b'"}'


@pytest.mark.parametrize("unsized", [False, True], ids=["content-length", "streamed"])
def test_a_20_mb_page_is_refused_without_being_read_into_memory(engine, zoho, config, client_for, unsized):
    zoho.inject(Fault(path=CONTACTS, count=50, status="answer", answer=lambda call: HUGE, unsized=unsized))

    tracemalloc.start()
    try:
        result = sync(engine, config, zoho, client_for)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.status == "failed" and "MB" in result.reason
    assert peak < 12_000_000, f"the sync held {peak / 1e6:.1f} MB"


# -- the access token and api_domain --------------------------------------------------------------------------

class RecordingSession(requests.Session):
    """requests as the client uses it, remembering where each call went and with which Authorization; only the
    emulator on loopback is reachable."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str | None]] = []

    def request(self, method, url, *args, **kwargs):
        self.sent.append((url, (kwargs.get("headers") or {}).get("Authorization")))
        if not url.startswith("http://127.0.0.1:"):
            raise requests.ConnectionError(f"{url} is not reachable from the test")
        return super().request(method, url, *args, **kwargs)


@pytest.mark.parametrize("api_domain", ["http://evil.example", "https://evil.example",
                                        "https://www.zohoapis.com.evil.example", "https://user@www.zohoapis.com",
                                        "http://www.zohoapis.com", "ftp://www.zohoapis.com"])
def test_the_access_token_goes_only_to_a_zoho_api_host_over_https(engine, zoho, sleeps, api_domain):
    config = make_config(zoho, api_url=None)  # ZOHO_API_URL unset: Zoho's token answer names the API host
    zoho.inject(Fault(path="/oauth/v2/token", count=5, status="answer", answer=lambda call: {
        "access_token": zoho.issue_access_token(), "api_domain": api_domain, "token_type": "Bearer",
        "expires_in": 3600}))
    session = RecordingSession()

    result = run_zoho_sync(engine, config, clock=zoho.now, client=ZohoClient(config, session=session, sleep=sleeps))

    assert result.status == "failed" and "api_domain" in result.reason and "ZOHO_API_URL" in result.reason
    assert [url for url, _ in session.sent if not url.startswith(zoho.url)] == []


@pytest.mark.parametrize("api_domain", ["https://www.zohoapis.com", "https://www.zohoapis.eu",
                                        "https://www.zohoapis.com.au", "https://sandbox.zohoapis.in"])
def test_zohos_own_api_domains_are_used(zoho, sleeps, api_domain):
    config = make_config(zoho, api_url=None)
    zoho.inject(Fault(path="/oauth/v2/token", count=1, status="answer", answer=lambda call: {
        "access_token": "t", "api_domain": api_domain, "expires_in": 3600}))
    client = ZohoClient(config, session=RecordingSession(), sleep=sleeps)
    client.refresh()
    assert client.api_url == api_domain
