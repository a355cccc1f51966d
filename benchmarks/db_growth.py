"""db.bytes_per_mailbox_day: the database bytes one mailbox adds per day of typical traffic, at steady state.

The whole product (real server, Gmail and Slack emulators, the label job's sync, alerts and filing) on a fresh
database, 10 mailboxes, simulated day by day: each day 100 new Inbox messages per mailbox, 10 of them from CRM
contacts (alerted in the rep's team channel, where 3 colleagues may read them: 3 audit rows per alert; filed
under a label by the label run) and 90 from 3,000 other senders. After each day, retention as housekeeping
does it on that day: `gmail.retention.delete_old_messages` (the product's function, lookback 30 days) and the
deletion of posted alerts older than 30 days (housekeeping's statement, at the simulated date: the product's
reads the clock).

The product runs days 1-2 and every day from FROM on; days 3 to FROM-1, which only fill the lookback (31 days
of other senders' mail, 30 days of alerts) before steady state, are copies of the rows of two days before (so,
in the end, of days 1-2: dates moved, ids made unique), to keep the run short. Once retention is at steady
state (each day the oldest other senders' mail and alerts go as new ones come), the database is measured after
day FROM and after day TO:
- SQLite: the size of a VACUUMed copy (`VACUUM INTO`), and the pages in use in the database itself, which
  nothing vacuums (as in production);
- PostgreSQL: the sum of `pg_total_relation_size` of the tables, with a VACUUM after every day's housekeeping
  (autovacuum's part; this server runs without it): new rows use the space of deleted ones, but no space is
  given back, and B-tree pages that retention empties only in part stay in their index.
bytes_per_mailbox_day = growth / (TO - FROM) / mailboxes, with each table's and each index's share (SQLite:
dbstat; PostgreSQL: pg_relation_size), so what an index costs per mailbox-day can be read off.
"""
from __future__ import annotations

import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from benchmarks.common import emit, postgres_dataset, postgres_server_url
from crm_store.db import create_db_engine, session_scope
from crm_store.models import Alert, AlertStatus, AuditLog, MailboxMessage
from gmail.retention import delete_old_messages
from testsupport.stack import TEAM, start_stack

MAILBOXES = 10
MESSAGES_PER_DAY = 100
FROM_CONTACTS = 10
COLLEAGUES = 3
CONTACTS = 200
OTHER_SENDERS = 3_000
LOOKBACK_DAYS = 30
REAL_DAYS = 2  # run by the product before the lookback is filled with copies of them
MEASURE_FROM, MEASURE_TO = 34, 46  # the lookback (+ a day of margin) is full from day 32
CONTACTS_CSV = "email,first_name,company,external_id\n" + "".join(
    f"c{i}@customer{i % 40}.example,Contact{i},Customer {i % 40},C{i}\n" for i in range(CONTACTS))
DEALS_CSV = "name,contact_external_id,stage,closing_date,external_id\n" + "".join(
    f"Deal {i},C{i},{('Proposal', 'Closed Won', 'Negotiation', 'Closed Won')[i % 4]},2099-0{1 + i % 9}-15,D{i}\n"
    for i in range(CONTACTS))


def setup(stack) -> list[tuple[str, str]]:
    """The reps, each with a team channel shared with 3 colleagues; mailboxes connected, MailMagnet and labels
    on, alerts to that channel, sharing public (colleagues see subjects)."""
    bot = stack.slack.default_team().bot_user_id
    colleagues = [f"U9COL{i}" for i in range(COLLEAGUES)]
    for i, user in enumerate(colleagues):
        stack.add_rep(user, f"colleague{i}@crm.example", gmail=None)
    stack.import_crm(CONTACTS_CSV, DEALS_CSV)
    reps = []
    for i in range(MAILBOXES):
        user, gmail, channel = f"U1REP{i:02d}", f"rep{i}@gmail.example", f"G0TEAM{i:02d}"
        stack.add_rep(user, f"rep{i}@crm.example", gmail=gmail)
        stack.slack.add_channel(TEAM, channel, f"team-{i}", members=[user, *colleagues, bot], is_private=True)
        stack.connect_with_magnet(user, gmail, labels=True, alert_channel=channel, sharing="public",
                                  sharing_depth="subject")
        reps.append((user, gmail))
    stack.run("labels")  # the (empty) backfill, the labels created
    return reps


