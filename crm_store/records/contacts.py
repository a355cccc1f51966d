"""Contact records into the store: the organisation's own addresses refused, each record matched to the
contact it updates or deletes, an address kept by one contact only, deletes that take what refers to the
contact with them (the rules: `crm_store.records`)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from crm_store import category_changes
from crm_store import leads as lead_store
from crm_store.models import Alert, AuditLog, CategoryChange, Contact, Deal, Followup, MutedContact
from crm_store.organisation import organisation_roles
from crm_store.records.batch import Batch, Row
from crm_store.records.bulk import Upsert, WritePlan, chunks, in_every_query_plan, load_rows, write_batch
from crm_store.records.fields import quote
from crm_store.records.results import ORGANISATION_ADDRESS, RecordProblem

__all__ = ["apply_contacts", "apply_leads"]

_CONTACT_COLUMNS = ("email", "secondary_email", "first_name", "last_name", "company", "phone", "owner_id",
                    "external_id", "is_lead", "lead_status")


class _OrganisationCheck:
    """Refuses a contact record whose address is the organisation's own (package docstring): the addresses
    stored now, and the owners this batch will create. One query for the whole batch."""

    def __init__(self, session: Session, checked: list[tuple[Row, list[RecordProblem]]]):
        upserts = [row for row, row_problems in checked if not row.deleted and not row_problems]
        self.roles = organisation_roles(session) if upserts else {}
        self.owners = {row.values["owner_email"] for row in upserts if row.values.get("owner_email")}

    def check(self, row: Row, row_problems: list[RecordProblem]) -> None:
        if row.deleted or row_problems:
            return
        for column, address in row.addresses():
            role = self.roles.get(address)
            if role is not None:
                what = role.words
            elif address in self.owners:
                what = "the owner_email of a record in this batch, so a CRM user"
            else:
                continue
            row_problems.append(RecordProblem(
                row.pos, column, f"{column} is the organisation's own address ({what}): the organisation's "
                                 "addresses are never contacts", ORGANISATION_ADDRESS))


def _describe_contact(contact: sa.Row) -> str:
    return f"the contact with external_id {quote(contact.external_id)}" if contact.external_id else "another contact"


def apply_leads(session: Session, records: Sequence[Any], batch: Batch) -> None:
    """Leads: the same rows and rules as contacts (`crm_store.leads`)."""
    apply_contacts(session, records, batch, leads=True)


def apply_contacts(session: Session, records: Sequence[Any], batch: Batch, *, leads: bool = False) -> None:
    rows = _checked_rows(session, records, batch)
    connection = session.connection()
    in_every_query_plan(connection)
    conversions = _plan_conversions(connection, rows, batch) if leads else []
    existing = load_rows(connection, Contact.__table__, ("id", *_CONTACT_COLUMNS), [
        (("external_id",), {row.external_id for row in rows if row.external_id}),
        (("email", "secondary_email"), {address for row in rows for _, address in row.addresses()}),
    ])
    _match(rows, existing, batch, leads)
    _check_addresses_held_once(rows, existing, batch)

    def delete(connection: Connection, contact_ids: list[int]) -> set[int]:
        batch.result.deleted_deals, heirs = _delete_contacts(connection, contact_ids, existing)
        return heirs

    def touched(plan: WritePlan) -> set[int]:
        return {before["id"] for before, after in plan.changes
                if (after["email"], after["secondary_email"]) != (before["email"], before["secondary_email"])
                } - set(plan.deletes)

    def wanted(row: Row) -> dict[str, Any]:
        values = _wanted(row)
        values["is_lead"] = leads  # a contact record on a lead's row converts it
        if not leads:
            values["lead_status"] = None
        return values

    write_batch(session, batch, Upsert(Contact.__table__, _CONTACT_COLUMNS, wanted, _current, delete, touched),
                rows, existing)
    _apply_conversions(connection, conversions, batch)


def _plan_conversions(connection: Connection, rows: list[Row], batch: Batch) -> list[tuple[Row, Any]]:
    """Converted lead records leave `rows`: each is applied on its own after the batch (`crm_store.leads`)."""
    planned = []
    for row in [row for row in rows if not row.deleted and row.values.get("converted_contact_external_id")]:
        rows.remove(row)

        def fail(column: str, reason: str, row: Row = row) -> None:
            batch.fail(row, column, reason)
        plan = lead_store.plan_conversion(connection, row.external_id, row.email,
                                          row.values["converted_contact_external_id"], fail)
        if plan is not None:
            planned.append((row, plan))
    return planned


def _apply_conversions(connection: Connection, conversions: list[tuple[Row, Any]], batch: Batch) -> None:
    changed: set[int] = set()
    for row, plan in conversions:
        if not row.ok:
            continue
        outcome, touched = lead_store.apply_conversion(connection, plan)
        changed |= touched
        if outcome == "updated":
            batch.result.updated += 1
        else:
            batch.result.unchanged += 1
    if changed:
        batch.result.changed_contact_ids |= changed
        category_changes.record(connection, changed)


def _wanted(row: Row) -> dict[str, Any]:
    wanted = {name: value for name, value in row.values.items()
              if name not in ("owner_email", "converted_contact_external_id")}
    if wanted.get("external_id") is None:
        wanted.pop("external_id", None)  # an external_id is never cleared
    return wanted


def _current(contact: sa.Row) -> dict[str, Any]:
    return {"id": contact.id} | {name: getattr(contact, name) for name in _CONTACT_COLUMNS}


def _checked_rows(session: Session, records: Sequence[Any], batch: Batch) -> list[Row]:
    """Fields, then the organisation's addresses, then keys repeated within the batch: the later record is the
    error. Returns the rows without problems."""
    checked = batch.check_all(records)
    organisation = _OrganisationCheck(session, checked)
    rows: list[Row] = []
    first_external: dict[str, int] = {}
    first_address: dict[str, int] = {}
    for row, row_problems in checked:
        organisation.check(row, row_problems)
        batch.check_unique_external_id(row, first_external, row_problems)
        for column, address in row.addresses():
            if address in first_address:
                row_problems.append(RecordProblem(row.pos, column, f"duplicate email {quote(address)} "
                                                                   f"({batch.where.first(first_address[address])})"))
            else:
                first_address[address] = row.pos
        batch.problems.extend(row_problems)
        if not row_problems:
            rows.append(row)
    return rows


def _match(rows: list[Row], existing: dict[int, sa.Row], batch: Batch, leads: bool = False) -> None:
    """Which contact each record deletes, then which one each other record updates (`row.target`): a contact
    deleted in the batch no longer owns its address, so a new contact may take it."""
    by_external = {contact.external_id: contact for contact in existing.values() if contact.external_id}
    by_email = {contact.email: contact for contact in existing.values()}
    claimed: dict[int, int] = {}  # contact id -> position

    def claim(row: Row, key_column: str) -> None:
        if row.target is None:
            return
        if row.target in claimed:
            verb = "deletes" if row.deleted else "updates"
            batch.fail(row, key_column, f"{verb} the same contact as {batch.where.name(claimed[row.target])}")
            return
        claimed[row.target] = row.pos

    for row in rows:
        if not row.deleted:
            continue
        owner_of_email = by_email.get(row.email) if row.email else None
        if row.external_id:
            target = by_external.get(row.external_id)
            if target is not None and owner_of_email is not None and owner_of_email.id != target.id:
                batch.fail(row, "email", f"email {quote(row.email)} belongs to a different contact than "
                                         f"external_id {quote(row.external_id)}")
                continue
        else:
            target = owner_of_email
        if target is not None and target.is_lead != leads:
            target = None  # a contact's delete never removes a lead, nor a lead's a contact
        row.target = target.id if target is not None else None
        claim(row, "external_id" if row.external_id else "email")
    doomed = {row.target for row in rows if row.deleted and row.ok and row.target is not None}
    for row in rows:
        if not row.deleted:
            _match_upsert(row, by_external, by_email, doomed, batch, claim, leads)


def _match_upsert(row: Row, by_external: dict[str, sa.Row], by_email: dict[str, sa.Row], doomed: set[int],
                  batch: Batch, claim, leads: bool = False) -> None:
    owner_of_email = by_email.get(row.email)
    if owner_of_email is not None and owner_of_email.id in doomed:
        owner_of_email = None
    key_column = "email"
    if leads and owner_of_email is not None and not owner_of_email.is_lead:
        batch.fail(row, "email", f"email {quote(row.email)} is already a contact's: a lead and a contact never "
                                 "share an address")
        return
    if row.external_id and row.external_id in by_external:
        key_column = "external_id"
        target = by_external[row.external_id]
        if target.is_lead != leads:
            batch.fail(row, "external_id", f"external_id {quote(row.external_id)} is a "
                                           f"{'contact' if leads else 'lead'}'s: leads and contacts share one id space")
            return
        if owner_of_email is not None and owner_of_email.id != target.id:
            batch.fail(row, "email", f"email {quote(row.email)} already belongs to a different contact than "
                                     f"external_id {quote(row.external_id)}"
                                     + (f" ({_describe_contact(owner_of_email)})" if owner_of_email.external_id else ""))
            return
        row.target = target.id
    elif owner_of_email is not None:
        if not leads and owner_of_email.is_lead:
            pass  # the contact takes over the lead with its address: converted (crm_store.leads)
        elif row.external_id and owner_of_email.external_id:
            batch.fail(row, "external_id", f"email {quote(row.email)} already belongs to "
                                           f"{_describe_contact(owner_of_email)}")
            return
        row.target = owner_of_email.id
    claim(row, key_column)


def _check_addresses_held_once(rows: list[Row], existing: dict[int, sa.Row], batch: Batch) -> None:
    """An address may be kept by one contact only, judged on the contacts as they will be; a record refused
    here may free an address for another, so this runs until no new problem is found."""
    holders: dict[str, set[int]] = defaultdict(set)
    for contact in existing.values():
        holders[contact.email].add(contact.id)
        if contact.secondary_email:
            holders[contact.secondary_email].add(contact.id)
    has_secondary = {row.pos: "secondary_email" in row.values for row in rows}
    while True:
        good = [row for row in rows if row.ok and not row.deleted]
        rewritten = {row.target: row for row in good if row.target is not None}
        deleting = {row.target for row in rows if row.ok and row.deleted and row.target is not None}

        def final_addresses(contact: sa.Row) -> set[str]:
            if contact.id in deleting:
                return set()
            row = rewritten.get(contact.id)
            if row is None:
                return {contact.email, contact.secondary_email} - {None}
            secondary = row.values.get("secondary_email") if has_secondary[row.pos] else contact.secondary_email
            return {row.email, secondary} - {None}

        new_errors = False
        for row in good:
            for column, address in row.addresses():
                holder = next((existing[contact_id] for contact_id in sorted(holders.get(address, ()))
                               if contact_id != row.target and address in final_addresses(existing[contact_id])), None)
                if holder is not None:
                    holder_row = rewritten.get(holder.id)
                    kind = "email" if (holder_row.email if holder_row else holder.email) == address else "secondary email"
                    batch.fail(row, column, f"{quote(address)} is already the {kind} of {_describe_contact(holder)}")
                    new_errors = True
                    break
        if not new_errors:
            return


def _delete_contacts(connection: Connection, contact_ids: list[int], existing: dict[int, sa.Row]) -> tuple[int, set[int]]:
    """Delete contacts with their deals and what refers to them (package docstring); returns the number of
    deals deleted and the other contacts that keep one of their addresses."""
    addresses = {address for contact_id in contact_ids
                 for address in (existing[contact_id].email, existing[contact_id].secondary_email) if address}
    doomed = set(contact_ids)
    heirs = {contact_id for contact_id in load_rows(connection, Contact.__table__, ("id",),
                                                    [(("email", "secondary_email"), addresses)])
             if contact_id not in doomed}
    _lock_contacts(connection, contact_ids)
    deals = 0
    for chunk in chunks(contact_ids):
        deals += connection.execute(sa.delete(Deal.__table__).where(Deal.__table__.c.contact_id.in_(chunk))).rowcount
        connection.execute(sa.delete(Alert.__table__).where(Alert.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.delete(Followup.__table__).where(Followup.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.delete(MutedContact.__table__).where(MutedContact.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.delete(CategoryChange.__table__).where(CategoryChange.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.update(AuditLog.__table__).where(AuditLog.__table__.c.contact_id.in_(chunk))
                           .values(contact_id=None))
        connection.execute(sa.delete(Contact.__table__).where(Contact.__table__.c.id.in_(chunk)))
    return deals, heirs


def _lock_contacts(connection: Connection, contact_ids: list[int]) -> None:
    """Every contact to delete locked (in id order) before any row that refers to one is: a sync's transaction locks
    a contact's row first too (its alert or follow-up INSERT's foreign key, a KEY SHARE lock on PostgreSQL) and then
    updates the contact's open follow-up; deleting the follow-ups first and the contacts last, the two deadlocked
    (tests/gmail/test_lock_order_contacts.py). Now the sync waits for the delete at its INSERT, or the delete for the
    sync at its first statement, holding nothing the other needs."""
    table = Contact.__table__
    for chunk in chunks(sorted(contact_ids)):
        connection.execute(sa.select(table.c.id).where(table.c.id.in_(chunk)).order_by(table.c.id).with_for_update())
