"""A contact's category for the three Gmail labels (SPEC §4).

1. Deals Closing This Month: an open deal closing in the current calendar
   month, in the rep's time zone.
2. Open Deals: otherwise any open deal (whatever its closing date).
3. Customers: otherwise a Closed Won deal.
4. Otherwise no category.

`categorize_senders` answers for many addresses with one query per chunk of
addresses (never one per address); `decide_category` is the same rule in
Python over one contact's deals, used to explain a decision. A test keeps
the two in agreement.
"""
from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, select

from crm_store.models import Contact, Deal



class Category(StrEnum):
    """In precedence order: the first that applies wins."""

    CLOSING_THIS_MONTH = "closing_this_month"
    OPEN_DEALS = "open_deals"
    CUSTOMERS = "customers"

    @property
    def rank(self) -> int:
        return list(Category).index(self)


@dataclass(frozen=True)
class LabelNames:
    """The Gmail label names of the three categories (configurable)."""

    closing_this_month: str = "Deals Closing This Month"
    open_deals: str = "Open Deals"
    customers: str = "Customers"

    def name_for(self, category: Category | None) -> str | None:
        return None if category is None else getattr(self, category.value)

    def category_for(self, name: str) -> Category | None:
        for category in Category:
            if self.name_for(category).lower() == name.lower():
                return category
        return None


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class StageRules:
    """Which stage names are won and lost (case-insensitive); every other stage is open."""

    won: frozenset[str] = frozenset({"closed won"})
    lost: frozenset[str] = frozenset({"closed lost", "closed-lost to competition"})

    @classmethod
    def from_names(cls, won: Iterable[str], lost: Iterable[str]) -> "StageRules":
        return cls(
            won=frozenset(s.strip().lower() for s in won if s.strip()),
            lost=frozenset(s.strip().lower() for s in lost if s.strip()),
        )

    def kind(self, stage: str | None) -> StageKind:
        normalised = (stage or "").strip().lower()
        if normalised in self.won:
            return StageKind.WON
        if normalised in self.lost:
            return StageKind.LOST
        return StageKind.OPEN


@dataclass(frozen=True)
class Month:
    """A calendar month in a time zone, as the closing-date range it covers."""

    first_day: date
    last_day: date
    tz: str

    @classmethod
    def containing(cls, at: datetime, tz: str) -> "Month":
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        local = at.astimezone(ZoneInfo(tz))
        last = calendar.monthrange(local.year, local.month)[1]
        return cls(date(local.year, local.month, 1), date(local.year, local.month, last), tz)

    @property
    def label(self) -> str:
        return self.first_day.strftime("%B %Y")

    def __contains__(self, day: date | None) -> bool:
        return day is not None and self.first_day <= day <= self.last_day


@dataclass
class SenderCategory:
    """The contact an address belongs to, and that contact's category (None: no label)."""

    address: str
    contact_id: int | None = None
    matched_secondary: bool = False
    category: Category | None = None

    @property
    def is_contact(self) -> bool:
        return self.contact_id is not None


def _better(candidate: SenderCategory, current: SenderCategory | None) -> bool:
    """An address matching several contacts: its own (primary) record wins, then the stronger category."""
    if current is None:
        return True
    if candidate.matched_secondary != current.matched_secondary:
        return not candidate.matched_secondary
    cand_rank = candidate.category.rank if candidate.category else len(Category)
    curr_rank = current.category.rank if current.category else len(Category)
    if cand_rank != curr_rank:
        return cand_rank < curr_rank
    return candidate.contact_id < current.contact_id


def _category_from_rank(rank: int | None) -> Category | None:
    return {3: Category.CLOSING_THIS_MONTH, 2: Category.OPEN_DEALS, 1: Category.CUSTOMERS}.get(rank or 0)


def _contacts_by_address(session: Session, addresses: list[str], rank_of):
    """(id, email, secondary email, rank) of every contact whose primary or secondary email is one of the
    addresses. The whole list is ONE bound parameter (a PostgreSQL array, a SQLite JSON array), and every
    look-up is an index probe: on PostgreSQL a LATERAL join keeps the planner from trading a thousand probes
    for a scan of every contact; SQLite always joins by probing."""
    columns = (Contact.id, Contact.email, Contact.secondary_email)
    if session.get_bind().dialect.name == "postgresql":
        wanted = sa.func.unnest(sa.bindparam("addresses", value=addresses, type_=postgresql.ARRAY(sa.String))) \
            .table_valued("address").render_derived(name="wanted")
        matched = sa.union_all(
            select(*columns).where(Contact.email == wanted.c.address),
            select(*columns).where(Contact.secondary_email == wanted.c.address),
        ).subquery().lateral("matched")
        return select(matched.c.id, matched.c.email, matched.c.secondary_email, rank_of(matched.c.id)) \
            .select_from(wanted).join(matched, sa.true())
    wanted = sa.func.json_each(sa.bindparam("addresses", value=json.dumps(addresses))).table_valued("value") \
        .alias("wanted")
    return sa.union_all(*(
        select(*columns, rank_of(Contact.id)).select_from(wanted).join(Contact, column == wanted.c.value)
        for column in (Contact.email, Contact.secondary_email)
    ))


