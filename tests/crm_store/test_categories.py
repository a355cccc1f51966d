"""Every rule of SPEC §4, on both databases, through the set-based query and the explaining one."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest

from crm_store.categories import (
    Category,
    LabelNames,
    Month,
    StageRules,
    categorize_senders,
    decide_category,
    deals_of,
)
from crm_store.db import session_scope
from crm_store.models import Contact, Deal
from tests.factories import make_contact, make_deal

RULES = StageRules()
AT = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)


def category_of(session, address, at=AT, tz="UTC", rules=RULES):
    found = categorize_senders(session, [address], at=at, tz=tz, rules=rules).get(address.lower())
    return None if found is None else found.category


def test_open_deal_closing_this_month_wins_over_everything(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "a@x.example")
        make_deal(s, c, "Closed Won", "2026-01-10")
        make_deal(s, c, "Proposal", "2027-02-01")
        make_deal(s, c, "Negotiation", "2026-11-30")
        assert category_of(s, "a@x.example") is Category.CLOSING_THIS_MONTH


def test_open_deal_any_closing_date_including_overdue_and_none(engine):
    with session_scope(engine) as s:
        later = make_contact(s, "later@x.example")
        make_deal(s, later, "Proposal", "2027-01-05")
        overdue = make_contact(s, "overdue@x.example")
        make_deal(s, overdue, "Proposal", "2026-10-31")
        undated = make_contact(s, "undated@x.example")
        make_deal(s, undated, "Qualification", None)
        for address in ("later@x.example", "overdue@x.example", "undated@x.example"):
            assert category_of(s, address) is Category.OPEN_DEALS, address


def test_won_then_reopened_contact_is_open_not_customer(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "reopened@x.example")
        make_deal(s, c, "Closed Won", "2026-03-01")
        make_deal(s, c, "Qualification", "2027-03-01")
        assert category_of(s, "reopened@x.example") is Category.OPEN_DEALS


def test_won_only_is_customer_and_lost_only_is_nothing(engine):
    with session_scope(engine) as s:
        won = make_contact(s, "won@x.example")
        make_deal(s, won, "Closed Won", "2026-11-20")  # closing this month, but won: not open
        make_deal(s, won, "Closed Lost", "2026-11-20")
        lost = make_contact(s, "lost@x.example")
        make_deal(s, lost, "Closed Lost", "2026-11-20")
        make_deal(s, lost, "Closed-Lost to Competition", "2026-10-01")
        bare = make_contact(s, "nodeals@x.example")
        assert bare.id
        assert category_of(s, "won@x.example") is Category.CUSTOMERS
        assert category_of(s, "lost@x.example") is None
        assert category_of(s, "nodeals@x.example") is None
        result = categorize_senders(s, ["nodeals@x.example", "stranger@x.example"], at=AT, tz="UTC", rules=RULES)
        assert result["nodeals@x.example"].is_contact
        assert "stranger@x.example" not in result  # no contact: no answer


def test_stage_names_compare_case_insensitively_and_rules_are_settings(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "case@x.example")
        make_deal(s, c, "CLOSED WON", "2026-01-01")
        make_deal(s, c, "closed-lost TO competition", "2026-11-02")
        assert category_of(s, "case@x.example") is Category.CUSTOMERS
        custom = StageRules.from_names(["Signed"], ["Dead"])
        # With other stage sets, "CLOSED WON" is just an open stage.
        assert category_of(s, "case@x.example", rules=custom) is Category.CLOSING_THIS_MONTH


def test_secondary_email_and_case_of_address(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "primary@x.example", secondary="Other@Y.example")
        make_deal(s, c, "Closed Won", "2026-01-01")
        result = categorize_senders(s, ["OTHER@y.example"], at=AT, tz="UTC", rules=RULES)["other@y.example"]
        assert result.contact_id == c.id and result.matched_secondary
        assert result.category is Category.CUSTOMERS


def test_address_that_is_one_contacts_primary_and_anothers_secondary(engine):
    with session_scope(engine) as s:
        own = make_contact(s, "shared@x.example")
        other = make_contact(s, "boss@x.example", secondary="shared@x.example")
        make_deal(s, other, "Proposal", "2026-11-20")
        result = categorize_senders(s, ["shared@x.example"], at=AT, tz="UTC", rules=RULES)["shared@x.example"]
        assert result.contact_id == own.id and result.category is None


@pytest.mark.parametrize(
    "instant, tz, expected",
    [
        # 23:30 UTC on Nov 30 is already December 1 in Paris: the Nov deal is no longer "this month".
        (datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc), "Europe/Paris", Category.OPEN_DEALS),
        (datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc), "UTC", Category.CLOSING_THIS_MONTH),
        # 03:00 UTC on Dec 1 is still November 30 in Los Angeles.
        (datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc), "America/Los_Angeles", Category.CLOSING_THIS_MONTH),
        (datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc), "UTC", Category.OPEN_DEALS),
        (datetime(2026, 11, 1, 0, 30, tzinfo=timezone.utc), "Pacific/Kiritimati", Category.CLOSING_THIS_MONTH),
        (datetime(2026, 10, 31, 20, 0, tzinfo=timezone.utc), "Pacific/Kiritimati", Category.CLOSING_THIS_MONTH),
        (datetime(2026, 10, 31, 20, 0, tzinfo=timezone.utc), "UTC", Category.OPEN_DEALS),
    ],
)
def test_month_boundaries_follow_the_reps_time_zone(engine, instant, tz, expected):
    with session_scope(engine) as s:
        c = make_contact(s, "tz@x.example")
        make_deal(s, c, "Negotiation", "2026-11-30")
        make_deal(s, c, "Negotiation", "2026-11-01")
        other = make_contact(s, "tz2@x.example")
        make_deal(s, other, "Negotiation", "2026-11-30")
        assert category_of(s, "tz2@x.example", at=instant, tz=tz) is expected


def test_month_containing_handles_leap_years():
    month = Month.containing(datetime(2028, 2, 10, tzinfo=timezone.utc), "UTC")
    assert (month.first_day, month.last_day) == (date(2028, 2, 1), date(2028, 2, 29))


def test_many_senders_in_one_call_across_chunks(engine):
    with session_scope(engine) as s:
        contacts = [make_contact(s, f"bulk{i}@x.example") for i in range(1200)]
        for i, c in enumerate(contacts):
            if i % 3 == 0:
                make_deal(s, c, "Proposal", "2026-11-05")
            elif i % 3 == 1:
                make_deal(s, c, "Closed Won", "2025-11-05")
        addresses = [c.email for c in contacts] + ["nobody@x.example"]
        result = categorize_senders(s, addresses, at=AT, tz="UTC", rules=RULES)
        assert len(result) == 1200
        assert result["bulk0@x.example"].category is Category.CLOSING_THIS_MONTH
        assert result["bulk1@x.example"].category is Category.CUSTOMERS
        assert result["bulk2@x.example"].category is None and result["bulk2@x.example"].is_contact
        assert result["bulk1197@x.example"].category is Category.CLOSING_THIS_MONTH
        assert "nobody@x.example" not in result


@pytest.mark.parametrize("rules", [
    RULES,
    StageRules.from_names(["Signed"], ["Dead", "closed lost"]),
    StageRules.from_names([], ["Closed Lost"]),  # no won stage: nobody is a customer
    StageRules.from_names(["Closed Won"], []),  # no lost stage: "Closed Lost" is an open stage
    StageRules.from_names(["Closed Won", "Done"], ["done", "Closed Lost"]),  # in both sets: won, as kind() says
])
def test_set_based_query_agrees_with_the_explaining_rule(engine, rules):
    """Random CRMs: the SQL answer and the Python answer are the same category, whatever the stage rules."""
    rng = random.Random(20261126)
    stages = ["Closed Won", "closed lost", "Closed-Lost to Competition", "Proposal", "Negotiation", "Qualification",
              "SIGNED", "dead", "Done"]
    with session_scope(engine) as s:
        contacts = []
        for i in range(150):
            c = make_contact(s, f"r{i}@x.example", secondary=f"alt{i}@y.example" if i % 4 == 0 else None)
            for _ in range(rng.randint(0, 4)):
                closing = date(2026, 11, 15) + timedelta(days=rng.randint(-60, 60)) if rng.random() > 0.1 else None
                make_deal(s, c, rng.choice(stages), closing)
            contacts.append(c)
        for at, tz in ((AT, "UTC"), (datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc), "Asia/Tokyo")):
            addresses = [c.email for c in contacts] + [c.secondary_email for c in contacts if c.secondary_email]
            result = categorize_senders(s, addresses, at=at, tz=tz, rules=rules)
            for c in contacts:
                expected = decide_category(deals_of(s, c.id), at=at, tz=tz, rules=rules).category
                assert result[c.email].category is expected, c.email
                assert (result[c.email].contact_id, result[c.email].matched_secondary) == (c.id, False)
                if c.secondary_email:
                    found = result[c.secondary_email]
                    assert (found.contact_id, found.matched_secondary, found.category) == (c.id, True, expected)


def test_contacts_and_deals_not_yet_flushed_count(engine):
    """As any query of the session would, the look-up sees what the session holds but has not written yet."""
    with session_scope(engine) as s:
        contact = make_contact(s, "pending@x.example")
        s.add(Deal(name="Pending", contact_id=contact.id, stage="Proposal", closing_date=date(2027, 1, 1)))
        s.add(Contact(email="new@x.example"))
        result = categorize_senders(s, ["pending@x.example", "new@x.example"], at=AT, tz="UTC", rules=RULES)
        assert result["pending@x.example"].category is Category.OPEN_DEALS
        assert result["new@x.example"].is_contact


def test_addresses_are_trimmed_lower_cased_and_blanks_ignored(engine):
    with session_scope(engine) as s:
        c = make_contact(s, "trim@x.example")
        make_deal(s, c, "Closed Won", "2026-01-01")
        result = categorize_senders(s, ["  Trim@X.example ", "", None, "   "], at=AT, tz="UTC", rules=RULES)
        assert list(result) == ["trim@x.example"]
        assert result["trim@x.example"].category is Category.CUSTOMERS
        assert categorize_senders(s, [], at=AT, tz="UTC", rules=RULES) == {}


def test_label_names_are_configurable():
    names = LabelNames(customers="Clients")
    assert names.name_for(Category.CUSTOMERS) == "Clients"
    assert names.category_for("clients") is Category.CUSTOMERS
    assert names.name_for(None) is None