def deliver_day(stack, reps, rng: random.Random, day: datetime) -> None:
    for _, gmail in reps:
        specs = []
        for n in range(MESSAGES_PER_DAY):
            if n < FROM_CONTACTS:
                i = rng.randrange(CONTACTS)
                sender = f"Contact{i} <c{i}@customer{i % 40}.example>"
            else:
                sender = f"Someone <someone{rng.randrange(OTHER_SENDERS)}@elsewhere{rng.randrange(50)}.example>"
            specs.append({"sender": sender, "to": gmail, "subject": f"Day {day:%m-%d} #{n}", "body": "Hello",
                          "label_ids": ("INBOX", "UNREAD"), "date": day + timedelta(seconds=rng.randrange(86_000))})
        rng.shuffle(specs)
        stack.gmail.add_messages_bulk(gmail, specs)


def housekeeping_on(engine, now: datetime) -> int:
    """What housekeeping deletes, on the simulated date."""
    deleted = delete_old_messages(engine, lookback_days=LOOKBACK_DAYS, now=now)
    with session_scope(engine) as session:
        session.execute(Alert.__table__.delete().where(
            Alert.status.in_([AlertStatus.POSTED.value, AlertStatus.SKIPPED.value]),
            Alert.created_at < now - timedelta(days=30)))
    return deleted


def back_date(engine, since: datetime, day: datetime) -> None:
    """Rows the run just wrote carry the real clock: give them the simulated day (same sizes)."""
    with session_scope(engine) as session:
        session.execute(Alert.__table__.update().where(Alert.created_at >= since).values(created_at=day))
        session.execute(AuditLog.__table__.update().where(AuditLog.viewed_at >= since).values(viewed_at=day))
        session.execute(MailboxMessage.__table__.update().where(MailboxMessage.filed_at >= since)
                        .values(filed_at=day))


