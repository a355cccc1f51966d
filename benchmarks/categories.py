"""categories.*: categories for 1,000 From addresses against 200k contacts / 600k deals (SPEC §8).

The data set is generated deterministically and cached (benchmarks/.data for
SQLite, a database of its own on PostgreSQL) so reruns skip the load.

Beside the product's `categorize_senders`, the same look-up written by hand as ONE SQL statement (below,
`RAW_SQLITE` / `RAW_POSTGRES`), run through the bare DB-API cursor (no SQLAlchemy, no result objects: the rows
as the driver returns them) on the same data in the same run. Both are timed warm, in interleaved rounds on
the same 1,000 addresses, alternating which goes first; `project_over_raw` is the ratio of the medians. The
raw timing includes what its caller must do too: lower-case the addresses and bind them (a JSON array for
SQLite, an array for PostgreSQL). Every round checks that both give the same contact and category for every
address, and the plans of both statements are checked to be index probes (no scan of contacts or deals).
Since the organisation's own addresses are never a contact's (SPEC §5, `crm_store.organisation`), the raw
statement leaves them out too, as the product does (`NOT EXISTS` on the four tables that hold them): without it,
it would be a cheaper look-up than the product's, not the same one written by hand.
Both run with `serve`'s interpreter settings (`bot.runtime_tuning`), where the product runs the look-up.
"""
from __future__ import annotations

import itertools
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlmodel import Session

from benchmarks.common import DATA_DIR, emit, median, percentile, postgres_dataset
from bot.runtime_tuning import tune_for_serving
from crm_store.categories import Category, Month, StageRules, _compiled_lookup, categorize_senders
from crm_store.db import create_db_engine, upgrade_database

CONTACTS = 200_000
DEALS = 600_000
SENDERS = 1_000
ROUNDS = 101
WARM_UP = 3
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
    def build(url: str) -> None:
        upgrade_database(url)
        load_postgres(url)
        vacuum_once(url)

    return postgres_dataset(f"mm_bench_categories_{DATASET}", dataset_ready, build, reuse=vacuum_once)


def vacuum_once(url: str) -> None:
    """What autovacuum does to a loaded table in production (this server may run with it off): the visibility
    map set, so the deals index answers without visiting the table."""
    engine = create_db_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            pending = conn.exec_driver_sql("SELECT count(*) FROM pg_stat_user_tables WHERE relname IN"
                                           " ('contacts', 'deals') AND last_vacuum IS NULL"
                                           " AND last_autovacuum IS NULL").scalar()
            if pending:
                conn.exec_driver_sql("VACUUM (ANALYZE) contacts, deals")
    finally:
        engine.dispose()


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


# The look-up by hand, for the default stage rules (won: closed won; lost: closed lost, closed-lost to
# competition), the month as two parameters. One row per (address, contact): the address, the contact, 1 when
# matched by its secondary email, and the contact's best deal (3 open closing this month, 2 open, 1 won, 0 lost,
# NULL no deal).
_RANK = """(SELECT max(CASE {stage} WHEN 'closed won' THEN 1 WHEN 'closed lost' THEN 0
                                   WHEN 'closed-lost to competition' THEN 0
                   ELSE CASE WHEN d.closing_date BETWEEN {first} AND {last} THEN 3 ELSE 2 END END)
     FROM deals d WHERE d.contact_id = {contact})"""
# The organisation's addresses are no contact's: an address found is checked against the four tables that hold them.
_NOT_ORGANISATION = """NOT EXISTS (SELECT email FROM crm_users WHERE email = {address})
   AND NOT EXISTS (SELECT secondary_email FROM crm_users WHERE secondary_email = {address})
   AND NOT EXISTS (SELECT email_address FROM gmail_accounts WHERE email_address = {address})
   AND NOT EXISTS (SELECT address FROM mailbox_aliases WHERE address = {address})"""
