"""db.*: query latency with 10,000,000 stored messages (5,000 mailboxes x 2,000 rows), beside the same look-up
written by hand as one SQL statement, in the same run.

- unseen: the sync's look-up of which of 500 Gmail ids a mailbox already stores (`MailboxSync._stored`, the
  step before fetching the unseen ones): a random mailbox, 250 ids it stores and 250 it does not;
- categories: `categorize_senders` for 1,000 From addresses (the categories benchmark's sender mix).

Each is measured 1,000 times after 20 warm-up calls, interleaved with the raw statement on the same arguments
(alternating which goes first), wall time; p50, p99 and max of both. The plans of the statements are kept.

Data: the categories data set (200k contacts / 600k deals) plus 5,000 mailboxes and their 10M rows, seeded in
bulk (the indexes built after the load): per mailbox 2,000 messages received over the last 31 days (what
retention keeps), 10% from contacts and filed, the rest from 500,000 other senders, unfiled, in or out of the
Inbox. Cached in benchmarks/.data (SQLite) and in a database of its own (PostgreSQL), vacuumed and analysed
once after loading, as autovacuum would.
"""
from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from benchmarks import _bulk, categories
from benchmarks.common import DATA_DIR, emit, median, percentile, postgres_dataset
from crm_store.categories import Month, StageRules, categorize_senders
from crm_store.db import create_db_engine, upgrade_database
from crm_store.models import CrmUser, GmailAccount, utcnow
from gmail.sync import MailboxSync

MAILBOXES = 5_000
ROWS_PER_MAILBOX = 2_000
IDS_PER_LOOKUP = 500
SAMPLES = 1_000
WARM_UP = 20
DATASET = "v1"
TABLE = "mailbox_messages"
COLUMNS = ("account_id", "gmail_id", "from_address", "received_at", "filed_category", "filed_at", "needs_filing",
           "in_inbox")
RAW_UNSEEN_SQLITE = "SELECT gmail_id FROM mailbox_messages WHERE account_id = ? AND gmail_id IN " \
                    "(SELECT value FROM json_each(?))"
RAW_UNSEEN_POSTGRES = "SELECT gmail_id FROM mailbox_messages WHERE account_id = %s AND gmail_id = ANY(%s)"


def gmail_id(account_id: int, n: int) -> str:
    """16 hex digits, as Gmail's; increasing within a mailbox, as Gmail's are over time."""
    return f"{account_id:05x}{n:011x}"


def message_rows(contact_emails: list[str], account_ids: list[int], postgres: bool):
    rng = random.Random(10)
    now = utcnow()
    categories_ = ("closing_this_month", "open_deals", "customers")
    for account_id in account_ids:
        for n in range(ROWS_PER_MAILBOX):
            received = now - timedelta(seconds=rng.randint(0, 31 * 86_400))
            stamp = received if postgres else received.strftime("%Y-%m-%d %H:%M:%S.%f")
            if rng.random() < 0.1:
                yield (account_id, gmail_id(account_id, n), rng.choice(contact_emails), stamp,
                       rng.choice(categories_), stamp, False if postgres else 0, None)
            else:
                inside = rng.random() < 0.5
                yield (account_id, gmail_id(account_id, n),
                       f"sender{rng.randint(1, 500_000)}@mail{rng.randint(1, 2_000)}.example", stamp, None, None,
                       False if postgres else 0, inside if postgres else int(inside))


def add_mailboxes(engine) -> list[int]:
    """5,000 CRM users with a connected mailbox each (no tokens: nothing here calls Gmail)."""
    now = utcnow()
    with engine.begin() as conn:
        profile = conn.exec_driver_sql("SELECT min(id) FROM profiles").scalar()
        first = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM crm_users").scalar() + 1
        conn.execute(sa.insert(CrmUser.__table__), [
            {"id": first + i, "email": f"rep{i}@crm.example", "profile_id": profile, "created_at": now}
            for i in range(MAILBOXES)])
        conn.execute(sa.insert(GmailAccount.__table__), [
            {"crm_user_id": first + i, "slack_team_id": "T1", "slack_user_id": f"U{i:05d}",
             "email_address": f"rep{i}@gmail.example", "magnet_enabled": True, "labels_enabled": True,
             "backfill_done": True, "setup_done": True, "connected_at": now} for i in range(MAILBOXES)])
        return [row[0] for row in conn.exec_driver_sql("SELECT id FROM gmail_accounts ORDER BY id")]


