"""Leads (SPEC §3): people the CRM has not made contacts yet, and their conversion into contacts.

A lead is a `contacts` row with `is_lead` set and a `lead_status` (Zoho's `Lead_Status`): it follows the same
address rules as a contact (one person per address, the organisation's own addresses are never leads), the
same sharing rules, and MailMagnet alerts on its mail like a contact's. It has no deals, so it never gets a
label (`crm_store.categories` finds no deal for it). Lead and contact external ids share one id space (Zoho's
record ids are unique across modules): an external id is a lead's or a contact's, never both.

Conversion — a lead becomes the contact it was converted to, its history with it (alerts, mutes, audit rows,
pending category changes). It happens three ways, all through `crm_store.records`:

- a contact record (CSV, ingest API, Zoho) whose email is a lead's primary email takes over that lead's row:
  same id, so nothing has to move (this is how Zoho's own conversion arrives first: the new contact is
  listed before the converted lead);
- a lead record with `converted_contact_external_id` C: when no contact has the external id C yet, the lead's
  row becomes that contact (its external id is C from then on);
- the same when contact C is another row already (a lead converted into an existing contact): the lead's
  alerts, mutes, audit rows and follow-ups move to C, the lead's address becomes C's secondary email when C
  has none and nobody else keeps it, and the lead's row is deleted.

A converted lead record whose lead is not in the store any more (converted before, or never synced) changes
nothing. These look-ups run per converted record: conversions are a handful per sync, never a bulk load.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_store.models import (Alert, AuditLog, CategoryChange, Contact, ContactViewPage, Followup, MutedContact,
                              utcnow)

__all__ = ["Conversion", "plan_conversion", "apply_conversion", "HISTORY_TABLES"]

# Tables whose rows name a contact and follow a lead into the contact it became (muted_contacts is keyed by it,
# handled apart).
HISTORY_TABLES: list[sa.Table] = [Alert.__table__, AuditLog.__table__, ContactViewPage.__table__, Followup.__table__]


@dataclass
class Conversion:
    lead_id: int | None  # the lead's row; None: no lead to convert (nothing changes, or a new contact)
    contact_id: int | None  # contact C's row when it is another row already
    contact_external_id: str
    lead_email: str | None = None


def _columns(connection: Connection, where) -> sa.Row | None:
    contacts = Contact.__table__
    return connection.execute(
        sa.select(contacts.c.id, contacts.c.email, contacts.c.secondary_email, contacts.c.is_lead,
                  contacts.c.external_id).where(where)
    ).first()


def plan_conversion(connection: Connection, external_id: str | None, email: str | None, converted_to: str,
                    fail: Callable[[str, str], None]) -> Conversion | None:
    """What a converted lead record does; None (after `fail(column, reason)`) when it cannot be applied."""
    contacts = Contact.__table__
    lead = None
    if external_id:
        lead = _columns(connection, contacts.c.external_id == external_id)
        if lead is not None and not lead.is_lead:
            fail("external_id", f"external_id {external_id!r} is a contact's, not a lead's")
            return None
    if lead is None and email:
        lead = _columns(connection, sa.and_(contacts.c.email == email, contacts.c.is_lead.is_(True)))
    contact = _columns(connection, contacts.c.external_id == converted_to)
    if contact is not None and contact.is_lead:
        fail("converted_contact_external_id", f"{converted_to!r} is a lead's external_id, not a contact's")
        return None
    return Conversion(lead.id if lead is not None else None, contact.id if contact is not None else None,
                      converted_to, lead.email if lead is not None else None)


def apply_conversion(connection: Connection, conversion: Conversion) -> tuple[str, set[int]]:
    """Apply one planned conversion: "updated" or "unchanged", and the contacts whose category may change."""
    contacts = Contact.__table__
    if conversion.lead_id is None:
        return "unchanged", set()
    now = utcnow()
    if conversion.contact_id is None:
        connection.execute(sa.update(contacts).where(contacts.c.id == conversion.lead_id).values(
            is_lead=False, lead_status=None, external_id=conversion.contact_external_id, updated_at=now))
        return "updated", {conversion.lead_id}
    lead_id, contact_id = conversion.lead_id, conversion.contact_id
    # The lead's row locked before its history is moved, as a CRM delete locks its contacts first (a sync's INSERT
    # locks the lead's row before it updates the lead's follow-up; the other order deadlocked with it:
    # tests/gmail/test_lock_order_contacts.py).
    connection.execute(sa.select(contacts.c.id).where(contacts.c.id == lead_id).with_for_update())
    for table in HISTORY_TABLES:
        connection.execute(sa.update(table).where(table.c.contact_id == lead_id).values(contact_id=contact_id))
    muted = MutedContact.__table__
    already = set(connection.execute(sa.select(muted.c.account_id).where(muted.c.contact_id == contact_id)).scalars())
    moving = [account_id for account_id in connection.execute(
        sa.select(muted.c.account_id).where(muted.c.contact_id == lead_id)).scalars() if account_id not in already]
    connection.execute(sa.delete(muted).where(muted.c.contact_id == lead_id))
    if moving:
        connection.execute(sa.insert(muted), [{"account_id": a, "contact_id": contact_id} for a in moving])
    connection.execute(sa.delete(CategoryChange.__table__).where(CategoryChange.__table__.c.contact_id == lead_id))
    connection.execute(sa.delete(contacts).where(contacts.c.id == lead_id))
    contact = _columns(connection, contacts.c.id == contact_id)
    address = conversion.lead_email
    if address and contact.secondary_email is None and address != contact.email:
        held = connection.execute(sa.select(contacts.c.id).where(
            sa.or_(contacts.c.email == address, contacts.c.secondary_email == address))).first()
        if held is None:
            connection.execute(sa.update(contacts).where(contacts.c.id == contact_id).values(
                secondary_email=address, updated_at=now))
    else:
        connection.execute(sa.update(contacts).where(contacts.c.id == contact_id).values(updated_at=now))
    return "updated", {contact_id}
