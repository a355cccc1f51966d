"""Leads in the CRM store (`crm_store.leads`, `crm_store.records` kind `leads`): the same address rules as
contacts, no deals, and conversion that keeps the person's history — on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, AuditLog, Contact, GmailAccount, MutedContact
from crm_store.records import ingest_records
from crm_store.records.results import ORGANISATION_ADDRESS
from crm_store.users import get_or_create_user

PAT = {"external_id": "L-1", "email": "pat@prospect.example", "first_name": "Pat", "company": "Zylker",
       "lead_status": "Contacted", "owner_email": "rep.one@sales.example"}


def ingest(engine, kind, records):
    return ingest_records(engine, kind, records, source="api")


def row(engine, **where) -> Contact | None:
    with session_scope(engine) as session:
        statement = select(Contact)
        for name, value in where.items():
            statement = statement.where(getattr(Contact, name) == value)
        found = session.exec(statement).first()
        if found is not None:
            session.expunge(found)
        return found


def history(engine, lead_id: int) -> int:
    """An alert, a mute and an audit row about the lead, in the rep's mailbox; returns the account id."""
    with session_scope(engine) as session:
        rep = get_or_create_user(session, "rep.one@sales.example")
        account = GmailAccount(crm_user_id=rep.id, slack_team_id="T1", slack_user_id="U1",
                               email_address="rep.one@sales.example")
        session.add(account)
        session.flush()
        session.add(Alert(account_id=account.id, gmail_id="m1", contact_id=lead_id, channel="DM"))
        session.add(MutedContact(account_id=account.id, contact_id=lead_id))
        session.add(AuditLog(viewer_user_id=rep.id, account_id=account.id, mailbox_address="rep.one@sales.example",
                             contact_id=lead_id))
        return account.id


def history_of(engine, contact_id: int) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return (len(session.exec(select(Alert).where(Alert.contact_id == contact_id)).all()),
                len(session.exec(select(MutedContact).where(MutedContact.contact_id == contact_id)).all()),
                len(session.exec(select(AuditLog).where(AuditLog.contact_id == contact_id)).all()))


# --------------------------------------------------------------------------- the attacker's cases first


def test_an_organisation_address_is_never_a_lead(engine):
    ingest(engine, "contacts", [{"email": "someone@acme.example", "owner_email": "rep.one@sales.example"}])
    result = ingest(engine, "leads", [dict(PAT, email="rep.one@sales.example", external_id="L-9")])
    assert result.rejected
    assert [(p.field, p.code) for p in result.problems] == [("email", ORGANISATION_ADDRESS)]
    assert row(engine, external_id="L-9") is None


def test_a_lead_never_takes_a_contacts_address_nor_its_external_id(engine):
    ingest(engine, "contacts", [{"external_id": "C-1", "email": "ana@acme.example"}])
    same_address = ingest(engine, "leads", [dict(PAT, email="ana@acme.example")])
    assert same_address.rejected and same_address.problems[0].field == "email"
    same_id = ingest(engine, "leads", [dict(PAT, external_id="C-1")])
    assert same_id.rejected and same_id.problems[0].field == "external_id"
    ana = row(engine, external_id="C-1")
    assert not ana.is_lead and ana.lead_status is None and ana.email == "ana@acme.example"


def test_a_leads_delete_never_removes_a_contact(engine):
    ingest(engine, "contacts", [{"external_id": "C-1", "email": "ana@acme.example"}])
    result = ingest(engine, "leads", [{"email": "ana@acme.example", "deleted": True}])
    assert (result.deleted, result.unchanged) == (0, 1)
    assert row(engine, external_id="C-1") is not None


def test_leads_have_no_deals(engine):
    ingest(engine, "leads", [PAT])
    result = ingest(engine, "deals", [{"name": "Zylker pilot", "stage": "Qualification",
                                       "contact_email": "pat@prospect.example"}])
    assert result.rejected
    assert "leads have no deals" in result.problems[0].reason


# --------------------------------------------------------------------------- leads


