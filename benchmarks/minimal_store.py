"""The rows a push run must keep, written as plainly as sqlite3 allows: the "with store" variant of
benchmarks/minimal_push_path.py (`capacity.cpu_over_minimal_with_store`).

The minimal script alone makes the Gmail and Slack calls and keeps its state in memory; `serve` also keeps, durably,
what a crash must not lose. This writes the same rows in the same transactions as a push run of `serve` (issue 17:
4 transactions, 3 of them writes), with the DB-API and hand-written SQL instead of SQLAlchemy, so the ratio beside
`cpu_over_minimal` shows what the product costs over the unavoidable part, the database's own work included:

1. the lease: one conditional UPDATE … RETURNING (the mailbox is free and the push has news);
2. the mailbox as the run opens it: one SELECT;
3. the sync's transaction: the new message's INSERT … ON CONFLICT DO NOTHING RETURNING, the contact's facts and
   mutes in one SELECT, the alert's INSERT … RETURNING, the follow-up's conditional INSERT, the fenced cursor UPDATE;
4. after the post: the alert's status and the lease's release.

Same SQLite settings as the product (WAL, synchronous=NORMAL, a busy timeout) and the same trick for writers: one
process-wide lock, taken at the first write and given back at the commit (crm_store/sqlite_gate.py's idea without
its ordering). The tables hold the columns these statements touch, with the product's unique keys.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

SCHEMA = """
CREATE TABLE IF NOT EXISTS mailboxes (id INTEGER PRIMARY KEY, email_address TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL, magnet_enabled BOOLEAN NOT NULL, history_id TEXT, last_sync_at TIMESTAMP,
    last_sync_error TEXT, lease_owner TEXT, lease_expires_at TIMESTAMP, quota_day TEXT, quota_units INTEGER,
    encrypted_credentials TEXT, slack_user_id TEXT);
CREATE TABLE IF NOT EXISTS contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, first_name TEXT,
    last_name TEXT, company TEXT, owner_id INTEGER);
CREATE TABLE IF NOT EXISTS muted_contacts (account_id INTEGER, contact_id INTEGER, PRIMARY KEY (account_id, contact_id));
CREATE TABLE IF NOT EXISTS mailbox_messages (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,
    gmail_id TEXT NOT NULL, received_at TIMESTAMP, from_address TEXT, in_inbox BOOLEAN, needs_filing BOOLEAN,
    filed_category TEXT, UNIQUE (account_id, gmail_id));
CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, gmail_id TEXT NOT NULL,
    contact_id INTEGER, thread_id TEXT, status TEXT NOT NULL, slack_ts TEXT, created_at TIMESTAMP,
    posted_at TIMESTAMP, UNIQUE (account_id, gmail_id));
CREATE TABLE IF NOT EXISTS followups (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, thread_id TEXT NOT NULL,
    contact_id INTEGER, gmail_id TEXT, received_at TIMESTAMP, due_at TIMESTAMP, answered_at TIMESTAMP,
    done_at TIMESTAMP);
