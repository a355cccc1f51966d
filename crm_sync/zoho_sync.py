"""Incremental sync from Zoho CRM (REST API v7) into the CRM store, through the import core.

One run, under the `zoho-sync` job lease (one replica at a time; another gets "skipped"):

  Contacts: deleted records, then records modified since the cursor; then the same for Leads, then Deals.
  Leads are listed with `converted=both` (Zoho hides converted leads otherwise); a converted lead's contact id
  comes from its single-record read (`$converted_detail`, not in listings): one call per conversion.

Contacts come before deals (a deal's contact must exist). Within a module, deletes come first, so
a contact deleted in Zoho frees its address for a new contact read in the same run.

Records (`GET /crm/v7/{module}`, `If-Modified-Since`, `sort_by=Modified_Time&sort_order=asc`,
paging with `page_token`) are mapped to the core's records (`Email`→email, `Secondary_Email`,
`First_Name`, `Last_Name`, `Account_Name.name`→company, `Phone`, `Owner.email`→owner_email;
`Deal_Name`, `Stage`, `Closing_Date`, `Amount`, `Contact_Name.id`→contact_external_id,
`Owner.email`; Zoho ids are the external ids; Zoho users become CRM users by email) and each page
is committed through `crm_store.records.apply_records` with `skip_invalid`: a Zoho record the
core refuses (no email, a deal without contact, a contact whose address is the organisation's own, …) is
skipped and reported, never blocks the sync; the log line names the record's id, field and the reason,
which for an organisation address says what it is, never the address.

The cursor of a stream (`crm_sync_cursors`) advances in the transaction that commits the page,
together with the lease renewal (a replica that lost the lease commits nothing):

- `since`: every record modified at or before it is applied. Zoho answers records modified
  *after* the `If-Modified-Since` instant, to the second, so records sharing the second of the
  last applied one may still come: after a page whose last record was modified at T, the cursor
  is `since = T - 1 s` plus `skip`, the ids of the records at T already applied with their
  Modified_Time and a digest of their fields, which a later read skips unless they changed again
  (an edit within the second of the read keeps its Modified_Time: the digest tells). At the end of a listing, when
  Zoho's clock (the `Date` header) is past T, nothing can be modified at T any more: the cursor
  closes at `since = T` with nothing to skip, and the next run reads only what is new.
- `page_token` (with its `If-Modified-Since` and expiry): a run that stops between pages (a
  crash, a deploy, a rate limit) resumes from the next page while Zoho keeps the token (a
  day), re-reading nothing it committed. While a listing goes on, the page token is the resume
  point and the stored cursor carries `since` without `skip`: one second of a bulk edit can hold
  tens of thousands of records, and writing their ids with every page made a large listing
  quadratic. An expired token falls back to `since`, which re-reads at most the records of one
  second and applies them again (they come out "unchanged").

Deleted records (`GET /crm/v7/{module}/deleted`, `type=all`, `If-Modified-Since`) come in pages
numbered 1, 2, …, newest first; a page is applied as it arrives (a delete is idempotent) and the
stream's `since` moves to the newest `deleted_time` once the listing is complete. The first run
of a module reads no deleted records (there is nothing to delete yet): its deleted stream starts
at the time of its first listing. `full=True` reads every record and every deleted record again,
ignoring the cursors (which it then resets).

A broken or hostile Zoho ends the run, never the process: a listing is read for at most
`max_pages_per_run` pages per run (a longer one continues in the next run), a page token handed out
twice or refused right after Zoho handed it out stops it at once, an answer of the wrong shape is a
`ZohoBadAnswer` (see the client), and the stream then drops its page token so the next run reads
again from `since`, which only ever moves past records the sync saw (a `Modified_Time` later than
Zoho's own clock counts as that clock).
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm_store.db import session_scope
from telemetry.failpoints import failpoint
from crm_store.job_leases import claim_job, release_job, renew_job_in
from crm_store.leases import replica_owner
from crm_store.models import CrmSyncCursor, utcnow
from crm_store.records import apply_records
from crm_store.records.results import RecordKind
from crm_store.sources import ChangeSource
from crm_sync.config import ZohoConfig
from crm_sync.errors import LeaseLost, ZohoBadAnswer, ZohoError, ZohoPageTokenInvalid
from crm_sync.zoho_answers import parse_zoho_time
from crm_sync.zoho_client import ZohoClient
from crm_sync.zoho_cursor import Cursor, aware, stamp, stamp_time
from crm_sync.zoho_fields import FIELDS, KINDS, LIST_PARAMS, MAPPERS, MODULES, ZOHO_FIELD
from crm_sync.zoho_results import ModuleResult, SyncProblem, ZohoSyncResult, ZohoSyncStatus

log = logging.getLogger(__name__)

LEASE_NAME = "zoho-sync"
TOKEN_MARGIN = timedelta(minutes=5)  # a page token this close to its expiry is not worth trying
ONE_SECOND = timedelta(seconds=1)


def default_owner() -> str:
    """This process (`host:pid:start`, so a replica on this host can tell whether it is alive) and one sync."""
    return replica_owner(f":{uuid.uuid4().hex[:8]}")


def run_zoho_sync(engine: Engine, config: ZohoConfig, *, full: bool = False,
                  clock: Callable[[], datetime] = utcnow, owner: str | None = None,
                  client: ZohoClient | None = None,
                  on_page: Callable[[str, str, int], None] | None = None) -> ZohoSyncResult:
    """One sync run (module docstring). Never raises for Zoho's failures: they are the result's
    `status="failed"`, `reason` and `errors`, and the stream's `last_error`.

    `on_page(module, stream, number)` is called after each committed page ("records" or
    "deleted"): progress for the CLI; an exception it raises stops the run there (tests use it
    to crash between pages).
    """
    owner = owner or default_owner()
    result = ZohoSyncResult(status=ZohoSyncStatus.SYNCED, full=full, started_at=clock())
    if not claim_job(engine, LEASE_NAME, owner, lease_seconds=config.lease_seconds, now=clock()):
        result.status, result.reason = ZohoSyncStatus.SKIPPED, "another replica is syncing"
        result.finished_at = clock()
        return result
    own_client = client is None
    client = client or ZohoClient(config)
    run = _Run(engine, config, client, owner, clock, full, on_page, result)
    stream = None
    try:
        for module in MODULES:
            result.modules[module] = ModuleResult(module)
            first_time = run.cursor(f"zoho:{module}:deleted") is None
            if full or not first_time:
                stream = f"zoho:{module}:deleted"
                run.sync_deleted(module)
            stream = f"zoho:{module}"
            started = run.sync_records(module)
            if first_time and not full:
                # Records deleted from now on are read next time; the listing just read has none of the
                # earlier ones. Zoho's clock if it gave it, else ours with a margin (a delete re-read is harmless).
                start = started - ONE_SECOND if started is not None else clock() - timedelta(minutes=5)
                run.start_deleted_stream(module, start)
        stream = None
        if config.sync_users:
            result.modules["Users"] = _sync_users(engine, client)
    except ZohoError as error:
        result.status, result.reason = ZohoSyncStatus.FAILED, str(error)
        result.errors.append(str(error))
        log.warning("Zoho CRM sync failed (%s): %s", stream, error)
        if stream is not None and not isinstance(error, LeaseLost):
            # After a broken answer the stored page token may lead into the same loop: read from `since` next.
            run.note_error(stream, str(error), forget_page_token=isinstance(error, ZohoBadAnswer))
    finally:
        release_job(engine, LEASE_NAME, owner)
        if own_client:
            client.close()
        result.finished_at = clock()
    return result


def _sync_users(engine: Engine, client: ZohoClient) -> ModuleResult:
    """Roles and managers from the Users API (crm_sync/zoho_users.py). Its failure (a grant without the
    `ZohoCRM.users.READ` scope, Zoho down) is this stream's problem only: contacts and deals are synced."""
    from crm_sync.zoho_users import sync_zoho_users

    outcome = ModuleResult("Users")
    try:
        applied = sync_zoho_users(engine, client)
    except ZohoError as error:
        if isinstance(error, LeaseLost):
            raise
        log.warning("Zoho users (roles and managers) not synced: %s", error)
        outcome.problems.append(SyncProblem("Users", None, None, f"not read: {error}"))
        return outcome
    outcome.pages = 1
    outcome.created, outcome.updated, outcome.unchanged = applied.created, applied.updated, applied.unchanged
    for problem in applied.problems:
        outcome.problems.append(SyncProblem("Users", None, problem.field, problem.reason))
    outcome.skipped = len(applied.problems)
    return outcome