def test_a_lead_is_stored_with_its_status_and_owner_and_updated_by_its_id(engine):
    created = ingest(engine, "leads", [PAT])
    assert (created.kind, created.created) == ("leads", 1)
    pat = row(engine, external_id="L-1")
    assert pat.is_lead and pat.lead_status == "Contacted" and pat.company == "Zylker" and pat.owner_id is not None
    again = ingest(engine, "leads", [PAT])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    ingest(engine, "leads", [{"external_id": "L-1", "email": "pat@prospect.example", "lead_status": "Qualified"}])
    assert row(engine, external_id="L-1").lead_status == "Qualified"
    gone = ingest(engine, "leads", [{"external_id": "L-1", "deleted": True}])
    assert gone.deleted == 1 and row(engine, external_id="L-1") is None


def test_unknown_fields_name_the_leads_fields(engine):
    result = ingest(engine, "leads", [dict(PAT, stage="Won")])
    assert result.rejected and "lead_status" in result.problems[0].reason


# --------------------------------------------------------------------------- conversion


def test_a_contact_with_the_leads_address_takes_over_the_lead_and_its_history(engine):
    ingest(engine, "leads", [PAT])
    lead_id = row(engine, external_id="L-1").id
    history(engine, lead_id)
    result = ingest(engine, "contacts", [{"external_id": "C-7", "email": "pat@prospect.example",
                                          "first_name": "Pat", "last_name": "Doe"}])
    assert (result.created, result.updated) == (0, 1)
    pat = row(engine, external_id="C-7")
    assert pat.id == lead_id and not pat.is_lead and pat.lead_status is None and pat.last_name == "Doe"
    assert history_of(engine, lead_id) == (1, 1, 1)
    # Zoho's listing of the converted lead comes next: it changes nothing.
    late = ingest(engine, "leads", [dict(PAT, converted_contact_external_id="C-7")])
    assert (late.updated, late.unchanged) == (0, 1)
    assert row(engine, external_id="C-7").id == lead_id


def test_a_converted_lead_becomes_the_contact_before_the_contact_arrives(engine):
    ingest(engine, "leads", [PAT])
    lead_id = row(engine, external_id="L-1").id
    result = ingest(engine, "leads", [dict(PAT, converted_contact_external_id="C-7")])
    assert result.updated == 1
    pat = row(engine, external_id="C-7")
    assert pat.id == lead_id and not pat.is_lead
    assert row(engine, external_id="L-1") is None
    # The contact's own record then updates that row, and deals may name it.
    ingest(engine, "contacts", [{"external_id": "C-7", "email": "pat@prospect.example", "last_name": "Doe"}])
    deals = ingest(engine, "deals", [{"name": "Zylker pilot", "stage": "Qualification", "contact_external_id": "C-7"}])
    assert deals.created == 1 and row(engine, id=lead_id).last_name == "Doe"


def test_a_lead_converted_into_an_existing_contact_moves_its_history_there(engine):
    ingest(engine, "contacts", [{"external_id": "C-1", "email": "pat.doe@zylker.example"}])
    ingest(engine, "leads", [PAT])
    lead_id, contact_id = row(engine, external_id="L-1").id, row(engine, external_id="C-1").id
    account_id = history(engine, lead_id)
    with session_scope(engine) as session:  # the rep had muted the contact too: one mute stays
        session.add(MutedContact(account_id=account_id, contact_id=contact_id))
    result = ingest(engine, "leads", [dict(PAT, converted_contact_external_id="C-1")])
    assert result.updated == 1
    assert row(engine, id=lead_id) is None
    assert history_of(engine, contact_id) == (1, 1, 1)
    # Mail from the lead's address now belongs to the contact.
    assert row(engine, id=contact_id).secondary_email == "pat@prospect.example"


def test_a_conversion_into_a_leads_id_is_refused(engine):
    ingest(engine, "leads", [PAT, dict(PAT, external_id="L-2", email="sam@prospect.example")])
    result = ingest(engine, "leads", [dict(PAT, converted_contact_external_id="L-2")])
    assert result.rejected and result.problems[0].field == "converted_contact_external_id"
    assert row(engine, external_id="L-1").is_lead


@pytest.mark.parametrize("kind", ["contacts", "leads"])
def test_the_other_kinds_fields_are_unknown(engine, kind):
    extra = {"contacts": {"lead_status": "New"}, "leads": {"name": "x"}}[kind]
    result = ingest(engine, kind, [dict(email="x@y.example", **extra)])
    assert result.rejected and result.problems[0].reason.startswith("unknown field")
