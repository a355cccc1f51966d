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

A history id Gmail no longer knows (404) triggers a full resync of the Inbox
within the lookback window; messages already stored are skipped, so no
message is handed to a subscriber twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select, update

from crm_store.categories import SenderCategory, StageRules, categorize_senders
from crm_store.db import session_scope
from crm_store.models import AccountStatus, CrmUser, GmailAccount, MailboxMessage, OrgSettings, utcnow
from gmail.accounts import load_credentials, mark_revoked, save_refreshed_credentials
from gmail.client import GmailService, MailboxClient
from gmail.config import GoogleConfig, SyncConfig
from gmail.errors import AccessRevoked, GmailError, GmailTemporaryError, HistoryExpired
from gmail.messages import NewMessage, from_gmail_metadata

log = logging.getLogger(__name__)

# Messages stored and handed over per transaction during a large catch-up.
CHUNK = 500


@dataclass
class SyncBatch:
    """New messages of one mailbox, with what the pipeline already knows about their senders."""

    account: GmailAccount
    messages: list[NewMessage]
    alertable_ids: set[str]
    senders: dict[str, SenderCategory]
    tz: str
    at: datetime

    def contact_of(self, message: NewMessage) -> SenderCategory | None:
        for address in message.from_addresses:
            found = self.senders.get(address)
            if found is not None and found.is_contact:
                return found
        return None


class SyncSubscriber(Protocol):
    def record(self, session: Session, batch: SyncBatch) -> None:
        """Write what this subscriber owes for these messages, in the pipeline's transaction."""

    def deliver(self, batch: SyncBatch, mailbox: MailboxClient) -> None:
        """After the commit: do the outside work (e.g. post alerts). Failures are retried later."""


@dataclass
class SyncResult:
    account_id: int
    status: str  # "synced", "skipped", "revoked", "error", "gone"
    new_messages: int = 0
    initial: bool = False
    full_resync: bool = False
    backfilled: int = 0
    error: str | None = None
    history_id: str | None = None
    delivered: list[str] = field(default_factory=list)