CREATE INDEX IF NOT EXISTS followups_open ON followups (account_id, thread_id);
"""

CLAIM = ("UPDATE mailboxes SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND magnet_enabled = 1 "
         "AND (lease_owner IS NULL OR lease_expires_at < ?) RETURNING history_id")
OPEN = "SELECT * FROM mailboxes WHERE id = ?"
STORE = ("INSERT INTO mailbox_messages (account_id, gmail_id, received_at, from_address, in_inbox, needs_filing) "
         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, gmail_id) DO NOTHING RETURNING gmail_id")
FACTS = ("SELECT c.id, c.first_name, c.last_name, c.company, m.contact_id FROM contacts c "
         "LEFT JOIN muted_contacts m ON m.contact_id = c.id AND m.account_id = ? WHERE c.email = ?")
ALERT = ("INSERT INTO alerts (account_id, gmail_id, contact_id, thread_id, status, created_at) "
         "VALUES (?, ?, ?, ?, 'pending', ?) RETURNING id")
FOLLOWUP = ("INSERT INTO followups (account_id, thread_id, contact_id, gmail_id, received_at, due_at) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM followups WHERE account_id = ? AND "
            "thread_id = ? AND answered_at IS NULL AND done_at IS NULL)")
CURSOR = ("UPDATE mailboxes SET history_id = ?, last_sync_at = ?, last_sync_error = NULL WHERE id = ? "
          "AND status = 'connected' AND lease_owner = ?")
POSTED = "UPDATE alerts SET status = 'posted', slack_ts = ?, posted_at = ? WHERE id = ?"
RELEASE = ("UPDATE mailboxes SET lease_owner = NULL, lease_expires_at = NULL, quota_day = ?, "
           "quota_units = CASE WHEN quota_day = ? THEN quota_units + ? ELSE ? END WHERE id = ? AND lease_owner = ?")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(sep=" ")


class MinimalStore:
    """One connection per thread (sqlite3's rule), one writer at a time (the lock)."""

    def __init__(self, path: str, mailboxes: list[dict], contacts: list[str]):
        self.path = path
        self.owner = f"minimal-{time.monotonic_ns()}"
        self._local = threading.local()
        self._write = threading.Lock()
        with self._connection() as connection:
            connection.executescript(SCHEMA)
            connection.executemany(
                "INSERT OR IGNORE INTO mailboxes (id, email_address, status, magnet_enabled, history_id, "
                "encrypted_credentials, slack_user_id) VALUES (?, ?, 'connected', 1, ?, ?, ?)",
                [(m["account_id"], m["address"], str(m["history_id"]), m["token"], m["slack_user"])
                 for m in mailboxes])
            connection.executemany("INSERT OR IGNORE INTO contacts (email, first_name) VALUES (?, 'Jane')",
                                   [(c,) for c in contacts])

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
        return connection

    def _writing(self, work):
        connection = self._connection()
        with self._write:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
                connection.execute("COMMIT")
                return result
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def claim(self, account_id: int, lease_seconds: int = 300) -> bool:
        now = datetime.now(timezone.utc)
        until = (now + timedelta(seconds=lease_seconds)).isoformat(sep=" ")
        return self._writing(lambda c: c.execute(CLAIM, (self.owner, until, account_id,
                                                         now.isoformat(sep=" "))).fetchone()) is not None

    def open(self, account_id: int) -> tuple:
        return self._connection().execute(OPEN, (account_id,)).fetchone()

    def record(self, account_id: int, cursor: int, messages: list[tuple[dict, str, bool]]) -> dict[str, int]:
        """The sync's transaction: every new message stored, an alert and a follow-up for each from a contact,
        the cursor moved under the lease; the alerts' ids by Gmail id."""
        now = _now()

        def work(c: sqlite3.Connection) -> dict[str, int]:
            alerts = {}
            for message, sender, from_contact in messages:
                gmail_id, thread_id = message["id"], message.get("threadId", message["id"])
                if c.execute(STORE, (account_id, gmail_id, now, sender, True, from_contact)).fetchone() is None \
                        or not from_contact:
                    continue
                contact_id = c.execute(FACTS, (account_id, sender)).fetchone()[0]
                alerts[gmail_id] = c.execute(ALERT, (account_id, gmail_id, contact_id, thread_id, now)).fetchone()[0]
                c.execute(FOLLOWUP, (account_id, thread_id, contact_id, gmail_id, now, now, account_id, thread_id))
            if not c.execute(CURSOR, (str(cursor), now, account_id, self.owner)).rowcount:
                raise RuntimeError("lease lost")
            return alerts

        return self._writing(work)

    def release(self, account_id: int, posted: list[tuple[int, str]], units: int) -> None:
        now, today = _now(), datetime.now(timezone.utc).date().isoformat()

        def work(c: sqlite3.Connection) -> None:
            c.executemany(POSTED, [(ts, now, alert_id) for alert_id, ts in posted])
            c.execute(RELEASE, (today, today, units, units, account_id, self.owner))

        self._writing(work)
