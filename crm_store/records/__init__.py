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
  ingest API refuses it like any bad record (the route answers 422); the CSV import (`skip_organisation=True`) and the
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

The package, by reason to change: `fields` (what a field may hold), `batch` (positions, problems, all or
nothing), `contacts` and `deals` (matching and the kind's rules), `bulk` (chunked reads, bulk writes, the
PostgreSQL planner hint, retries, the write both kinds end with), `results`, `progress` (a callback).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm_store.records.batch import Batch, Where
from crm_store.records.bulk import retrying
from crm_store.records.contacts import apply_contacts, apply_leads
from crm_store.records.deals import apply_deals
from crm_store.records.progress import ProgressCallback, ProgressTracker
from crm_store.records.results import (
    MAX_RECORDS_PER_REQUEST,
    IngestResult,
    RecordKind,
    RecordProblem,
    RecordsRejected,
)
from crm_store.sources import ChangedKind, ChangeSource, record_change

__all__ = ["apply_records", "ingest_records"]

_APPLY: dict[RecordKind, Callable[[Session, Sequence[Any], Batch], None]] = {
    RecordKind.CONTACTS: apply_contacts,
    RecordKind.DEALS: apply_deals,
    RecordKind.LEADS: apply_leads,
}


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
    progress: ProgressCallback | None = None,
    source: ChangeSource | None = None,
    detail: str | None = None,
) -> IngestResult:
    """Check `records` and apply them in the caller's transaction; see the package docstring.

    `positions` names each record in problems (the file line, say; default: its index), and
    `prior_problems` are records the caller could not even read (they count as bad records).
    Raises `RecordsRejected` before writing anything when a record is bad and `skip_invalid` is
    false; `skip_organisation` skips (and reports) a record whose only fault is an organisation address
    without rejecting the batch. `progress(stage, done, total)` hears how far it has come. With `source`,
    a change is noted in `crm_data_changes`.
    """
    kind = RecordKind(kind)
    problems = list(prior_problems)
    tracker = ProgressTracker(progress)
    unreadable = len({problem.index for problem in problems})
    tracker.stage("checking", len(records) + unreadable)
    tracker.advance(unreadable)
    batch = Batch(kind, Where(positions, position_word), problems, skip_invalid=skip_invalid,
                  skip_organisation=skip_organisation, progress=tracker)
    _APPLY[kind](session, records, batch)
    result = batch.result
    if source is not None:
        record_change(session.connection(), source, ChangedKind(kind.value), created=result.created,
                      updated=result.updated, deleted=result.deleted, detail=detail)
    return result


def ingest_records(engine: Engine, kind: RecordKind | str, records: Any, *, source: ChangeSource,
                   detail: str | None = None) -> IngestResult:
    """The ingest API's use case: one request's records, all or nothing, in a transaction of its own.

    `records` is the decoded JSON body. Anything but a list of at most `MAX_RECORDS_PER_REQUEST`
    records is one problem with index None; each bad record is a problem with its index, field
    and reason. The result says `rejected` (nothing written) or carries the counts. The same body
    sent twice changes nothing the second time (all "unchanged").
    """
    kind = RecordKind(kind)
    if not isinstance(records, list):
        return _rejected(kind, "expected a JSON array of records")
    if len(records) > MAX_RECORDS_PER_REQUEST:
        return _rejected(kind, f"too many records: {len(records)}, at most {MAX_RECORDS_PER_REQUEST} per request")
    try:
        return retrying(engine, lambda session: apply_records(session, kind, records, source=source, detail=detail))
    except RecordsRejected as rejected:
        return rejected.result


def _rejected(kind: RecordKind, reason: str) -> IngestResult:
    return IngestResult(kind=kind.value, problems=[RecordProblem(None, None, reason)], rejected=True)