class _Run:
    def __init__(self, engine: Engine, config: ZohoConfig, client: ZohoClient, owner: str,
                 clock: Callable[[], datetime], full: bool, on_page: Callable | None, result: ZohoSyncResult):
        self.engine, self.config, self.client, self.owner = engine, config, client, owner
        self.clock, self.full, self.on_page, self.result = clock, full, on_page, result

    # -- cursors --------------------------------------------------------------

    def cursor(self, name: str) -> Cursor | None:
        with session_scope(self.engine) as session:
            row = session.get(CrmSyncCursor, name)
            if row is None:
                return None
            return Cursor(aware(row.since), json.loads(row.skip) if row.skip else {}, row.page_token,
                           aware(row.page_token_since), aware(row.page_token_expires_at))

    def _save(self, session: Session, name: str, cursor: Cursor, *, success: bool = False) -> None:
        row = session.get(CrmSyncCursor, name) or CrmSyncCursor(name=name)
        row.since = cursor.since
        row.skip = json.dumps(cursor.skip, sort_keys=True) if cursor.skip else None
        row.page_token = cursor.page_token
        row.page_token_since = cursor.page_token_since
        row.page_token_expires_at = cursor.page_token_expires_at
        row.updated_at = self.clock()
        if success:
            row.last_success_at, row.last_error = self.clock(), None
        session.add(row)

    def _commit_page(self, stream: str, kind: RecordKind, records: list[dict], cursor: Cursor, *,
                     complete: bool):
        """Apply a page's records and move the stream's cursor, in one transaction, under the lease."""
        with session_scope(self.engine) as session:
            if not renew_job_in(session.connection(), LEASE_NAME, self.owner,
                                lease_seconds=self.config.lease_seconds, now=self.clock()):
                raise LeaseLost("another replica took the Zoho sync over; this run stopped")
            applied = apply_records(session, kind, records, skip_invalid=True, source=ChangeSource.ZOHO,
                                    detail=f"Zoho CRM {kind.value}") if records else None
            self._save(session, stream, cursor, success=complete)
            failpoint("zoho.page_commit")
        return applied

    def note_error(self, stream: str, message: str, *, forget_page_token: bool = False) -> None:
        with session_scope(self.engine) as session:
            row = session.get(CrmSyncCursor, stream) or CrmSyncCursor(name=stream)
            if forget_page_token:
                row.page_token = row.page_token_since = row.page_token_expires_at = None
            row.last_error = message[:500]
            row.updated_at = self.clock()
            session.add(row)

    def start_deleted_stream(self, module: str, since: datetime | None) -> None:
        with session_scope(self.engine) as session:
            self._save(session, f"zoho:{module}:deleted", Cursor(since=since), success=True)

    def _count(self, module: str, ids: list[str], applied) -> None:
        if applied is None:
            return
        totals = self.result.modules[module]
        for name in ("created", "updated", "unchanged", "deleted", "skipped", "skipped_organisation"):
            setattr(totals, name, getattr(totals, name) + getattr(applied, name))
        for problem in applied.problems:
            record_id = ids[problem.index] if problem.index is not None and problem.index < len(ids) else None
            totals.problems.append(SyncProblem(module, record_id, ZOHO_FIELD.get(problem.field, problem.field),
                                               problem.reason))
            log.warning("Zoho record skipped: %s", totals.problems[-1])

    def _check_length(self, listing: str, pages: int) -> None:
        if pages >= self.config.max_pages_per_run:
            raise ZohoBadAnswer(f"Zoho's {listing} listing went on past {pages} pages in one run: stopped there; "
                                "the next run goes on from what was read")

    # -- records ----------------------------------------------------------------

    def sync_records(self, module: str) -> datetime | None:
        """Read and apply the records modified since the cursor; returns Zoho's time at the first answer."""
        stream = f"zoho:{module}"
        stored = None if self.full else self.cursor(stream)
        cursor = stored or Cursor()
        now = self.clock()
        token = cursor.page_token
        if token and (cursor.page_token_expires_at is None or cursor.page_token_expires_at - TOKEN_MARGIN <= now):
            token = None
        request_since = cursor.page_token_since if token else cursor.since
        first_answer: datetime | None = None
        # id -> (Modified_Time, stamp) of what is applied past the cursor's `since`, oldest first.
        applied_at: dict[str, tuple[datetime | None, str]] = {
            record_id: (stamp_time(stamp), stamp) for record_id, stamp in cursor.skip.items()}
        newest: datetime | None = None  # the latest Modified_Time handed out in this run
        number = 0
        handed_out: set[str] = set()  # the page tokens Zoho gave in this run
        while True:
            try:
                page = self.client.list_records(module, FIELDS[module], since=request_since, page_token=token,
                                                extra=LIST_PARAMS.get(module))
            except ZohoPageTokenInvalid:
                if token is None:
                    raise
                if token in handed_out:
                    raise ZohoBadAnswer(f"Zoho refused the {module} page token it had just handed out: the "
                                        "listing cannot go on") from None
                log.info("Zoho page token of %s expired; reading again from the cursor", stream)
                token, request_since = None, cursor.since
                continue
            if page.more and (page.next_page_token == token or page.next_page_token in handed_out):
                raise ZohoBadAnswer(f"Zoho handed out a {module} page token again: its listing would never end")
            handed_out.add(page.next_page_token)
            number += 1
            self.result.modules[module].pages += 1
            self.result.modules[module].read += len(page.records)
            first_answer = first_answer or page.server_time
            fresh, ids, newest = self._fresh_records(module, page, applied_at, newest)
            cursor = self._advance(cursor, applied_at, newest, page, request_since)
            applied = self._commit_page(stream, KINDS[module], fresh, cursor, complete=not page.more)
            self._count(module, ids, applied)
            if self.on_page is not None:
                self.on_page(module, "records", number)
            if not page.more:
                return first_answer
            self._check_length(module, number)
            token = page.next_page_token

    def _fresh_records(self, module: str, page, applied_at: dict[str, tuple[datetime | None, str]],
                       newest: datetime | None) -> tuple[list[dict], list[str], datetime | None]:
        """The page's records as the core's, leaving out those applied before and unchanged since (`applied_at`
        is updated); with their Zoho ids and the latest Modified_Time handed out so far."""
        fresh, ids = [], []
        for zoho in page.records:
            modified = parse_zoho_time(zoho.get("Modified_Time"))
            ceiling = page.server_time or self.clock()
            if modified is not None and modified > ceiling:
                modified = ceiling  # "modified" in the future: the cursor must not leap past what comes next
            if modified is not None and (newest is None or modified > newest):
                newest = modified  # skipped records count for the boundary too
            record = MAPPERS[module](zoho)
            # Zoho's times are to the second: an edit in the second of an earlier read keeps its
            # Modified_Time, so what was applied is recognised by its content too.
            digest = stamp(modified, record)
            before = applied_at.pop(zoho["id"], None)
            applied_at[zoho["id"]] = (modified, digest)  # moved to the end: the newest
            if before is not None and before[1] == digest:
                continue  # applied before, unchanged since
            if module == "Leads" and zoho.get("$converted") is True:
                converted_to = self.conversion_of(zoho["id"])
                if converted_to is not None:
                    record["converted_contact_external_id"] = converted_to
            fresh.append(record)
            ids.append(zoho["id"])
        return fresh, ids, newest

    def conversion_of(self, lead_id: str) -> str | None:
        """The id of the contact a converted lead became: `$converted_detail` comes only with the single-record
        read (one call per conversion, never per listed lead)."""
        lead = self.client.get_record("Leads", lead_id, extra={"converted": "true"})
        detail = lead.get("$converted_detail") if lead else None
        contact = detail.get("contact") if isinstance(detail, dict) else None
        if isinstance(contact, dict):
            contact = contact.get("id")
        return str(contact) if isinstance(contact, (str, int)) and str(contact) else None

    def _advance(self, cursor: Cursor, applied_at: dict[str, tuple[datetime | None, str]],
                 newest: datetime | None, page, request_since: datetime | None) -> Cursor:
        """The cursor once this page is committed (module docstring). Forgets from `applied_at` what
        the new `since` covers, so each page costs what it read, not what the run read so far."""
        if newest is None:  # nothing handed out at all: where we were
            since = cursor.since
        elif page.more or page.server_time is None or page.server_time <= newest:
            since = newest - ONE_SECOND
        else:
            since = newest
        if since is not None:
            # Records come in Modified_Time order and a re-read one is moved to the end, so what
            # `since` covers is at the front.
            while applied_at:
                record_id, (modified, _) = next(iter(applied_at.items()))
                if modified is not None and modified > since:
                    break
                del applied_at[record_id]
        if page.more:
            return Cursor(since, {}, page.next_page_token, request_since, page.page_token_expiry)
        # Once per listing, and exact even if a re-read after an expired page token broke the order.
        return Cursor(since, {record_id: stamp for record_id, (modified, stamp) in applied_at.items()
                               if modified is not None and (since is None or modified > since)})

    # -- deleted records ------------------------------------------------------

    def sync_deleted(self, module: str) -> None:
        stream = f"zoho:{module}:deleted"
        stored = None if self.full else self.cursor(stream)
        since = stored.since if stored else None
        newest: datetime | None = None
        number = 0
        while True:
            number += 1
            page = self.client.list_deleted(module, since=since, page=number)
            self.result.modules[module].deleted_pages += 1
            records, ids = [], []
            for item in page.records:
                deleted_at = parse_zoho_time(item.get("deleted_time"))
                if deleted_at is not None and (newest is None or deleted_at > newest):
                    newest = deleted_at
                records.append({"external_id": item["id"], "deleted": True})
                ids.append(item["id"])
            if page.more:
                cursor = Cursor(since=since)  # page numbers shift as deletes happen: move at the end
            elif newest is None:
                cursor = Cursor(since=since)
            elif page.server_time is not None and page.server_time > newest:
                cursor = Cursor(since=newest)
            else:
                cursor = Cursor(since=newest - ONE_SECOND)  # re-applying a delete is harmless
            applied = self._commit_page(stream, KINDS[module], records, cursor, complete=not page.more)
            self._count(module, ids, applied)
            if self.on_page is not None:
                self.on_page(module, "deleted", number)
            if not page.more:
                return
            self._check_length(f"deleted {module}", number)
