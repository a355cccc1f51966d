"""Deal records into the store: each record's contact found (it must be in the CRM already), then the deal it
updates or deletes (the rules: `crm_store.records`)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from crm_store.models import Contact, Deal
from crm_store.records.batch import Batch, Row
from crm_store.records.bulk import Upsert, WritePlan, chunks, in_every_query_plan, load_rows, write_batch
from crm_store.records.fields import normalise_amount, quote

__all__ = ["apply_deals"]

_DEAL_COLUMNS = ("name", "contact_id", "stage", "closing_date", "amount", "owner_id", "external_id")
# Fields that decide a contact's label category (SPEC §4).
_CATEGORY_FIELDS = ("contact_id", "stage", "closing_date")


def apply_deals(session: Session, records: Sequence[Any], batch: Batch) -> None:
    rows: list[Row] = []
    first_external: dict[str, int] = {}
    for row, row_problems in batch.check_all(records):
        batch.check_unique_external_id(row, first_external, row_problems)
        batch.problems.extend(row_problems)
        if not row_problems:
            rows.append(row)
    connection = session.connection()
    in_every_query_plan(connection)
    _find_contacts(connection, rows, batch)
    good = [row for row in rows if row.ok]
    existing = load_rows(connection, Deal.__table__, ("id", *_DEAL_COLUMNS), [
        (("external_id",), {row.external_id for row in good if row.external_id}),
        (("contact_id",), {row.contact_id for row in good if row.contact_id is not None}),
    ])
    _match(good, existing, batch)

    def delete(connection: Connection, deal_ids: list[int]) -> set[int]:
        for chunk in chunks(deal_ids):
            connection.execute(sa.delete(Deal.__table__).where(Deal.__table__.c.id.in_(chunk)))
        return {existing[deal_id].contact_id for deal_id in deal_ids}

    write_batch(session, batch, Upsert(Deal.__table__, _DEAL_COLUMNS, _wanted, _current, delete, _touched),
                rows, existing)


def _wanted(row: Row) -> dict[str, Any]:
    wanted: dict[str, Any] = {"name": row.name, "contact_id": row.contact_id, "stage": row.values["stage"]}
    for name in ("closing_date", "amount"):
        if name in row.values:
            wanted[name] = row.values[name]
    if row.external_id:
        wanted["external_id"] = row.external_id
    return wanted


def _current(deal: sa.Row) -> dict[str, Any]:
    current = {name: getattr(deal, name) for name in _DEAL_COLUMNS}
    current["amount"] = normalise_amount(current["amount"])
    return current


def _touched(plan: WritePlan) -> set[int]:
    """A new deal, or a deal whose stage, closing date or contact changed: its contacts (old and new)."""
    touched = {insert["contact_id"] for insert in plan.inserts}
    for before, after in plan.changes:
        if any(after[name] != before[name] for name in _CATEGORY_FIELDS):
            touched.update({before["contact_id"], after["contact_id"]})
    return touched


def _find_contacts(connection: Connection, rows: list[Row], batch: Batch) -> None:
    """The contact of each record (`row.contact_id`): already in the CRM. A delete that names no known contact
    deletes nothing."""
    naming = [row for row in rows if not (row.deleted and row.external_id)]
    contacts = load_rows(connection, Contact.__table__, ("id", "email", "secondary_email", "external_id", "is_lead"), [
        (("external_id",), {row.values["contact_external_id"] for row in naming
                            if row.values.get("contact_external_id")}),
        (("email", "secondary_email"), {row.values["contact_email"] for row in naming
                                        if row.values.get("contact_email")}),
    ]).values()
    by_external = {contact.external_id: contact for contact in contacts if contact.external_id}
    by_email = {contact.email: contact for contact in contacts}
    by_secondary: dict[str, list[sa.Row]] = defaultdict(list)
    for contact in contacts:
        if contact.secondary_email:
            by_secondary[contact.secondary_email].append(contact)
    for row in naming:
        _find_contact(row, by_external, by_email, by_secondary, batch)


def _find_contact(row: Row, by_external: dict[str, sa.Row], by_email: dict[str, sa.Row],
                  by_secondary: dict[str, list[sa.Row]], batch: Batch) -> None:
    external_ref, email_ref = row.values.get("contact_external_id"), row.values.get("contact_email")
    from_external = from_email = None
    if external_ref:
        from_external = by_external.get(external_ref)
        if from_external is None:
            if not row.deleted:
                batch.fail(row, "contact_external_id", f"unknown contact: no contact has external_id {quote(external_ref)}")
            return
    if email_ref:
        from_email = by_email.get(email_ref)
        if from_email is None:
            candidates = by_secondary.get(email_ref, [])
            if len(candidates) > 1:
                batch.fail(row, "contact_email", f"{quote(email_ref)} is the secondary email of several contacts: "
                                                 "use contact_external_id")
                return
            from_email = candidates[0] if candidates else None
        if from_email is None and from_external is None:
            if not row.deleted:
                batch.fail(row, "contact_email", f"unknown contact: no contact has email {quote(email_ref)}")
            return
        if from_email is not None and from_external is not None and from_email.id != from_external.id:
            batch.fail(row, "contact_email", f"{quote(email_ref)} is not the email of the contact with "
                                             f"external_id {quote(external_ref)}")
            return
    if (from_external or from_email).is_lead and not row.deleted:
        batch.fail(row, "contact_external_id" if from_external else "contact_email",
                   "names a lead: leads have no deals (convert the lead to a contact first)")
        return
    row.contact_id = (from_external or from_email).id


def _match(good: list[Row], existing: dict[int, sa.Row], batch: Batch) -> None:
    """Which deal each record updates or deletes (`row.target`). Records without external_id are keyed by
    (contact, name)."""
    by_external = {deal.external_id: deal for deal in existing.values() if deal.external_id}
    by_contact_name: dict[tuple[int, str], list[sa.Row]] = defaultdict(list)
    for deal in sorted(existing.values(), key=lambda deal: deal.id):
        by_contact_name[(deal.contact_id, deal.name)].append(deal)
    first_of_key: dict[tuple[int, str], int] = {}
    for row in good:
        if not row.external_id and row.contact_id is not None:
            first_of_key.setdefault((row.contact_id, row.name), row.pos)
    claimed: dict[int, int] = {}
    for row in good:
        if not _target(row, by_external, by_contact_name, first_of_key, batch) or row.target is None:
            continue
        if row.target in claimed:
            verb = "deletes" if row.deleted else "updates"
            batch.fail(row, "external_id" if row.external_id else "name",
                       f"{verb} the same deal as {batch.where.name(claimed[row.target])}")
            continue
        claimed[row.target] = row.pos


def _target(row: Row, by_external: dict[str, sa.Row], by_contact_name: dict[tuple[int, str], list[sa.Row]],
            first_of_key: dict[tuple[int, str], int], batch: Batch) -> bool:
    """Sets `row.target`; False when the record is refused instead."""
    if row.deleted and row.external_id:
        deal = by_external.get(row.external_id)
        row.target = deal.id if deal is not None else None
        return True
    if row.deleted and row.contact_id is None:
        row.target = None  # its contact is not in the CRM: neither is the deal
        return True
    key = (row.contact_id, row.name)
    same_name = by_contact_name.get(key, [])
    if row.external_id and row.external_id in by_external:
        row.target = by_external[row.external_id].id
    elif row.external_id:
        unnamed = [deal for deal in same_name if deal.external_id is None]
        if len(unnamed) > 1:
            batch.fail(row, "external_id", f"the contact has several deals named {quote(row.name)} without "
                                           f"external_id: cannot tell which one is {quote(row.external_id)}")
            return False
        row.target = unnamed[0].id if unnamed else None
    else:
        if first_of_key[key] != row.pos:
            batch.fail(row, "name", f"duplicate deal {quote(row.name)} for this contact "
                                    f"({batch.where.first(first_of_key[key])}): add external_id to tell them apart")
            return False
        if len(same_name) > 1:
            # Deals created by records with an external_id share names freely; the one without is this one's.
            same_name = [deal for deal in same_name if deal.external_id is None]
            if len(same_name) != 1:
                batch.fail(row, "name", f"the contact has several deals named {quote(row.name)}: "
                                        "add external_id to tell them apart")
                return False
        row.target = same_name[0].id if same_name else None
    return True
