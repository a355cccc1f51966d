"""Filing customer mail into the three labels (SPEC F4, §4).

- New Inbox messages from contacts are marked by the sync pipeline (`record`) and filed by
  the label run: the category label is added and INBOX removed; no other label is touched.
- A filed message moves between the three labels only when its contact's category changes
  (a deal import changed it, or a new month began); it never goes back to the Inbox. A
  contact that loses every category keeps its mail where it is.
- Re-filing costs what changed: the contacts named in `category_changes` since this
  mailbox's last run (or, when the month turned, the senders of its filed mail), looked up
  in the database, then one `batchModify` per (old label, new label) pair.
- A run with nothing to do calls Gmail zero times; the labels' ids are cached and only
  listed again when Gmail says one is gone (the rep deleted it: it is recreated).
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select, update

from crm_store.categories import Category, LabelNames, Month, StageRules, categorize_senders
from crm_store.db import session_scope
from crm_store.models import CategoryChange, Contact, GmailAccount, MailboxMessage, utcnow
from gmail.client import MailboxClient
from gmail.errors import InvalidRequest, NotFound
from gmail.sync import SyncBatch, rep_timezone

log = logging.getLogger(__name__)

# Gmail advises batchModify for more than a handful of messages; below this, modify is as cheap.
BATCH_MODIFY_THRESHOLD = 10
ADDRESS_CHUNK = 500


@dataclass
class FilingResult:
    filed: dict[str, int] = field(default_factory=dict)  # label name -> messages newly filed
    refiled: int = 0
    labels_created: list[str] = field(default_factory=list)
    unfiled_no_category: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.filed or self.refiled or self.labels_created)


class LabelFiler:
    def __init__(self, engine: Engine, rules: StageRules, labels: LabelNames, *, default_tz: str = "UTC",
                 clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.rules = rules
        self.labels = labels
        self.default_tz = default_tz
        self.clock = clock

    # -- SyncSubscriber: mark what the next label run must file ----------------------------------

    def record(self, session: Session, batch: SyncBatch) -> None:
        if not batch.account.labels_enabled:
            return
        to_file = [m.gmail_id for m in batch.messages if m.in_inbox and batch.contact_of(m) is not None]
        if to_file:
            session.execute(
                update(MailboxMessage)
                .where(MailboxMessage.account_id == batch.account.id, MailboxMessage.gmail_id.in_(to_file))
                .values(needs_filing=True)
                .execution_options(synchronize_session=False)
            )

    def deliver(self, batch: SyncBatch, mailbox: MailboxClient) -> None:
        """Filing runs on its own schedule (every LABEL_INTERVAL_SECONDS), not on every sync."""

    # -- the label run ---------------------------------------------------------------------------

    def run(self, account: GmailAccount, mailbox: MailboxClient) -> FilingResult:
        result = FilingResult()
        now = self.clock()
        with session_scope(self.engine) as session:
            tz = rep_timezone(session, account, self.default_tz)
            month = Month.containing(now, tz)
            month_key = month.first_day.strftime("%Y-%m")
            pending = list(session.exec(select(MailboxMessage.gmail_id, MailboxMessage.from_address).where(
                MailboxMessage.account_id == account.id, MailboxMessage.needs_filing.is_(True))).all())
            last_change = session.exec(select(sa.func.max(CategoryChange.id))).one() or 0
            changed_addresses = self._changed_addresses(session, account, last_change, month_key)
        label_ids = self._label_ids(account)

        if pending:
            categories = self._categories([a for _, a in pending], now, tz)
            groups: dict[Category | None, list[str]] = defaultdict(list)
            for gmail_id, address in pending:
                groups[categories.get(address)].append(gmail_id)
            unfiled = groups.pop(None, [])
            for category, ids in groups.items():
                label_ids = self._apply(account, mailbox, label_ids, ids, add=category, remove_inbox=True,
                                        result=result)
                self._mark(account.id, ids, category, now)
                result.filed[self.labels.name_for(category)] = len(ids)
            if unfiled:
                self._mark(account.id, unfiled, None, now)
                result.unfiled_no_category = len(unfiled)

        if changed_addresses:
            label_ids = self._refile(account, mailbox, label_ids, changed_addresses, now, tz, result)

        with session_scope(self.engine) as session:
            current = session.get(GmailAccount, account.id)
            if current is not None:
                current.last_category_change_id = max(current.last_category_change_id, last_change)
                current.last_label_month = month_key
                current.last_label_run_at = now
                session.add(current)
        return result

    # -- steps -----------------------------------------------------------------------------------

    def _changed_addresses(self, session: Session, account: GmailAccount, last_change: int,
                           month_key: str) -> set[str] | None:
        """Senders whose filed mail may belong under another label now; empty when nothing changed."""
        if account.last_label_month is not None and account.last_label_month != month_key:
            # A new month: "closing this month" means something else for every contact.
            return set(session.exec(select(MailboxMessage.from_address).where(
                MailboxMessage.account_id == account.id, MailboxMessage.filed_category.is_not(None)).distinct()))
        if last_change <= account.last_category_change_id:
            return set()
        contact_ids = select(CategoryChange.contact_id).where(
            CategoryChange.id > account.last_category_change_id, CategoryChange.id <= last_change)
        addresses: set[str] = set()
        for email, secondary in session.exec(select(Contact.email, Contact.secondary_email).where(
                Contact.id.in_(contact_ids))):
            addresses.add(email)
            if secondary:
                addresses.add(secondary)
        if not addresses:
            return set()
        # Only addresses this mailbox has filed mail from matter.
        filed: set[str] = set()
        ordered = sorted(addresses)
        for start in range(0, len(ordered), ADDRESS_CHUNK):
            filed.update(session.exec(select(MailboxMessage.from_address).where(
                MailboxMessage.account_id == account.id, MailboxMessage.filed_category.is_not(None),
                MailboxMessage.from_address.in_(ordered[start:start + ADDRESS_CHUNK])).distinct()))
        return filed

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
            label_ids = self._apply(account, mailbox, label_ids, ids, add=new, remove=Category(old), result=result)
            self._mark(account.id, ids, new, now)
            result.refiled += len(ids)
        return label_ids

    def _categories(self, addresses: Iterable[str], now: datetime, tz: str) -> dict[str, Category | None]:
        with session_scope(self.engine) as session:
            found = categorize_senders(session, addresses, at=now, tz=tz, rules=self.rules)
        return {address: item.category for address, item in found.items()}

    def _apply(self, account: GmailAccount, mailbox: MailboxClient, label_ids: dict[str, str], ids: list[str], *,
               add: Category, remove: Category | None = None, remove_inbox: bool = False,
               result: FilingResult) -> dict[str, str]:
        """Add one of our labels (and remove INBOX or our old label), retrying once with fresh label ids
        when Gmail no longer knows one (the rep deleted it)."""
        for attempt in range(2):
            if not label_ids or add.value not in label_ids or (remove and remove.value not in label_ids):
                label_ids = self._ensure_labels(account, mailbox, result)
            removing = (["INBOX"] if remove_inbox else []) + ([label_ids[remove.value]] if remove else [])
            try:
                if len(ids) > BATCH_MODIFY_THRESHOLD:
                    mailbox.batch_modify(ids, add=[label_ids[add.value]], remove=removing)
                else:
                    for gmail_id in ids:
                        try:
                            mailbox.modify(gmail_id, add=[label_ids[add.value]], remove=removing)
                        except NotFound:
                            continue  # deleted meanwhile: nothing to file
                return label_ids
            except (InvalidRequest, NotFound):
                if attempt:
                    raise
                log.info("a label of mailbox %s is gone; recreating", account.id)
                label_ids = self._ensure_labels(account, mailbox, result)
        return label_ids

    def _label_ids(self, account: GmailAccount) -> dict[str, str]:
        with session_scope(self.engine) as session:
            current = session.get(GmailAccount, account.id)
            raw = current.label_ids if current is not None else None
        return json.loads(raw) if raw else {}

    def _ensure_labels(self, account: GmailAccount, mailbox: MailboxClient, result: FilingResult) -> dict[str, str]:
        """The ids of our three labels in this mailbox, creating what is missing (409: it exists)."""
        existing = {label["name"].lower(): label["id"] for label in mailbox.list_labels()}
        ids: dict[str, str] = {}
        for category in Category:
            name = self.labels.name_for(category)
            label_id = existing.get(name.lower())
            if label_id is None:
                try:
                    label_id = mailbox.create_label(name)["id"]
                    result.labels_created.append(name)
                except InvalidRequest:
                    # 409: created meanwhile (another client, a retried call): take it from a fresh list.
                    label_id = {l["name"].lower(): l["id"] for l in mailbox.list_labels()}.get(name.lower())
                    if label_id is None:
                        raise
            ids[category.value] = label_id
        with session_scope(self.engine) as session:
            current = session.get(GmailAccount, account.id)
            if current is not None:
                current.label_ids = json.dumps(ids)
                session.add(current)
        return ids

    def _mark(self, account_id: int, gmail_ids: list[str], category: Category | None, now: datetime) -> None:
        with session_scope(self.engine) as session:
            for start in range(0, len(gmail_ids), ADDRESS_CHUNK):
                session.execute(
                    update(MailboxMessage)
                    .where(MailboxMessage.account_id == account_id,
                           MailboxMessage.gmail_id.in_(gmail_ids[start:start + ADDRESS_CHUNK]))
                    .values(needs_filing=False, filed_category=category.value if category else None,
                            filed_at=now if category else None)
                    .execution_options(synchronize_session=False)
                )