def vacuum(engine) -> None:
    autocommit = create_db_engine(engine.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with autocommit.connect() as conn:
            conn.exec_driver_sql("VACUUM")
    finally:
        autocommit.dispose()


def sizes(engine, path: Path | None) -> dict:
    """Total bytes and bytes per table and index, after VACUUM."""
    if engine.dialect.name == "sqlite":
        # VACUUM INTO a copy: the compacted size, while the database itself goes on as production leaves it.
        copy = path.with_name(path.name + ".vacuumed")
        copy.unlink(missing_ok=True)
        raw = engine.raw_connection()
        try:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = raw.execute("PRAGMA page_count").fetchone()[0] - raw.execute("PRAGMA freelist_count").fetchone()[0]
            in_use = pages * raw.execute("PRAGMA page_size").fetchone()[0]
            raw.execute("VACUUM INTO ?", (str(copy),))
        finally:
            raw.close()
        compacted = sqlite3.connect(copy)
        try:
            parts = dict(compacted.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        finally:
            compacted.close()
        total = copy.stat().st_size
        copy.unlink()
        return {"total": total, "parts": parts, "in_use_before_vacuum": in_use}
    vacuum(engine)
    autocommit = create_db_engine(engine.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with autocommit.connect() as conn:
            total = conn.exec_driver_sql(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid ="
                " c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'").scalar()
            parts = dict(conn.exec_driver_sql(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid ="
                " c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't')").all())
    finally:
        autocommit.dispose()
    return {"total": int(total), "parts": parts}


def rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
                for table in ("mailbox_messages", "alerts", "audit_log")}


def clone_day(engine, source: datetime, target: datetime) -> int:
    """Copy what was written on simulated day `source` (messages, alerts, audit rows) as day `target`: same
    rows, dates moved, Gmail ids made unique (their first 4 characters, the emulator's leading zeros, become "c"
    and the day)."""
    shift = target - source
    prefix = f"c{(target - datetime(2000, 1, 1, tzinfo=timezone.utc)).days:03x}"

    def new_id(gmail_id: str) -> str:
        return prefix + gmail_id[len(prefix):]

    def moved(value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)) + shift

    copied = 0
    end = source + timedelta(days=1)
    with session_scope(engine) as session:
        for model, day_column, times in ((MailboxMessage, "received_at", ("received_at", "filed_at")),
                                         (Alert, "created_at", ("created_at", "attempted_at", "posted_at")),
                                         (AuditLog, "viewed_at", ("viewed_at",))):
            table = model.__table__
            column = table.c[day_column]
            rows = [dict(row._mapping) for row in session.execute(
                sa.select(table).where(column >= source, column < end))]
            for row in rows:
                row.pop("id")
                row["gmail_id"] = new_id(row["gmail_id"])
                for name in times:
                    row[name] = moved(row[name])
            if rows:
                session.execute(sa.insert(table), rows)
            copied += len(rows)
    return copied


def simulate(url: str, path: Path | None) -> dict:
    stack = start_stack(url, scheduler=True, start_scheduler=False)
    try:
        engine = stack.engine
        reps = setup(stack)
        rng = random.Random(31)
        start = (datetime.now(timezone.utc) - timedelta(days=MEASURE_TO + 1)).replace(hour=0, minute=0, second=0,
                                                                                     microsecond=0)
        measured: dict[int, dict] = {}
        per_day: Counter = Counter()
        started = time.perf_counter()
        cloned = 0
        for d in range(1, MEASURE_TO + 1):
            day = start + timedelta(days=d)
            if REAL_DAYS < d < MEASURE_FROM:
                # Filling the lookback: a copy of a day the product ran, instead of running it again.
                cloned += clone_day(engine, day - timedelta(days=REAL_DAYS), day)
            else:
                deliver_day(stack, reps, rng, day)
                run_started = datetime.now(timezone.utc)
                outcomes = stack.run("labels")
                back_date(engine, run_started, day)
                if d > MEASURE_FROM:
                    per_day["new_messages"] += sum(o.sync.new_messages for o in outcomes if o.sync)
                    per_day["filed"] += sum(sum(o.filed.values()) for o in outcomes)
                    per_day["errors"] += sum(1 for o in outcomes if o.error)
            housekeeping_on(engine, day + timedelta(days=1))
            if engine.dialect.name == "postgresql":
                vacuum(engine)  # autovacuum's part: the space of deleted rows can be used again
            if d in (MEASURE_FROM, MEASURE_TO):
                measured[d] = {"size": sizes(engine, path), "rows": rows(engine)}
        seconds = time.perf_counter() - started
    finally:
        stack.stop()
    days = MEASURE_TO - MEASURE_FROM
    before, after = measured[MEASURE_FROM]["size"], measured[MEASURE_TO]["size"]
    growth = {name: after["parts"].get(name, 0) - before["parts"].get(name, 0)
              for name in set(before["parts"]) | set(after["parts"])}
    per_mailbox_day = lambda value: round(value / days / MAILBOXES, 1)  # noqa: E731
    rows_before, rows_after = measured[MEASURE_FROM]["rows"], measured[MEASURE_TO]["rows"]
    figures = {
        "bytes_per_mailbox_day": per_mailbox_day(after["total"] - before["total"]),
        "bytes_per_mailbox_day_by_relation": {name: per_mailbox_day(value) for name, value
                                              in sorted(growth.items(), key=lambda item: -item[1]) if value},
        "bytes_total_at_day": {MEASURE_FROM: before["total"], MEASURE_TO: after["total"]},
        "rows_at_day": {MEASURE_FROM: rows_before, MEASURE_TO: rows_after},
        "per_mailbox_day": {key: round(value / days / MAILBOXES, 2) for key, value in per_day.items()}
        | {f"{table}_rows_added_net": round((rows_after[table] - rows_before[table]) / days / MAILBOXES, 2)
           for table in rows_after},
        "rows_cloned_for_the_lookback": cloned,
        "seconds": round(seconds, 1),
    }
    if "in_use_before_vacuum" in after:
        # The file as it is in production (nothing runs VACUUM): pages in use, free pages reused.
        figures["bytes_per_mailbox_day_without_vacuum"] = per_mailbox_day(
            after["in_use_before_vacuum"] - before["in_use_before_vacuum"])
    return figures


def postgres_database() -> str | None:
    """A fresh, empty database for this run (never reused: growth is measured from nothing)."""
    return postgres_dataset("mm_bench_growth", ready=lambda url: False, build=lambda url: None)


def drop_postgres_database() -> None:
    server = make_url(create_db_engine(postgres_server_url()).url)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE datname = 'mm_bench_growth'"))
        conn.execute(sa.text('DROP DATABASE IF EXISTS "mm_bench_growth"'))
    admin.dispose()


def main() -> None:
    growth: dict = {"mailboxes": MAILBOXES, "messages_per_day": MESSAGES_PER_DAY,
                    "from_contacts_per_day": FROM_CONTACTS, "colleagues_seeing_alerts": COLLEAGUES,
                    "lookback_days": LOOKBACK_DAYS, "measured_from_day": MEASURE_FROM, "measured_to_day": MEASURE_TO}
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "growth.db"
        growth["sqlite"] = simulate(f"sqlite:///{path}", path)
    figures["bytes_per_mailbox_day"] = growth["sqlite"]["bytes_per_mailbox_day"]
    figures["sqlite_bytes_per_mailbox_day_without_vacuum"] = growth["sqlite"]["bytes_per_mailbox_day_without_vacuum"]
    if os.environ.get("BENCH_SKIP_POSTGRES") != "1":
        url = postgres_database()
        if url:
            try:
                growth["postgres"] = simulate(url, None)
            finally:
                drop_postgres_database()
            figures["postgres_bytes_per_mailbox_day"] = growth["postgres"]["bytes_per_mailbox_day"]
    figures["growth"] = growth
    emit("db", figures)


if __name__ == "__main__":
    main()
