"""The Zoho CRM sync over real HTTP against the emulator, on SQLite and PostgreSQL (`engine` fixture).

The emulator's clock is frozen and moved by the tests; the sync gets the same clock, so "modified
since", page-token expiry and the lease all agree without sleeping.
"""
from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from crm_store.db import create_db_engine, session_scope
from crm_store.job_leases import claim_job, job_holder
from crm_store.models import CategoryChange, Contact, CrmSyncCursor, CrmUser, Deal
from crm_store.sources import crm_data_status
from crm_sync import LEASE_NAME, SyncProblem, run_zoho_sync
from sandbox.zoho_emulator import Fault
from tests.support.zoho_sync import make_config


class Crash(Exception):
    """Stands for the process dying between two pages."""


@pytest.fixture
def crm(zoho):
    """Five contacts, three deals, and two records the store must refuse; one second apart each."""
    ids = {}

    def add(key, make):
        ids[key] = make()
        zoho.advance(1)

    add("ana", lambda: zoho.add_contact("Ana.Lima@Acme.example", first_name="Ana", last_name="Lima", company="Acme",
                                        phone="+1 555 0101", secondary_email="ana@acme-group.example",
                                        owner="rep.one@sales.example"))
    add("ben", lambda: zoho.add_contact("ben@globex.example", first_name="Ben", company="Globex",
                                        owner="rep.one@sales.example"))
    add("chloe", lambda: zoho.add_contact("chloe@initech.example", first_name="Chloé", owner="rep.two@sales.example"))
    add("dev", lambda: zoho.add_contact("dev@umbrella.example", first_name="Dev", owner="rep.two@sales.example"))
    add("emma", lambda: zoho.add_contact("emma@hooli.example", first_name="Emma", owner="rep.two@sales.example"))
    add("nomail", lambda: zoho.add_contact(None, last_name="Walk-in"))
    add("renewal", lambda: zoho.add_deal("Acme renewal", stage="Negotiation", contact_id=ids["ana"],
                                         closing_date="2026-11-28", amount=48000.5, owner="rep.two@sales.example"))
    add("pilot", lambda: zoho.add_deal("Globex pilot", stage="Proposal", contact_id=ids["ben"], amount=1200))
    add("order", lambda: zoho.add_deal("Initech order", stage="Closed Won", contact_id=ids["chloe"]))
    add("orphan", lambda: zoho.add_deal("No contact", stage="Proposal"))
    add("walkin", lambda: zoho.add_deal("Walk-in deal", stage="Proposal", contact_id=ids["nomail"]))
    zoho.advance(60)
    return ids


def sync(engine, config, zoho, client_for, **kwargs):
    client = kwargs.pop("client", None) or client_for(config)
    return run_zoho_sync(engine, config, clock=zoho.now, client=client, **kwargs)


def contact(engine, external_id) -> Contact | None:
    with session_scope(engine) as session:
        return session.exec(select(Contact).where(Contact.external_id == external_id)).first()


def deal(engine, external_id) -> Deal | None:
    with session_scope(engine) as session:
        return session.exec(select(Deal).where(Deal.external_id == external_id)).first()


def cursor(engine, name) -> CrmSyncCursor:
    with session_scope(engine) as session:
        return session.get(CrmSyncCursor, name)


def served(zoho, module, endpoint="records"):
    return zoho.served_ids(module, endpoint)


def record_calls(zoho, module):
    return [call for call in zoho.calls_to("records", module) if call.fault is None]


# --------------------------------------------------------------------------- first sync


