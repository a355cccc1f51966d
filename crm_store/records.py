"""CRM records in, CRM store updated: the one validation-and-upsert core behind the CSV import
(`crm_store.csv_import`), the ingest API (`ingest_records`) and the Zoho CRM sync (`crm_sync`).

A record is a mapping with the CSV's field names. Contacts: `email` (required), `secondary_email`,
`first_name`, `last_name`, `company`, `phone`, `owner_email`, `external_id`. Deals: `name`, `stage`
(required), `contact_email` or `contact_external_id`, `closing_date` (ISO date), `amount`,
`owner_email`, `external_id`. Any record may say `"deleted": true`.

Fields
- Each field is checked by a pydantic model (`ContactRecord`, `DealRecord`); addresses by
  email-validator, without DNS look-ups. Text is trimmed; an empty text is no value. Addresses are
  lower-cased. Addresses on the reserved names `.local`, `.localhost`, `.invalid`, `.onion` and
  `.arpa` are refused (they never receive mail); `.example` and `.test` are accepted.
- A field the record does not have leaves that field of an existing record as it is; a field
  given as null (or empty text) clears it. `external_id` is never cleared: an empty one means
  "match by the other key". A field the model does not know is an error (a typo must not be
  silently ignored); the CSV reader passes only the columns it knows.
- Amounts are rounded to cents; thousands separators, `_` digit groups, other scripts' digits and
  currency signs are errors. Any stage text is accepted (unknown stages are open deals).
- Text that is not valid Unicode (a lone surrogate, which JSON's `\ud800` escape can carry) is an
  error naming its field, never a database failure.

Contacts
- A record updates the contact with its `external_id` when it has one, else the contact whose
  primary email is the record's `email`; otherwise it creates one.
- A record whose `external_id` is new but whose `email` is an existing contact's adopts that
  contact (and sets its `external_id`) if it has none yet, so a first import without ids can be
  followed by one with ids. If that contact already has another `external_id`, it is an error.
- A record whose `external_id` names contact A while its `email` is contact B's is an error.
- An address identifies at most one contact: a primary or secondary email that another contact
  keeps (in the CRM, or in another record of the batch) is an error.
- Changing a contact's primary or secondary email records a category change for it.
- The organisation's own addresses are never a contact's (SPEC §5; `crm_store.organisation`): a record
  whose `email` or `secondary_email` is a connected mailbox, a CRM user's email or secondary email, an
  allowed alias, or the `owner_email` of another record of the batch (which makes it a CRM user) is
  refused, with a reason that names what the address is and not the address (the Zoho sync logs it). The
  ingest API answers 422 for it like any bad record; the CSV import (`skip_organisation=True`) and the
  Zoho sync skip it and report it, counted in `skipped_organisation` too. Deleting such a contact is
  allowed. A contact whose address becomes the organisation's later is left in the store and stops
  matching mail (`crm_store.categories`).

Deals
- Deals refer to contacts already in the CRM. `contact_external_id` wins when both are given
  (they must then name the same contact); `contact_email` matches a primary email first, then a
  secondary one.
- A record updates the deal with its `external_id` when it has one, else the contact's deal with
  exactly that name; otherwise it creates one. A record whose `external_id` is new adopts the
  contact's deal of that name if that deal has no `external_id` yet. Two records without
  `external_id` for the same contact and deal name are an error, as is a name shared by several
  of the contact's deals.
- Creating a deal, or changing its stage, closing date or contact, records a category change for
  every contact concerned (old and new).

Deletes (`"deleted": true`)
- A deleted record names its contact by `external_id` when it has one, else by primary `email`;
  its deal by `external_id`, else by contact and `name`. Its other fields are not needed. Deleting
  what is not there is "unchanged", not an error, so a delete can be sent twice.
- Deleting a deal records a category change for its contact (its mail may move to another label).
- Deleting a contact deletes its deals, and what refers to it:
  * its MailMagnet alerts, whatever their state: an alert about someone who is no longer a
    contact is not posted (a pending one is dropped; posted ones are history the housekeeping
    job would delete after 30 days anyway);
  * its mutes (`muted_contacts`) and its pending category changes;
  * the audit log keeps its rows (who saw which mailbox, when) with `contact_id` set to NULL:
    SQLite may give a deleted contact's id to the next new contact, and an audit row must never
    point at the wrong person.
  Mail the label job filed for the contact keeps its label: the label job moves filed mail only
  to another category and never back to the Inbox (SPEC §4), and a deleted contact has none.
  A contact that keeps one of the deleted contact's addresses (as primary or secondary email)
  gets a category change, since mail from that address is now that contact's.

Errors and writing
- A batch with any bad record is rejected as a whole and nothing is written (not even an owner);
  `RecordsRejected.result.problems` lists every bad record (position, field, reason). With
  `skip_invalid=True` the good records are applied and the bad ones reported as skipped.
- Existing records are loaded with chunked `IN` queries and writes are bulk statements: a
  constant number of statements per thousand records, on SQLite and PostgreSQL alike.
- A change is recorded in `crm_data_changes` (source, kind, counts) in the same transaction.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Iterable, Iterator, Mapping, Optional, Sequence

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, ValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from crm_store import category_changes
from crm_store import leads as lead_store
from crm_store.db import session_scope
from crm_store.models import Alert, AuditLog, CategoryChange, Contact, CrmUser, Deal, Followup, MutedContact, utcnow
from crm_store.organisation import organisation_roles
from crm_store.sources import record_change
from crm_store.users import get_or_create_user, normalise_email

__all__ = [
    "CONTACT_FIELDS",
    "DEAL_FIELDS",
    "MAX_RECORDS_PER_REQUEST",
    "MAX_REQUEST_BYTES",
    "ORGANISATION_ADDRESS",
    "ContactRecord",
    "DealRecord",
    "IngestResult",
    "RecordKind",
    "RecordProblem",
    "RecordsRejected",
    "apply_records",
    "ingest_records",
]


class RecordKind(StrEnum):
    CONTACTS = "contacts"
    DEALS = "deals"
    LEADS = "leads"


CONTACT_FIELDS = (
    "email", "secondary_email", "first_name", "last_name", "company", "phone", "owner_email", "external_id",
)
# A lead has the contact's fields plus its status and, once converted, the contact it became (`crm_store.leads`).
LEAD_FIELDS = CONTACT_FIELDS + ("lead_status", "converted_contact_external_id")
DEAL_FIELDS = (
    "name", "contact_email", "contact_external_id", "stage", "closing_date", "amount", "owner_email", "external_id",
)

# The ingest API's request-size guard: records per request, and bytes of JSON the route should read at most
# (1,000 records of a few hundred bytes each, with room to spare).
MAX_RECORDS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024

# Column widths of the tables: PostgreSQL refuses longer text, SQLite would keep it.
_MAX_LENGTH = {
    "email": 320, "secondary_email": 320, "owner_email": 320, "contact_email": 320,
    "first_name": 200, "last_name": 200, "company": 300, "phone": 64,
    "external_id": 128, "contact_external_id": 128,
    "name": 300, "stage": 100, "lead_status": 100, "converted_contact_external_id": 128,
    "closing_date": 100, "amount": 100,
}

# Keys per IN (...) query; two lists per query stay under SQLite's oldest 999-variable limit.
_IN_CHUNK = 400
_WRITE_CHUNK = 1000
_AMOUNT_LIMIT = Decimal(10) ** 16  # Numeric(18, 2)
_CENT = Decimal("0.01")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Concurrent requests may create the same contact at once: the loser's unique violation is retried.
_ATTEMPTS = 3
# RecordProblem.code of a record refused because its address is the organisation's own.
ORGANISATION_ADDRESS = "organisation_address"


# --------------------------------------------------------------------------- results


@dataclass
class RecordProblem:
    index: int | None  # position of the record (list index, or file line); None: the request as a whole
    field: str | None  # None: the record as a whole
    reason: str
    code: str | None = None  # ORGANISATION_ADDRESS: the record is fine, its address is the organisation's

    def as_json(self) -> dict:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass
class IngestResult:
    kind: str  # contacts | deals
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0  # bad records left out (skip_invalid), or the bad records of a rejected batch
    problems: list[RecordProblem] = field(default_factory=list)
    rejected: bool = False  # nothing was written because of the problems
    deleted_deals: int = 0  # deals removed together with their contacts
    skipped_organisation: int = 0  # of the bad records, those refused for an organisation address
    # Contacts whose label category may have changed; one CategoryChange row each was written.
    changed_contact_ids: set[int] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "deleted": self.deleted, "skipped": self.skipped}

    def as_json(self) -> dict:
        """What the ingest route answers (200 with counts, or 422 with the problems)."""
        body: dict[str, Any] = {"kind": self.kind, **self.counts()}
        if self.deleted_deals:
            body["deleted_deals"] = self.deleted_deals
        if self.problems:
            body["problems"] = [problem.as_json() for problem in self.problems]
        return body


class RecordsRejected(Exception):
    """Nothing was written; `result.problems` lists every bad record."""

    def __init__(self, result: IngestResult):
        self.result = result
        super().__init__(f"{result.kind}: {len({p.index for p in result.problems})} bad record(s); nothing was written")


# --------------------------------------------------------------------------- fields


def _quote(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _error(kind: str, message: str) -> PydanticCustomError:
    # Formatted here, with no context: pydantic would expand {placeholders} found in the data too.
    return PydanticCustomError(kind, message)


def _text_value(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _error("text_type", "expected text")
    text = str(value).strip()
    if "\x00" in text:
        raise _error("nul", "contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # JSON's `\ud800` escape: valid JSON, but no database can store it
            raise _error("unicode", "is not valid Unicode text (it holds a lone surrogate)") from None
    if not text:
        return None
    if len(text) > limit:
        raise _error("too_long", f"too long: {len(text)} characters, at most {limit}")
    return text


def _text(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda value: _text_value(value, limit))


@lru_cache(maxsize=65536)
def _is_valid_address(address: str) -> bool:
    """email-validator's syntax check (~50 µs); cached, since owners and deal contacts repeat."""
    try:
        # test_environment: `.test` addresses are accepted like `.example` ones; no DNS either way.
        validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def _email_value(value: Any) -> str | None:
    text = _text_value(value, 320)
    if text is None:
        return None
    address = normalise_email(text)
    if not _is_valid_address(address):
        raise _error("malformed_email", f"malformed email {_quote(address)}")
    return address


