"""CRM CSV import: a contacts file or a deals file, checked as a whole, then upserted in one transaction.

What an import does (the README quotes this section):

Files
- UTF-8, with or without a byte-order mark; comma-separated, RFC 4180 quoting
  (a quoted cell may span lines). Lines that are blank, or hold only empty
  cells, are skipped. Line numbers in errors are physical lines of the file,
  the header being line 1 when it is the first line.
- Header names are case-insensitive and may use spaces or hyphens for
  underscores (`First Name` = `first_name`). Unknown columns are ignored.
- Every cell is trimmed. Emails are lower-cased before storing and matching.
- A column missing from the file leaves that field of existing records as it
  is; an empty cell in a column the file has clears the field. `external_id`
  is never cleared by an import: an empty one means "match by the other key".

Contacts (`email` required; `secondary_email`, `first_name`, `last_name`,
`company`, `phone`, `owner_email`, `external_id`)
- A row updates the contact with its `external_id` when it has one, else the
  contact whose primary email is the row's `email`; otherwise it creates one.
- A row whose `external_id` is new but whose `email` is an existing contact's
  adopts that contact (and sets its `external_id`) if it has none yet, so a
  first import without ids can be followed by one with ids. If that contact
  already has another `external_id`, the row is an error.
- A row whose `external_id` names contact A while its `email` is contact B's is
  an error (addresses are not swapped between contacts in one import).
- An address identifies at most one contact: a primary or secondary email that
  another contact keeps (in the CRM, or on another line) is an error.
- Changing a contact's primary or secondary email records a category change
  for it (its mail may be filed differently).

Deals (`name`, `stage` required; `contact_email` or `contact_external_id` per
row; `closing_date` ISO date, `amount` decimal, `owner_email`, `external_id`)
- Deals refer to contacts already in the CRM (import contacts first).
  `contact_external_id` wins when both are given (they must then name the same
  contact); `contact_email` matches a primary email first, then a secondary one.
- A row updates the deal with its `external_id` when it has one, else the
  contact's deal with exactly that name; otherwise it creates one. A row whose
  `external_id` is new adopts the contact's deal of that name if that deal has
  no `external_id` yet. Two rows without `external_id` for the same contact and
  deal name are an error, as is a name shared by several of the contact's deals.
- Any stage text is accepted (unknown stages are open deals). Amounts are
  rounded to cents; thousands separators and currency signs are errors.
- Creating a deal, or changing its stage, closing date or contact, records a
  category change for every contact concerned (old and new).

Owners: an `owner_email` naming no CRM user yet creates that user with no
permissions, to be linked to Slack by email.

Errors: a file with any bad row is rejected as a whole and nothing is written
(no users, contacts, deals); `ImportRejected.report.errors` lists every bad
row (line, column, reason). With `skip_invalid=True` the good rows are
imported and the bad ones reported and counted as skipped. A header problem
(a required column missing) or an unreadable file is always a rejection.

Cost: the file is read into memory, existing records are loaded with chunked
`IN` queries, and writes are bulk inserts/updates: a constant number of
statements per thousand rows, on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from crm_store.db import session_scope
from crm_store.models import CategoryChange, Contact, CrmUser, Deal, utcnow
from crm_store.users import get_or_create_user, normalise_email

__all__ = [
    "ImportRejected",
    "ImportReport",
    "RowError",
    "format_errors",
    "import_contacts",
    "import_deals",
]

CONTACT_COLUMNS = (
    "email", "secondary_email", "first_name", "last_name", "company", "phone", "owner_email", "external_id",
)
DEAL_COLUMNS = (
    "name", "contact_email", "contact_external_id", "stage", "closing_date", "amount", "owner_email", "external_id",
)

# Column widths of the tables: PostgreSQL refuses longer text, SQLite would keep it.
_MAX_LENGTH = {
    "email": 320, "secondary_email": 320, "owner_email": 320, "contact_email": 320,
    "first_name": 200, "last_name": 200, "company": 300, "phone": 64,
    "external_id": 128, "contact_external_id": 128,
    "name": 300, "stage": 100,
    "closing_date": 100, "amount": 100,
}

# Above this many rows a progress bar is shown unless the caller says otherwise.
PROGRESS_THRESHOLD = 5000
# Keys per IN (...) query; two lists per query stay under SQLite's oldest 999-variable limit.
_IN_CHUNK = 400
_WRITE_CHUNK = 1000
_AMOUNT_LIMIT = Decimal(10) ** 16  # Numeric(18, 2)
_CENT = Decimal("0.01")

_EMAIL_RE = re.compile(
    r"""^[^@\s<>(),;:"\[\]\\]+@(?:[^@\s<>(),;:"\[\]\\.]+\.)+[^@\s<>(),;:"\[\]\\.]+$"""
)


