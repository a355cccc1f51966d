"""Filing customer mail into the three labels (SPEC F4, §4).

- The three labels are created (or found, in any case) when labelling is switched on (`gmail.label_ids`), and
  the first label run after that checks them before anything else. A cached id that is missing, null or empty
  counts as missing, and one Gmail refuses (the rep deleted the label) is looked up again.
- Which messages a label run decides (`needs_filing`): new Inbox mail from contacts (marked by the sync
  pipeline's `record`); when labels are switched on, every unfiled Inbox message within the lookback, whether
  or not MailMagnet saw it before (the backfill's listing hands over the stored ones too); and unfiled Inbox
  mail within the lookback from addresses whose category may have changed since the last run
  (`category_changes`: a deal created or changed, a contact's email added or changed), found by address in
  the database. A new month cannot give a category to mail that had none, so it re-checks filed mail only.
- Only Inbox mail is filed: the sync keeps each unfiled message's Inbox state from the history it already
  reads (Gmail's `labelsRemoved`/`labelsAdded` for INBOX), so mail archived after the sync and before the label
  run is left alone at no extra quota; a message whose state is unknown (stored before it was tracked, or
  older than the listing after a gap in the history) is checked with one `messages.get` (format=minimal,
  5 units) just before it would be filed.
- Filing adds the category label and removes INBOX; no other label is touched. A filed message moves between
  the three labels only when its contact's category changes; it never goes back to the Inbox. A contact that
  loses every category keeps its mail where it is.
- Re-filing costs what changed: the contacts named in `category_changes` since this mailbox's last run and,
  when the month turned, the contacts with an open deal closing in the last run's month or in this one (the
  only ones a new month can move), looked up in the database, then one `batchModify` per (old label, new label)
  pair. A run with nothing to do calls Gmail zero times.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select, update

from crm_store import category_changes
from crm_store.categories import Category, LabelNames, Month, StageRules, categorize_senders
from crm_store.db import session_scope
from crm_store.leases import fence
from telemetry.failpoints import failpoint
from crm_store.models import CategoryChange, Contact, GmailAccount, MailboxMessage, utcnow
from gmail.client import MailboxClient
from gmail.errors import InvalidRequest, NotFound
from gmail.label_ids import cached_label_ids, ensure_labels
from gmail.refile_senders import ADDRESS_CHUNK, ChangedSenders
from gmail.sync_batch import SyncBatch, rep_timezone

log = logging.getLogger(__name__)

# Gmail advises batchModify for more than a handful of messages; below this, modify is as cheap.
BATCH_MODIFY_THRESHOLD = 10


@dataclass
class FilingResult:
    filed: dict[str, int] = field(default_factory=dict)  # label name -> messages newly filed
    refiled: int = 0
    labels_created: list[str] = field(default_factory=list)
    unfiled_no_category: int = 0
    left_inbox: int = 0  # waiting to be filed, but no longer in the Inbox: left alone

    @property
    def changed(self) -> bool:
        return bool(self.filed or self.refiled or self.labels_created)


# Built once (issue 17: building it per sync was a share of the push path's CPU).
_messages = MailboxMessage.__table__
_MARK_TO_FILE = _messages.update().where(
    _messages.c.account_id == sa.bindparam("b_account_id"), _messages.c.filed_category.is_(None),
    _messages.c.gmail_id.in_(sa.bindparam("b_gmail_ids", expanding=True))).values(needs_filing=True)


class LabelFiler:
    def __init__(self, engine: Engine, rules: StageRules, labels: LabelNames, *, default_tz: str = "UTC",
                 lookback_days: int = 30, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.rules = rules
        self.labels = labels
        self.default_tz = default_tz
        self.lookback = timedelta(days=lookback_days)
        self.clock = clock
        self.changed = ChangedSenders(rules)

    def ensure_labels(self, account_id: int, mailbox: MailboxClient) -> dict[str, str]:
        """Create or find the three labels now (the `/gmail labels on` use case calls this right after
        switching labels on); returns category key -> Gmail label id."""
        return ensure_labels(self.engine, self.labels, account_id, mailbox)

    # -- SyncSubscriber: mark what the next label run must decide --------------------------------

    def record(self, connection: Connection, batch: SyncBatch) -> None:
        """The contract: in the sync's transaction, every message of the batch in the Inbox from a contact, and every
        stored one the batch saw in the Inbox from a contact, is marked `needs_filing` unless it is filed already;
        the next label run decides those (and nothing else of this batch)."""
        if not batch.account.labels_enabled:
            return
        # The batch's new messages were stored marked: the sync's INSERT sets `needs_filing` by the same rule
        # (gmail.sync_batch.to_file_when_new), so they cost no UPDATE here. Left: those stored earlier (MailMagnet
        # saw them while labels were off, or before a gap) and in the Inbox now.
        to_decide = [gmail_id for gmail_id, address in batch.known_in_inbox.items()
                     if address in batch.senders and batch.senders[address].is_contact]
        for start in range(0, len(to_decide), ADDRESS_CHUNK):
            connection.execute(_MARK_TO_FILE, {"b_account_id": batch.account.id,
                                               "b_gmail_ids": to_decide[start:start + ADDRESS_CHUNK]})

    def deliver(self, batch: SyncBatch, mailbox: MailboxClient) -> None:
        """Filing runs on its own schedule (every LABEL_INTERVAL_SECONDS), not on every sync."""

    # -- the label run ---------------------------------------------------------------------------

    def quiet_run(self, account_id: int) -> bool:
        """A label run that needs no Gmail call: the labels exist, nothing waits to be filed, and no CRM change
        or new month moves any filed mail. Then the run is recorded here and True returned, and the label job
        skips its sync altogether (a quiet label run costs no quota). False: the full run is needed."""
        now = self.clock()
        with session_scope(self.engine) as session:
            current = session.get(GmailAccount, account_id)
            if current is None or not current.labels_enabled:
                return False
            if not _labels_checked(current):
                return False
            _, month, last_change = self._catch_up(session, current, now)
            if self.changed.addresses(session, current, last_change, month):
                return False
            waiting = session.exec(select(MailboxMessage.id).where(
                MailboxMessage.account_id == account_id, MailboxMessage.needs_filing.is_(True)).limit(1)).first()
            if waiting is not None:
                return False
            _record_run(current, last_change, month, now)
            session.add(current)
            return True

    def run(self, account: GmailAccount, mailbox: MailboxClient) -> FilingResult:
        result = FilingResult()
        now = self.clock()
        # One transaction for what the run starts from (the mailbox, the month, the CRM changes, the mail to file):
        # nothing of it waits for Gmail. Unfiled mail handed back by the catch-up stays marked even if the labels
        # cannot be made now: the next run files it.
        with session_scope(self.engine) as session:
            current = session.get(GmailAccount, account.id)
            if current is None:
                return result
            tz, month, last_change = self._catch_up(session, current, now)
            changed_addresses = self.changed.addresses(session, current, last_change, month)
            pending = list(session.exec(select(
                MailboxMessage.gmail_id, MailboxMessage.from_address, MailboxMessage.in_inbox,
                MailboxMessage.filed_category, MailboxMessage.filed_at).where(
                MailboxMessage.account_id == account.id, MailboxMessage.needs_filing.is_(True))).all())
            session.expunge(current)
        label_ids = cached_label_ids(current.label_ids)
        if not _labels_checked(current):
            # The first run since labels were switched on: the labels exist in Gmail before any is put on mail.
            label_ids = ensure_labels(self.engine, self.labels, account.id, mailbox, result.labels_created)

        if pending:
            label_ids = self._file_pending(account, mailbox, label_ids, pending, now, tz, result)
        if changed_addresses:
            label_ids = self._refile(account, mailbox, label_ids, changed_addresses, now, tz, result)

        with session_scope(self.engine) as session:
            latest = session.get(GmailAccount, account.id)
            if latest is not None:
                _record_run(latest, last_change, month, now)
                session.add(latest)
        return result

    # -- steps -----------------------------------------------------------------------------------

    def _catch_up(self, session: Session, account: GmailAccount, now: datetime) -> tuple[Any, Month, int]:
        """What every label run starts with: the rep's month, the newest CRM category change, and unfiled mail
        from addresses that change touched handed back to the run."""
        tz = rep_timezone(session, account, self.default_tz)
        last_change = category_changes.latest_id(session)
        if last_change > account.last_category_change_id:
            self._recheck_unfiled(session, account, last_change, now - self.lookback)
        return tz, Month.containing(now, tz), last_change

    def _recheck_unfiled(self, session: Session, account: GmailAccount, last_change: int, since: datetime) -> int:
        """Unfiled Inbox mail within the lookback from an address whose category may have changed (a deal, or a
        contact's emails, changed since this mailbox's last run) goes back to the label run. One statement, by
        address (the (account, from address) index), so the cost is what changed."""
        contact_ids = select(CategoryChange.contact_id).where(
            CategoryChange.id > account.last_category_change_id, CategoryChange.id <= last_change)
        addresses = sa.union(
            select(Contact.email).where(Contact.id.in_(contact_ids)),
            select(Contact.secondary_email).where(Contact.id.in_(contact_ids), Contact.secondary_email.is_not(None)),
        )
        return session.execute(
            update(MailboxMessage)
            # Probes (account, from address) for each changed address (the partial index of rows to file cannot
            # serve `IS NOT TRUE`; the full flag index it replaced lured SQLite into walking every row with `= false`).
            .where(MailboxMessage.account_id == account.id, MailboxMessage.filed_category.is_(None),
                   MailboxMessage.needs_filing.is_not(True), MailboxMessage.in_inbox.is_not(False),
                   MailboxMessage.received_at >= since, MailboxMessage.from_address.in_(addresses))
            .values(needs_filing=True)
            .execution_options(synchronize_session=False)
        ).rowcount

    def _file_pending(self, account: GmailAccount, mailbox: MailboxClient, label_ids: dict[str, str],
                      pending: list[tuple[str, str, bool | None, str | None, datetime | None]], now: datetime,
                      tz: str, result: FilingResult) -> dict[str, str]:
        """File what waits in the Inbox, leave what left it; messages of unknown state are asked about first.

        A message is marked with the label it is about to get before Gmail is asked (`filed_category` set, still
        `needs_filing`; a refile marks it the same way): if the run dies in between, the next one finishes that
        filing as intended, whatever Gmail got, instead of taking our own removal of INBOX for the rep's
        archiving, or the stored old label for the one Gmail shows. A refile's mark (`filed_at` kept from the
        first filing) also takes our other labels off and leaves the Inbox alone."""
        interrupted: dict[Category, list[str]] = defaultdict(list)
        interrupted_refiles: dict[Category, list[str]] = defaultdict(list)
        waiting: list[tuple[str, str, bool | None]] = []
        for gmail_id, address, inside, intended, filed_at in pending:
            if intended:
                (interrupted_refiles if filed_at else interrupted)[Category(intended)].append(gmail_id)
            else:
                waiting.append((gmail_id, address, inside))
        unknown = [gmail_id for gmail_id, _, inside in waiting if inside is None]
        states = self._inbox_states(account, mailbox, unknown) if unknown else {}
        in_inbox = [(gmail_id, address) for gmail_id, address, inside in waiting
                    if inside or (inside is None and states.get(gmail_id))]
        gone = [gmail_id for gmail_id, _, inside in waiting if not (inside or (inside is None and states.get(gmail_id)))]
        if gone:
            self._mark(account.id, gone, None, now)
            result.left_inbox = len(gone)
        groups: dict[Category | None, list[str]] = defaultdict(list)
        if in_inbox:
            categories = self._categories([a for _, a in in_inbox], now, tz)
            for gmail_id, address in in_inbox:
                groups[categories.get(address)].append(gmail_id)
        unfiled = groups.pop(None, [])
        for category in Category:
            ids = groups.get(category, []) + interrupted.get(category, [])
            if not ids:
                continue
            self._intend(account.id, groups.get(category, []), category)
            label_ids = self._apply(account, mailbox, label_ids, ids, add=category, remove_inbox=True, result=result)
            self._mark(account.id, ids, category, now)
            result.filed[self.labels.name_for(category)] = len(ids)
        for category, ids in interrupted_refiles.items():
            others = tuple(other for other in Category if other is not category)
            label_ids = self._apply(account, mailbox, label_ids, ids, add=category, remove=others, result=result)
            self._mark(account.id, ids, category, now)
            result.refiled += len(ids)
        if unfiled:
            self._mark(account.id, unfiled, None, now)
            result.unfiled_no_category = len(unfiled)
        return label_ids

    def _intend(self, account_id: int, gmail_ids: list[str], category: Category) -> None:
        """Mark the label these messages are about to get, before Gmail is asked (see `_file_pending`); a refile's
        mark also hands them back to the label run, which finishes it if this run dies."""
        if not gmail_ids:
            return
        with session_scope(self.engine) as session:
            fence(session, account_id)  # a run that lost its lease marks nothing: the holder decides
            for start in range(0, len(gmail_ids), ADDRESS_CHUNK):
                session.execute(
                    update(MailboxMessage)
                    .where(MailboxMessage.account_id == account_id,
                           MailboxMessage.gmail_id.in_(gmail_ids[start:start + ADDRESS_CHUNK]))
                    .values(filed_category=category.value, needs_filing=True)
                    .execution_options(synchronize_session=False))

    def _inbox_states(self, account: GmailAccount, mailbox: MailboxClient, ids: list[str]) -> dict[str, bool]:
        """Ask Gmail whether these are in the Inbox (messages.get format=minimal, 5 units each), and remember."""
        labels = mailbox.get_label_ids(ids)
        states = {gmail_id: "INBOX" in (labels.get(gmail_id) or []) for gmail_id in ids}
        with session_scope(self.engine) as session:
            for state in (True, False):
                chosen = [gmail_id for gmail_id, inside in states.items() if inside is state]
                for start in range(0, len(chosen), ADDRESS_CHUNK):
                    session.execute(update(MailboxMessage).where(
                        MailboxMessage.account_id == account.id,
                        MailboxMessage.gmail_id.in_(chosen[start:start + ADDRESS_CHUNK]))
                        .values(in_inbox=state).execution_options(synchronize_session=False))
        return states

    def _refile(self, account: GmailAccount, mailbox: MailboxClient, label_ids: dict[str, str],
                addresses: set[str], now: datetime, tz: str, result: FilingResult) -> dict[str, str]:
        categories = self._categories(addresses, now, tz)
        moves: dict[tuple[str, Category], list[str]] = defaultdict(list)
        ordered = sorted(addresses)
        with session_scope(self.engine) as session:
            for start in range(0, len(ordered), ADDRESS_CHUNK):
                rows = session.exec(select(MailboxMessage.gmail_id, MailboxMessage.from_address,
                                           MailboxMessage.filed_category).where(
                    MailboxMessage.account_id == account.id, MailboxMessage.filed_category.is_not(None),
                    MailboxMessage.from_address.in_(ordered[start:start + ADDRESS_CHUNK])))
                for gmail_id, address, filed in rows:
                    new = categories.get(address)
                    if new is not None and new.value != filed:
                        moves[(filed, new)].append(gmail_id)
        for (old, new), ids in moves.items():
            self._intend(account.id, ids, new)
            label_ids = self._apply(account, mailbox, label_ids, ids, add=new, remove=(Category(old),), result=result)
            self._mark(account.id, ids, new, now)
            result.refiled += len(ids)
        return label_ids

    def _categories(self, addresses: Iterable[str], now: datetime, tz: str) -> dict[str, Category | None]:
        with session_scope(self.engine) as session:
            found = categorize_senders(session, addresses, at=now, tz=tz, rules=self.rules)
        return {address: item.category for address, item in found.items()}

    def _apply(self, account: GmailAccount, mailbox: MailboxClient, label_ids: dict[str, str], ids: list[str], *,
               add: Category, remove: tuple[Category, ...] = (), remove_inbox: bool = False,
               result: FilingResult) -> dict[str, str]:
        """Add one of our labels (and remove INBOX or our old label), retrying once with fresh label ids
        when Gmail no longer knows one (the rep deleted it)."""
        for attempt in range(2):
            if len(label_ids) < len(Category):  # a label id missing, null or empty: look them up first
                label_ids = ensure_labels(self.engine, self.labels, account.id, mailbox, result.labels_created)
            removing = (["INBOX"] if remove_inbox else []) + [label_ids[category.value] for category in remove]
            try:
                if len(ids) > BATCH_MODIFY_THRESHOLD:
                    mailbox.batch_modify(ids, add=[label_ids[add.value]], remove=removing)
                else:
                    for gmail_id in ids:
                        try:
                            mailbox.modify(gmail_id, add=[label_ids[add.value]], remove=removing)
                        except NotFound:
                            continue  # deleted meanwhile: nothing to file
                failpoint("labels.batch_modified")
                return label_ids
            except (InvalidRequest, NotFound):
                if attempt:
                    raise
                log.info("a label of mailbox %s is gone; recreating", account.id)
                label_ids = {}
        return label_ids

    def _mark(self, account_id: int, gmail_ids: list[str], category: Category | None, now: datetime) -> None:
        with session_scope(self.engine) as session:
            fence(session, account_id)  # a run that lost its lease records nothing; the holder files again
            for start in range(0, len(gmail_ids), ADDRESS_CHUNK):
                session.execute(update(MailboxMessage).where(
                    MailboxMessage.account_id == account_id,
                    MailboxMessage.gmail_id.in_(gmail_ids[start:start + ADDRESS_CHUNK]),
                ).values(needs_filing=False, filed_category=category.value if category else None,
                         filed_at=now if category else None).execution_options(synchronize_session=False))


def _labels_checked(account: GmailAccount) -> bool:
    """The labels were found or created in Gmail since labelling was last switched on."""
    checked, enabled = account.label_ids_checked_at, account.labels_enabled_at
    return checked is not None and (enabled is None or checked >= enabled)


def _record_run(account: GmailAccount, last_change: int, month: Month, now: datetime) -> None:
    account.last_category_change_id = max(account.last_category_change_id, last_change)
    account.last_label_month = month.first_day.strftime("%Y-%m")
    account.last_label_run_at = now