def categorize_senders(
    session: Session, addresses: Iterable[str], *, at: datetime, tz: str, rules: StageRules
) -> dict[str, SenderCategory]:
    """Contact and category for each (lower-cased) address, in one set-based query."""
    wanted = sorted({a.strip().lower() for a in addresses if a and a.strip()})
    results: dict[str, SenderCategory] = {a: SenderCategory(address=a) for a in wanted}
    if not wanted:
        return results
    month = Month.containing(at, tz)
    stage = sa.func.lower(Deal.stage)
    closed = sorted(rules.won | rules.lost)
    is_open = stage.not_in(closed) if closed else sa.true()
    is_won = stage.in_(sorted(rules.won)) if rules.won else sa.false()
    # SPEC §4 as one number per deal (3 closing this month, 2 open, 1 won); a contact's category is its max.
    rank = sa.case((sa.and_(is_open, Deal.closing_date.between(month.first_day, month.last_day)), 3),
                   (is_open, 2), (is_won, 1), else_=0)

    def rank_of(contact_id):
        return select(sa.func.max(rank)).where(Deal.contact_id == contact_id).scalar_subquery()

    for contact_id, email, secondary, best in session.execute(_contacts_by_address(session, wanted, rank_of)):
        category = _category_from_rank(best)
        for address, via_secondary in ((email, False), (secondary, True)):
            if address in results:
                candidate = SenderCategory(address, contact_id, via_secondary, category)
                current = results[address]
                if _better(candidate, current if current.is_contact else None):
                    results[address] = candidate
    return results


def strongest(categories: Iterable[SenderCategory]) -> SenderCategory | None:
    """For a From header with several addresses: the contact with the strongest category (first on ties)."""
    contacts = [item for item in categories if item.is_contact]
    return min(contacts, key=lambda i: i.category.rank if i.category else len(Category), default=None)


@dataclass
class CategoryDecision:
    """A category with the deals that decided it, for explanations."""

    category: Category | None
    deciding: list[Deal] = field(default_factory=list)
    open_deals: list[Deal] = field(default_factory=list)
    won_deals: list[Deal] = field(default_factory=list)
    lost_deals: list[Deal] = field(default_factory=list)
    month: Month | None = None


def decide_category(deals: Sequence[Deal], *, at: datetime, tz: str, rules: StageRules) -> CategoryDecision:
    """SPEC §4 over one contact's deals, keeping the deals that decided the result."""
    month = Month.containing(at, tz)
    open_deals = [d for d in deals if rules.kind(d.stage) is StageKind.OPEN]
    won = [d for d in deals if rules.kind(d.stage) is StageKind.WON]
    lost = [d for d in deals if rules.kind(d.stage) is StageKind.LOST]
    closing = [d for d in open_deals if d.closing_date in month]
    if closing:
        category, deciding = Category.CLOSING_THIS_MONTH, closing
    elif open_deals:
        category, deciding = Category.OPEN_DEALS, open_deals
    elif won:
        category, deciding = Category.CUSTOMERS, won
    else:
        category, deciding = None, lost
    key = lambda d: (d.closing_date or date.max, d.id or 0)  # noqa: E731
    return CategoryDecision(
        category=category,
        deciding=sorted(deciding, key=key),
        open_deals=sorted(open_deals, key=key),
        won_deals=sorted(won, key=key),
        lost_deals=sorted(lost, key=key),
        month=month,
    )


def contacts_for_address(session: Session, address: str) -> list[Contact]:
    """Contacts whose primary or secondary email is the address: primary match first."""
    address = address.strip().lower()
    contacts = session.exec(
        select(Contact).where(sa.or_(Contact.email == address, Contact.secondary_email == address))
    ).all()
    return sorted(contacts, key=lambda c: (c.email != address, c.id))


def deals_of(session: Session, contact_id: int) -> list[Deal]:
    return list(session.exec(select(Deal).where(Deal.contact_id == contact_id).order_by(Deal.id)).all())
