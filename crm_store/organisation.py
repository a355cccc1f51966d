"""The organisation's own addresses, which are never a contact's (SPEC §5 "What a view may list").

A contact whose address is a rep's own would turn "emails with this contact" into that rep's whole mailbox,
and an alert rule into an alert on every message the rep sends. So the addresses of the organisation —
connected mailboxes, CRM users' emails and secondary emails, addresses an admin allowed — are refused as
contact addresses when CRM data arrives, and are never treated as a contact's when mail is matched later
(a contact created before its address became a CRM user's stops matching).
"""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa
from sqlmodel import Session

from crm_store.models import CrmUser, GmailAccount, MailboxAlias


def _organisation_union() -> sa.CompoundSelect:
    return sa.union(
        sa.select(sa.func.lower(CrmUser.email).label("address")),
        sa.select(sa.func.lower(CrmUser.secondary_email)).where(CrmUser.secondary_email.is_not(None)),
        sa.select(sa.func.lower(GmailAccount.email_address)),
        sa.select(sa.func.lower(MailboxAlias.address)),
    )


def organisation_addresses(session: Session) -> frozenset[str]:
    """Every address of the organisation, lower-cased."""
    return frozenset(row[0] for row in session.execute(_organisation_union()) if row[0])


def organisation_among(session: Session, addresses: Iterable[str]) -> frozenset[str]:
    """Those of `addresses` (any case) that belong to the organisation; one query, however many."""
    wanted = {a.strip().lower() for a in addresses if a and a.strip()}
    if not wanted:
        return frozenset()
    union = _organisation_union().subquery()
    rows = session.execute(sa.select(union.c.address).where(union.c.address.in_(sorted(wanted))))
    return frozenset(row[0] for row in rows)


def is_organisation_address(session: Session, address: str) -> bool:
    return bool(organisation_among(session, [address]))
