"""What an alert shows of its contact and their deals: read once per contact in the sync's transaction
(gmail/magnet.py), or again for an alert posted later. Its link into Gmail is gmail/links.py's."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from crm_store.categories import Category, LabelNames, StageRules, deals_of, decide_category
from crm_store.models import Contact, CrmUser


def deal_context(session: Session, contact_id: int, *, at: datetime, tz: str, rules: StageRules,
                 labels: LabelNames) -> tuple[str | None, str | None]:
    """(label name, one line about the deals behind it) for an alert."""
    decision = decide_category(deals_of(session, contact_id), at=at, tz=tz, rules=rules)
    if decision.category is None:
        return None, ("Only lost deals" if decision.lost_deals else "No deals yet")
    deal = decision.deciding[0]
    more = f" (+{len(decision.deciding) - 1} more)" if len(decision.deciding) > 1 else ""
    if decision.category is Category.CUSTOMERS:
        line = f"Customer: won “{deal.name}”{more}"
    else:
        closing = f" closing {deal.closing_date.isoformat()}" if deal.closing_date else ""
        line = f"Open deal “{deal.name}”{closing} · {deal.stage}{more}"
    return labels.name_for(decision.category), line




class AlertFacts(NamedTuple):
    """What an alert shows of its contact and their deals, read once per contact."""

    contact_id: int
    contact_name: str | None
    contact_email: str | None
    company: str | None
    label: str | None
    deal_context: str | None
    # A lead (SPEC §3 Leads): its status and owner instead of deals and a label.
    is_lead: bool = False
    lead_status: str | None = None
    owner: str | None = None


def alert_facts(session: Session, contact_id: int, *, at: datetime, tz: str, rules: StageRules,
                labels: LabelNames) -> AlertFacts:
    # The contact and its owner's name in one read.
    contact, name, email = session.execute(sa.select(Contact, CrmUser.name, CrmUser.email).outerjoin(
        CrmUser, CrmUser.id == Contact.owner_id).where(Contact.id == contact_id)).one()
    owner_name = (name or email) if contact.owner_id else None
    if contact.is_lead:  # a lead has no deals, so no label
        return AlertFacts(contact.id, contact.display_name, contact.email, contact.company, None, None,
                          True, contact.lead_status, owner_name)
    label, context = deal_context(session, contact_id, at=at, tz=tz, rules=rules, labels=labels)
    return AlertFacts(contact.id, contact.display_name, contact.email, contact.company, label, context,
                      owner=owner_name)
