"""The organisation's own addresses, which are never a contact's (SPEC §5 "What a view may list").

A contact whose address is a rep's own would turn "emails with this contact" into that rep's whole mailbox,
and an alert rule into an alert on every message the rep sends. So the addresses of the organisation —
connected mailboxes, CRM users' emails and secondary emails, addresses an admin allowed — are refused as
contact addresses when CRM data arrives, and are never treated as a contact's when mail is matched later
(a contact created before its address became a CRM user's stops matching).

Where each rule lives: `crm_store.records` refuses such records (the ingest API, the CSV import and the Zoho
sync share it); `crm_store.categories` leaves these addresses out of every sender look-up (alerts, labels,
`/gmail why`) and `crm_store.contact_search` out of the contact search, through `is_not_organisation`: four
index probes per address checked, whatever the size of the organisation. (A `NOT IN` over the union of the
four tables reads every organisation address on each statement: with 2,000 users, mailboxes and aliases it
tripled the sender look-up.) The probes compare as stored: every writer of these columns lower-cases the
address (`crm_store.users.normalise_email`, the mailbox connection, `/gmail admin allow`).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Iterable

import sqlalchemy as sa
from sqlmodel import Session

from crm_store.models import CrmUser, GmailAccount, MailboxAlias


class OrganisationRole(StrEnum):
    """What an organisation address is; in the order an address that is several things is named by."""

    MAILBOX = "mailbox"  # a connected Gmail mailbox
    CRM_USER = "crm_user"  # a CRM user's email
    CRM_USER_SECONDARY = "crm_user_secondary"  # a CRM user's secondary email
    ALIAS = "alias"  # an address an admin allowed a CRM user to connect (`/gmail admin allow`)

    @property
    def words(self) -> str:
        """What the address is, for a reason an admin or a rep reads (never whose it is)."""
        return {
            OrganisationRole.MAILBOX: "a connected Gmail mailbox",
            OrganisationRole.CRM_USER: "a CRM user's email",
            OrganisationRole.CRM_USER_SECONDARY: "a CRM user's secondary email",
            OrganisationRole.ALIAS: "an address allowed for a CRM user's mailbox",
        }[self]


def _organisation_union() -> sa.CompoundSelect:
    return sa.union(
        sa.select(sa.func.lower(CrmUser.email).label("address")),
        sa.select(sa.func.lower(CrmUser.secondary_email)).where(CrmUser.secondary_email.is_not(None)),
        sa.select(sa.func.lower(GmailAccount.email_address)),
        sa.select(sa.func.lower(MailboxAlias.address)),
    )


def _roles_union() -> sa.CompoundSelect:
    return sa.union_all(
        sa.select(sa.func.lower(GmailAccount.email_address).label("address"),
                  sa.literal(OrganisationRole.MAILBOX.value).label("role")),
        sa.select(sa.func.lower(CrmUser.email), sa.literal(OrganisationRole.CRM_USER.value)),
        sa.select(sa.func.lower(CrmUser.secondary_email), sa.literal(OrganisationRole.CRM_USER_SECONDARY.value))
        .where(CrmUser.secondary_email.is_not(None)),
        sa.select(sa.func.lower(MailboxAlias.address), sa.literal(OrganisationRole.ALIAS.value)),
    )


def is_not_organisation(address: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """A condition for a larger statement: `address` (a lower-cased column or value) is none of the
    organisation's. One probe of a unique or plain index per table, evaluated only for the rows that reach it."""
    # Each probe selects the indexed column itself, so it reads the index alone, and SQLite takes the index even
    # when its statistics say the column is mostly NULL (after ANALYZE, `secondary_email` of 50 users with none
    # set reads as "50 rows per value", and a probe that must visit the table lost to a scan of the table).
    return sa.and_(*(
        ~sa.select(column).where(column == address).exists()
        for column in (CrmUser.email, CrmUser.secondary_email, GmailAccount.email_address, MailboxAlias.address)
    ))


def organisation_among(session: Session, addresses: Iterable[str]) -> frozenset[str]:
    """Those of `addresses` (any case) that belong to the organisation; one query, however many."""
    wanted = {a.strip().lower() for a in addresses if a and a.strip()}
    if not wanted:
        return frozenset()
    union = _organisation_union().subquery()
    rows = session.execute(sa.select(union.c.address).where(union.c.address.in_(sorted(wanted))))
    return frozenset(row[0] for row in rows)


def organisation_roles(session: Session, addresses: Iterable[str] | None = None) -> dict[str, OrganisationRole]:
    """The organisation's addresses (every one, or those among `addresses`, any case) with what each is; one
    that is several things (a connected mailbox is often its user's CRM email too) is named by the first in
    `OrganisationRole`'s order."""
    union = _roles_union().subquery("organisation")
    statement = sa.select(union.c.address, union.c.role).where(union.c.address.is_not(None))
    if addresses is not None:
        wanted = sorted({a.strip().lower() for a in addresses if a and a.strip()})
        if not wanted:
            return {}
        statement = statement.where(union.c.address.in_(wanted))
    order = list(OrganisationRole)
    found: dict[str, OrganisationRole] = {}
    for address, role in session.execute(statement):
        role = OrganisationRole(role)
        if address not in found or order.index(role) < order.index(found[address]):
            found[address] = role
    return found