def rep_timezone(session: Session, account: GmailAccount, default_tz: str) -> str:
    """The rep's Slack time zone, else the workspace default, else the configured default."""
    user = session.get(CrmUser, account.crm_user_id)
    if user is not None and user.timezone:
        return user.timezone
    org = session.get(OrgSettings, account.slack_team_id)
    return (org.default_timezone if org and org.default_timezone else None) or default_tz


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

    # -- entry point -----------------------------------------------------------------------------

    def sync(self, account_id: int, then: Callable[[GmailAccount, MailboxClient], None] | None = None) -> SyncResult:
        """One run for one mailbox; `then(account, mailbox)` runs after a successful sync with the same
        client, under the same handling of revoked access and Gmail errors (label filing, digests, watch)."""
        with session_scope(self.engine) as session:
            account = session.get(GmailAccount, account_id)
            if account is None:
                return SyncResult(account_id, "gone")
            if account.status != AccountStatus.CONNECTED or not account.magnet_enabled \
                    or not account.encrypted_credentials:
                return SyncResult(account_id, "skipped")
            session.expunge(account)
        credentials = load_credentials(self.cipher, account, self.google)
        token_before = credentials.token
        mailbox = self.gmail.mailbox(credentials)
        try:
            result = self._sync(account, mailbox)
            if then is not None and result.status == "synced":
                # The account as loaded moments ago, with the cursor it now has.
                account.history_id = result.history_id
                then(account, mailbox)
            return result
        except AccessRevoked as error:
            if mark_revoked(self.engine, account.id, str(error)) and self.on_revoked:
                self.on_revoked(account, str(error))
            return SyncResult(account.id, "revoked", error=str(error))
        except GmailError as error:
            self._record_error(account.id, error)
            return SyncResult(account.id, "error", error=str(error))
        finally:
            save_refreshed_credentials(self.engine, self.cipher, account.id, credentials, token_before)

    # -- steps -----------------------------------------------------------------------------------

    def _lookback_query(self) -> str:
        since = self.clock() - timedelta(days=self.config.lookback_days)
        return f"after:{int(since.timestamp())}"

    def _sync(self, account: GmailAccount, mailbox: MailboxClient) -> SyncResult:
        result = SyncResult(account.id, "synced")
        history_ids: set[str] = set()
        is_news: Callable[[NewMessage], bool] = lambda m: m.gmail_id in history_ids  # noqa: E731
        new_ids: list[str] = []
        if account.history_id is None:
            # First run: start from "now"; mail already in the Inbox is not news.
            cursor = str(mailbox.get_profile()["historyId"])
            result.initial = True
        else:
            try:
                cursor = account.history_id
                for page in mailbox.history_pages(account.history_id, page_size=self.config.history_page_size):
                    new_ids.extend(page.added_ids)
                    cursor = page.history_id
                history_ids.update(new_ids)
            except HistoryExpired:
                log.warning("history of mailbox %s expired: full resync", account.id)
                result.full_resync = True
                cursor = str(mailbox.get_profile()["historyId"])
                new_ids = mailbox.list_message_ids(label_ids=["INBOX"], query=self._lookback_query())
                # Unseen mail that arrived since the last good sync is news; older mail is not.
                since = account.last_sync_at
                is_news = lambda m: since is None or m.received_at > since  # noqa: E731
        backfill = account.labels_enabled and not account.backfill_done
        if backfill:
            backfill_ids = mailbox.list_message_ids(label_ids=["INBOX"], query=self._lookback_query())
            result.backfilled = len(backfill_ids)
            new_ids.extend(backfill_ids)
        new_ids = list(dict.fromkeys(new_ids))  # once each, in arrival order

        for start in range(0, len(new_ids), CHUNK):
            chunk = new_ids[start:start + CHUNK]
            last = start + CHUNK >= len(new_ids)
            handed = self._process_chunk(account, mailbox, chunk, is_news, cursor if last else None,
                                         backfill and last)
            if handed is None:
                return SyncResult(account.id, "gone")
            result.new_messages += handed
        if not new_ids and not self._advance(account, cursor, backfill):
            return SyncResult(account.id, "gone")
        result.history_id = cursor
        return result

    def _unseen(self, session: Session, account_id: int, ids: list[str]) -> list[str]:
        known = set(session.exec(
            select(MailboxMessage.gmail_id).where(MailboxMessage.account_id == account_id,
                                                  MailboxMessage.gmail_id.in_(ids))
        ).all())
        return [i for i in ids if i not in known]

    def _process_chunk(self, account: GmailAccount, mailbox: MailboxClient, ids: list[str],
                       is_news: Callable[[NewMessage], bool],
                       cursor: str | None, finish_backfill: bool) -> int | None:
        with session_scope(self.engine) as session:
            unseen = self._unseen(session, account.id, ids)
        fetched = mailbox.get_metadata(unseen, batch_size=self.config.batch_size) if unseen else {}
        messages = [from_gmail_metadata(m) for m in (fetched.get(i) for i in unseen) if m is not None]
        now = self.clock()
        alertable_ids = {m.gmail_id for m in messages if is_news(m)}
        try:
            with session_scope(self.engine) as session:
                current = session.get(GmailAccount, account.id)
                if current is None or current.status != AccountStatus.CONNECTED:
                    return None  # disconnected or revoked meanwhile: store nothing
                tz = rep_timezone(session, current, self.default_tz)
                addresses = {a for m in messages for a in m.from_addresses}
                senders = categorize_senders(session, addresses, at=now, tz=tz, rules=self.rules)
                # Another run may have stored some of these since we looked (never with the lease, but cheap).
                still_unseen = set(self._unseen(session, account.id, [m.gmail_id for m in messages]))
                messages = [m for m in messages if m.gmail_id in still_unseen]
                for message in messages:
                    session.add(MailboxMessage(account_id=account.id, gmail_id=message.gmail_id,
                                               from_address=(message.from_address or "")[:320],
                                               received_at=message.received_at))
                session.flush()
                batch = SyncBatch(current, messages, alertable_ids & still_unseen, senders, tz, now)
                for subscriber in self.subscribers:
                    subscriber.record(session, batch)
                if cursor is not None:
                    self._advance_in(session, current, cursor, finish_backfill, now)
        except IntegrityError:
            log.info("mailbox %s vanished during sync", account.id)
            return None
        for subscriber in self.subscribers:
            try:
                subscriber.deliver(batch, mailbox)
            except Exception:  # noqa: BLE001 - recorded work is retried; the sync itself succeeded
                log.exception("delivery failed for mailbox %s; it will be retried", account.id)
        return len(messages)

    def _advance_in(self, session: Session, account: GmailAccount, cursor: str, finish_backfill: bool,
                    now: datetime) -> None:
        account.history_id = cursor
        account.last_sync_at = now
        account.last_sync_error = None
        if finish_backfill:
            account.backfill_done = True
        session.add(account)

    def _advance(self, account: GmailAccount, cursor: str, finish_backfill: bool) -> bool:
        """Nothing new: move the cursor in one statement (the common case, a thousand times a minute)."""
        values: dict = {"history_id": cursor, "last_sync_at": self.clock(), "last_sync_error": None}
        if finish_backfill:
            values["backfill_done"] = True
        with session_scope(self.engine) as session:
            return bool(session.execute(
                update(GmailAccount)
                .where(GmailAccount.id == account.id, GmailAccount.status == AccountStatus.CONNECTED.value)
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount)

    def _record_error(self, account_id: int, error: GmailError) -> None:
        kind = "Gmail is busy or unreachable" if isinstance(error, GmailTemporaryError) else "Gmail error"
        with session_scope(self.engine) as session:
            session.execute(
                update(GmailAccount).where(GmailAccount.id == account_id)
                .values(last_sync_error=f"{kind}: {error}"[:500])
            )