def _date_value(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = _text_value(value, _MAX_LENGTH["closing_date"])
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _error("date", f"unparseable date {_quote(text)}: expected YYYY-MM-DD") from None


def _amount_value(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount: Decimal | None = None
    if isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, (int, Decimal)):
        amount, shown = Decimal(value), str(value)
    elif isinstance(value, float):
        amount, shown = Decimal(repr(value)), repr(value)  # repr: the float as written, not its binary value
    else:
        text = _text_value(value, _MAX_LENGTH["amount"])
        if text is None:
            return None
        shown = text
        try:
            # Decimal also reads `1_000`, other scripts' digits and "Infinity": only a number as people write it.
            amount = Decimal(text) if _PLAIN_NUMBER.fullmatch(text) else None
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        raise _error("amount", f"unparseable amount {_quote(shown)}: expected a number like 1234.50")
    if abs(amount) >= _AMOUNT_LIMIT or abs(amount := amount.quantize(_CENT, rounding=ROUND_HALF_UP)) >= _AMOUNT_LIMIT:
        raise _error("amount_size", f"amount {_quote(shown)} is too large")
    return amount


def _text_field(name: str):
    return Annotated[Optional[str], _text(_MAX_LENGTH[name])]


Email = Annotated[Optional[str], BeforeValidator(_email_value)]
IsoDate = Annotated[Optional[date], BeforeValidator(_date_value)]
Amount = Annotated[Optional[Decimal], BeforeValidator(_amount_value)]


class ContactRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email = None
    secondary_email: Email = None
    first_name: _text_field("first_name") = None
    last_name: _text_field("last_name") = None
    company: _text_field("company") = None
    phone: _text_field("phone") = None
    owner_email: Email = None
    external_id: _text_field("external_id") = None
    deleted: StrictBool = False


class DealRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _text_field("name") = None
    contact_email: Email = None
    contact_external_id: _text_field("contact_external_id") = None
    stage: _text_field("stage") = None
    closing_date: IsoDate = None
    amount: Amount = None
    owner_email: Email = None
    external_id: _text_field("external_id") = None
    deleted: StrictBool = False


class LeadRecord(ContactRecord):
    lead_status: _text_field("lead_status") = None
    converted_contact_external_id: _text_field("converted_contact_external_id") = None


_MODELS = {RecordKind.CONTACTS: ContactRecord, RecordKind.DEALS: DealRecord, RecordKind.LEADS: LeadRecord}
_FIELDS = {RecordKind.CONTACTS: CONTACT_FIELDS, RecordKind.DEALS: DEAL_FIELDS, RecordKind.LEADS: LEAD_FIELDS}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass
class _Row:
    pos: int
    values: dict[str, Any]  # the fields the record has, checked and normalised ("deleted" excluded)
    deleted: bool = False
    ok: bool = True
    target: int | None = None  # existing record id; None: a new record (or, deleted: nothing to delete)
    contact_id: int | None = None  # deals: the contact the record names

    @property
    def email(self) -> str | None:
        return self.values.get("email")

    @property
    def external_id(self) -> str | None:
        return self.values.get("external_id")

    @property
    def name(self) -> str | None:
        return self.values.get("name")

    def addresses(self) -> list[tuple[str, str]]:
        """The addresses a contact record keys on: both for an upsert, the primary one for a delete."""
        found = [("email", self.email)] if self.email else []
        secondary = None if self.deleted else self.values.get("secondary_email")
        if secondary and secondary != self.email:
            found.append(("secondary_email", secondary))
        return found


class _Where:
    """How positions are named in messages: `line 7` for a file, `index 3` for a JSON array."""

    def __init__(self, positions: Sequence[int] | None, word: str):
        self.positions, self.word = positions, word

    def at(self, i: int) -> int:
        return self.positions[i] if self.positions is not None else i

    def name(self, pos: int) -> str:
        return f"{self.word} {pos}"

    def first(self, pos: int) -> str:
        return f"first {'on' if self.word == 'line' else 'at'} {self.word} {pos}"


def _check_record(kind: RecordKind, raw: Any, pos: int) -> tuple[dict[str, Any], bool, list[RecordProblem]]:
    """The record's checked fields (only the good ones when some are bad), whether it is a delete, its problems."""
    model = _MODELS[kind]
    fields = _FIELDS[kind]
    if not isinstance(raw, Mapping):
        return {}, False, [RecordProblem(pos, None, f"expected an object with the {kind.value[:-1]}'s fields")]
    problems: list[RecordProblem] = []
    data = {str(key): value for key, value in raw.items()}
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        bad: set[str] = set()
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else None
            if error["type"] == "extra_forbidden":
                reason = f"unknown field: a {kind.value[:-1]} has {', '.join(fields)} and deleted"
            elif name == "deleted":
                reason = "expected true or false"
            else:
                reason = error["msg"]
            problems.append(RecordProblem(pos, name, reason))
            if name is not None:
                bad.add(name)
        # The good fields still count for the checks across records (a duplicate key, say).
        checked = model.model_validate({key: value for key, value in data.items() if key not in bad})
    values = {name: getattr(checked, name) for name in checked.model_fields_set if name != "deleted"}
    deleted = checked.deleted
    erred = {problem.field for problem in problems}

    def missing(name: str) -> bool:
        return name not in erred and _blank(data.get(name))

    if kind is not RecordKind.DEALS:
        if deleted:
            if missing("email") and missing("external_id"):
                problems.append(RecordProblem(pos, "external_id", "missing external_id or email: "
                                                                  "a deleted contact is named by one of them"))
        elif missing("email"):
            problems.append(RecordProblem(pos, "email", "missing email"))
    else:
        no_contact = missing("contact_email") and missing("contact_external_id")
        if deleted:
            if missing("external_id") and (missing("name") or no_contact):
                problems.append(RecordProblem(pos, "external_id", "missing external_id, or name with contact_email "
                                                                  "or contact_external_id: a deleted deal is named "
                                                                  "by one of them"))
        else:
            for name in ("name", "stage"):
                if missing(name):
                    problems.append(RecordProblem(pos, name, f"missing {name}"))
            if no_contact:
                column = "contact_external_id" if "contact_external_id" in data and "contact_email" not in data \
                    else "contact_email"
                problems.append(RecordProblem(pos, column, "missing contact_email or contact_external_id"))
    if len(problems) > 1:
        order = {name: number for number, name in enumerate(fields)}
        problems.sort(key=lambda problem: order.get(problem.field, len(order)))
    return values, deleted, problems


# --------------------------------------------------------------------------- database helpers


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _load_users(connection: Connection, emails: set[str]) -> dict[str, int]:
    users: dict[str, int] = {}
    table = CrmUser.__table__
    for chunk in _chunks(sorted(emails), _IN_CHUNK):
        for user_id, email in connection.execute(sa.select(table.c.id, table.c.email).where(table.c.email.in_(chunk))):
            users[email] = user_id
    return users


def _owner_ids(session: Session, emails: set[str]) -> dict[str, int]:
    """CRM user ids by email; the owners not known yet are created with no permissions."""
    users = _load_users(session.connection(), emails)
    for email in sorted(emails - users.keys()):
        users[email] = get_or_create_user(session, email).id
    return users


class Progress:
    """A tqdm bar on stderr, or nothing."""

    def __init__(self, enabled: bool, kind: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=0, unit="rows", desc=f"{kind}: checking", file=sys.stderr, leave=True)
        self.kind = kind

    def stage(self, name: str, total: int) -> None:
        if self.bar is not None:
            self.bar.reset(total=total)
            self.bar.set_description(f"{self.kind}: {name}")

    def advance(self, count: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _plan_each_query(connection: Connection) -> None:
    """Let PostgreSQL plan every IN (...) look-up with its values, for this transaction only.

    psycopg prepares a statement run five times, and PostgreSQL may then keep a
    generic plan made while the table was nearly empty: a sequential scan that
    compares each row with the 400 parameters one by one (~100 ms per chunk at
    20k deals instead of ~2 ms).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _bulk_insert(connection: Connection, table: sa.Table, rows: list[dict], bar: Progress) -> None:
    for chunk in _chunks(rows, _WRITE_CHUNK):
        connection.execute(sa.insert(table), chunk)
        bar.advance(len(chunk))


def _bulk_update(connection: Connection, table: sa.Table, rows: list[dict], bar: Progress | None = None) -> None:
    """UPDATE by id, one executemany per chunk; every dict has the same keys."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(f"b_{name}") for name in columns})
    )
    for chunk in _chunks(rows, _WRITE_CHUNK):
        connection.execute(statement, [{f"b_{name}": value for name, value in row.items()} for row in chunk])
        if bar is not None:
            bar.advance(len(chunk))


def _load_rows(connection: Connection, table: sa.Table, columns: Sequence[str],
               lookups: Sequence[tuple[Sequence[str], Iterable]]) -> dict[int, sa.Row]:
    """Rows (by id) whose value in any of a look-up's columns is one of its values, in chunked IN queries."""
    selected = [table.c[name] for name in columns]
    found: dict[int, sa.Row] = {}
    for keys, values in lookups:
        for chunk in _chunks(sorted(values), _IN_CHUNK):
            matches = sa.or_(*(table.c[key].in_(chunk) for key in keys))
            for row in connection.execute(sa.select(*selected).where(matches)):
                found[row.id] = row
    return found


def _finish(result: IngestResult, problems: list[RecordProblem], skip_invalid: bool,
            skip_organisation: bool = False) -> None:
    """Reject the batch when it has problems and the caller did not ask to skip bad records (or, with
    `skip_organisation`, when a record has a problem other than an organisation address)."""
    result.problems = sorted(problems, key=lambda problem: -1 if problem.index is None else problem.index)
    result.skipped = len({problem.index for problem in problems})
    result.skipped_organisation = len({problem.index for problem in problems if problem.code == ORGANISATION_ADDRESS})
    blocking = [problem for problem in problems if not (skip_organisation and problem.code == ORGANISATION_ADDRESS)]
    if blocking and not skip_invalid:
        result.rejected = True
        raise RecordsRejected(result)


# --------------------------------------------------------------------------- entry points


def apply_records(
    session: Session,
    kind: RecordKind | str,
    records: Sequence[Any],
    *,
    skip_invalid: bool = False,
    skip_organisation: bool = False,
    positions: Sequence[int] | None = None,
    position_word: str = "index",
    prior_problems: Iterable[RecordProblem] = (),
    progress: Progress | None = None,
    source: str | None = None,
    detail: str | None = None,
) -> IngestResult:
    """Check `records` and apply them in the caller's transaction; see the module docstring.

    `positions` names each record in problems (the file line, say; default: its index), and
    `prior_problems` are records the caller could not even read (they count as bad records).
    Raises `RecordsRejected` before writing anything when a record is bad and `skip_invalid` is
    false; `skip_organisation` skips (and reports) a record whose only fault is an organisation address
    without rejecting the batch. With `source`, a change is noted in `crm_data_changes`.
    """
    kind = RecordKind(kind)
    where = _Where(positions, position_word)
    bar = progress or Progress(False, kind.value)
    problems = list(prior_problems)
    bar.stage("checking", len(records) + len({problem.index for problem in problems}))
    bar.advance(len({problem.index for problem in problems}))
    result = IngestResult(kind=kind.value)
    if kind is RecordKind.DEALS:
        _apply_deals(session, records, where, problems, result, skip_invalid, bar, skip_organisation)
    else:
        _apply_contacts(session, records, where, problems, result, skip_invalid, bar, skip_organisation,
                        leads=kind is RecordKind.LEADS)
    if source is not None:
        record_change(session.connection(), source, kind.value, created=result.created, updated=result.updated,
                      deleted=result.deleted, detail=detail)
    return result


def ingest_records(engine: Engine, kind: RecordKind | str, records: Any, *, source: str,
                   detail: str | None = None) -> IngestResult:
    """The ingest API's use case: one request's records, all or nothing.

    `records` is the decoded JSON body. Anything but a list of at most `MAX_RECORDS_PER_REQUEST`
    records is one problem with index None; each bad record is a problem with its index, field
    and reason. The result says `rejected` (answer 422 with `as_json()`) or carries the counts
    (answer 200). The same body sent twice changes nothing the second time (all "unchanged").
    """
    kind = RecordKind(kind)
    if not isinstance(records, list):
        return _rejected(kind, "expected a JSON array of records")
    if len(records) > MAX_RECORDS_PER_REQUEST:
        return _rejected(kind, f"too many records: {len(records)}, at most {MAX_RECORDS_PER_REQUEST} per request")
    for attempt in range(_ATTEMPTS):
        try:
            with session_scope(engine) as session:
                return apply_records(session, kind, records, source=source, detail=detail)
        except RecordsRejected as rejected:
            return rejected.result
        except (IntegrityError, DBAPIError) as error:
            # Another request created or changed the same records meanwhile (a unique key, or a
            # PostgreSQL serialization failure): run again against what is there now.
            if attempt + 1 == _ATTEMPTS or not _retryable(error):
                raise
    raise AssertionError("unreachable")


def _retryable(error: DBAPIError) -> bool:
    if isinstance(error, IntegrityError):
        return True
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01")  # serialization failure, deadlock


def _rejected(kind: RecordKind, reason: str) -> IngestResult:
    return IngestResult(kind=kind.value, problems=[RecordProblem(None, None, reason)], rejected=True)


def _check_all(kind: RecordKind, records: Sequence[Any], where: _Where, bar: Progress) -> list[tuple[_Row, list[RecordProblem]]]:
    checked = []
    for i, raw in enumerate(records):
        pos = where.at(i)
        values, deleted, row_problems = _check_record(kind, raw, pos)
        checked.append((_Row(pos, values, deleted), row_problems))
        bar.advance()
    return checked


def _check_unique_external_id(row: _Row, first_external: dict[str, int], row_problems: list[RecordProblem],
                              where: _Where) -> None:
    """An external_id repeated within the batch: the later record is the error."""
    external_id = row.external_id
    if not external_id:
        return
    if external_id in first_external:
        row_problems.append(RecordProblem(row.pos, "external_id", f"duplicate external_id {_quote(external_id)} "
                                                                  f"({where.first(first_external[external_id])})"))
    else:
        first_external[external_id] = row.pos


# --------------------------------------------------------------------------- contacts

_CONTACT_COLUMNS = ("email", "secondary_email", "first_name", "last_name", "company", "phone", "owner_id",
                    "external_id", "is_lead", "lead_status")


class _OrganisationCheck:
    """Refuses a contact record whose address is the organisation's own (module docstring): the addresses
    stored now, and the owners this batch will create. One query for the whole batch."""

    def __init__(self, session: Session, checked: list[tuple[_Row, list[RecordProblem]]]):
        upserts = [row for row, row_problems in checked if not row.deleted and not row_problems]
        self.roles = organisation_roles(session) if upserts else {}
        self.owners = {row.values["owner_email"] for row in upserts if row.values.get("owner_email")}

    def check(self, row: _Row, row_problems: list[RecordProblem]) -> None:
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
    return f"the contact with external_id {_quote(contact.external_id)}" if contact.external_id else "another contact"


def _load_contacts(connection: Connection, external_ids: set[str], addresses: set[str]) -> dict[int, sa.Row]:
    return _load_rows(connection, Contact.__table__, ("id", *_CONTACT_COLUMNS),
                      [(("external_id",), external_ids), (("email", "secondary_email"), addresses)])


def _apply_contacts(session: Session, records: Sequence[Any], where: _Where, problems: list[RecordProblem],
                    result: IngestResult, skip_invalid: bool, bar: Progress, skip_organisation: bool = False,
                    *, leads: bool = False) -> None:
    """Contacts, or with `leads` leads (the same rows, `crm_store.leads`)."""
    # Fields, then the organisation's addresses, then keys repeated within the batch: the later record is the error.
    checked = _check_all(RecordKind.LEADS if leads else RecordKind.CONTACTS, records, where, bar)
    organisation = _OrganisationCheck(session, checked)
    rows: list[_Row] = []
    first_external: dict[str, int] = {}
    first_address: dict[str, int] = {}
    for row, row_problems in checked:
        organisation.check(row, row_problems)
        _check_unique_external_id(row, first_external, row_problems, where)
        for column, address in row.addresses():
            if address in first_address:
                row_problems.append(RecordProblem(row.pos, column, f"duplicate email {_quote(address)} "
                                                                   f"({where.first(first_address[address])})"))
            else:
                first_address[address] = row.pos
        problems.extend(row_problems)
        if not row_problems:
            rows.append(row)

    connection = session.connection()
    _plan_each_query(connection)
    # Converted leads are applied one by one at the end (`crm_store.leads`); they are few.
    conversions: list[tuple[_Row, Any]] = []
    if leads:
        for row in [row for row in rows if not row.deleted and row.values.get("converted_contact_external_id")]:
            rows.remove(row)

            def fail_conversion(column: str, reason: str, row: _Row = row) -> None:
                row.ok = False
                problems.append(RecordProblem(row.pos, column, reason))
            plan = lead_store.plan_conversion(connection, row.external_id, row.email,
                                              row.values["converted_contact_external_id"], fail_conversion)
            if plan is not None:
                conversions.append((row, plan))
    existing = _load_contacts(
        connection,
        {row.external_id for row in rows if row.external_id},
        {address for row in rows for _, address in row.addresses()},
    )
    by_external = {contact.external_id: contact for contact in existing.values() if contact.external_id}
    by_email = {contact.email: contact for contact in existing.values()}
    holders: dict[str, set[int]] = defaultdict(set)
    for contact in existing.values():
        holders[contact.email].add(contact.id)
        if contact.secondary_email:
            holders[contact.secondary_email].add(contact.id)

    def fail(row: _Row, column: str | None, reason: str) -> None:
        row.ok = False
        problems.append(RecordProblem(row.pos, column, reason))

    # Which contact each record deletes, then which one each other record updates: a contact deleted
    # in the batch no longer owns its address, so a new contact may take it.
    claimed: dict[int, int] = {}  # contact id -> position

    def claim(row: _Row, key_column: str) -> None:
        if row.target is None:
            return
        if row.target in claimed:
            verb = "deletes" if row.deleted else "updates"
            fail(row, key_column, f"{verb} the same contact as {where.name(claimed[row.target])}")
            return
        claimed[row.target] = row.pos

    for row in rows:
        if not row.deleted:
            continue
        owner_of_email = by_email.get(row.email) if row.email else None
        if row.external_id:
            target = by_external.get(row.external_id)
            if target is not None and owner_of_email is not None and owner_of_email.id != target.id:
                fail(row, "email", f"email {_quote(row.email)} belongs to a different contact than "
                                   f"external_id {_quote(row.external_id)}")
                continue
        else:
            target = owner_of_email
        if target is not None and target.is_lead != leads:
            target = None  # a contact's delete never removes a lead, nor a lead's a contact
        row.target = target.id if target is not None else None
        claim(row, "external_id" if row.external_id else "email")
    doomed_now = {row.target for row in rows if row.deleted and row.ok and row.target is not None}

    for row in rows:
        if row.deleted:
            continue
        owner_of_email = by_email.get(row.email)
        if owner_of_email is not None and owner_of_email.id in doomed_now:
            owner_of_email = None
        key_column = "email"
        if leads and owner_of_email is not None and not owner_of_email.is_lead:
            fail(row, "email", f"email {_quote(row.email)} is already a contact's: a lead and a contact never share "
                               "an address")
            continue
        if row.external_id and row.external_id in by_external:
            key_column = "external_id"
            target = by_external[row.external_id]
            if target.is_lead != leads:
                fail(row, "external_id", f"external_id {_quote(row.external_id)} is a "
                                         f"{'contact' if leads else 'lead'}'s: leads and contacts share one id space")
                continue
            if owner_of_email is not None and owner_of_email.id != target.id:
                fail(row, "email", f"email {_quote(row.email)} already belongs to a different contact than "
                                   f"external_id {_quote(row.external_id)}"
                                   + (f" ({_describe_contact(owner_of_email)})" if owner_of_email.external_id else ""))
                continue
            row.target = target.id
        elif owner_of_email is not None:
            if not leads and owner_of_email.is_lead:
                pass  # the contact takes over the lead with its address: converted (crm_store.leads)
            elif row.external_id and owner_of_email.external_id:
                fail(row, "external_id", f"email {_quote(row.email)} already belongs to "
                                         f"{_describe_contact(owner_of_email)}")
                continue
            row.target = owner_of_email.id
        claim(row, key_column)

    # An address may be kept by one contact only, judged on the contacts as they will be.
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
                    fail(row, column, f"{_quote(address)} is already the {kind} of {_describe_contact(holder)}")
                    new_errors = True
                    break
        if not new_errors:
            break

    good = [row for row in rows if row.ok]
    _finish(result, problems, skip_invalid, skip_organisation)

    upserts = [row for row in good if not row.deleted]
    owners = _owner_ids(session, {row.values["owner_email"] for row in upserts if row.values.get("owner_email")})
    now = utcnow()
    inserts: list[dict] = []
    updates: list[dict] = []
    for row in upserts:
        wanted = {name: value for name, value in row.values.items()
                  if name not in ("owner_email", "converted_contact_external_id")}
        wanted["is_lead"] = leads
        if not leads:
            wanted["lead_status"] = None
        if "owner_email" in row.values:
            wanted["owner_id"] = owners[row.values["owner_email"]] if row.values["owner_email"] else None
        if wanted.get("external_id") is None:
            wanted.pop("external_id", None)
        if row.target is None:
            inserts.append({name: wanted.get(name) for name in _CONTACT_COLUMNS} | {"updated_at": now})
            continue
        current = existing[row.target]
        merged = {name: getattr(current, name) for name in _CONTACT_COLUMNS} | wanted
        if all(merged[name] == getattr(current, name) for name in _CONTACT_COLUMNS):
            result.unchanged += 1
            continue
        updates.append({"id": current.id, **merged, "updated_at": now})
        if merged["email"] != current.email or merged["secondary_email"] != current.secondary_email:
            result.changed_contact_ids.add(current.id)
    doomed = sorted({row.target for row in good if row.deleted and row.target is not None})
    result.unchanged += sum(1 for row in good if row.deleted and row.target is None)
    result.created, result.updated, result.deleted = len(inserts), len(updates), len(doomed)

    bar.stage("writing", len(doomed) + len(inserts) + len(updates))
    contacts = Contact.__table__
    # Deletes first, then updates, then inserts: each may free an address the next one takes.
    if doomed:
        result.deleted_deals, heirs = _delete_contacts(connection, doomed, existing)
        result.changed_contact_ids |= heirs
        bar.advance(len(doomed))
    _bulk_update(connection, contacts, updates, bar)
    _bulk_insert(connection, contacts, inserts, bar)
    for row, plan in conversions:
        if not row.ok:
            continue
        outcome, changed = lead_store.apply_conversion(connection, plan)
        result.changed_contact_ids |= changed
        if outcome == "updated":
            result.updated += 1
        else:
            result.unchanged += 1
    result.changed_contact_ids -= set(doomed)
    category_changes.record(connection, result.changed_contact_ids)


def _delete_contacts(connection: Connection, contact_ids: list[int], existing: dict[int, sa.Row]) -> tuple[int, set[int]]:
    """Delete contacts with their deals and what refers to them (module docstring); returns the number of
    deals deleted and the other contacts that keep one of their addresses."""
    addresses = {address for contact_id in contact_ids
                 for address in (existing[contact_id].email, existing[contact_id].secondary_email) if address}
    doomed = set(contact_ids)
    heirs = {contact_id for contact_id in _load_rows(connection, Contact.__table__, ("id",),
                                                     [(("email", "secondary_email"), addresses)])
             if contact_id not in doomed}
    deals = 0
    for chunk in _chunks(contact_ids, _IN_CHUNK):
        deals += connection.execute(sa.delete(Deal.__table__).where(Deal.__table__.c.contact_id.in_(chunk))).rowcount
        connection.execute(sa.delete(Alert.__table__).where(Alert.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.delete(Followup.__table__).where(Followup.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.delete(MutedContact.__table__).where(MutedContact.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.delete(CategoryChange.__table__).where(CategoryChange.__table__.c.contact_id.in_(chunk)))
        connection.execute(sa.update(AuditLog.__table__).where(AuditLog.__table__.c.contact_id.in_(chunk))
                           .values(contact_id=None))
        connection.execute(sa.delete(Contact.__table__).where(Contact.__table__.c.id.in_(chunk)))
    return deals, heirs


# --------------------------------------------------------------------------- deals

_DEAL_COLUMNS = ("name", "contact_id", "stage", "closing_date", "amount", "owner_id", "external_id")
# Fields that decide a contact's label category (SPEC §4).
_CATEGORY_FIELDS = ("contact_id", "stage", "closing_date")


def _load_deal_contacts(connection: Connection, external_ids: set[str], emails: set[str]) -> list[sa.Row]:
    return list(_load_rows(connection, Contact.__table__, ("id", "email", "secondary_email", "external_id", "is_lead"),
                           [(("external_id",), external_ids), (("email", "secondary_email"), emails)]).values())


def _load_deals(connection: Connection, external_ids: set[str], contact_ids: set[int]) -> dict[int, sa.Row]:
    return _load_rows(connection, Deal.__table__, ("id", *_DEAL_COLUMNS),
                      [(("external_id",), external_ids), (("contact_id",), contact_ids)])


def _normalise_amount(amount: Any) -> Decimal | None:
    # SQLite hands NUMERIC back through a float: compare at the column's scale.
    return None if amount is None else Decimal(amount).quantize(_CENT, rounding=ROUND_HALF_UP)


def _apply_deals(session: Session, records: Sequence[Any], where: _Where, problems: list[RecordProblem],
                 result: IngestResult, skip_invalid: bool, bar: Progress, skip_organisation: bool = False) -> None:
    rows: list[_Row] = []
    first_external: dict[str, int] = {}
    for row, row_problems in _check_all(RecordKind.DEALS, records, where, bar):
        _check_unique_external_id(row, first_external, row_problems, where)
        problems.extend(row_problems)
        if not row_problems:
            rows.append(row)

    def fail(row: _Row, column: str | None, reason: str) -> None:
        row.ok = False
        problems.append(RecordProblem(row.pos, column, reason))

    # The contact of each record: already in the CRM. A delete that names no known contact deletes nothing.
    connection = session.connection()
    _plan_each_query(connection)
    naming = [row for row in rows if not (row.deleted and row.external_id)]
    contacts = _load_deal_contacts(
        connection,
        {row.values["contact_external_id"] for row in naming if row.values.get("contact_external_id")},
        {row.values["contact_email"] for row in naming if row.values.get("contact_email")},
    )
    contact_by_external = {contact.external_id: contact for contact in contacts if contact.external_id}
    contact_by_email = {contact.email: contact for contact in contacts}
    contacts_by_secondary: dict[str, list[sa.Row]] = defaultdict(list)
    for contact in contacts:
        if contact.secondary_email:
            contacts_by_secondary[contact.secondary_email].append(contact)

    for row in naming:
        external_ref, email_ref = row.values.get("contact_external_id"), row.values.get("contact_email")
        by_external = by_email = None
        if external_ref:
            by_external = contact_by_external.get(external_ref)
            if by_external is None:
                if not row.deleted:
                    fail(row, "contact_external_id", f"unknown contact: no contact has external_id {_quote(external_ref)}")
                continue
        if email_ref:
            by_email = contact_by_email.get(email_ref)
            if by_email is None:
                candidates = contacts_by_secondary.get(email_ref, [])
                if len(candidates) > 1:
                    fail(row, "contact_email", f"{_quote(email_ref)} is the secondary email of several contacts: "
                                               "use contact_external_id")
                    continue
                by_email = candidates[0] if candidates else None
            if by_email is None and by_external is None:
                if not row.deleted:
                    fail(row, "contact_email", f"unknown contact: no contact has email {_quote(email_ref)}")
                continue
            if by_email is not None and by_external is not None and by_email.id != by_external.id:
                fail(row, "contact_email", f"{_quote(email_ref)} is not the email of the contact with "
                                           f"external_id {_quote(external_ref)}")
                continue
        if (by_external or by_email).is_lead and not row.deleted:
            fail(row, "contact_external_id" if by_external else "contact_email",
                 "names a lead: leads have no deals (convert the lead to a contact first)")
            continue
        row.contact_id = (by_external or by_email).id

    good = [row for row in rows if row.ok]
    existing = _load_deals(
        connection,
        {row.external_id for row in good if row.external_id},
        {row.contact_id for row in good if row.contact_id is not None},
    )
    deal_by_external = {deal.external_id: deal for deal in existing.values() if deal.external_id}
    deals_by_contact_name: dict[tuple[int, str], list[sa.Row]] = defaultdict(list)
    for deal in sorted(existing.values(), key=lambda deal: deal.id):
        deals_by_contact_name[(deal.contact_id, deal.name)].append(deal)

    # Which deal each record updates or deletes. Records without external_id are keyed by (contact, name).
    first_of_key: dict[tuple[int, str], int] = {}
    for row in good:
        if not row.external_id and row.contact_id is not None:
            first_of_key.setdefault((row.contact_id, row.name), row.pos)
    claimed: dict[int, int] = {}
    for row in good:
        if row.deleted and row.external_id:
            deal = deal_by_external.get(row.external_id)
            row.target = deal.id if deal is not None else None
        elif row.deleted and row.contact_id is None:
            row.target = None  # its contact is not in the CRM: neither is the deal
        else:
            key = (row.contact_id, row.name)
            same_name = deals_by_contact_name.get(key, [])
            if row.external_id and row.external_id in deal_by_external:
                row.target = deal_by_external[row.external_id].id
            elif row.external_id:
                unnamed = [deal for deal in same_name if deal.external_id is None]
                if len(unnamed) > 1:
                    fail(row, "external_id", f"the contact has several deals named {_quote(row.name)} without "
                                             f"external_id: cannot tell which one is {_quote(row.external_id)}")
                    continue
                row.target = unnamed[0].id if unnamed else None
            else:
                if first_of_key[key] != row.pos:
                    fail(row, "name", f"duplicate deal {_quote(row.name)} for this contact "
                                      f"({where.first(first_of_key[key])}): add external_id to tell them apart")
                    continue
                if len(same_name) > 1:
                    # Deals created by records with an external_id share names freely; the one without is this one's.
                    same_name = [deal for deal in same_name if deal.external_id is None]
                    if len(same_name) != 1:
                        fail(row, "name", f"the contact has several deals named {_quote(row.name)}: "
                                          "add external_id to tell them apart")
                        continue
                row.target = same_name[0].id if same_name else None
        if row.target is not None:
            if row.target in claimed:
                verb = "deletes" if row.deleted else "updates"
                fail(row, "external_id" if row.external_id else "name",
                     f"{verb} the same deal as {where.name(claimed[row.target])}")
                continue
            claimed[row.target] = row.pos

    good = [row for row in good if row.ok]
    _finish(result, problems, skip_invalid, skip_organisation)

    upserts = [row for row in good if not row.deleted]
    owners = _owner_ids(session, {row.values["owner_email"] for row in upserts if row.values.get("owner_email")})
    now = utcnow()
    inserts: list[dict] = []
    updates: list[dict] = []
    for row in upserts:
        wanted: dict[str, Any] = {"name": row.name, "contact_id": row.contact_id, "stage": row.values["stage"]}
        for name in ("closing_date", "amount"):
            if name in row.values:
                wanted[name] = row.values[name]
        if "owner_email" in row.values:
            wanted["owner_id"] = owners[row.values["owner_email"]] if row.values["owner_email"] else None
        if row.external_id:
            wanted["external_id"] = row.external_id
        if row.target is None:
            inserts.append({name: wanted.get(name) for name in _DEAL_COLUMNS} | {"updated_at": now})
            result.changed_contact_ids.add(row.contact_id)
            continue
        deal = existing[row.target]
        current = {name: getattr(deal, name) for name in _DEAL_COLUMNS}
        current["amount"] = _normalise_amount(current["amount"])
        merged = current | wanted
        if merged == current:
            result.unchanged += 1
            continue
        updates.append({"id": deal.id, **merged, "updated_at": now})
        if any(merged[name] != current[name] for name in _CATEGORY_FIELDS):
            result.changed_contact_ids.update({current["contact_id"], merged["contact_id"]})
    doomed = sorted({row.target for row in good if row.deleted and row.target is not None})
    result.unchanged += sum(1 for row in good if row.deleted and row.target is None)
    result.changed_contact_ids.update(existing[deal_id].contact_id for deal_id in doomed)
    result.created, result.updated, result.deleted = len(inserts), len(updates), len(doomed)

    bar.stage("writing", len(doomed) + len(inserts) + len(updates))
    deals = Deal.__table__
    for chunk in _chunks(doomed, _IN_CHUNK):
        connection.execute(sa.delete(deals).where(deals.c.id.in_(chunk)))
        bar.advance(len(chunk))
    _bulk_update(connection, deals, updates, bar)
    _bulk_insert(connection, deals, inserts, bar)
    category_changes.record(connection, result.changed_contact_ids)