def load_messages(engine) -> None:
    """The rows, with the table's secondary indexes dropped during the load and built again after it."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        contacts = [row[0] for row in conn.exec_driver_sql("SELECT email FROM contacts")]
        if postgres:
            indexes = [row[0] for row in conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'mailbox_messages' AND left(indexname, 3) = 'ix_'")]
            for definition in indexes:
                conn.exec_driver_sql(f"DROP INDEX {definition.split()[2]}")
        else:
            indexes = [row[0] for row in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mailbox_messages'"
                " AND sql IS NOT NULL")]
            for definition in indexes:
                conn.exec_driver_sql(f"DROP INDEX {definition.split()[2]}")
    account_ids = add_mailboxes(engine)
    started = time.perf_counter()
    count = _bulk.insert_rows(engine, TABLE, COLUMNS, message_rows(contacts, account_ids, postgres))
    with engine.begin() as conn:
        for definition in indexes:
            conn.exec_driver_sql(definition)
    print(f"{engine.dialect.name}: {count} rows loaded in {time.perf_counter() - started:.0f}s", file=sys.stderr)


def dataset_ready(url: str) -> bool:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT max(id) FROM mailbox_messages").scalar()
            return rows == MAILBOXES * ROWS_PER_MAILBOX
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def sqlite_url() -> str:
    path = DATA_DIR / f"messages-10m-{DATASET}.db"
    url = f"sqlite:///{path}"
    if not dataset_ready(url):
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        _bulk.copy_crm(path)
        upgrade_database(url)
        engine = create_db_engine(url)
        load_messages(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        engine.dispose()
    upgrade_database(url)
    return url


def postgres_url() -> str | None:
    def build(url: str) -> None:
        upgrade_database(url)
        categories.load_postgres(url)
        engine = create_db_engine(url)
        load_messages(engine)
        engine.dispose()
        vacuum = create_db_engine(url, isolation_level="AUTOCOMMIT")
        with vacuum.connect() as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
        vacuum.dispose()

    return postgres_dataset(f"mm_bench_messages_10m_{DATASET}", dataset_ready, build, reuse=upgrade_database)


def unseen_arguments(rng: random.Random, account_ids: list[int]) -> tuple[int, list[str]]:
    account_id = rng.choice(account_ids)
    stored = [gmail_id(account_id, n) for n in rng.sample(range(ROWS_PER_MAILBOX), IDS_PER_LOOKUP // 2)]
    new = [gmail_id(account_id, ROWS_PER_MAILBOX + n) for n in rng.sample(range(10_000), IDS_PER_LOOKUP // 2)]
    ids = stored + new
    rng.shuffle(ids)
    return account_id, ids


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def summary(values: list[float]) -> dict:
    return {"p50_ms": round(median(values), 3), "p99_ms": round(percentile(values, 99), 3),
            "max_ms": round(max(values), 3)}


def measure(url: str) -> dict:
    engine = create_db_engine(url)
    postgres = engine.dialect.name == "postgresql"
    rng = random.Random(99)
    month = Month.containing(categories.AS_OF, categories.TZ)
    rules = StageRules()
    with engine.connect() as conn:
        account_ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM gmail_accounts")]
    raw = engine.raw_connection()
    driver = raw.driver_connection

    def raw_unseen(account_id: int, ids: list[str]) -> set[str]:
        cursor = driver.cursor()
        if postgres:
            cursor.execute(RAW_UNSEEN_POSTGRES, (account_id, ids))
        else:
            cursor.execute(RAW_UNSEEN_SQLITE, (account_id, json.dumps(ids)))
        found = {row[0] for row in cursor.fetchall()}
        cursor.close()
        if postgres:
            driver.rollback()
        return found

    def raw_categories(senders: list[str]) -> list[tuple]:
        rows = categories.raw_lookup(driver, postgres, senders, month)
        if postgres:
            driver.rollback()
        return rows

    results: dict = {}
    try:
        # The unseen look-up.
        times: dict[str, list[float]] = {"project": [], "raw": []}
        agree = True
        for index in range(SAMPLES + WARM_UP):
            account_id, ids = unseen_arguments(rng, account_ids)
            got: dict[str, set[str]] = {}
            for which in (("project", "raw") if index % 2 == 0 else ("raw", "project")):
                with Session(engine) as session:
                    if which == "project":
                        elapsed = timed(lambda: got.__setitem__(which, MailboxSync._stored(session, account_id, ids)))
                    else:
                        elapsed = timed(lambda: got.__setitem__(which, raw_unseen(account_id, ids)))
                if index >= WARM_UP:
                    times[which].append(elapsed)
            agree = agree and got["project"] == got["raw"] and len(got["raw"]) == IDS_PER_LOOKUP // 2
        results["unseen"] = {"project": summary(times["project"]), "raw": summary(times["raw"]),
                             "same_answer": agree,
                             "p99_over_raw": round(percentile(times["project"], 99) / percentile(times["raw"], 99), 3)}

        # categorize_senders for 1,000 addresses.
        times = {"project": [], "raw": []}
        sender_sets = categories.sender_sets(40)
        agree = True
        for index in range(SAMPLES + WARM_UP):
            senders = sender_sets[index % len(sender_sets)]
            got_c: dict = {}
            for which in (("project", "raw") if index % 2 == 0 else ("raw", "project")):
                with Session(engine) as session:
                    if which == "project":
                        elapsed = timed(lambda: got_c.__setitem__(which, categorize_senders(
                            session, senders, at=categories.AS_OF, tz=categories.TZ, rules=rules)))
                    else:
                        elapsed = timed(lambda: got_c.__setitem__(which, raw_categories(senders)))
                if index >= WARM_UP:
                    times[which].append(elapsed)
            agree = agree and categories.same_answer(got_c["project"], got_c["raw"])
        results["categories"] = {"project": summary(times["project"]), "raw": summary(times["raw"]),
                                 "same_answer": agree,
                                 "p99_over_raw": round(percentile(times["project"], 99)
                                                       / percentile(times["raw"], 99), 3)}
        results["plans"] = plans(engine, account_ids[0])
    finally:
        raw.close()
        engine.dispose()
    return results


def plans(engine, account_id: int) -> dict[str, list[str]]:
    """The unseen look-up's plan as the product sends it (500 ids)."""
    ids = [gmail_id(account_id, n) for n in range(IDS_PER_LOOKUP)]
    statements: list[str] = []
    listener = lambda conn, cursor, statement, params, context, many: statements.append((statement, params))  # noqa
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        with Session(engine) as session:
            MailboxSync._stored(session, account_id, ids)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    statement, params = statements[-1]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            cursor = conn.connection.cursor()
            cursor.execute("EXPLAIN " + statement, params)
            plan = [row[0].strip() for row in cursor.fetchall()]
        else:
            plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    return {"unseen": [line if len(line) <= 160 else line[:157] + "..." for line in plan]}


def main() -> None:
    details: dict = {"mailboxes": MAILBOXES, "rows": MAILBOXES * ROWS_PER_MAILBOX, "samples": SAMPLES,
                     "ids_per_unseen_lookup": IDS_PER_LOOKUP, "senders_per_categories_lookup": categories.SENDERS}
    figures: dict = {}
    started = time.perf_counter()
    for name, url_of in (("sqlite", sqlite_url), ("postgres", postgres_url)):
        if name == "postgres" and os.environ.get("BENCH_SKIP_POSTGRES") == "1":
            continue
        url = url_of()
        if url is None:
            continue
        found = details[name] = measure(url)
        for lookup in ("unseen", "categories"):
            figures[f"{name}_{lookup}_p99_ms_10m_rows"] = found[lookup]["project"]["p99_ms"]
            figures[f"{name}_{lookup}_raw_p99_ms_10m_rows"] = found[lookup]["raw"]["p99_ms"]
    details["seconds"] = round(time.perf_counter() - started, 1)
    figures["queries_10m_rows"] = details
    emit("db", figures)


if __name__ == "__main__":
    main()
