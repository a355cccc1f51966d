"""Zoho Leads through the sync, over real HTTP against the emulator: incremental like Contacts, deletions, and
conversion (which Zoho hides from the default listing) moving the lead's history to its contact."""
from __future__ import annotations

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, Contact, GmailAccount
from crm_store.users import get_or_create_user
from crm_sync import run_zoho_sync


def sync(engine, config, zoho, client_for):
    result = run_zoho_sync(engine, config, clock=zoho.now, client=client_for(config))
    assert result.status == "synced", result.reason
    return result


def person(engine, external_id) -> Contact | None:
    with session_scope(engine) as session:
        found = session.exec(select(Contact).where(Contact.external_id == external_id)).first()
        if found is not None:
            session.expunge(found)
        return found


def test_an_organisation_address_in_zoho_leads_is_skipped_and_named_by_what_it_is(engine, zoho, config, client_for):
    zoho.add_lead("rep@sales.example", first_name="Rep")  # a CRM user's own address, typed in as a lead
    zoho.add_lead("pat@prospect.example", first_name="Pat", owner="rep@sales.example")
    zoho.advance(60)
    result = sync(engine, config, zoho, client_for)
    leads = result.modules["Leads"]
    assert (leads.created, leads.skipped, leads.skipped_organisation) == (1, 1, 1)
    assert "rep@sales.example" not in str(result.problems)
    with session_scope(engine) as session:
        assert [c.email for c in session.exec(select(Contact))] == ["pat@prospect.example"]


def test_leads_sync_incrementally_with_status_owner_and_deletions(engine, zoho, config, client_for):
    pat = zoho.add_lead("pat@prospect.example", first_name="Pat", company="Zylker", lead_status="Contacted",
                        owner="rep@sales.example")
    zoho.advance(60)
    first = sync(engine, config, zoho, client_for)
    assert first.modules["Leads"].created == 1
    stored = person(engine, pat)
    assert stored.is_lead and (stored.lead_status, stored.company, stored.first_name) == ("Contacted", "Zylker", "Pat")

    zoho.edit_record("Leads", pat, Lead_Status="Qualified")
    zoho.advance(60)
    second = sync(engine, config, zoho, client_for)
    assert (second.modules["Leads"].read, second.modules["Leads"].updated) == (1, 1)
    assert person(engine, pat).lead_status == "Qualified"
    assert person(engine, pat).id == stored.id

    zoho.advance(60)
    zoho.delete_record("Leads", pat)
    zoho.advance(60)
    sync(engine, config, zoho, client_for)
    assert person(engine, pat) is None


def test_a_conversion_in_zoho_moves_the_leads_history_to_the_contact(engine, zoho, config, client_for):
    pat = zoho.add_lead("pat@prospect.example", first_name="Pat", company="Zylker", owner="rep@sales.example")
    zoho.advance(60)
    sync(engine, config, zoho, client_for)
    lead_id = person(engine, pat).id
    with session_scope(engine) as session:
        rep = get_or_create_user(session, "rep@sales.example")
        account = GmailAccount(crm_user_id=rep.id, slack_team_id="T1", slack_user_id="U1",
                               email_address="rep@sales.example")
        session.add(account)
        session.flush()
        session.add(Alert(account_id=account.id, gmail_id="first-mail", contact_id=lead_id, channel="DM"))

    zoho.advance(60)
    answer = zoho.convert_lead(pat, deal={"Deal_Name": "Zylker pilot", "Closing_Date": "2026-12-15",
                                          "Stage": "Qualification"})
    contact_id = answer["Contacts"]["id"]
    zoho.advance(60)
    result = sync(engine, config, zoho, client_for)
    assert result.modules["Deals"].created == 1 and result.modules["Deals"].skipped == 0
    became = person(engine, contact_id)
    assert became is not None and not became.is_lead and became.id == lead_id
    assert person(engine, pat) is None
    with session_scope(engine) as session:
        assert session.exec(select(Alert.contact_id)).all() == [lead_id]
    # Zoho answers the converted lead's own read only when asked for converted leads.
    assert any(call.endpoint == "record" and call.query.get("converted") == "true" for call in zoho.calls)


def test_a_lead_converted_into_an_existing_contact_follows_it(engine, zoho, config, client_for):
    ana = zoho.add_contact("ana@acme.example", first_name="Ana", owner="rep@sales.example")
    pat = zoho.add_lead("pat@prospect.example", first_name="Pat", owner="rep@sales.example")
    zoho.advance(60)
    sync(engine, config, zoho, client_for)
    lead_id = person(engine, pat).id
    zoho.advance(60)
    zoho.convert_lead(pat, contact_id=ana)
    zoho.advance(60)
    result = sync(engine, config, zoho, client_for)
    assert result.modules["Leads"].updated == 1
    with session_scope(engine) as session:
        assert session.get(Contact, lead_id) is None
    assert person(engine, ana).secondary_email == "pat@prospect.example"
