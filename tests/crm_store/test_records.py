"""The import core behind the CSV import, the ingest API and the Zoho sync (`crm_store.records`),
on SQLite and PostgreSQL through the `engine` fixture."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from crm_store.db import session_scope
from crm_store.models import (
    Alert,
    AuditLog,
    CategoryChange,
    Contact,
    CrmDataChange,
    CrmUser,
    Deal,
    GmailAccount,
    MutedContact,
)
from crm_store.records import apply_records, ingest_records
from crm_store.records.results import MAX_RECORDS_PER_REQUEST, RecordProblem, RecordsRejected
from crm_store.sources import crm_data_status
from handlers.blocks.crm_data import describe_last_change
from crm_store.users import get_or_create_user

CONTACTS = [
    {"external_id": "C-1", "email": "ana.lima@acme.example", "secondary_email": "ana@acme-group.example",
     "first_name": "Ana", "last_name": "Lima", "company": "Acme", "owner_email": "rep.one@sales.example"},
    {"external_id": "C-2", "email": "ben.okafor@globex.example", "first_name": "Ben"},
    {"external_id": 3, "email": "Chloe.Martin@Initech.example", "phone": "+33 1 55 01 03"},
]
DEALS = [
    {"external_id": "D-1", "name": "Acme renewal", "contact_external_id": "C-1", "stage": "Negotiation",
     "closing_date": "2026-11-28", "amount": 48000, "owner_email": "rep.one@sales.example"},
    {"external_id": "D-2", "name": "Acme pilot", "contact_email": "ANA@acme-group.example", "stage": "Closed Won",
     "amount": 12000.5},
    {"name": "Globex expansion", "contact_external_id": "C-2", "stage": "Proposal", "amount": "30000.00"},
]


def ingest(engine, kind, records, source="api", detail=None):
    return ingest_records(engine, kind, records, source=source, detail=detail)


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def contact(engine, external_id) -> Contact | None:
    with session_scope(engine) as session:
        return session.exec(select(Contact).where(Contact.external_id == external_id)).first()


def deal(engine, **where) -> Deal | None:
    with session_scope(engine) as session:
        statement = select(Deal)
        for name, value in where.items():
            statement = statement.where(getattr(Deal, name) == value)
        return session.exec(statement).first()


def changes_for(engine) -> list[int]:
    with session_scope(engine) as session:
        return sorted(session.exec(select(CategoryChange.contact_id)).all())


def problems(result) -> list[tuple[int | None, str | None, str]]:
    return [(p.index, p.field, p.reason) for p in result.problems]


@pytest.fixture
def crm(engine):
    assert not ingest(engine, "contacts", CONTACTS).rejected
    assert not ingest(engine, "deals", DEALS).rejected
    return engine


# --------------------------------------------------------------------------- validation


def test_each_bad_field_is_named_with_its_index_and_reason(engine):
    result = ingest(engine, "contacts", [
        {"email": "good@example.com", "owner_email": "new.rep@sales.example"},
        {"email": "bob@", "phone": "x" * 65},
        {"first_name": "No address"},
        {"email": "dup@example.com", "deleted": "yes"},
        {"email": "carol@example.com", "nickname": "Caz"},
        "ann@example.com",
        {"email": "printer@office.local", "secondary_email": "GOOD@example.com"},
        {"email": "nul@example.com", "company": "Ac\x00me", "last_name": ["Lima"]},
    ])

    assert result.rejected
    assert problems(result) == [
        (1, "email", "malformed email 'bob@'"),
        (1, "phone", "too long: 65 characters, at most 64"),
        (2, "email", "missing email"),
        (3, "deleted", "expected true or false"),
        (4, "nickname", "unknown field: a contact has email, secondary_email, first_name, last_name, company, "
                        "phone, owner_email, external_id and deleted"),
        (5, None, "expected an object with the contact's fields"),
        (6, "email", "malformed email 'printer@office.local'"),
        (6, "secondary_email", "duplicate email 'good@example.com' (first at index 0)"),
        (7, "last_name", "expected text"),
        (7, "company", "contains a NUL character"),
    ]
    assert result.skipped == 7
    assert (result.created, result.updated) == (0, 0)
    # All or nothing: not even the good record's new owner was written.
    assert count(engine, Contact) == count(engine, CrmUser) == count(engine, CrmDataChange) == 0
    assert result.as_json()["problems"][0] == {"index": 1, "field": "email", "reason": "malformed email 'bob@'"}


def test_deal_fields_are_checked_by_type(engine):
    ingest(engine, "contacts", CONTACTS)
    result = ingest(engine, "deals", [
        {"name": "A", "contact_external_id": "C-1", "stage": "Proposal", "closing_date": "28/11/2026"},
        {"name": "B", "contact_external_id": "C-1", "stage": "Proposal", "amount": "1,000"},
        {"name": "C", "contact_external_id": "C-1", "stage": "Proposal", "amount": True},
        {"name": "D", "contact_external_id": "C-1", "stage": "Proposal", "amount": 1e20},
        {"name": "E", "stage": "Proposal"},
        {"contact_email": "nobody@nowhere.example", "stage": ""},
        {"name": "G", "contact_external_id": "C-99", "stage": "Won"},
    ])
    assert problems(result) == [
        (0, "closing_date", "unparseable date '28/11/2026': expected YYYY-MM-DD"),
        (1, "amount", "unparseable amount '1,000': expected a number like 1234.50"),
        (2, "amount", "unparseable amount 'true': expected a number like 1234.50"),
        (3, "amount", "amount '1e+20' is too large"),
        (4, "contact_email", "missing contact_email or contact_external_id"),
        (5, "name", "missing name"),
        (5, "stage", "missing stage"),
        (6, "contact_external_id", "unknown contact: no contact has external_id 'C-99'"),
    ]
    assert count(engine, Deal) == 0


def test_the_request_must_be_a_list_of_at_most_the_limit(engine):
    for body in ({"email": "a@example.com"}, "a@example.com", None):
        result = ingest(engine, "contacts", body)
        assert result.rejected and problems(result) == [(None, None, "expected a JSON array of records")]
    too_many = [{"email": f"p{n}@example.com"} for n in range(MAX_RECORDS_PER_REQUEST + 1)]
    result = ingest(engine, "contacts", too_many)
    assert problems(result) == [(None, None, f"too many records: {MAX_RECORDS_PER_REQUEST + 1}, "
                                             f"at most {MAX_RECORDS_PER_REQUEST} per request")]
    assert count(engine, Contact) == 0


# --------------------------------------------------------------------------- upserts and idempotency


def test_records_create_then_the_same_body_changes_nothing(engine):
    first = ingest(engine, "contacts", CONTACTS, detail="key zapier")
    deals = ingest(engine, "deals", DEALS, detail="key zapier")

    assert (first.created, first.updated, first.unchanged, first.deleted) == (3, 0, 0, 0)
    assert (deals.created, deals.updated, deals.unchanged) == (3, 0, 0)
    assert contact(engine, "3").email == "chloe.martin@initech.example"  # a numeric id is text
    pilot = deal(engine, external_id="D-2")
    assert (pilot.amount, pilot.contact_id) == (Decimal("12000.50"), contact(engine, "C-1").id)
    assert deal(engine, external_id="D-1").closing_date == date(2026, 11, 28)
    stamp = contact(engine, "C-1").updated_at
    status = crm_data_status(engine)
    changes = len(changes_for(engine))

    again = ingest(engine, "contacts", CONTACTS)
    deals_again = ingest(engine, "deals", DEALS)

    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert (deals_again.created, deals_again.updated, deals_again.unchanged) == (0, 0, 3)
    assert again.changed_contact_ids == deals_again.changed_contact_ids == set()
    assert contact(engine, "C-1").updated_at == stamp
    assert len(changes_for(engine)) == changes
    # A request that changed nothing is not "the last change".
    assert crm_data_status(engine).last_change == status.last_change


def test_absent_fields_are_kept_and_null_clears(crm):
    result = ingest(crm, "contacts", [{"external_id": "C-1", "email": "ana.lima@acme.example", "phone": "+1 555",
                                       "company": None}])
    assert (result.updated, result.unchanged) == (1, 0)
    ana = contact(crm, "C-1")
    assert (ana.phone, ana.company, ana.first_name, ana.secondary_email) == (
        "+1 555", None, "Ana", "ana@acme-group.example")


def test_a_failed_batch_can_be_skipped_record_by_record(engine):
    with session_scope(engine) as session:
        result = apply_records(session, "contacts", [{"email": "a@example.com"}, {"email": "b@"}],
                               skip_invalid=True)
    assert (result.created, result.skipped, result.rejected) == (1, 1, False)
    with pytest.raises(RecordsRejected):
        with session_scope(engine) as session:
            apply_records(session, "contacts", [{"email": "c@example.com"}, {"email": "d@"}])
    assert count(engine, Contact) == 1


def test_positions_and_prior_problems_name_file_lines(engine):
    with pytest.raises(RecordsRejected) as rejected:
        with session_scope(engine) as session:
            apply_records(session, "contacts", [{"email": "a@example.com"}, {"email": "A@example.com"}],
                          positions=[2, 5], position_word="line",
                          prior_problems=[RecordProblem(4, None, "unreadable")])
    assert problems(rejected.value.result) == [
        (4, None, "unreadable"),
        (5, "email", "duplicate email 'a@example.com' (first on line 2)"),
    ]


def test_the_address_of_a_contact_deleted_in_the_batch_may_be_taken_by_a_new_one(crm):
    result = ingest(crm, "contacts", [
        {"external_id": "C-7", "email": "ana.lima@acme.example", "first_name": "Another Ana"},
        {"external_id": "C-1", "deleted": True},
    ])
    assert (result.deleted, result.created) == (1, 1), result.problems
    assert contact(crm, "C-7").email == "ana.lima@acme.example"
    # Swapping addresses between two contacts that stay is still refused.
    swap = ingest(crm, "contacts", [{"external_id": "C-2", "email": "chloe.martin@initech.example"},
                                    {"external_id": "3", "email": "ben.okafor@globex.example"}])
    assert [p.field for p in swap.problems] == ["email", "email"]


# --------------------------------------------------------------------------- deletes


@pytest.fixture
def references(crm):
    """Everything that refers to Ana (C-1): an alert, a mute, a pending category change, an audit row."""
    ana = contact(crm, "C-1").id
    with session_scope(crm) as session:
        rep = get_or_create_user(session, "rep.one@sales.example")
        account = GmailAccount(crm_user_id=rep.id, slack_team_id="T1", slack_user_id="U1",
                               email_address="rep.one@sales.example")
        session.add(account)
        session.flush()
        session.add(Alert(account_id=account.id, gmail_id="m1", contact_id=ana, channel="DM"))
        session.add(MutedContact(account_id=account.id, contact_id=ana))
        session.add(AuditLog(viewer_user_id=rep.id, account_id=account.id, mailbox_address="x@example.com",
                             contact_id=ana))
    return crm


def test_deleting_a_contact_deletes_its_deals_and_what_refers_to_it(references):
    engine = references
    ana, ben = contact(engine, "C-1").id, contact(engine, "C-2").id
    heir = ingest(engine, "contacts", [{"external_id": "C-9", "email": "heir@example.com",
                                        "secondary_email": "ana@acme-group.example"}])
    assert heir.problems == [RecordProblem(0, "secondary_email", "'ana@acme-group.example' is already the "
                                                                  "secondary email of the contact with external_id 'C-1'")]
    # Ben gets Ana's secondary address in the same batch that deletes her: it is free by then.
    result = ingest(engine, "contacts", [
        {"external_id": "C-1", "deleted": True},
        {"external_id": "C-2", "email": "ben.okafor@globex.example", "secondary_email": "ana@acme-group.example"},
    ])

    assert (result.deleted, result.updated, result.deleted_deals) == (1, 1, 2), result.problems
    assert contact(engine, "C-1") is None
    assert deal(engine, external_id="D-1") is None and deal(engine, external_id="D-2") is None
    assert count(engine, Alert) == count(engine, MutedContact) == 0
    with session_scope(engine) as session:
        assert session.exec(select(AuditLog.contact_id)).all() == [None]
        assert ana not in session.exec(select(CategoryChange.contact_id)).all()
    # Mail from Ana's old secondary address is Ben's now: his category may have changed.
    assert result.changed_contact_ids == {ben}

    again = ingest(engine, "contacts", [{"external_id": "C-1", "deleted": True}])
    assert (again.deleted, again.unchanged, again.rejected) == (0, 1, False)


def test_a_contact_is_deleted_by_email_when_it_has_no_external_id(crm):
    ingest(crm, "contacts", [{"email": "walk-in@example.com"}])
    result = ingest(crm, "contacts", [{"email": "Walk-In@example.com", "deleted": True},
                                      {"email": "never-seen@example.com", "deleted": True}])
    assert (result.deleted, result.unchanged) == (1, 1)
    mismatch = ingest(crm, "contacts", [{"external_id": "C-1", "email": "ben.okafor@globex.example",
                                         "deleted": True}])
    assert problems(mismatch) == [(0, "email", "email 'ben.okafor@globex.example' belongs to a different contact "
                                               "than external_id 'C-1'")]
    assert contact(crm, "C-1") is not None
    nameless = ingest(crm, "contacts", [{"first_name": "Who", "deleted": True}])
    assert problems(nameless) == [(0, "external_id", "missing external_id or email: a deleted contact is named by "
                                                     "one of them")]


def test_deleting_deals_records_a_category_change_and_is_idempotent(crm):
    ana, ben = contact(crm, "C-1").id, contact(crm, "C-2").id
    before = changes_for(crm)
    result = ingest(crm, "deals", [
        {"external_id": "D-1", "deleted": True},
        {"name": "Globex expansion", "contact_email": "ben.okafor@globex.example", "deleted": True},
        {"external_id": "D-404", "deleted": True},
        {"name": "Anything", "contact_external_id": "C-404", "deleted": True},
    ])
    assert (result.deleted, result.unchanged) == (2, 2), result.problems
    assert deal(crm, external_id="D-1") is None and deal(crm, name="Globex expansion") is None
    assert deal(crm, external_id="D-2") is not None
    assert result.changed_contact_ids == {ana, ben}
    assert changes_for(crm) == sorted(before + [ana, ben])

    again = ingest(crm, "deals", [{"external_id": "D-1", "deleted": True}])
    assert (again.deleted, again.unchanged, again.changed_contact_ids) == (0, 1, set())
    assert problems(ingest(crm, "deals", [{"name": "Acme pilot", "deleted": True}])) == [
        (0, "external_id", "missing external_id, or name with contact_email or contact_external_id: "
                           "a deleted deal is named by one of them")]


def test_a_record_cannot_update_and_delete_the_same_contact(crm):
    result = ingest(crm, "contacts", [{"external_id": "C-2", "email": "ben.okafor@globex.example", "first_name": "B"},
                                      {"external_id": "C-2", "deleted": True}])
    assert problems(result) == [(1, "external_id", "duplicate external_id 'C-2' (first at index 0)")]
    result = ingest(crm, "contacts", [{"external_id": "C-2", "email": "ben.okafor@globex.example", "first_name": "B"},
                                      {"email": "ben.okafor@globex.example", "deleted": True}])
    assert problems(result) == [(1, "email", "duplicate email 'ben.okafor@globex.example' (first at index 0)")]


# --------------------------------------------------------------------------- where data came from


def test_the_last_change_names_its_source_and_counts(engine):
    ingest(engine, "contacts", CONTACTS, source="csv", detail="contacts.csv")
    ingest(engine, "deals", DEALS, source="zoho")
    status = crm_data_status(engine)

    assert (status.last_change.source, status.last_change.kind, status.last_change.created) == ("zoho", "deals", 3)
    assert [(c.source, c.kind) for c in status.changes] == [("zoho", "deals"), ("csv", "contacts")]
    assert status.changes[1].detail == "contacts.csv"
    later = status.last_change.changed_at + timedelta(minutes=5, seconds=10)
    assert describe_last_change(status.last_change, later) == "CRM data last changed 5 minutes ago (Zoho CRM sync)"
    assert describe_last_change(None) == "CRM data has not been imported yet"


def test_the_csv_import_records_its_change_too(engine, tmp_path):
    from crm_store.csv_import import import_contacts

    path = tmp_path / "people.csv"
    path.write_text("email\nzoe@example.com\n")
    import_contacts(engine, path)
    change = crm_data_status(engine).last_change
    assert (change.source, change.kind, change.created, change.detail) == ("csv", "contacts", 1, "people.csv")
    assert change.changed_at > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_deletes_and_upserts_cost_a_constant_number_of_statements(engine):
    statements = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    rows = 2500
    assert ingest_many(engine, [{"external_id": f"C{n}", "email": f"p{n}@client.example"} for n in range(rows)]) == rows
    deleted = ingest_many(engine, [{"external_id": f"C{n}", "deleted": True} for n in range(rows)], "deleted")
    assert deleted == rows
    assert len(statements) < 150, f"{len(statements)} statements for {rows} rows"


def ingest_many(engine, records, counter="created"):
    total = 0
    for start in range(0, len(records), MAX_RECORDS_PER_REQUEST):
        total += getattr(ingest(engine, "contacts", records[start:start + MAX_RECORDS_PER_REQUEST]), counter)
    return total
