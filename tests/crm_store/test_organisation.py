"""The organisation's own addresses are never a contact's (SPEC §5, crm_store.organisation), on both databases:
refused by the import core, left out of every sender look-up and contact search, and explained."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlmodel import select

from crm_store.categories import LabelNames, StageRules, categorize_senders, contacts_for_address
from crm_store.contact_search import closest_contacts, search_contacts
from crm_store.db import insert_once, session_scope
from crm_store.explain import explain_sender
from handlers.blocks.why import explanation_text
from crm_store.models import Contact, CrmUser, GmailAccount, MailboxAlias
from crm_store.organisation import OrganisationRole, organisation_roles
from crm_store.records import apply_records, ingest_records
from crm_store.records.results import ORGANISATION_ADDRESS
from crm_store.users import get_or_create_user
from tests.factories import make_contact, make_deal

AT = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
RULES = StageRules()


@pytest.fixture
def organisation(engine):
    """A rep with a CRM email, a secondary email, a connected mailbox and an allowed alias."""
    with session_scope(engine) as session:
        rep = get_or_create_user(session, "rep@crm.example")
        rep.secondary_email = "rep.other@crm.example"
        session.add(rep)
        session.add(GmailAccount(crm_user_id=rep.id, slack_team_id="T1", slack_user_id="U1",
                                 email_address="rep.mailbox@gmail.example"))
        insert_once(session, MailboxAlias, address="rep.alias@gmail.example", crm_user_id=rep.id)
    return engine


ORG = {
    "rep@crm.example": OrganisationRole.CRM_USER,
    "rep.other@crm.example": OrganisationRole.CRM_USER_SECONDARY,
    "rep.mailbox@gmail.example": OrganisationRole.MAILBOX,
    "rep.alias@gmail.example": OrganisationRole.ALIAS,
}


def test_the_roles_of_the_organisations_addresses(organisation):
    with session_scope(organisation) as session:
        assert organisation_roles(session) == ORG
        assert organisation_roles(session, ["REP@crm.example", "jane@acme.example"]) == {
            "rep@crm.example": OrganisationRole.CRM_USER}
        assert organisation_roles(session, []) == {}


# -- the import core refuses them --------------------------------------------------------------------------


def test_the_import_core_refuses_each_kind_of_organisation_address_in_either_field(organisation):
    as_primary = [{"email": address.upper() if i % 2 else address, "first_name": "X"} for i, address in enumerate(ORG)]
    as_secondary = [{"email": f"customer{i}@acme.example", "secondary_email": address} for i, address in enumerate(ORG)]
    reasons = []
    for records, field in ((as_primary, "email"), (as_secondary, "secondary_email")):
        result = ingest_records(organisation, "contacts", [*records, {"email": "jane@acme.example"}], source="api")
        assert result.rejected
        assert [(p.index, p.field, p.code) for p in result.problems] == [
            (i, field, ORGANISATION_ADDRESS) for i in range(4)]
        reasons += [p.reason for p in result.problems if p.field == "email"]
    for reason, role_words in zip(reasons, ("a CRM user's email", "a CRM user's secondary email",
                                            "a connected Gmail mailbox", "an address allowed for")):
        assert "the organisation's own address" in reason and role_words in reason, reason
    assert not any("@" in reason for reason in reasons)  # what it is, never whose address (the Zoho sync logs it)
    with session_scope(organisation) as session:
        assert session.exec(select(Contact)).all() == []


def test_an_owner_named_in_the_same_batch_is_the_organisations_too(engine):
    result = ingest_records(engine, "contacts", [
        {"email": "jane@acme.example", "owner_email": "Sam@crm.example"},
        {"email": "sam@crm.example", "first_name": "Sam"},
    ], source="api")
    assert [(p.index, p.field) for p in result.problems] == [(1, "email")]
    assert "owner_email of a record in this batch" in result.problems[0].reason
    with session_scope(engine) as session:
        assert session.exec(select(CrmUser)).all() == []  # nothing written, not even the owner


def test_skip_organisation_skips_only_those_records_and_counts_them(organisation):
    with session_scope(organisation) as session:
        result = apply_records(session, "contacts", [
            {"email": "jane@acme.example"}, {"email": "rep@crm.example"}, {"email": "bob@globex.example"},
        ], skip_organisation=True)
    assert (result.created, result.skipped, result.skipped_organisation, result.rejected) == (2, 1, 1, False)
    assert [(p.index, p.field) for p in result.problems] == [(1, "email")]

    # Another fault in the batch still rejects it as a whole (without skip_invalid).
    with pytest.raises(Exception) as refused, session_scope(organisation) as session:
        apply_records(session, "contacts", [{"email": "rep@crm.example"}, {"email": "not-an-address"}],
                      skip_organisation=True)
    assert refused.value.result.rejected and refused.value.result.skipped == 2


def test_a_contact_whose_address_became_the_organisations_can_still_be_deleted(engine):
    assert not ingest_records(engine, "contacts", [{"email": "sam@crm.example", "external_id": "Z-1"}],
                              source="api").rejected
    with session_scope(engine) as session:
        get_or_create_user(session, "sam@crm.example")
    updated = ingest_records(engine, "contacts",
                             [{"external_id": "Z-1", "email": "sam@crm.example", "first_name": "Sam"}], source="api")
    assert [(p.field, p.code) for p in updated.problems] == [("email", ORGANISATION_ADDRESS)]  # a CRM user's now
    result = ingest_records(engine, "contacts", [{"external_id": "Z-1", "deleted": True}], source="api")
    assert not result.rejected and result.deleted == 1


# -- a contact that became the organisation's stops matching -----------------------------------------------


def test_organisation_addresses_are_no_contacts_sender_look_up_or_search(organisation):
    with session_scope(organisation) as session:
        old_contacts = [make_contact(session, address, first="Old", last=f"Customer{i}", company="Old Inc")
                        for i, address in enumerate(ORG)]
        for contact in old_contacts:
            make_deal(session, contact, "Negotiation", "2026-11-20")
        # A real customer whose secondary email is now a CRM user's: found by the primary one only.
        jane = make_contact(session, "jane@acme.example", secondary="rep.other@crm.example", first="Jane",
                            company="Acme")
        make_deal(session, jane, "Closed Won", "2026-01-01")

        found = categorize_senders(session, [*ORG, "jane@acme.example"], at=AT, tz="UTC", rules=RULES)
        assert set(found) == {"jane@acme.example"} and found["jane@acme.example"].contact_id == jane.id
        for address in ORG:
            assert contacts_for_address(session, address) == [], address
            assert search_contacts(session, address) == [], address
        assert [c.id for c in contacts_for_address(session, "jane@acme.example")] == [jane.id]
        # By name: the old records of the organisation's own people are gone from the search and suggestions.
        assert [c.id for c in search_contacts(session, "old")] == []
        assert [c.id for c in search_contacts(session, "jane")] == [jane.id]
        assert all(c.company != "Old Inc" for c in closest_contacts(session, "old customer"))


def test_explain_says_an_organisation_address_is_the_organisations_own(organisation):
    with session_scope(organisation) as session:
        make_contact(session, "rep@crm.example", first="Old")
        for address, words in (("rep@crm.example", "a CRM user's email"),
                               ("Rep <rep.mailbox@gmail.example>", "a connected Gmail mailbox"),
                               ("rep.alias@gmail.example", "an address allowed for a CRM user's mailbox")):
            explained = explain_sender(session, address, at=AT, tz="UTC", rules=RULES, labels=LabelNames())
            assert explained.contact is None and explained.category is None
            said = explanation_text(explained)
            assert "the organisation's own address" in said and words in said, explained
        # A From header with a customer beside the organisation's address is the customer's.
        make_contact(session, "jane@acme.example", first="Jane")
        both = explain_sender(session, "rep@crm.example, jane@acme.example", at=AT, tz="UTC", rules=RULES,
                              labels=LabelNames())
        assert both.contact is not None and both.contact.email == "jane@acme.example"
