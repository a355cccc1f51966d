"""CRM CSV import: a contacts file or a deals file, checked as a whole, then applied in one transaction.

The file is read here; the rules for records (fields, upserts, owners, category changes, all or
nothing) are those of the import core, `crm_store.records`, shared with the ingest API and the
Zoho CRM sync. What is particular to files (the README quotes this section):

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
- A file cannot delete (there is no `deleted` column); the ingest API and the
  Zoho sync can.

Errors: a file with any bad row is rejected as a whole and nothing is written
(no users, contacts, deals); `ImportRejected.report.errors` lists every bad
row (line, column, reason). With `skip_invalid=True` the good rows are
imported and the bad ones reported and counted as skipped. A header problem
(a required column missing) or an unreadable file is always a rejection.
A row whose email or secondary_email is the organisation's own address (a
connected mailbox, a CRM user's email, an allowed alias) is always skipped
and reported (line, column, reason), with or without `skip_invalid`: the row
is not wrong, it is just never a contact, and a CRM export often holds the
team's own people.

Cost: the file is read into memory, then the core loads existing records with
chunked `IN` queries and writes in bulk: a constant number of statements per
thousand rows, on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Sequence

from sqlalchemy.engine import Engine

from crm_store.db import session_scope
from crm_store.records import apply_records
from crm_store.records.fields import CONTACT_FIELDS, DEAL_FIELDS, LEAD_FIELDS
from crm_store.records.progress import ProgressCallback
from crm_store.records.results import IngestResult, RecordKind, RecordProblem, RecordsRejected
from crm_store.sources import ChangeSource

__all__ = [
    "ImportRejected",
    "ImportReport",
    "RowError",
    "format_errors",
    "import_contacts",
    "import_deals",
    "import_leads",
]

CONTACT_COLUMNS = CONTACT_FIELDS
DEAL_COLUMNS = DEAL_FIELDS
LEAD_COLUMNS = LEAD_FIELDS



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
    deleted: int = 0  # always 0 for a file; kept so every import reports the same counts
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


# --------------------------------------------------------------------------- applying the rows


def _report(result: IngestResult) -> ImportReport:
    return ImportReport(
        kind=result.kind, created=result.created, updated=result.updated, unchanged=result.unchanged,
        skipped=result.skipped, deleted=result.deleted, changed_contact_ids=set(result.changed_contact_ids),
        errors=[RowError(problem.index, problem.field, problem.reason) for problem in result.problems],
    )


def _run_import(engine: Engine, path_or_file: Any, kind: RecordKind, columns: Sequence[str],
                required: Sequence[Sequence[str]], skip_invalid: bool, progress: ProgressCallback | None) -> ImportReport:
    table = _read_table(path_or_file, kind.value, columns, required)
    # One record per readable row, with the cells of the columns the file has, as they are.
    records = [{column: row.fields[position] for column, position in table.columns.items()} for row in table.rows]
    unreadable = [RecordProblem(error.line, error.column, error.reason) for error in table.errors]
    try:
        with session_scope(engine) as session:
            # A row whose address is the organisation's own is skipped and reported even without
            # skip_invalid: it is not bad data, only never a contact (SPEC §5; README, CRM import).
            result = apply_records(session, kind, records, skip_invalid=skip_invalid, skip_organisation=True,
                                   positions=[row.line for row in table.rows], position_word="line",
                                   prior_problems=unreadable, progress=progress,
                                   source=ChangeSource.CSV, detail=table.source)
    except RecordsRejected as rejected:
        raise ImportRejected(_report(rejected.result), table.source) from None
    return _report(result)


def import_contacts(
    engine: Engine, path_or_file: Any, *, skip_invalid: bool = False, progress: ProgressCallback | None = None
) -> ImportReport:
    """Import a contacts CSV file (a path or an open file); see `crm_store.records` for the rules.
    `progress(stage, done, total)` hears how far it has come (the CLI draws a bar from it)."""
    return _run_import(engine, path_or_file, RecordKind.CONTACTS, CONTACT_COLUMNS, [("email",)], skip_invalid, progress)


def import_leads(
    engine: Engine, path_or_file: Any, *, skip_invalid: bool = False, progress: ProgressCallback | None = None
) -> ImportReport:
    """Import a leads CSV file: the contacts' columns plus `lead_status` and `converted_contact_external_id`
    (`crm_store.leads`)."""
    return _run_import(engine, path_or_file, RecordKind.LEADS, LEAD_COLUMNS, [("email",)], skip_invalid, progress)


def import_deals(
    engine: Engine, path_or_file: Any, *, skip_invalid: bool = False, progress: ProgressCallback | None = None
) -> ImportReport:
    """Import a deals CSV file (a path or an open file); see `crm_store.records` for the rules."""
    return _run_import(engine, path_or_file, RecordKind.DEALS, DEAL_COLUMNS,
                       [("name",), ("contact_email", "contact_external_id"), ("stage",)], skip_invalid, progress)
