"""A CRM contact's card (SPEC F5, §5): details and deals, for linked CRM users of the organisation only."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from crm_store.categories import deals_of, decide_category
from crm_store.models import Contact, CrmUser, utcnow
from usecases.context import Services


@dataclass(frozen=True)
class DealLine:
    name: str
    stage: str
    closing_date: str | None
    amount: str | None
    status: str  # open / won / lost


@dataclass
class ContactCard:
    id: int
    name: str
    email: str
    secondary_email: str | None
    company: str | None
    phone: str | None
    owner: str | None
    category_label: str | None
    deals: list[DealLine] = field(default_factory=list)


def contact_card(session: Session, services: Services, contact: Contact, tz: str) -> ContactCard:
    """Callers have checked the viewer is a CRM user (`access.require_crm_user`)."""
    deals = deals_of(session, contact.id)
    decision = decide_category(deals, at=utcnow(), tz=tz, rules=services.rules)
    owner = session.get(CrmUser, contact.owner_id) if contact.owner_id else None
    return ContactCard(
        id=contact.id, name=contact.display_name, email=contact.email, secondary_email=contact.secondary_email,
        company=contact.company, phone=contact.phone, owner=(owner.name or owner.email) if owner else None,
        category_label=services.labels.name_for(decision.category),
        deals=[DealLine(d.name, d.stage, d.closing_date.isoformat() if d.closing_date else None,
                        str(d.amount) if d.amount is not None else None, services.rules.kind(d.stage).value)
               for d in deals],
    )