def test_a_first_sync_maps_every_field_and_reports_what_it_skipped(engine, zoho, config, client_for, crm):
    result = sync(engine, config, zoho, client_for)

    assert result.status == "synced", result.reason
    contacts, deals = result.modules["Contacts"], result.modules["Deals"]
    assert (contacts.created, contacts.skipped, deals.created, deals.skipped) == (5, 1, 3, 2)
    assert result.problems == [
        SyncProblem("Contacts", crm["nomail"], "Email", "missing email"),
        SyncProblem("Deals", crm["orphan"], "Contact_Name", "missing contact_email or contact_external_id"),
        SyncProblem("Deals", crm["walkin"], "Contact_Name",
                    f"unknown contact: no contact has external_id '{crm['nomail']}'"),
    ]
    ana = contact(engine, crm["ana"])
    assert (ana.email, ana.secondary_email, ana.first_name, ana.last_name, ana.company, ana.phone) == (
        "ana.lima@acme.example", "ana@acme-group.example", "Ana", "Lima", "Acme", "+1 555 0101")
    renewal = deal(engine, crm["renewal"])
    assert (renewal.name, renewal.stage, renewal.closing_date, renewal.amount, renewal.contact_id) == (
        "Acme renewal", "Negotiation", date(2026, 11, 28), Decimal("48000.50"), ana.id)
    with session_scope(engine) as session:
        owners = {user.id: user.email for user in session.exec(select(CrmUser))}
    # Zoho users become CRM users by email (the sync's default owner too).
    assert set(owners.values()) == {"rep.one@sales.example", "rep.two@sales.example", "owner@crm.example"}
    assert owners[ana.owner_id] == "rep.one@sales.example" and owners[renewal.owner_id] == "rep.two@sales.example"

    status = crm_data_status(engine)
    assert (status.last_change.source, status.last_change.kind) == ("zoho", "deals")
    assert status.sync_succeeded_at() == zoho.now() and status.sync_error() is None
    assert [stream.name for stream in status.sync_streams("zoho")] == [
        "zoho:Contacts", "zoho:Contacts:deleted", "zoho:Deals", "zoho:Deals:deleted", "zoho:Leads", "zoho:Leads:deleted"]
    # A first run lists no deleted records: it starts that stream now.
    assert zoho.calls_to("deleted") == []
    assert job_holder(engine, LEASE_NAME) is None  # released


# --------------------------------------------------------------------------- incremental


def test_an_incremental_sync_reads_only_what_changed_across_pages_and_faults(engine, zoho, client_for, sleeps, crm):
    config = make_config(zoho, per_page=2)
    client = client_for(config)
    assert sync(engine, config, zoho, client_for, client=client).ok
    closed_at = cursor(engine, "zoho:Contacts").since
    ana_id = contact(engine, crm["ana"]).id
    zoho.reset_calls()

    for key, change in (("ben", {"First_Name": "Benjamin"}), ("chloe", {"Phone": "+33 1"}),
                        ("emma", {"company": "Hooli"})):
        zoho.edit_record("Contacts", crm[key], **change)
        zoho.advance(1)
    zoho.edit_record("Deals", crm["renewal"], Stage="Closed Won")
    zoho.delete_record("Contacts", crm["dev"])
    zoho.advance(30)
    zoho.expire_access_tokens()  # the access token of the first run is no longer valid
    zoho.inject(Fault(path="/crm/v7/Contacts", count=1, skip=1, status=429, retry_after=2))  # on page 2

    result = sync(engine, config, zoho, client_for, client=client)

    assert result.status == "synced", result.reason
    contacts, deals = result.modules["Contacts"], result.modules["Deals"]
    assert (contacts.updated, contacts.deleted, contacts.created, contacts.pages) == (3, 1, 0, 2)
    assert (deals.updated, deals.created, deals.unchanged) == (1, 0, 0)
    assert sleeps == [2.0]  # Retry-After honoured
    # 401 INVALID_TOKEN, one refresh, then the same call again.
    assert [(call.endpoint, call.status) for call in zoho.calls[:3]] == [("deleted", 401), ("token", 200),
                                                                         ("deleted", 200)]
    # Only what changed was read: never a record the first run committed and nobody touched.
    assert served(zoho, "Contacts") == [crm["ben"], crm["chloe"], crm["emma"]]
    assert served(zoho, "Deals") == [crm["renewal"]]
    assert served(zoho, "Contacts", "deleted") == [crm["dev"]]
    contact_calls = record_calls(zoho, "Contacts")
    assert contact_calls[0].if_modified_since == closed_at.isoformat()
    assert contact_calls[0].page_token is None and contact_calls[1].page_token is not None

    assert contact(engine, crm["dev"]) is None
    assert contact(engine, crm["ben"]).first_name == "Benjamin"
    assert contact(engine, crm["emma"]).company == "Hooli"
    assert deal(engine, crm["renewal"]).stage == "Closed Won"
    with session_scope(engine) as session:
        assert ana_id in session.exec(select(CategoryChange.contact_id)).all()

    # Nothing new: one 304 per stream, nothing written (Leads, which never had a record, answer 204: no cursor yet).
    zoho.reset_calls()
    zoho.advance(60)
    quiet = sync(engine, config, zoho, client_for, client=client)
    assert quiet.ok and [call.status for call in zoho.calls] == [304, 304, 304, 204, 304, 304]


