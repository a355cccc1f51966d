"""Why an email is (not) under one of the three labels, in words a sales rep understands (SPEC F9)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from crm_store.addresses import parse_addresses
from crm_store.categories import (
    Category,
    CategoryDecision,
    LabelNames,
    StageKind,
    StageRules,
    categorize_senders,
    contacts_for_address,
    deals_of,
    decide_category,
    strongest,
)
from crm_store.models import Contact, Deal
from crm_store.organisation import organisation_roles


@dataclass
class Explanation:
    sender: str
    address: str | None
    contact: Contact | None
    category: Category | None
    label: str | None
    decision: CategoryDecision | None
    reason: str
    deals: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        contact = None
        if self.contact is not None:
            contact = {
                "id": self.contact.id,
                "name": self.contact.display_name,
                "email": self.contact.email,
                "secondary_email": self.contact.secondary_email,
                "company": self.contact.company,
            }
        return {
            "sender": self.sender,
            "address": self.address,
            "contact": contact,
            "category": self.label,
            "deals": self.deals,
            "reason": self.reason,
        }


def _deal_phrase(deal: Deal, month_first_day) -> str:
    if deal.closing_date is None:
        return f'"{deal.name}" (no closing date)'
    if deal.closing_date < month_first_day:
        return f'"{deal.name}" (overdue since {deal.closing_date.isoformat()})'
    return f'"{deal.name}" closing {deal.closing_date.isoformat()}'


def _list(phrases: list[str], limit: int = 3) -> str:
    shown = phrases[:limit]
    extra = len(phrases) - len(shown)
    text = ", ".join(shown)
    return f"{text} and {extra} more" if extra > 0 else text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe_decision(who: str, decision: CategoryDecision, labels: LabelNames) -> str:
    """The rule applied, as one sentence."""
    month = decision.month
    first = month.first_day
    if decision.category is Category.CLOSING_THIS_MONTH:
        deals = _list([_deal_phrase(d, first) for d in decision.deciding])
        return (
            f"{who} has {'an open deal' if len(decision.deciding) == 1 else 'open deals'} {deals}, "
            f"this month ({month.label}, {month.tz}), so the email is filed under "
            f"{labels.closing_this_month}, which takes precedence over {labels.open_deals} and {labels.customers}."
        )
    if decision.category is Category.OPEN_DEALS:
        deals = _list([_deal_phrase(d, first) for d in decision.deciding])
        tail = ""
        if decision.won_deals:
            tail = (f" It also has {_plural(len(decision.won_deals), 'won deal')}, but {labels.open_deals} "
                    f"takes precedence over {labels.customers}.")
        return (
            f"{who} has {_plural(len(decision.deciding), 'open deal')} ({deals}) but none closing in "
            f"{month.label} ({month.tz}), so the email is filed under {labels.open_deals}.{tail}"
        )
    if decision.category is Category.CUSTOMERS:
        deals = _list([f'"{d.name}" ({d.stage})' for d in decision.deciding])
        return (
            f"{who} has no open deal and {_plural(len(decision.deciding), 'won deal')} ({deals}), "
            f"so the email is filed under {labels.customers}."
        )
    if decision.lost_deals:
        deals = _list([f'"{d.name}" ({d.stage})' for d in decision.lost_deals])
        return (
            f"{who} has only lost deals ({deals}): no open or won deal, "
            "so the email is not filed under any label."
        )
    return f"{who} is a CRM contact with no deals, so the email is not filed under any label."


def _deal_json(deal: Deal, decision: CategoryDecision, rules: StageRules) -> dict[str, Any]:
    kind = rules.kind(deal.stage)
    return {
        "id": deal.id,
        "name": deal.name,
        "stage": deal.stage,
        "status": kind.value,
        "closing_date": deal.closing_date.isoformat() if deal.closing_date else None,
        "amount": str(deal.amount) if deal.amount is not None else None,
        "closes_this_month": kind is StageKind.OPEN and deal.closing_date in decision.month,
        "decided": any(d.id == deal.id for d in decision.deciding) and decision.category is not None,
    }


def explain_sender(
    session: Session, sender: str, *, at: datetime, tz: str, rules: StageRules, labels: LabelNames
) -> Explanation:
    """Category and reason for a sender given as an address or a whole From header."""
    parsed = parse_addresses(sender)
    if not parsed:
        return Explanation(sender, None, None, None, None, None,
                           f"“{sender}” does not contain an email address, so there is nothing to file.")
    addresses = [addr for _, addr in parsed]
    found = categorize_senders(session, addresses, at=at, tz=tz, rules=rules)
    best = strongest(found[a] for a in addresses if a in found)
    if best is None:
        own = organisation_roles(session, addresses)
        if own:
            address = next(a for a in addresses if a in own)
            return Explanation(sender, address, None, None, None, None,
                               f"{address} is the organisation's own address ({own[address].words}), "
                               "never a contact's: MailMagnet sends no alert for its emails and files none of them "
                               "under a label (what was filed while it was a contact's stays where it is).")
        shown = addresses[0] if len(addresses) == 1 else ", ".join(addresses)
        return Explanation(sender, addresses[0], None, None, None, None,
                           f"{shown} is not the primary or secondary email of any CRM contact, "
                           "so the email is not filed under any label.")
    contact = next(c for c in contacts_for_address(session, best.address) if c.id == best.contact_id)
    deals = deals_of(session, contact.id)
    decision = decide_category(deals, at=at, tz=tz, rules=rules)
    who = contact.display_name + (f" ({contact.company})" if contact.company else "")
    if best.matched_secondary:
        who += f", whose secondary email is {best.address},"
    reason = describe_decision(who, decision, labels)
    return Explanation(
        sender=sender,
        address=best.address,
        contact=contact,
        category=decision.category,
        label=labels.name_for(decision.category),
        decision=decision,
        reason=reason,
        deals=[_deal_json(d, decision, rules) for d in deals],
    )
