"""A CRM contact (SPEC F5, F7, §5): finding them, their card, and the emails exchanged with them in every
mailbox the viewer may see — fetched live from Gmail, never stored — with every view of someone else's
email written to the audit log.

- The card (details, owner, deals, label) is for linked CRM users of the organisation only
  (`access.require_crm_user`); anyone else gets a refusal, never data.
- The emails (`usecases/contact_emails.py`): `visibility.mailboxes_visible_to` says which mailboxes and how much of each. Per mailbox, one
  `messages.list` whose query is built from the contact's validated addresses and one `/batch` of metadata,
  all mailboxes in parallel (`usecases.fanout`); a mailbox that fails or is slow is "unavailable right
  now" while the others show. Newest first across mailboxes; an email in several visible mailboxes
  (a colleague in copy) is one line naming every mailbox it is in, showing the most the viewer may
  see of any copy. Each line shows what its level allows: metadata (from, to, date), subject, full
  (and snippet), or everything for the owner. "Show more" continues from page tokens kept in the
  database (`contact_view_pages`), never in the button.
- What is with the contact: Gmail's search only pre-filters. A message is listed, opened, replied to, shown on
  the App Home or audited only when its own headers show one of the contact's addresses (never one of the
  organisation's) as the counterparty: `gmail.conversations.is_with_contact`, the one rule every surface here
  applies.
- The detail ("Open", `usecases/email_detail.py`): headers, snippet and plain-text body for the mailbox owner (fetched live); others
  see it at their depth and never the body. The button's ids are checked: the viewer may see that
  mailbox's emails with that contact, and the message really is one with that contact (for the owner too).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from sqlmodel import Session

from crm_store.categories import deals_of, decide_category
from crm_store.contact_search import closest_contacts, search_contacts
from crm_store.errors import InvalidInput, NotFoundError
from crm_store.models import AuditSurface, Contact, CrmUser, utcnow
from gmail.conversations import Cursor, contact_addresses
from usecases import access, fanout, visibility
from usecases.actors import Actor, SlackActorRef, acting
from usecases.contact_emails import EmailPage, MailboxSearch, fill_page
from usecases.context import Services
from usecases.refusals import Refusal

MATCH_LIMIT = 10


# -- the card ---------------------------------------------------------------------------------------

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
    is_lead: bool = False  # a lead (SPEC §3): no deals, its lead status instead
    lead_status: str | None = None


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
        is_lead=contact.is_lead, lead_status=contact.lead_status,
    )


# -- results ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContactMatch:
    id: int
    name: str
    email: str
    company: str | None


def _match(contact: Contact) -> ContactMatch:
    return ContactMatch(contact.id, contact.display_name, contact.email, contact.company)


@dataclass
class ContactChoices:
    """Several contacts match: the viewer picks one."""

    query: str
    matches: list[ContactMatch]
    more: bool = False


@dataclass
class NoContact:
    query: str
    closest: list[ContactMatch] = field(default_factory=list)


@dataclass
class ContactView:
    card: ContactCard
    emails: EmailPage


LookUp = ContactView | ContactChoices | NoContact


# -- finding a contact --------------------------------------------------------------------------------

@fanout.one_view_at_a_time
def look_up(services: Services, who: SlackActorRef, text: str,
            surface: AuditSurface = AuditSurface.CONTACT_VIEW) -> LookUp:
    """`/contact <email or name>`: one match → the card and emails; several → a choice; none → the closest names.
    One session for the whole request, from the viewer's check to the audit rows."""
    query = " ".join(text.split())[:200]
    if not query:
        raise InvalidInput(Refusal.WHOM_TO_LOOK_UP)
    with acting(services, who) as (session, actor):
        viewer = access.require_crm_user(session, actor)
        found = search_contacts(session, query, limit=MATCH_LIMIT + 1)
        if not found:
            return NoContact(query, [_match(c) for c in closest_contacts(session, query)])
        if len(found) > 1:
            return ContactChoices(query, [_match(c) for c in found[:MATCH_LIMIT]], more=len(found) > MATCH_LIMIT)
        return _contact_view(session, services, actor, viewer, found[0], surface)


@fanout.one_view_at_a_time
def for_addresses(services: Services, who: SlackActorRef, addresses: Callable[[], Iterable[str]]) -> LookUp:
    """The message shortcut: the contacts among the addresses a Slack message mentions. `addresses` is called
    only once the viewer is known to be a CRM user: reading a message costs CPU a guest must not spend."""
    with acting(services, who) as (session, actor):
        viewer = access.require_crm_user(session, actor)
        wanted = list(dict.fromkeys(a.strip().lower() for a in addresses() if a and a.strip()))[:20]
        if not wanted:
            raise InvalidInput(Refusal.NO_ADDRESS_IN_MESSAGE)
        found: dict[int, Contact] = {}
        for address in wanted:
            for contact in search_contacts(session, address, limit=MATCH_LIMIT):
                found.setdefault(contact.id, contact)
        if not found:
            closest = closest_contacts(session, wanted[0])
            return NoContact(", ".join(wanted), [_match(c) for c in closest])
        if len(found) > 1:
            matches = [_match(c) for c in found.values()]
            return ContactChoices(", ".join(wanted), matches[:MATCH_LIMIT], more=len(matches) > MATCH_LIMIT)
        return _contact_view(session, services, actor, viewer, next(iter(found.values())), AuditSurface.SHORTCUT)


@fanout.one_view_at_a_time
def show_contact(services: Services, who: SlackActorRef, contact_id: Any,
                 surface: AuditSurface = AuditSurface.CONTACT_VIEW) -> ContactView:
    """A contact picked from a list (or named by an alert): any CRM user may see any contact's card."""
    if not isinstance(contact_id, int):
        raise InvalidInput(Refusal.STALE_BUTTON)
    with acting(services, who) as (session, actor):
        viewer = access.require_crm_user(session, actor)
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFoundError(Refusal.CONTACT_GONE)
        return _contact_view(session, services, actor, viewer, contact, surface)


def _contact_view(session: Session, services: Services, actor: Actor, viewer: CrmUser, contact: Contact,
                  surface: AuditSurface) -> ContactView:
    """Callers have checked the viewer is a CRM user (`access.require_crm_user`)."""
    card = contact_card(session, services, contact, viewer.timezone or services.config.default_timezone)
    visible = visibility.mailboxes_visible_to(session, actor, contact.id)
    for account, _ in visible:
        session.expunge(account)
    mailboxes = [MailboxSearch(account, level, Cursor()) for account, level in visible]
    page = EmailPage(contact.id, contact.display_name, mailboxes=len(mailboxes))
    emails = fill_page(session, services, actor, page, mailboxes, contact_addresses(session, contact), surface,
                        view_id=None, shown=0)
    return ContactView(card, emails)