def test_a_zoho_delete_of_a_contact_takes_its_deals(engine, zoho, config, client_for, crm):
    sync(engine, config, zoho, client_for)
    zoho.delete_record("Contacts", crm["ana"], permanent=True)
    zoho.advance(10)

    result = sync(engine, config, zoho, client_for)

    assert result.modules["Contacts"].deleted == 1 and result.deletes == 1
    assert contact(engine, crm["ana"]) is None and deal(engine, crm["renewal"]) is None
    # Deleting what is gone already (Zoho lists the deal's contact delete again later) changes nothing.
    again = sync(engine, config, zoho, client_for, full=True)
    assert again.ok and again.modules["Contacts"].deleted == 0


def test_records_modified_in_the_second_of_the_cursor_are_not_lost(engine, zoho, config, client_for):
    first = zoho.add_contact("first@example.com")
    assert sync(engine, config, zoho, client_for).ok  # Zoho's clock is still in that second
    assert cursor(engine, "zoho:Contacts").skip is not None

    second = zoho.add_contact("second@example.com")  # same second as `first`
    zoho.reset_calls()
    result = sync(engine, config, zoho, client_for)
    assert (result.modules["Contacts"].created, result.modules["Contacts"].updated) == (1, 0)
    assert served(zoho, "Contacts") == [first, second]  # `first` re-read, not re-applied

    zoho.advance(5)  # that second is over: the cursor closes
    sync(engine, config, zoho, client_for)
    zoho.reset_calls()
    assert sync(engine, config, zoho, client_for).ok
    assert served(zoho, "Contacts") == [] and contact(engine, second) is not None


def test_an_edit_in_the_second_of_the_last_read_is_applied(engine, zoho, config, client_for):
    """Zoho's Modified_Time is to the second: an edit in the same second as the read that applied the record
    keeps its Modified_Time, and must still be applied (found by the scheduler's end-to-end test)."""
    record = zoho.add_contact("same@example.com", company="Before")
    assert sync(engine, config, zoho, client_for).ok
    zoho.edit_record("Contacts", record, Account_Name={"name": "After", "id": "1"})  # the clock is frozen
    result = sync(engine, config, zoho, client_for)
    assert result.modules["Contacts"].updated == 1
    assert contact(engine, record).company == "After"


# --------------------------------------------------------------------------- crash and resume


def crash_after_first_contacts_page(module, stream, number):
    if (module, stream, number) == ("Contacts", "records", 1):
        raise Crash()


@pytest.fixture
def edited(engine, zoho, client_for, crm):
    """After a first sync: the five contacts edited, one second apart, read two per page."""
    config = make_config(zoho, per_page=2)
    assert sync(engine, config, zoho, client_for).ok
    order = ["ana", "ben", "chloe", "dev", "emma"]
    for key in order:
        zoho.edit_record("Contacts", crm[key], Phone=f"+1 {key}")
        zoho.advance(1)
    zoho.advance(10)
    zoho.reset_calls()
    return config, [crm[key] for key in order]


def test_a_crash_after_a_committed_page_resumes_without_reading_it_again(engine, zoho, client_for, edited):
    config, ids = edited
    with pytest.raises(Crash):
        sync(engine, config, zoho, client_for, on_page=crash_after_first_contacts_page)
    assert [contact(engine, record_id).phone for record_id in ids] == ["+1 ana", "+1 ben", None, None, None]
    stored = cursor(engine, "zoho:Contacts")
    assert stored.page_token is not None and stored.last_error is None
    zoho.reset_calls()

    result = sync(engine, config, zoho, client_for)

    assert result.ok and result.modules["Contacts"].updated == 3
    assert served(zoho, "Contacts") == ids[2:]  # page 1's records are not read again
    assert record_calls(zoho, "Contacts")[0].page_token == stored.page_token
    assert [contact(engine, record_id).phone for record_id in ids] == [f"+1 {key}" for key in
                                                                       ("ana", "ben", "chloe", "dev", "emma")]
    assert cursor(engine, "zoho:Contacts").page_token is None


