"""Why an email is (not) under one of the three labels (SPEC F9), as facts: the sender, the contact, the deals and
the rule that decided; `handlers/blocks/why.py` says it in words a sales rep understands."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
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


class Reason(StrEnum):
    """Which rule answered (the facts each reads, beside it)."""

    NO_ADDRESS = "no_address"  # sender: no email address in it
    ORGANISATION = "organisation"  # address, own_role: the organisation's own address, never a contact's
    NOT_A_CONTACT = "not_a_contact"  # addresses: nobody of the CRM
    DECIDED = "decided"  # contact, matched_secondary, decision, labels
    NO_SUCH_EMAIL = "no_such_email"  # the Gmail id names no email of the mailbox
    NO_RECORD = "no_record"  # MailMagnet keeps no row for that id (and Gmail was not asked)


@dataclass
class Explanation:
    sender: str
    address: str | None
    contact: Contact | None
    category: Category | None
    label: str | None
    decision: CategoryDecision | None
    reason: Reason
    deals: list[dict[str, Any]] = field(default_factory=list)
    addresses: tuple[str, ...] = ()
    own_role: str | None = None  # what the organisation's address is (organisation_roles' words)
    matched_secondary: bool = False
    labels: LabelNames = field(default_factory=LabelNames)

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
        }


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
        return Explanation(sender, None, None, None, None, None, Reason.NO_ADDRESS)
    addresses = [addr for _, addr in parsed]
    found = categorize_senders(session, addresses, at=at, tz=tz, rules=rules)
    best = strongest(found[a] for a in addresses if a in found)
    if best is None:
        own = organisation_roles(session, addresses)
        if own:
            address = next(a for a in addresses if a in own)
            return Explanation(sender, address, None, None, None, None, Reason.ORGANISATION,
                               own_role=own[address].words)
        return Explanation(sender, addresses[0], None, None, None, None, Reason.NOT_A_CONTACT,
                           addresses=tuple(addresses))
    contact = next(c for c in contacts_for_address(session, best.address) if c.id == best.contact_id)
    deals = deals_of(session, contact.id)
    decision = decide_category(deals, at=at, tz=tz, rules=rules)
    return Explanation(
        sender=sender,
        address=best.address,
        contact=contact,
        category=decision.category,
        label=labels.name_for(decision.category),
        decision=decision,
        reason=Reason.DECIDED,
        deals=[_deal_json(d, decision, rules) for d in deals],
        matched_secondary=best.matched_secondary,
        labels=labels,
    )