@dataclass
class RowError:
    line: int  # physical line in the file, the header being line 1
    column: str | None  # None: the row as a whole (e.g. wrong number of fields)
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    kind: str  # "contacts" | "deals"
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # bad rows left out (with skip_invalid), or the bad rows of a rejected file
    errors: list[RowError] = field(default_factory=list)
    # Contacts whose label category may have changed; one CategoryChange row each was written.
    changed_contact_ids: set[int] = field(default_factory=set)


class ImportRejected(Exception):
    """The file was not imported at all; `report.errors` lists every bad row."""

    def __init__(self, report: ImportReport, source: str = "CSV file"):
        self.report = report
        self.source = source
        super().__init__(self._summary())

    def _summary(self) -> str:
        errors = self.report.errors
        bad_lines = len({error.line for error in errors})
        if bad_lines == 1 and len(errors) == 1:
            detail = str(errors[0])
        else:
            rows = "row" if bad_lines == 1 else "rows"
            detail = f"{bad_lines} bad {rows} (first: {errors[0]})"
        return f"{self.source}: {self.report.kind} import rejected, {detail}; nothing was imported"


def format_errors(report: ImportReport) -> str:
    """One line per error, in file order: `line 7, column email: malformed email 'bob@'`."""
    return "\n".join(str(error) for error in sorted(report.errors, key=lambda error: error.line))


# --------------------------------------------------------------------------- reading the file


@dataclass
class _RawRow:
    line: int
    fields: list[str]


@dataclass
class _Table:
    source: str
    columns: dict[str, int]  # known column -> position
    width: int
    rows: list[_RawRow]
    errors: list[RowError]  # rows unreadable as a whole

    @property
    def row_count(self) -> int:
        return len(self.rows) + len({error.line for error in self.errors})


def _source_name(path_or_file: Any) -> str:
    if isinstance(path_or_file, (str, os.PathLike)):
        return Path(path_or_file).name
    name = getattr(path_or_file, "name", None)
    return Path(name).name if isinstance(name, str) else "CSV file"


def _read_text(path_or_file: str | os.PathLike | IO, kind: str, source: str) -> str:
    if isinstance(path_or_file, (str, os.PathLike)):
        data: bytes | str = Path(path_or_file).read_bytes()
    else:
        data = path_or_file.read()
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        error = RowError(line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as CSV UTF-8")
        raise ImportRejected(ImportReport(kind=kind, errors=[error]), source) from None


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _read_table(path_or_file: Any, kind: str, known: Sequence[str], required: Sequence[Sequence[str]]) -> _Table:
    """Parse the file; header problems reject it at once. `required`: groups of which one column must be present."""
    source = _source_name(path_or_file)
    text = _read_text(path_or_file, kind, source)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)

    def reject(line: int, column: str | None, reason: str):
        return ImportRejected(ImportReport(kind=kind, errors=[RowError(line, column, reason)]), source)

    header: list[str] | None = None
    header_line = 1
    rows: list[_RawRow] = []
    errors: list[RowError] = []
    last_line = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line, last_line = last_line + 1, reader.line_num
            if header is None:
                raise reject(line, None, f"unreadable header: {exc}") from None
            errors.append(RowError(line, None, f"unreadable CSV row: {exc}"))
            continue
        line, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in fields):
            continue
        if header is None:
            header, header_line = fields, line
            continue
        rows.append(_RawRow(line, fields))
    if header is None:
        raise reject(1, None, "the file is empty: expected a header line naming the columns")

    columns: dict[str, int] = {}
    header_errors: list[RowError] = []
    for position, name in enumerate(header):
        key = _header_key(name)
        if key in known:
            if key in columns:
                header_errors.append(RowError(header_line, key, f"column {key} appears twice in the header"))
            columns[key] = position
    for group in required:
        if not any(column in columns for column in group):
            names = " or ".join(group)
            header_errors.append(RowError(header_line, group[0], f"missing required column {names} in the header"))
    if header_errors:
        raise ImportRejected(ImportReport(kind=kind, errors=header_errors), source)

    width = len(header)
    readable: list[_RawRow] = []
    for row in rows:
        if len(row.fields) != width:
            errors.append(RowError(row.line, None, f"expected {width} fields as in the header, found {len(row.fields)}"))
        else:
            readable.append(row)
    return _Table(source, columns, width, readable, errors)