def test_an_expired_page_token_falls_back_to_the_cursor_and_rereads_one_second(engine, zoho, client_for, edited):
    config, ids = edited
    with pytest.raises(Crash):
        sync(engine, config, zoho, client_for, on_page=crash_after_first_contacts_page)
    zoho.advance(2 * 86400)  # Zoho forgot the token; our clock lags behind and still trusts it
    zoho.reset_calls()

    result = run_zoho_sync(engine, config, clock=lambda: zoho.now() - timedelta(days=1, hours=12),
                           client=client_for(config))

    calls = zoho.calls_to("records", "Contacts")
    assert (calls[0].status, calls[0].page_token is not None) == (400, True)
    # Read again from the last committed page's second: its last record comes back and, as the cursor
    # of an unfinished listing keeps no skip list, is applied again and found unchanged.
    assert served(zoho, "Contacts") == ids[1:]
    assert result.ok and (result.modules["Contacts"].updated, result.modules["Contacts"].unchanged) == (3, 1)


# --------------------------------------------------------------------------- one replica at a time


def test_two_concurrent_syncs_one_is_skipped(engine, database_url, zoho, config, client_for, crm):
    other_engine = create_db_engine(database_url)
    paused, go_on = threading.Event(), threading.Event()
    results = {}

    def hold(module, stream, number):
        if not paused.is_set():
            paused.set()
            assert go_on.wait(60)

    def replica_a():
        results["a"] = sync(engine, config, zoho, client_for, owner="replica-a", on_page=hold)

    thread = threading.Thread(target=replica_a)
    thread.start()
    try:
        assert paused.wait(60)  # replica a is syncing, between two pages
        b_client = client_for(config)
        results["b"] = sync(other_engine, config, zoho, client_for, owner="replica-b", client=b_client)
    finally:
        go_on.set()
        thread.join(60)
        other_engine.dispose()

    assert results["a"].status == "synced" and results["a"].modules["Contacts"].created == 5
    assert (results["b"].status, results["b"].reason) == ("skipped", "another replica is syncing")
    assert b_client.calls == 0 and results["b"].summary() == "skipped: another replica is syncing"
    # Released: the next run may go.
    assert sync(engine, config, zoho, client_for, owner="replica-b").ok


def test_a_replica_that_lost_its_lease_commits_nothing_more(engine, zoho, config, client_for, crm):
    def steal(module, stream, number):
        if (module, stream) == ("Contacts", "records"):
            # This replica stalled past its lease; another one took the job over.
            assert claim_job(engine, LEASE_NAME, "replica-b", lease_seconds=60,
                             now=zoho.now() + timedelta(seconds=config.lease_seconds + 1))

    result = sync(engine, config, zoho, client_for, owner="replica-a", on_page=steal)

    assert result.status == "failed" and "another replica" in result.reason
    assert result.modules["Contacts"].created == 5 and "Deals" not in result.modules
    with session_scope(engine) as session:
        assert session.exec(select(Deal)).all() == []
    assert job_holder(engine, LEASE_NAME, zoho.now() + timedelta(seconds=config.lease_seconds + 2)) == "replica-b"


# --------------------------------------------------------------------------- full sync and failures


def test_full_ignores_the_cursor(engine, zoho, config, client_for, crm):
    sync(engine, config, zoho, client_for)
    zoho.reset_calls()
    result = sync(engine, config, zoho, client_for, full=True)
    assert result.ok and result.full
    assert (result.modules["Contacts"].unchanged, result.modules["Deals"].unchanged) == (5, 3)
    assert len(served(zoho, "Contacts")) == 6
    assert all(call.if_modified_since is None for call in zoho.calls_to("records"))


def test_a_refused_refresh_token_fails_the_run_and_says_why(engine, zoho, config, client_for, crm):
    zoho.revoke_refresh_token(config.refresh_token)

    result = sync(engine, config, zoho, client_for)

    assert result.status == "failed" and "ZOHO_REFRESH_TOKEN" in result.reason
    assert "ZOHO_REFRESH_TOKEN" in crm_data_status(engine).sync_error()
    assert job_holder(engine, LEASE_NAME) is None
    with session_scope(engine) as session:
        assert session.exec(select(Contact)).all() == []
