"""What an alert shows of its contact and their deals: read once per contact in the sync's transaction
(gmail/magnet.py), or again for an alert posted later. Its link into Gmail is gmail/links.py's."""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterable, NamedTuple, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session

from crm_store.categories import Category, LabelNames, StageRules, decide_category
from crm_store.models import Alert, AlertStatus, Contact, CrmUser, Deal, MutedContact


class _Deal(NamedTuple):
    """The deal columns `decide_category` reads (it takes these as it takes Deal rows)."""

    id: int
    name: str
    stage: str
    closing_date: date | None


def _deal_context(rows: Sequence[sa.Row], *, at: datetime, tz: str, rules: StageRules,
                  labels: LabelNames) -> tuple[str | None, str | None]:
    """(label name, one line about the deals behind it) for an alert."""
    deals = [_Deal(row.deal_id, row.deal_name, row.deal_stage, row.deal_closing) for row in rows
             if row.deal_id is not None]
    decision = decide_category(deals, at=at, tz=tz, rules=rules)
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


# What an alert shows, as SQLAlchemy Core statements built once (issue 17: building the statement and loading the
# Contact and Deal entities per alert cost more CPU than running it): the contact, its owner's name and its deals
# in one read, one row per deal (or one with no deal).
_contacts, _users, _deals = Contact.__table__, CrmUser.__table__, Deal.__table__
_muted, _alerts = MutedContact.__table__, Alert.__table__
_FACT_COLUMNS = (
    _contacts.c.id, _contacts.c.first_name, _contacts.c.last_name, _contacts.c.email, _contacts.c.company,
    _contacts.c.owner_id, _contacts.c.is_lead, _contacts.c.lead_status, _users.c.name.label("owner_name"),
    _users.c.email.label("owner_email"), _deals.c.id.label("deal_id"), _deals.c.name.label("deal_name"),
    _deals.c.stage.label("deal_stage"), _deals.c.closing_date.label("deal_closing"),
)


def _with_owner_and_deals(contacts: sa.FromClause | sa.Join) -> sa.Join:
    return contacts.outerjoin(_users, _users.c.id == _contacts.c.owner_id) \
        .outerjoin(_deals, _deals.c.contact_id == _contacts.c.id)


_FACTS = sa.select(*_FACT_COLUMNS).select_from(_with_owner_and_deals(_contacts)) \
    .where(_contacts.c.id == sa.bindparam("contact_id")).order_by(_deals.c.id)

# The sync's read for MailMagnet.record: besides the facts of the senders, whether each is muted in the mailbox,
# and whether alerts of the mailbox wait to be posted (pending) or in a digest. The waiting flags are the FROM (a
# one-row subquery) and the contacts are joined to it, so the row is there even when no contact is found.
_waiting = sa.select(*(sa.exists().where(_alerts.c.account_id == sa.bindparam("account_id"),
                                         _alerts.c.status == status.value).label(status.value)
                       for status in (AlertStatus.PENDING, AlertStatus.QUEUED_DIGEST))).subquery("waiting")
_FOR_RECORD = sa.select(
    _waiting.c[AlertStatus.PENDING.value], _waiting.c[AlertStatus.QUEUED_DIGEST.value], *_FACT_COLUMNS,
    sa.exists().where(_muted.c.account_id == sa.bindparam("account_id"), _muted.c.contact_id == _contacts.c.id)
    .label("muted"),
).select_from(_with_owner_and_deals(_waiting.outerjoin(
    _contacts, _contacts.c.id.in_(sa.bindparam("contact_ids", expanding=True))))).order_by(_deals.c.id)


class SendersRead(NamedTuple):
    """The sync's one read for the alerts of a batch (`read_senders`)."""

    rows: dict[int, list[sa.Row]]  # contact id -> its rows (one per deal), for `facts_of`
    muted: frozenset[int]
    waiting: frozenset[str]  # AlertStatus values of the mailbox's alerts waiting from before


def read_senders(connection: Connection, account_id: int, contact_ids: Iterable[int]) -> SendersRead:
    rows = connection.execute(_FOR_RECORD, {"account_id": account_id, "contact_ids": sorted(set(contact_ids))}).all()
    waiting = frozenset(status.value for status in (AlertStatus.PENDING, AlertStatus.QUEUED_DIGEST)
                        if rows[0]._mapping[status.value])
    by_contact: dict[int, list[sa.Row]] = {}
    for row in rows:
        if row.id is not None:
            by_contact.setdefault(row.id, []).append(row)
    muted = frozenset(contact_id for contact_id, found in by_contact.items() if found[0].muted)
    return SendersRead(by_contact, muted, waiting)


def facts_of(rows: Sequence[sa.Row], *, at: datetime, tz: str, rules: StageRules, labels: LabelNames) -> AlertFacts:
    """The facts of one contact from its rows of `_FACTS` or `_FOR_RECORD` (none: the contact is gone)."""
    if not rows:
        raise NoResultFound("the alert's contact is gone")  # as the entity load this replaced
    contact = rows[0]
    owner_name = (contact.owner_name or contact.owner_email) if contact.owner_id else None
    name = Contact.display_name.fget(contact)  # the model's own rule, on the row's columns of the same names
    if contact.is_lead:  # a lead has no deals, so no label
        return AlertFacts(contact.id, name, contact.email, contact.company, None, None, True, contact.lead_status,
                          owner_name)
    label, context = _deal_context(rows, at=at, tz=tz, rules=rules, labels=labels)
    return AlertFacts(contact.id, name, contact.email, contact.company, label, context, owner=owner_name)


def alert_facts(session: Session, contact_id: int, *, at: datetime, tz: str, rules: StageRules,
                labels: LabelNames) -> AlertFacts:
    return facts_of(session.execute(_FACTS, {"contact_id": contact_id}).all(), at=at, tz=tz, rules=rules, labels=labels)
