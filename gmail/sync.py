"""The per-mailbox sync pipeline that feeds MailMagnet and the labels (SPEC §3).

Each run asks Gmail what was added to the Inbox since the stored history id
(`history.list`, 2 quota units when nothing is new), fetches the metadata of
each new message exactly once, in batches, and hands the messages to the
subscribers in two steps:

- `record`, inside the same transaction that stores the messages' id, From
  address and received time and advances the history id — so the cursor only
  moves once every subscriber has recorded what it owes (alerts to post,
  messages to file);
- `deliver`, after the commit, for the work that leaves the database (posting
  alerts). What `deliver` does not finish stays recorded and is retried.

The same `history.list` call also reports messages leaving or re-entering the
Inbox (`labelsRemoved`/`labelsAdded` with INBOX): the stored rows' `in_inbox`
follows, so the label run files only mail still in the Inbox at no extra quota.

A history id Gmail no longer knows (404) triggers a full resync of the Inbox
within the lookback window; messages already stored are skipped, so no
message is handed to a subscriber twice. That listing, like the backfill's when
labels are switched on, also says which stored messages are (not) in the Inbox
now, and stored messages it names are handed to subscribers as `known_in_inbox`.

One bad message never stops a mailbox: a message whose metadata cannot be read
is skipped with a log line naming its id (never its content), and the cursor
moves on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select, update

from crm_store.categories import SenderCategory, StageRules, categorize_senders, strongest
from crm_store.db import among, session_scope
from crm_store.leases import LeaseLost, fence, fenced_status, run_owner
from crm_store.models import AccountStatus, GmailAccount, MailboxMessage, utcnow
from gmail.accounts import load_credentials, mark_revoked, save_refreshed_credentials
from gmail.client import GmailService, MailboxClient
from gmail.config import GoogleConfig, SyncConfig
from gmail.inbox_state import apply_inbox_changes, reconcile_inbox
from gmail.errors import AccessRevoked, GmailError, GmailTemporaryError, HistoryExpired
from gmail.messages import NewMessage, from_gmail_metadata
from gmail.sync_store import move_cursor, read_mailbox, store_new
from gmail.sync_batch import OpenMailbox, SyncBatch, SyncResult, SyncStatus, SyncSubscriber, to_file_when_new
from telemetry.failpoints import failpoint

log = logging.getLogger(__name__)

# Messages stored and handed over per transaction during a large catch-up.
CHUNK = 500
# Up to this many new ids from the history are fetched without first looking whether they are stored: they are
# new but after a crash, and the sync's transaction skips a stored one anyway.
FEW = 20


@dataclass
class _Finish:
    """What a run's last transaction writes along with the cursor."""

    cursor: str
    backfill: bool
    inbox_changes: dict[str, bool]
    listing: list[str] | None
    since: datetime
    # Threads the rep sent mail in (SENT in the history read): their follow-ups are answered.
    sent_threads: set[str] = field(default_factory=set)


def _stored_sender(message: NewMessage, senders: dict[str, SenderCategory]) -> str:
    """The one From address kept: of several, the contact's with the strongest category (what the label run
    files by), else the first."""
    best = strongest(senders[a] for a in message.from_addresses if a in senders)
    return best.address if best is not None else (message.from_address or "")


class _CursorNotMoved(Exception):
    """The mailbox is no longer connected (or gone): the sync's transaction is rolled back."""


