"""retention.*: how fast housekeeping deletes stored messages nothing needs any more (`delete_old_messages`).

One SQLite database with 1,000,000 stored messages over 20 mailboxes: 900,000 from non-contacts older than the
lookback (deleted), and 100,000 that stay: within the lookback, filed, waiting to be filed, or from one of
20,000 contacts. Deleted in batches of 5,000 rows, each its own transaction; the figure is rows deleted per
second over the whole run, with the slowest batch (how long one transaction holds the write lock).
"""
from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.common import emit
from crm_store.db import create_db_engine, session_scope, upgrade_database
from crm_store.models import Contact, CrmUser, GmailAccount, MailboxMessage, Profile, utcnow
from gmail import retention

ROWS = 1_000_000
DELETABLE = 900_000
MAILBOXES = 20
CONTACTS = 20_000
LOOKBACK_DAYS = 30


def seed(engine) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        profile = Profile(name="reps")
        session.add(profile)
        session.flush()
        for i in range(MAILBOXES):
            user = CrmUser(email=f"rep{i}@crm.example", profile_id=profile.id)
            session.add(user)
            session.flush()
            session.add(GmailAccount(crm_user_id=user.id, slack_team_id="T1", slack_user_id=f"U{i}",
                                     email_address=f"rep{i}@gmail.example"))
    with engine.begin() as connection:
        connection.execute(sa.insert(Contact.__table__), [
            {"email": f"c{i}@customer.example", "updated_at": now} for i in range(CONTACTS)])
        old = now - timedelta(days=LOOKBACK_DAYS + 10)
        batch = []
        for n in range(ROWS):
            kept = n >= DELETABLE
            row = {"account_id": 1 + n % MAILBOXES, "gmail_id": f"m{n:08d}", "needs_filing": False,
                   "from_address": f"news{n % 5000}@lists.example", "received_at": old - timedelta(seconds=n % 86_400),
                   "filed_category": None, "in_inbox": None}
            if kept:
                kind = n % 4
                if kind == 0:
                    row["received_at"] = now - timedelta(days=2)
                elif kind == 1:
                    row["filed_category"] = "customers"
                elif kind == 2:
                    row["needs_filing"] = True
                else:
                    row["from_address"] = f"c{n % CONTACTS}@customer.example"
            batch.append(row)
            if len(batch) == 50_000:
                connection.execute(sa.insert(MailboxMessage.__table__), batch)
                batch = []
        if batch:
            connection.execute(sa.insert(MailboxMessage.__table__), batch)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'retention.db'}"
        upgrade_database(url)
        engine = create_db_engine(url)
        seed(engine)
        batches: list[float] = []
        real_session_scope = retention.session_scope

        def timed_scope(bound):  # one transaction per batch: time each
            class Scope:
                def __enter__(self):
                    self.started = time.perf_counter()
                    self.inner = real_session_scope(bound)
                    return self.inner.__enter__()

                def __exit__(self, *exc):
                    result = self.inner.__exit__(*exc)
                    batches.append(time.perf_counter() - self.started)
                    return result
            return Scope()

        retention.session_scope = timed_scope
        try:
            started = time.perf_counter()
            deleted = retention.delete_old_messages(engine, lookback_days=LOOKBACK_DAYS, max_batches=10_000)
            seconds = time.perf_counter() - started
        finally:
            retention.session_scope = real_session_scope
        with engine.connect() as connection:
            left = connection.execute(sa.select(sa.func.count()).select_from(MailboxMessage.__table__)).scalar()
        again_started = time.perf_counter()
        again = retention.delete_old_messages(engine, lookback_days=LOOKBACK_DAYS)
        again_ms = (time.perf_counter() - again_started) * 1000
        engine.dispose()
    emit("retention", {
        "rows": ROWS,
        "rows_deleted": deleted,
        "rows_kept": left,
        "batch_rows": retention.RETENTION_BATCH_ROWS,
        "batches": len(batches),
        "sqlite_seconds": round(seconds, 2),
        "sqlite_rows_deleted_per_second": round(deleted / seconds),
        "sqlite_slowest_batch_ms": round(max(batches) * 1000, 1),
        "sqlite_nothing_to_delete_ms": round(again_ms, 1),
        "deleted_when_nothing_left": again,
    })


if __name__ == "__main__":
    main()