RAW_SQLITE = f"""
SELECT w.value, c.id, 0, {_RANK.format(stage="d.stage COLLATE NOCASE", first="?2", last="?3", contact="c.id")}
  FROM json_each(?1) AS w JOIN contacts AS c ON c.email = w.value
 WHERE {_NOT_ORGANISATION.format(address="c.email")}
UNION ALL
SELECT w.value, c.id, 1, {_RANK.format(stage="d.stage COLLATE NOCASE", first="?2", last="?3", contact="c.id")}
  FROM json_each(?1) AS w JOIN contacts AS c ON c.secondary_email = w.value
 WHERE {_NOT_ORGANISATION.format(address="c.secondary_email")}
"""
RAW_POSTGRES = f"""
SELECT w.address, m.id, m.via_secondary,
       {_RANK.format(stage="lower(d.stage)", first="%(first)s", last="%(last)s", contact="m.id")}
  FROM unnest(%(addresses)s::text[]) AS w(address)
  CROSS JOIN LATERAL (SELECT c.id, 0 AS via_secondary FROM contacts AS c WHERE c.email = w.address
                      UNION ALL
                      SELECT c.id, 1 FROM contacts AS c WHERE c.secondary_email = w.address) AS m
 WHERE {_NOT_ORGANISATION.format(address="w.address")}
"""
CATEGORY_OF_RANK = {3: Category.CLOSING_THIS_MONTH, 2: Category.OPEN_DEALS, 1: Category.CUSTOMERS}
TZ = "Europe/Paris"


def raw_lookup(dbapi_connection, postgres: bool, senders: list[str], month: Month, *,
               in_index_order: bool = False) -> list[tuple]:
    """The raw statement on the addresses as they come, lower-cased (or, `in_index_order`, also de-duplicated
    and sorted, as the project binds them)."""
    addresses = [a.strip().lower() for a in senders]
    if in_index_order:
        addresses = sorted(set(addresses))
    cursor = dbapi_connection.cursor()
    try:
        if postgres:
            cursor.execute(RAW_POSTGRES, {"addresses": addresses, "first": month.first_day, "last": month.last_day})
        else:
            cursor.execute(RAW_SQLITE, (json.dumps(addresses), month.first_day.isoformat(),
                                        month.last_day.isoformat()))
        return cursor.fetchall()
    finally:
        cursor.close()


def same_answer(project: dict, raw_rows: list[tuple]) -> bool:
    """The project's answer is the raw rows' best contact per address (own record, stronger category, older)."""
    best: dict[str, tuple] = {}
    for address, contact_id, via_secondary, rank in raw_rows:
        key = (via_secondary, -(rank or 0), contact_id)
        if address not in best or key < best[address]:
            best[address] = key
    for address, found in project.items():
        raw = best.get(address)
        if raw is None:
            if found.is_contact:
                return False
        elif (found.contact_id, found.matched_secondary, found.category) != \
                (raw[2], bool(raw[0]), CATEGORY_OF_RANK.get(-raw[1])):
            return False
    return set(best) <= set(project)


def plans(engine, postgres: bool, senders: list[str], month: Month) -> dict[str, list[str]]:
    """The plan of the project's statement (as it runs) and of the raw one, with 1,000 real addresses bound."""
    addresses = sorted({a.lower() for a in senders})
    out = {}
    with engine.connect() as conn:
        lookup = _compiled_lookup(conn.dialect, StageRules())
        cursor = conn.connection.cursor()
        if postgres:
            project = {**lookup.constants, "addresses": addresses, "first_day": month.first_day,
                       "last_day": month.last_day}
            raw = {"addresses": addresses, "first": month.first_day, "last": month.last_day}
            for name, sql, values in (("project", lookup.sql, project), ("raw", RAW_POSTGRES, raw)):
                cursor.execute("EXPLAIN " + sql, values)
                out[name] = [row[0].strip() for row in cursor.fetchall()]
        else:
            values = {**lookup.constants, "addresses": json.dumps(addresses),
                      "first_day": month.first_day.isoformat(), "last_day": month.last_day.isoformat()}
            cursor.execute("EXPLAIN QUERY PLAN " + lookup.sql, tuple(values[k] for k in lookup.order))
            out["project"] = [row[3] for row in cursor.fetchall()]
            cursor.execute("EXPLAIN QUERY PLAN " + RAW_SQLITE, (json.dumps(addresses), values["first_day"],
                                                                values["last_day"]))
            out["raw"] = [row[3] for row in cursor.fetchall()]
        cursor.close()
    return out


def probes_only(plan: list[str]) -> bool:
    """Every access to contacts and deals is an index search, none a scan of the table or of an index. (The
    organisation's few users, mailboxes and aliases may be read whole: PostgreSQL hashes them once per statement
    when that is cheaper than probing their indexes.)"""
    text = "\n".join(plan)
    scans = ("SCAN c ", "SCAN c\n", "SCAN contacts", "SCAN d ", "SCAN d\n", "SCAN deals", "Seq Scan on contacts",
             "Seq Scan on deals", "Bitmap Heap Scan on contacts", "Bitmap Heap Scan on deals")
    return not any(s in text + "\n" for s in scans)


ORDERS = list(itertools.permutations(("project", "raw", "raw_sorted")))