class MailboxSync:
    def __init__(self, engine: Engine, gmail: GmailService, cipher, google: GoogleConfig, config: SyncConfig,
                 rules: StageRules, subscribers: Iterable[SyncSubscriber] = (), *, default_tz: str = "UTC",
                 on_revoked: Callable[[GmailAccount, str], None] | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.gmail = gmail
        self.cipher = cipher
        self.google = google
        self.config = config
        self.rules = rules
        self.subscribers = list(subscribers)
        self.default_tz = default_tz
        self.on_revoked = on_revoked
        self.clock = clock

    # -- entry points ----------------------------------------------------------------------------

    def sync(self, account_id: int, *, first_page: dict | None = None) -> SyncResult:
        """One sync of one mailbox, on its own (tests, tools). The scheduler's run (`usecases.mailbox_run`) uses
        the same three steps with more work between `pull` and `close`: `open`, `pull`, `close`."""
        opened = self.open(account_id)
        if isinstance(opened, SyncResult):
            return opened
        try:
            return self.pull(opened, first_page=first_page)
        except GmailError as error:
            return self.failed(opened, error)
        finally:
            self.close(opened)

    def open(self, account_id: int, *, lease_owner: str | None = None) -> "OpenMailbox | SyncResult":
        """The mailbox with a Gmail client on its credentials; a result instead when there is nothing to sync
        ("gone", "skipped")."""
        with self.engine.connect() as connection:  # one read: the mailbox, and the time zones it may use
            read = read_mailbox(connection, account_id)
        if read is None:
            return SyncResult(account_id, SyncStatus.GONE)
        account, rep_tz, team_tz = read
        if account.status != AccountStatus.CONNECTED or not account.magnet_enabled or not account.encrypted_credentials:
            return SyncResult(account_id, SyncStatus.SKIPPED)
        credentials = load_credentials(self.cipher, account, self.google)
        return OpenMailbox(account, self.gmail.mailbox(credentials), credentials, credentials.token, lease_owner,
                           rep_tz or team_tz or self.default_tz)  # as rep_timezone says

    def pull(self, opened: "OpenMailbox", *, first_page: dict | None = None) -> SyncResult:
        """Read what is new since the cursor, record it and hand it to the subscribers. Gmail's errors are
        raised (`failed` says what they mean for the mailbox). `first_page`: Gmail's answer to the first
        history.list from the stored cursor, when the polling sweep already asked (it is not asked again)."""
        result = self._sync(opened.account, opened.mailbox, first_page, opened.lease_owner, opened.tz)
        if result.status is SyncStatus.SYNCED:
            opened.account.history_id = result.history_id  # the account as loaded, with the cursor it now has
        return result

    def failed(self, opened: "OpenMailbox", error: GmailError) -> SyncResult:
        """A Gmail error during the run: revoked access marks the mailbox (and tells the rep once); any other is
        recorded on the mailbox for the next run to clear."""
        account = opened.account
        if isinstance(error, AccessRevoked):
            if mark_revoked(self.engine, account.id, str(error)) and self.on_revoked:
                self.on_revoked(account, str(error))
            return SyncResult(account.id, SyncStatus.REVOKED, error=str(error))
        self._record_error(account.id, error)
        return SyncResult(account.id, SyncStatus.ERROR, error=str(error))

    def close(self, opened: "OpenMailbox") -> None:
        """Store the access token if the client refreshed it during the run."""
        save_refreshed_credentials(self.engine, self.cipher, opened.account.id, opened.credentials,
                                   opened.token_before)

    # -- steps -----------------------------------------------------------------------------------

    def _list_inbox(self, mailbox: MailboxClient, since: datetime) -> list[str]:
        """Every Inbox message received after `since` (messages.list, 5 units per page of 500)."""
        return mailbox.list_message_ids(label_ids=["INBOX"], query=f"after:{int(since.timestamp())}")

    def _sync(self, account: GmailAccount, mailbox: MailboxClient, first_page: dict | None,
              lease_owner: str | None, tz: str) -> SyncResult:
        result = SyncResult(account.id, SyncStatus.SYNCED)
        history_ids: set[str] = set()
        is_news: Callable[[NewMessage], bool] = lambda m: m.gmail_id in history_ids  # noqa: E731
        new_ids: list[str] = []
        inbox_changes: dict[str, bool] = {}
        sent_threads: set[str] = set()
        listing: list[str] | None = None  # the whole Inbox within the lookback, when this run lists it
        since = self.clock() - timedelta(days=self.config.lookback_days)
        if account.history_id is None:
            # First run: start from "now"; mail already in the Inbox is not news.
            cursor = str(mailbox.get_profile()["historyId"])
            result.initial = True
        else:
            try:
                cursor = account.history_id
                for page in mailbox.history_pages(account.history_id, page_size=self.config.history_page_size,
                                                  first=first_page):
                    new_ids.extend(page.added_ids)
                    inbox_changes.update(page.inbox_changes)  # a later change wins
                    sent_threads.update(page.sent.values())
                    cursor = page.history_id
                history_ids.update(new_ids)
            except HistoryExpired:
                log.warning("history of mailbox %s expired: full resync", account.id)
                result.full_resync = True
                cursor = str(mailbox.get_profile()["historyId"])
                listing = self._list_inbox(mailbox, since)
                new_ids = list(listing)
                inbox_changes = {}  # the listing tells it all
                # Unseen mail that arrived since the last good sync is news; older mail is not.
                last_sync = account.last_sync_at
                is_news = lambda m: last_sync is None or m.received_at > last_sync  # noqa: E731
        backfill = account.labels_enabled and not account.backfill_done
        if backfill:
            if listing is None:
                listing = self._list_inbox(mailbox, since)
                new_ids.extend(listing)
            result.backfilled = len(listing)
        new_ids = list(dict.fromkeys(new_ids))  # once each, in arrival order
        finish = _Finish(cursor, backfill, inbox_changes, listing, since, sent_threads)
        listed = set(listing or ())
        fetched: set[str] = set()

        for start in range(0, len(new_ids), CHUNK):
            chunk = new_ids[start:start + CHUNK]
            last = start + CHUNK >= len(new_ids)
            handed = self._process_chunk(account, mailbox, chunk, is_news, listed, fetched,
                                         finish if last else None, lease_owner, tz)
            if handed is None:
                return SyncResult(account.id, SyncStatus.GONE)
            result.new_messages += handed
        if not new_ids and not self._advance(account, finish, lease_owner):
            return SyncResult(account.id, SyncStatus.GONE)
        result.history_id = cursor
        return result

    @staticmethod
    def _stored(session: Session, account_id: int, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        return set(session.exec(
            select(MailboxMessage.gmail_id).where(MailboxMessage.account_id == account_id,
                                                  among(session, MailboxMessage.gmail_id, ids))
        ).all())

    @staticmethod
    def _unfiled_senders(connection: Connection, account_id: int, ids: list[str]) -> dict[str, str]:
        """Stored, not yet filed messages among `ids`: gmail id -> From address."""
        if not ids:
            return {}
        return dict(connection.execute(
            select(MailboxMessage.gmail_id, MailboxMessage.from_address).where(
                MailboxMessage.account_id == account_id, MailboxMessage.gmail_id.in_(ids),
                MailboxMessage.filed_category.is_(None))
        ).all())

    def _readable(self, account_id: int, ids: list[str], fetched: dict) -> list[NewMessage]:
        """The messages of `ids` Gmail still has, in order; one whose metadata cannot be read is skipped (its id
        logged, never its content), so it cannot stop the mailbox."""
        messages = []
        for gmail_id in ids:
            raw = fetched.get(gmail_id)
            if raw is None:
                continue  # deleted meanwhile
            try:
                messages.append(from_gmail_metadata(raw))
            except Exception as error:  # noqa: BLE001 - one message must never stop the mailbox
                log.warning("mailbox %s: message %s skipped, its metadata cannot be read (%s)",
                            account_id, gmail_id, type(error).__name__)
        return messages

    def _process_chunk(self, account: GmailAccount, mailbox: MailboxClient, ids: list[str],
                       is_news: Callable[[NewMessage], bool], listed: set[str], fetched_ids: set[str],
                       finish: "_Finish | None", lease_owner: str | None, tz: str) -> int | None:
        known: set[str] = set()
        if listed or len(ids) > FEW:  # a few new ids from the history are new; fetching one twice costs less
            with session_scope(self.engine) as session:
                known = self._stored(session, account.id, ids)
        unseen = [i for i in ids if i not in known]
        fetched = mailbox.get_metadata(unseen, batch_size=self.config.batch_size) if unseen else {}
        fetched_ids.update(unseen)
        messages = self._readable(account.id, unseen, fetched)
        now = self.clock()
        alertable_ids = {m.gmail_id for m in messages if is_news(m)}
        for attempt in range(2):
            try:
                # Core on a Connection: the sync's statements are Core, and a Session around them cost more CPU
                # than most of them (issue 17).
                with self.engine.begin() as connection:
                    batch = self._record_chunk(connection, account, ids, messages, alertable_ids, listed, finish,
                                               now, fetched_ids, lease_owner, tz)
                break
            except IntegrityError:
                # A foreign key failed: the mailbox was deleted meanwhile (it fails again), or a sender's contact
                # was, by a CRM delete that committed after this transaction read it (it waited for that delete:
                # tests/gmail/test_lock_order_contacts.py). Once more, on what is there now.
                if attempt:
                    log.info("mailbox %s vanished during sync", account.id)
                    return None
            except _CursorNotMoved:
                return None  # disconnected or revoked meanwhile: nothing stored
        if batch is None:
            return None  # disconnected or revoked meanwhile: nothing stored
        failpoint("sync.committed")
        for subscriber in self.subscribers:
            try:
                subscriber.deliver(batch, mailbox)
            except LeaseLost:
                raise  # the run stops here: the replica holding the lease now delivers what is recorded
            except Exception:  # noqa: BLE001 - recorded work is retried; the sync itself succeeded
                log.exception("delivery failed for mailbox %s; it will be retried", account.id)
        return len(batch.messages)

    def _record_chunk(self, connection: Connection, account: GmailAccount, ids: list[str],
                      messages: list[NewMessage], alertable_ids: set[str], listed: set[str], finish: "_Finish | None",
                      now: datetime, fetched_ids: set[str], lease_owner: str | None, tz: str) -> SyncBatch | None:
        """A chunk's one transaction: its new messages stored, handed to the subscribers' `record`, and with the
        last chunk the cursor; the batch handed over (None: the mailbox is no longer connected, nothing stored)."""
        # The lease and the status in one read (the mailbox as `open` loaded it serves the rest); the last
        # chunk's cursor UPDATE checks both instead, and rolls everything back when they fail.
        if finish is None and fenced_status(connection, account.id, lease_owner) is not AccountStatus.CONNECTED:
            return None  # disconnected or revoked meanwhile: store nothing
        # Listed, stored before and not filed (not the ones this transaction stores).
        known_in_inbox = self._unfiled_senders(connection, account.id, [i for i in ids if i in listed])
        addresses = {a for m in messages for a in m.from_addresses} | set(known_in_inbox.values())
        senders = categorize_senders(connection, addresses - {""}, at=now, tz=tz, rules=self.rules)
        batch = SyncBatch(account, messages, set(alertable_ids), senders, tz, now, known_in_inbox)
        # The subscribers' reads before the first write: on SQLite the process's other writers wait from it (issue 17).
        for read in filter(None, (getattr(subscriber, "read", None) for subscriber in self.subscribers)):
            read(connection, batch)
        # Another run may have stored some of these since we looked (never with the lease, but cheap):
        # the insert skips them and says which it stored.
        still_unseen = store_new(connection, [
            {"account_id": account.id, "gmail_id": m.gmail_id, "received_at": m.received_at,
             "from_address": _stored_sender(m, senders)[:320], "in_inbox": m.in_inbox,
             "needs_filing": to_file_when_new(account, m, senders)} for m in messages])
        batch.messages = [m for m in messages if m.gmail_id in still_unseen]
        batch.alertable_ids &= still_unseen
        # The lock order: an INSERT's foreign key locked the mailbox's row (KEY SHARE) before the subscribers
        # update stored rows; with nothing inserted, the last chunk's cursor UPDATE locks it first instead.
        cursor_first = finish is not None and not still_unseen
        if cursor_first:
            self._fence_cursor(connection, account.id, finish, now, lease_owner)
        for subscriber in self.subscribers:
            subscriber.record(connection, batch)
        if finish is not None:
            self._finish_in(connection, account, finish, now, fetched_ids, lease_owner, moved=cursor_first)
        return batch

    def _finish_in(self, connection: Connection, account: GmailAccount, finish: "_Finish", now: datetime,
                   fetched_ids: set[str], lease_owner: str | None = None, *, moved: bool = False) -> None:
        """With the cursor, in one transaction: where stored messages are now (Inbox or not). The cursor's UPDATE
        (`_fence_cursor`; `moved`: it ran already in this transaction) comes before the updates of the mailbox's
        other rows: the mailbox's row is locked first in every transaction on a mailbox, or a disconnect deadlocks
        with this one (PostgreSQL: tests/gmail/test_lock_order.py)."""
        if not moved:
            self._fence_cursor(connection, account.id, finish, now, lease_owner)
        # A message fetched in this run was stored with its labels as Gmail gave them, after the history.
        apply_inbox_changes(connection, account.id,
                            {k: v for k, v in finish.inbox_changes.items() if k not in fetched_ids})
        if finish.listing is not None:
            reconcile_inbox(connection, account.id, finish.listing, finish.since)
        if finish.sent_threads:
            for subscriber in self.subscribers:
                record_sent = getattr(subscriber, "record_sent", None)
                if record_sent is not None:
                    record_sent(connection, account, finish.sent_threads, now)
        account.history_id, account.last_sync_at = finish.cursor, now
        account.backfill_done = account.backfill_done or finish.backfill
        failpoint("sync.cursor_transaction")

    def _advance(self, account: GmailAccount, finish: "_Finish", lease_owner: str | None = None) -> bool:
        """Nothing new to store: move the cursor in one statement (the common case, a thousand times a minute),
        or in one transaction with what changed in the Inbox."""
        now = self.clock()
        if finish.inbox_changes or finish.listing is not None or finish.sent_threads:
            try:
                with self.engine.begin() as connection:
                    self._finish_in(connection, account, finish, now, set(), lease_owner)
                    return True
            except _CursorNotMoved:
                return False
        with self.engine.begin() as connection:
            moved = self._move_cursor_in(connection, account.id, finish, now, lease_owner)
            if not moved:
                fence(connection, account.id, lease_owner)  # LeaseLost if that was why
            failpoint("sync.cursor_transaction")
            return moved

    def _fence_cursor(self, connection: Connection, account_id: int, finish: "_Finish", now: datetime,
                      lease_owner: str | None) -> None:
        """The cursor's UPDATE as the transaction's fence: LeaseLost when the lease is gone, `_CursorNotMoved` when
        the mailbox is (both roll the transaction back)."""
        if not self._move_cursor_in(connection, account_id, finish, now, lease_owner):
            fence(connection, account_id, lease_owner)  # LeaseLost if that was why
            raise _CursorNotMoved

    @staticmethod
    def _move_cursor_in(connection: Connection, account_id: int, finish: "_Finish", now: datetime,
                        lease_owner: str | None) -> bool:
        """The cursor's UPDATE, fenced (`gmail.sync_store.move_cursor`); whether it moved."""
        values = {"b_id": account_id, "b_cursor": finish.cursor, "b_now": now}
        owner = run_owner(lease_owner)
        if owner is not None:
            values.update(b_lease_owner=owner, b_lease_now=utcnow())
        return bool(connection.execute(move_cursor(finish.backfill, owner is not None), values).rowcount)

    def _record_error(self, account_id: int, error: GmailError) -> None:
        kind = "Gmail is busy or unreachable" if isinstance(error, GmailTemporaryError) else "Gmail error"
        with session_scope(self.engine) as session:
            session.execute(
                update(GmailAccount).where(GmailAccount.id == account_id)
                .values(last_sync_error=f"{kind}: {error}"[:500],
                        failing_since=sa.func.coalesce(GmailAccount.failing_since, self.clock()))
            )
