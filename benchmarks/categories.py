"""categories.*: categories for 1,000 From addresses against 200k contacts / 600k deals (SPEC §8).

The data set is generated deterministically and cached (benchmarks/.data for
SQLite, a database of its own on PostgreSQL) so reruns skip the load.
"""
from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from benchmarks.common import DATA_DIR, emit, median, percentile, postgres_server_url
from crm_store.categories import StageRules, categorize_senders
from crm_store.db import create_db_engine, upgrade_database

CONTACTS = 200_000
DEALS = 600_000
SENDERS = 1_000
ROUNDS = 15
DATASET = "v2"
AS_OF = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
STAGES = ["Qualification", "Needs Analysis", "Proposal", "Negotiation", "Closed Won", "Closed Lost",
          "Closed-Lost to Competition"]
STAGE_WEIGHTS = [10, 8, 10, 8, 30, 25, 9]


def contact_rows():
    for i in range(1, CONTACTS + 1):
        secondary = f"alt{i}@personal{i % 97}.example" if i % 5 == 0 else None
        yield (i, f"contact{i}@company{i % 5000}.example", secondary, f"First{i}", f"Last{i}",
               f"Company {i % 5000}", (i % 50) + 1)


def deal_rows():
    rng = random.Random(42)
    base = AS_OF.date()
    for i in range(1, DEALS + 1):
        contact_id = rng.randint(1, CONTACTS)
        stage = rng.choices(STAGES, STAGE_WEIGHTS)[0]
        closing = base + timedelta(days=rng.randint(-540, 540))
        yield (i, f"Deal {i}", contact_id, stage, closing, (contact_id % 50) + 1)


def _now():
    return datetime.now(timezone.utc)


def load_sqlite(url: str) -> None:
    engine = create_db_engine(url)
    now = _now()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO profiles (id, name, mail_integration, is_admin) VALUES (1, 'Standard', 0, 0)")
        conn.exec_driver_sql(
            "INSERT INTO crm_users (id, email, profile_id, created_at) VALUES (?, ?, 1, ?)",
            [(u, f"owner{u}@crm.example", now) for u in range(1, 51)])
        conn.exec_driver_sql(
            "INSERT INTO contacts (id, email, secondary_email, first_name, last_name, company, owner_id, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [row + (now,) for row in contact_rows()])
        conn.exec_driver_sql(
            "INSERT INTO deals (id, name, contact_id, stage, closing_date, owner_id, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", [row + (now,) for row in deal_rows()])
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def load_postgres(url: str) -> None:
    engine = create_db_engine(url)
    now = _now()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("INSERT INTO profiles (id, name, mail_integration, is_admin) VALUES (1, 'Standard', false, false)")
        with cur.copy("COPY crm_users (id, email, profile_id, created_at) FROM STDIN") as copy:
            for u in range(1, 51):
                copy.write_row((u, f"owner{u}@crm.example", 1, now))
        with cur.copy("COPY contacts (id, email, secondary_email, first_name, last_name, company, owner_id,"
                      " updated_at) FROM STDIN") as copy:
            for row in contact_rows():
                copy.write_row(row + (now,))
        with cur.copy("COPY deals (id, name, contact_id, stage, closing_date, owner_id, updated_at)"
                      " FROM STDIN") as copy:
            for row in deal_rows():
                copy.write_row(row + (now,))
        for table in ("crm_users", "contacts", "deals"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def dataset_ready(url: str) -> bool:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            contacts = conn.exec_driver_sql("SELECT count(*) FROM contacts").scalar()
            deals = conn.exec_driver_sql("SELECT count(*) FROM deals").scalar()
            return contacts == CONTACTS and deals == DEALS
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def sqlite_url() -> str:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"categories-{DATASET}.db"
    url = f"sqlite:///{path}"
    if not dataset_ready(url):
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        upgrade_database(url)
        load_sqlite(url)
    return url


def postgres_url() -> str | None:
    server = make_url(create_db_engine(postgres_server_url()).url)
    name = f"mm_bench_categories_{DATASET}"
    url = server.set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists and dataset_ready(url):
                return url
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        print(f"PostgreSQL unavailable: {error}", file=sys.stderr)
        return None
    finally:
        admin.dispose()
    upgrade_database(url)
    load_postgres(url)
    return url


def sender_sets(rounds: int) -> list[list[str]]:
    """1,000 addresses each: 60% primary emails, 10% secondary, 30% strangers; mixed case like real headers."""
    rng = random.Random(7)
    sets = []
    for _ in range(rounds):
        senders = []
        for _ in range(SENDERS):
            roll = rng.random()
            i = rng.randint(1, CONTACTS)
            if roll < 0.6:
                senders.append(f"Contact{i}@Company{i % 5000}.example")
            elif roll < 0.7:
                i -= i % 5 or 0
                i = max(i, 5)
                senders.append(f"alt{i}@personal{i % 97}.example")
            else:
                senders.append(f"stranger{rng.randint(1, 10**9)}@elsewhere.example")
        sets.append(senders)
    return sets


def measure(url: str) -> dict:
    engine = create_db_engine(url)
    rules = StageRules()
    timings = []
    found = 0
    try:
        sets = sender_sets(ROUNDS + 2)
        for index, senders in enumerate(sets):
            with Session(engine) as session:
                started = time.perf_counter()
                result = categorize_senders(session, senders, at=AS_OF, tz="Europe/Paris", rules=rules)
                elapsed = (time.perf_counter() - started) * 1000
            if index >= 2:  # the first two warm the caches
                timings.append(elapsed)
                found += sum(1 for r in result.values() if r.is_contact)
    finally:
        engine.dispose()
    return {"median": median(timings), "p95": percentile(timings, 95), "contacts_found": found / len(timings)}


def main() -> None:
    figures: dict = {"contacts": CONTACTS, "deals": DEALS, "senders": SENDERS, "rounds": ROUNDS}
    sqlite = measure(sqlite_url())
    figures["sqlite_ms_per_1000_senders"] = round(sqlite["median"], 2)
    figures["sqlite_p95_ms"] = round(sqlite["p95"], 2)
    figures["contacts_found_per_1000"] = round(sqlite["contacts_found"], 1)
    pg = postgres_url()
    if pg:
        postgres = measure(pg)
        figures["postgres_ms_per_1000_senders"] = round(postgres["median"], 2)
        figures["postgres_p95_ms"] = round(postgres["p95"], 2)
    else:
        figures["postgres_ms_per_1000_senders"] = None
    figures["target_ms"] = 50
    emit("categories", figures)


if __name__ == "__main__":
    main()
