from datetime import datetime, timezone

from crm_store.categories import LabelNames, StageRules
from crm_store.db import session_scope
from crm_store.explain import explain_sender
from handlers.blocks.why import explanation_text
from tests.factories import make_contact, make_deal

AT = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
LABELS = LabelNames()


def explain(session, sender, tz="UTC", at=AT):
    return explain_sender(session, sender, at=at, tz=tz, rules=StageRules(), labels=LABELS)


def test_closing_this_month_names_the_deal_and_the_precedence(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "jane@acme.example", first="Jane", last="Doe", company="Acme")
        make_deal(s, c, "Negotiation", "2026-11-30", name="Acme renewal")
        make_deal(s, c, "Closed Won", "2026-01-30", name="Acme pilot")
        explained = explain(s, '"Jane Doe" <JANE@acme.example>')
        result = {**explained.to_json(), "reason": explanation_text(explained)}
    assert result["category"] == "Deals Closing This Month"
    assert result["address"] == "jane@acme.example"
    assert result["contact"]["name"] == "Jane Doe"
    assert "Acme renewal" in result["reason"] and "2026-11-30" in result["reason"]
    assert "takes precedence over Open Deals and Customers" in result["reason"]
    decided = {d["name"]: d["decided"] for d in result["deals"]}
    assert decided == {"Acme renewal": True, "Acme pilot": False}


def test_open_deal_next_month_and_overdue_explained(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "bob@globex.example", first="Bob")
        make_deal(s, c, "Proposal", "2026-12-01", name="Expansion")
        make_deal(s, c, "Proposal", "2026-10-01", name="Old quote")
        make_deal(s, c, "Closed Won", "2026-01-01", name="First order")
        e = explain(s, "bob@globex.example")
    assert e.label == "Open Deals"
    assert "none closing in November 2026" in explanation_text(e)
    assert "overdue since 2026-10-01" in explanation_text(e)
    assert "It also has 1 won deal, but Open Deals takes precedence over Customers" in explanation_text(e)


def test_time_zone_moves_the_month(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "tz@x.example")
        make_deal(s, c, "Proposal", "2026-12-01")
        late = datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)
        assert explain(s, "tz@x.example", tz="UTC", at=late).label == "Open Deals"
        paris = explain(s, "tz@x.example", tz="Europe/Paris", at=late)
        assert paris.label == "Deals Closing This Month"
        assert "December 2026, Europe/Paris" in explanation_text(paris)


def test_customers_lost_only_no_deals_not_a_contact(engine):
    with session_scope(engine) as s:
        won = make_contact(s, "won@x.example")
        make_deal(s, won, "closed won", "2026-02-01", name="Won one")
        lost = make_contact(s, "lost@x.example")
        make_deal(s, lost, "Closed Lost", "2026-02-01", name="Gone")
        make_contact(s, "none@x.example")
        assert explain(s, "won@x.example").label == "Customers"
        lost_e = explain(s, "lost@x.example")
        assert lost_e.label is None and "only lost deals" in explanation_text(lost_e) and "Gone" in explanation_text(lost_e)
        assert "no deals" in explanation_text(explain(s, "none@x.example"))
        stranger_e = explain(s, "Someone <someone@else.example>")
        stranger = {**stranger_e.to_json(), "reason": explanation_text(stranger_e)}
        assert stranger["contact"] is None and stranger["category"] is None
        assert "not the primary or secondary email of any CRM contact" in stranger["reason"]
        junk = explain(s, "no address here")
        assert junk.address is None and "does not contain an email address" in explanation_text(junk)


def test_secondary_email_is_named_and_several_senders_pick_the_strongest(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "p@x.example", secondary="alias@y.example", first="Ana")
        make_deal(s, c, "Closed Won", "2026-02-01")
        o = make_contact(s, "o@x.example", first="Omar")
        make_deal(s, o, "Proposal", "2027-02-01")
        via_secondary = explain(s, "alias@y.example")
        assert via_secondary.label == "Customers" and "secondary email is alias@y.example" in explanation_text(via_secondary)
        both = explain(s, "alias@y.example, o@x.example")
        assert both.contact.id == o.id and both.label == "Open Deals"
