"""Finding CRM contacts the way a rep types them (`/contact`, `/email`, the message shortcut).

An address finds the contact whose primary or secondary email it is. Anything else is a name or
company search: every word must appear (case-insensitively, anywhere) in the first name, last name,
company or email. When nothing matches, `closest_contacts` suggests the nearest names — a bounded
candidate set (same first letters) ranked by similarity, so it stays cheap on a large CRM.

The organisation's own addresses are never a contact's (`crm_store.organisation`): an address search for
one finds nothing, and a contact record whose primary email has become the organisation's (a customer
who joined the team) is left out of name searches and suggestions too.
"""
from __future__ import annotations

import difflib
from typing import Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from crm_store.addresses import is_valid_address
from crm_store.categories import contacts_for_address
from crm_store.models import Contact
from crm_store.organisation import is_not_organisation

MAX_WORDS = 5
CLOSEST_CANDIDATES = 400


def _not_organisation() -> sa.ColumnElement[bool]:
    return is_not_organisation(Contact.email)


def _words(text: str) -> list[str]:
    return [w for w in text.lower().split() if w][:MAX_WORDS]


def looks_like_address(text: str) -> bool:
    return is_valid_address(text.strip().lower())


def search_contacts(session: Session, text: str, *, limit: int = 10) -> list[Contact]:
    """Contacts matching an address exactly, else every word of a name/company search; at most `limit`."""
    text = text.strip()
    if not text:
        return []
    if looks_like_address(text):
        return contacts_for_address(session, text)[:limit]
    fields = (sa.func.lower(Contact.first_name), sa.func.lower(Contact.last_name), sa.func.lower(Contact.company),
              Contact.email)
    condition = sa.and_(*(sa.or_(*(field.contains(word, autoescape=True) for field in fields))
                          for word in _words(text)), _not_organisation())
    rows = session.exec(select(Contact).where(condition)
                        .order_by(sa.func.lower(sa.func.coalesce(Contact.last_name, Contact.email)),
                                  sa.func.lower(sa.func.coalesce(Contact.first_name, "")), Contact.id)
                        .limit(limit)).all()
    return list(rows)


def _candidates(session: Session, words: Iterable[str]) -> list[Contact]:
    prefixes = {w[:2] for w in words if len(w) >= 2} or {w[:1] for w in words if w}
    if not prefixes:
        return []
    fields = (sa.func.lower(Contact.first_name), sa.func.lower(Contact.last_name), sa.func.lower(Contact.company),
              Contact.email)
    condition = sa.and_(sa.or_(*(field.startswith(prefix, autoescape=True) for field in fields for prefix in prefixes)),
                        _not_organisation())
    return list(session.exec(select(Contact).where(condition).limit(CLOSEST_CANDIDATES)).all())


def closest_contacts(session: Session, text: str, *, limit: int = 5, cutoff: float = 0.5) -> list[Contact]:
    """The contacts whose name, company or address reads most like `text` (for "did you mean")."""
    query = text.strip().lower()
    if looks_like_address(query):
        local, _, domain = query.partition("@")
        words = [local, domain.split(".")[0]]
    else:
        words = _words(query)
    if not words:
        return []

    def score(contact: Contact) -> float:
        names = [contact.display_name.lower(), (contact.company or "").lower(), contact.email.split("@")[0]]
        names += [(contact.first_name or "").lower(), (contact.last_name or "").lower()]
        best = max(difflib.SequenceMatcher(None, query, name).ratio() for name in names if name) if any(names) else 0
        per_word = [max((difflib.SequenceMatcher(None, w, n).ratio() for n in names if n), default=0) for w in words]
        return max(best, sum(per_word) / len(per_word))

    scored = sorted(((score(c), c.id, c) for c in _candidates(session, words)), key=lambda t: (-t[0], t[1]))
    return [contact for value, _, contact in scored if value >= cutoff][:limit]


def contacts_by_ids(session: Session, ids: Iterable[int]) -> dict[int, Contact]:
    wanted = [i for i in set(ids) if isinstance(i, int)]
    if not wanted:
        return {}
    return {c.id: c for c in session.exec(select(Contact).where(Contact.id.in_(wanted))).all()}


def addresses_of(contact: Contact) -> list[str]:
    """The contact's addresses, primary first."""
    return [a for a in (contact.email, contact.secondary_email) if a]