# --------------------------------------------------------------------------- checking cells

_ABSENT = object()  # the file has no such column
_INVALID = object()  # the cell is bad; a RowError was recorded


def _quote(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


class _Cells:
    """Typed access to one row's cells, collecting that row's errors."""

    def __init__(self, table: _Table, row: _RawRow):
        self.table, self.row, self.line = table, row, row.line
        self.errors: list[RowError] = []

    def error(self, column: str | None, reason: str) -> None:
        self.errors.append(RowError(self.line, column, reason))

    def text(self, column: str, *, required: bool = False) -> Any:
        position = self.table.columns.get(column)
        if position is None:
            return _ABSENT
        value = self.row.fields[position].strip()
        if "\x00" in value:
            self.error(column, "contains a NUL character")
            return _INVALID
        if not value:
            if required:
                self.error(column, f"missing {column}")
                return _INVALID
            return None
        limit = _MAX_LENGTH[column]
        if len(value) > limit:
            self.error(column, f"too long: {len(value)} characters, at most {limit}")
            return _INVALID
        return value

    def email(self, column: str, *, required: bool = False) -> Any:
        value = self.text(column, required=required)
        if not isinstance(value, str):
            return value
        value = normalise_email(value)
        if not _EMAIL_RE.match(value):
            self.error(column, f"malformed email {_quote(value)}")
            return _INVALID
        return value

    def iso_date(self, column: str) -> Any:
        value = self.text(column)
        if not isinstance(value, str):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.error(column, f"unparseable date {_quote(value)}: expected YYYY-MM-DD")
            return _INVALID

    def amount(self, column: str) -> Any:
        value = self.text(column)
        if not isinstance(value, str):
            return value
        try:
            amount = Decimal(value)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            self.error(column, f"unparseable amount {_quote(value)}: expected a number like 1234.50")
            return _INVALID
        amount = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
        if abs(amount) >= _AMOUNT_LIMIT:
            self.error(column, f"amount {_quote(value)} is too large")
            return _INVALID
        return amount


def _check_unique_external_id(external_id: Any, line: int, first_external: dict[str, int],
                              row_errors: list[RowError]) -> None:
    """An external_id repeated within the file: the later line is the error."""
    if not _given(external_id):
        return
    if external_id in first_external:
        row_errors.append(RowError(line, "external_id", f"duplicate external_id {_quote(external_id)} "
                                                        f"(first on line {first_external[external_id]})"))
    else:
        first_external[external_id] = line


def _given(value: Any) -> bool:
    return value is not _ABSENT and value is not _INVALID and value is not None


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


class _Progress:
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


def _show_progress(progress: bool | None, rows: int) -> bool:
    return rows > PROGRESS_THRESHOLD if progress is None else bool(progress)


def _bulk_insert(connection: Connection, table: sa.Table, rows: list[dict], bar: _Progress) -> None:
    for chunk in _chunks(rows, _WRITE_CHUNK):
        connection.execute(sa.insert(table), chunk)
        bar.advance(len(chunk))


def _bulk_update(connection: Connection, table: sa.Table, rows: list[dict], bar: _Progress) -> None:
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
        bar.advance(len(chunk))


def _record_category_changes(connection: Connection, contact_ids: set[int]) -> None:
    now = utcnow()
    rows = [{"contact_id": contact_id, "changed_at": now} for contact_id in sorted(contact_ids)]
    for chunk in _chunks(rows, _WRITE_CHUNK):
        connection.execute(sa.insert(CategoryChange.__table__), chunk)


def _bad_lines(errors: list[RowError]) -> set[int]:
    return {error.line for error in errors}


def _finish(report: ImportReport, errors: list[RowError], skip_invalid: bool, source: str) -> None:
    """Reject the file when it has errors and the caller did not ask to skip bad rows."""
    report.errors = sorted(errors, key=lambda error: error.line)
    report.skipped = len(_bad_lines(errors))
    if errors and not skip_invalid:
        raise ImportRejected(
            ImportReport(kind=report.kind, skipped=report.skipped, errors=report.errors), source
        )


# --------------------------------------------------------------------------- contacts

_CONTACT_FIELDS = ("email", "secondary_email", "first_name", "last_name", "company", "phone", "owner_id", "external_id")


@dataclass
class _ContactRow:
    line: int
    values: dict[str, Any]  # column -> value, for the columns the file has
    ok: bool = True
    target: int | None = None  # existing contact id, None: a new contact

    @property
    def email(self) -> str:
        return self.values["email"]

    @property
    def external_id(self) -> str | None:
        return self.values.get("external_id")

    def addresses(self) -> list[tuple[str, str]]:
        found = [("email", self.email)]
        secondary = self.values.get("secondary_email")
        if secondary and secondary != self.email:
            found.append(("secondary_email", secondary))
        return found


def _check_contact_row(table: _Table, raw: _RawRow) -> tuple[dict[str, Any], list[RowError]]:
    cells = _Cells(table, raw)
    values = {
        "email": cells.email("email", required=True),
        "secondary_email": cells.email("secondary_email"),
        "first_name": cells.text("first_name"),
        "last_name": cells.text("last_name"),
        "company": cells.text("company"),
        "phone": cells.text("phone"),
        "owner_email": cells.email("owner_email"),
        "external_id": cells.text("external_id"),
    }
    return values, cells.errors


def _describe_contact(contact: sa.Row) -> str:
    return f"the contact with external_id {_quote(contact.external_id)}" if contact.external_id else "another contact"


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


def _load_contacts(connection: Connection, external_ids: set[str], addresses: set[str]) -> dict[int, sa.Row]:
    return _load_rows(connection, Contact.__table__, ("id", *_CONTACT_FIELDS),
                      [(("external_id",), external_ids), (("email", "secondary_email"), addresses)])


def _run_import(engine: Engine, path_or_file: Any, kind: str, columns: Sequence[str],
                required: Sequence[Sequence[str]], importer, skip_invalid: bool, progress: bool | None) -> ImportReport:
    table = _read_table(path_or_file, kind, columns, required)
    bar = _Progress(_show_progress(progress, table.row_count), kind)
    try:
        with session_scope(engine) as session:
            return importer(session, table, skip_invalid, bar)
    finally:
        bar.close()


def import_contacts(
    engine: Engine, path_or_file: Any, *, skip_invalid: bool = False, progress: bool | None = None
) -> ImportReport:
    """Import a contacts CSV file (a path or an open file); see the module docstring for the rules."""
    return _run_import(engine, path_or_file, "contacts", CONTACT_COLUMNS, [("email",)], _import_contacts,
                       skip_invalid, progress)


def _import_contacts(session: Session, table: _Table, skip_invalid: bool, bar: _Progress) -> ImportReport:
    report = ImportReport(kind="contacts")
    errors = list(table.errors)
    bar.stage("checking", table.row_count)
    bar.advance(len(_bad_lines(table.errors)))

    # Cells, then keys repeated within the file: the later line is the error.
    rows: list[_ContactRow] = []
    first_external: dict[str, int] = {}
    first_address: dict[str, int] = {}
    for raw in table.rows:
        values, row_errors = _check_contact_row(table, raw)
        _check_unique_external_id(values["external_id"], raw.line, first_external, row_errors)
        seen_here: set[str] = set()
        for column in ("email", "secondary_email"):
            address = values[column]
            if not _given(address) or address in seen_here:
                continue
            seen_here.add(address)
            if address in first_address:
                row_errors.append(RowError(raw.line, column,
                                           f"duplicate email {_quote(address)} (first on line {first_address[address]})"))
            else:
                first_address[address] = raw.line
        errors.extend(row_errors)
        if not row_errors:
            present = {name: value for name, value in values.items() if value is not _ABSENT}
            rows.append(_ContactRow(raw.line, present))
        bar.advance()

    connection = session.connection()
    _plan_each_query(connection)
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

    def fail(row: _ContactRow, column: str | None, reason: str) -> None:
        row.ok = False
        errors.append(RowError(row.line, column, reason))

    # Which contact each row updates.
    claimed: dict[int, int] = {}  # contact id -> line
    for row in rows:
        owner_of_email = by_email.get(row.email)
        key_column = "email"
        if row.external_id and row.external_id in by_external:
            key_column = "external_id"
            target = by_external[row.external_id]
            if owner_of_email is not None and owner_of_email.id != target.id:
                fail(row, "email", f"email {_quote(row.email)} already belongs to a different contact than "
                                   f"external_id {_quote(row.external_id)}"
                                   + (f" ({_describe_contact(owner_of_email)})" if owner_of_email.external_id else ""))
                continue
            row.target = target.id
        elif owner_of_email is not None:
            if row.external_id and owner_of_email.external_id:
                fail(row, "external_id", f"email {_quote(row.email)} already belongs to "
                                         f"{_describe_contact(owner_of_email)}")
                continue
            row.target = owner_of_email.id
        if row.target is not None:
            if row.target in claimed:
                fail(row, key_column, f"updates the same contact as line {claimed[row.target]}")
                continue
            claimed[row.target] = row.line

    # An address may be kept by one contact only, judged on the contacts as they will be.
    has_secondary = "secondary_email" in table.columns
    while True:
        good = [row for row in rows if row.ok]
        rewritten = {row.target: row for row in good if row.target is not None}

        def final_addresses(contact: sa.Row) -> set[str]:
            row = rewritten.get(contact.id)
            if row is None:
                return {contact.email, contact.secondary_email} - {None}
            secondary = row.values.get("secondary_email") if has_secondary else contact.secondary_email
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
    _finish(report, errors, skip_invalid, table.source)

    owners = _owner_ids(session, {row.values["owner_email"] for row in good if row.values.get("owner_email")})
    now = utcnow()
    inserts: list[dict] = []
    updates: list[dict] = []
    for row in good:
        wanted = {name: value for name, value in row.values.items() if name != "owner_email"}
        if "owner_email" in row.values:
            wanted["owner_id"] = owners[row.values["owner_email"]] if row.values["owner_email"] else None
        if wanted.get("external_id") is None:
            wanted.pop("external_id", None)
        if row.target is None:
            inserts.append({name: wanted.get(name) for name in _CONTACT_FIELDS} | {"updated_at": now})
            continue
        current = existing[row.target]
        merged = {name: getattr(current, name) for name in _CONTACT_FIELDS} | wanted
        if all(merged[name] == getattr(current, name) for name in _CONTACT_FIELDS):
            report.unchanged += 1
            continue
        updates.append({"id": current.id, **merged, "updated_at": now})
        if merged["email"] != current.email or merged["secondary_email"] != current.secondary_email:
            report.changed_contact_ids.add(current.id)
    report.created, report.updated = len(inserts), len(updates)

    bar.stage("writing", len(inserts) + len(updates))
    contacts = Contact.__table__
    _bulk_insert(connection, contacts, inserts, bar)
    _bulk_update(connection, contacts, updates, bar)
    _record_category_changes(connection, report.changed_contact_ids)
    return report


# --------------------------------------------------------------------------- deals

_DEAL_FIELDS = ("name", "contact_id", "stage", "closing_date", "amount", "owner_id", "external_id")
# Fields that decide a contact's label category (SPEC §4).
_CATEGORY_FIELDS = ("contact_id", "stage", "closing_date")


@dataclass
class _DealRow:
    line: int
    values: dict[str, Any]
    contact_id: int = 0
    ok: bool = True
    target: int | None = None  # existing deal id, None: a new deal

    @property
    def external_id(self) -> str | None:
        return self.values.get("external_id")

    @property
    def name(self) -> str:
        return self.values["name"]


def _check_deal_row(table: _Table, raw: _RawRow) -> tuple[dict[str, Any], list[RowError]]:
    cells = _Cells(table, raw)
    values = {
        "name": cells.text("name", required=True),
        "contact_email": cells.email("contact_email"),
        "contact_external_id": cells.text("contact_external_id"),
        "stage": cells.text("stage", required=True),
        "closing_date": cells.iso_date("closing_date"),
        "amount": cells.amount("amount"),
        "owner_email": cells.email("owner_email"),
        "external_id": cells.text("external_id"),
    }
    contact_refs = (values["contact_email"], values["contact_external_id"])
    if not any(_given(ref) or ref is _INVALID for ref in contact_refs):
        column = "contact_email" if "contact_email" in table.columns else "contact_external_id"
        cells.error(column, "missing contact_email or contact_external_id")
    return values, cells.errors


def _load_deal_contacts(connection: Connection, external_ids: set[str], emails: set[str]) -> list[sa.Row]:
    return list(_load_rows(connection, Contact.__table__, ("id", "email", "secondary_email", "external_id"),
                           [(("external_id",), external_ids), (("email", "secondary_email"), emails)]).values())


def _load_deals(connection: Connection, external_ids: set[str], contact_ids: set[int]) -> dict[int, sa.Row]:
    return _load_rows(connection, Deal.__table__, ("id", *_DEAL_FIELDS),
                      [(("external_id",), external_ids), (("contact_id",), contact_ids)])


def import_deals(
    engine: Engine, path_or_file: Any, *, skip_invalid: bool = False, progress: bool | None = None
) -> ImportReport:
    """Import a deals CSV file (a path or an open file); see the module docstring for the rules."""
    return _run_import(engine, path_or_file, "deals", DEAL_COLUMNS,
                       [("name",), ("contact_email", "contact_external_id"), ("stage",)], _import_deals,
                       skip_invalid, progress)


def _normalise_amount(amount: Any) -> Decimal | None:
    # SQLite hands NUMERIC back through a float: compare at the column's scale.
    return None if amount is None else Decimal(amount).quantize(_CENT, rounding=ROUND_HALF_UP)


def _import_deals(session: Session, table: _Table, skip_invalid: bool, bar: _Progress) -> ImportReport:
    report = ImportReport(kind="deals")
    errors = list(table.errors)
    bar.stage("checking", table.row_count)
    bar.advance(len(_bad_lines(table.errors)))

    rows: list[_DealRow] = []
    first_external: dict[str, int] = {}
    for raw in table.rows:
        values, row_errors = _check_deal_row(table, raw)
        _check_unique_external_id(values["external_id"], raw.line, first_external, row_errors)
        errors.extend(row_errors)
        if not row_errors:
            rows.append(_DealRow(raw.line, {name: value for name, value in values.items() if value is not _ABSENT}))
        bar.advance()

    def fail(row: _DealRow, column: str | None, reason: str) -> None:
        row.ok = False
        errors.append(RowError(row.line, column, reason))

    # The contact of each row: already in the CRM.
    connection = session.connection()
    _plan_each_query(connection)
    contacts = _load_deal_contacts(
        connection,
        {row.values["contact_external_id"] for row in rows if row.values.get("contact_external_id")},
        {row.values["contact_email"] for row in rows if row.values.get("contact_email")},
    )
    contact_by_external = {contact.external_id: contact for contact in contacts if contact.external_id}
    contact_by_email = {contact.email: contact for contact in contacts}
    contacts_by_secondary: dict[str, list[sa.Row]] = defaultdict(list)
    for contact in contacts:
        if contact.secondary_email:
            contacts_by_secondary[contact.secondary_email].append(contact)

    for row in rows:
        external_ref, email_ref = row.values.get("contact_external_id"), row.values.get("contact_email")
        by_external = by_email = None
        if external_ref:
            by_external = contact_by_external.get(external_ref)
            if by_external is None:
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
                fail(row, "contact_email", f"unknown contact: no contact has email {_quote(email_ref)}")
                continue
            if by_email is not None and by_external is not None and by_email.id != by_external.id:
                fail(row, "contact_email", f"{_quote(email_ref)} is not the email of the contact with "
                                           f"external_id {_quote(external_ref)}")
                continue
        row.contact_id = (by_external or by_email).id

    good = [row for row in rows if row.ok]
    existing = _load_deals(
        connection,
        {row.external_id for row in good if row.external_id},
        {row.contact_id for row in good},
    )
    deal_by_external = {deal.external_id: deal for deal in existing.values() if deal.external_id}
    deals_by_contact_name: dict[tuple[int, str], list[sa.Row]] = defaultdict(list)
    for deal in sorted(existing.values(), key=lambda deal: deal.id):
        deals_by_contact_name[(deal.contact_id, deal.name)].append(deal)

    # Which deal each row updates. Rows without external_id are keyed by (contact, name).
    first_of_key: dict[tuple[int, str], int] = {}
    for row in good:
        if not row.external_id:
            first_of_key.setdefault((row.contact_id, row.name), row.line)
    claimed: dict[int, int] = {}
    for row in good:
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
            if first_of_key[key] != row.line:
                fail(row, "name", f"duplicate deal {_quote(row.name)} for this contact (first on line "
                                  f"{first_of_key[key]}): add external_id to tell them apart")
                continue
            if len(same_name) > 1:
                # Deals created by rows with an external_id share names freely; the one without is this row's.
                same_name = [deal for deal in same_name if deal.external_id is None]
                if len(same_name) != 1:
                    fail(row, "name", f"the contact has several deals named {_quote(row.name)}: "
                                      "add external_id to tell them apart")
                    continue
            row.target = same_name[0].id if same_name else None
        if row.target is not None:
            if row.target in claimed:
                fail(row, "external_id" if row.external_id else "name",
                     f"updates the same deal as line {claimed[row.target]}")
                continue
            claimed[row.target] = row.line

    good = [row for row in good if row.ok]
    _finish(report, errors, skip_invalid, table.source)

    owners = _owner_ids(session, {row.values["owner_email"] for row in good if row.values.get("owner_email")})
    now = utcnow()
    inserts: list[dict] = []
    updates: list[dict] = []
    for row in good:
        wanted: dict[str, Any] = {"name": row.name, "contact_id": row.contact_id, "stage": row.values["stage"]}
        for name in ("closing_date", "amount"):
            if name in row.values:
                wanted[name] = row.values[name]
        if "owner_email" in row.values:
            wanted["owner_id"] = owners[row.values["owner_email"]] if row.values["owner_email"] else None
        if row.external_id:
            wanted["external_id"] = row.external_id
        if row.target is None:
            inserts.append({name: wanted.get(name) for name in _DEAL_FIELDS} | {"updated_at": now})
            report.changed_contact_ids.add(row.contact_id)
            continue
        deal = existing[row.target]
        current = {name: getattr(deal, name) for name in _DEAL_FIELDS}
        current["amount"] = _normalise_amount(current["amount"])
        merged = current | wanted
        if merged == current:
            report.unchanged += 1
            continue
        updates.append({"id": deal.id, **merged, "updated_at": now})
        if any(merged[name] != current[name] for name in _CATEGORY_FIELDS):
            report.changed_contact_ids.update({current["contact_id"], merged["contact_id"]})
    report.created, report.updated = len(inserts), len(updates)

    bar.stage("writing", len(inserts) + len(updates))
    deals = Deal.__table__
    _bulk_insert(connection, deals, inserts, bar)
    _bulk_update(connection, deals, updates, bar)
    _record_category_changes(connection, report.changed_contact_ids)
    return report