def measure(url: str) -> dict:
    """Interleaved rounds of the project and the raw statement on the same addresses (each round in another
    order of the three); medians of each."""
    engine = create_db_engine(url)
    postgres = engine.dialect.name == "postgresql"
    rules = StageRules()
    month = Month.containing(AS_OF, TZ)
    timings: dict[str, list[float]] = {}
    found = 0
    agree = True
    raw_connection = engine.raw_connection()
    try:
        sets = sender_sets(ROUNDS + WARM_UP)
        # The look-up runs in `serve` (the sync pipeline, the label runs), with serve's interpreter settings: without
        # them a young collection of the process's ~100k objects lands in most rounds, on either side.
        tune_for_serving()
        for index, senders in enumerate(sets):
            elapsed = {}
            for which in ORDERS[index % len(ORDERS)]:
                with Session(engine) as session:
                    started, cpu = time.perf_counter(), time.thread_time()
                    if which == "project":
                        result = categorize_senders(session, senders, at=AS_OF, tz=TZ, rules=rules)
                    else:
                        rows = raw_lookup(raw_connection.driver_connection, postgres, senders, month,
                                          in_index_order=which == "raw_sorted")
                    elapsed[which] = ((time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000)
                if postgres and which != "project":
                    raw_connection.driver_connection.rollback()  # end its transaction, as the session does
                if which == "raw":
                    raw_rows = rows
            agree = agree and same_answer(result, raw_rows)
            if index >= WARM_UP:  # the first rounds warm the caches
                for which, (wall, cpu) in elapsed.items():
                    timings.setdefault(which, []).append(wall)
                    timings.setdefault(f"{which}_cpu", []).append(cpu)
                found += sum(1 for r in result.values() if r.is_contact)
        plan = plans(engine, postgres, sets[0], month)
    finally:
        raw_connection.close()
        engine.dispose()
    medians = {name: median(values) for name, values in timings.items()}
    return {"median": medians["project"], "p95": percentile(timings["project"], 95),
            "contacts_found": found / ROUNDS,
            "raw_median": medians["raw"], "raw_p95": percentile(timings["raw"], 95),
            "ratio": medians["project"] / medians["raw"],
            "raw_sorted_median": medians["raw_sorted"],
            "ratio_sorted": medians["project"] / medians["raw_sorted"],
            # In-process SQLite: the thread's CPU time is the same work without the neighbours' preemption.
            "ratio_cpu": medians["project_cpu"] / medians["raw_cpu"],
            "same_answer": agree, "plan": plan,
            "probes_only": probes_only(plan["project"]) and probes_only(plan["raw"])}


def backend_figures(prefix: str, measured: dict) -> dict:
    """The keys both databases report, from one `measure`."""
    return {
        f"{prefix}_ms_per_1000_senders": round(measured["median"], 2),
        f"{prefix}_p95_ms": round(measured["p95"], 2),
        f"{prefix}_raw_ms_per_1000_senders": round(measured["raw_median"], 2),
        f"{prefix}_raw_p95_ms": round(measured["raw_p95"], 2),
        f"{prefix}_raw_sorted_ms_per_1000_senders": round(measured["raw_sorted_median"], 2),
        f"{prefix}_project_over_raw_sorted": round(measured["ratio_sorted"], 3),
        f"{prefix}_same_answer": measured["same_answer"],
        f"{prefix}_plan": measured["plan"]["project"],
        f"{prefix}_raw_plan": measured["plan"]["raw"],
        f"{prefix}_index_probes_only": measured["probes_only"],
    }


def main() -> None:
    figures: dict = {"contacts": CONTACTS, "deals": DEALS, "senders": SENDERS, "rounds": ROUNDS,
                     "warm_up_rounds": WARM_UP}
    sqlite = measure(sqlite_url())
    figures.update(backend_figures("sqlite", sqlite))
    figures["project_over_raw"] = round(sqlite["ratio"], 3)
    figures["sqlite_project_over_raw_cpu"] = round(sqlite["ratio_cpu"], 3)
    figures["contacts_found_per_1000"] = round(sqlite["contacts_found"], 1)
    pg = postgres_url()
    if pg:
        postgres = measure(pg)
        figures.update(backend_figures("postgres", postgres))
        figures["postgres_project_over_raw"] = round(postgres["ratio"], 3)
    else:
        figures["postgres_ms_per_1000_senders"] = None
    figures["target_ms"] = 50
    figures["target_project_over_raw"] = 1.2
    emit("categories", figures)


if __name__ == "__main__":
    main()
