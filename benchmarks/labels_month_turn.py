"""labels.month_turn: the first label run of a new month over 1,000 mailboxes with 2,000 filed messages each.

A new month changes "Deals Closing This Month" for every contact at once, so the first label run of the month
must move, in every mailbox, the filed mail of contacts whose category changed with the calendar: at least one
`batchModify` per (old label, new label) pair that has messages (or `modify` per message when that is cheaper:
10 or fewer), besides the run's `history.list`. This measures what the product's label job does then.

Data (SQLite): the categories data set (200k contacts / 600k deals, closing dates spread over three years) as
CRM; 1,000 connected mailboxes (`testsupport.mailboxes.seed_mailboxes`, tokens from the Gmail emulator), labels on,
their three labels created and cached, last labelled in the previous month; 2,000 filed messages per mailbox
(400 contacts with a category x 5 messages, filed under their category of the previous month), seeded in bulk
straight into `mailbox_messages` (2,000,000 rows). The first SAMPLE mailboxes also have those 2,000 messages
in the Gmail emulator, under those labels, so the labels Gmail ends with are checked; for the others the
emulator counts the calls and their quota units but holds no messages (batchModify skips unknown ids, as
Gmail does).

Then the month turns (the previous month recorded in `last_label_month`, the clock is now) and the label job
runs for every mailbox once (`run-once labels`: leases, sync, filing; 8 workers), then once more with nothing
changed. Figures: quota units (all mailboxes) against the units of the calls that must be made (computed from
the data: the categories before and after, per mailbox and pair), seconds, messages moved, DB time summed over
the workers (`db_cpu_seconds`: the threads' CPU inside SQLite calls, the database's own work; `db_seconds`: wall
time inside them, which adds the waits for SQLite's one writer and for the GIL), the statements with the most
DB CPU, and, beside it, the same look-up done the simplest way: one hand-written SQL statement per mailbox
returning the messages that must move (old and new category), on the same data, in the same run (before the
month turn is applied), one thread.
"""
from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from benchmarks import _bulk
from benchmarks.common import emit
from crm_store.categories import Category, LabelNames, Month, StageRules, categorize_senders
from crm_store.db import session_scope
from crm_store.models import GmailAccount, utcnow
from gmail.tokens import TokenCipher
from testsupport.mailboxes import seed_mailboxes
from testsupport.stack import GOOGLE_CLIENT_ID, start_stack

MAILBOXES = int(os.environ.get("BENCH_MONTH_TURN_MAILBOXES", 1_000))  # fewer only to look into it
SENDERS_PER_MAILBOX = 400
MESSAGES_PER_SENDER = 5
SAMPLE = 5  # mailboxes whose messages are in the Gmail emulator too
LABELS = LabelNames()
# The simplest way to find what must move in one mailbox: each filed message's sender's category now, by hand,
# where it differs from the label the message is under (a sender with no category keeps its mail where it is).
RAW_MOVES = """
SELECT gmail_id, filed_category, category FROM (
  SELECT m.gmail_id, m.filed_category,
         CASE (SELECT max(CASE lower(d.stage) WHEN 'closed won' THEN 1 WHEN 'closed lost' THEN 0
                                              WHEN 'closed-lost to competition' THEN 0
                          ELSE CASE WHEN d.closing_date BETWEEN ?1 AND ?2 THEN 3 ELSE 2 END END)
                 FROM deals AS d WHERE d.contact_id = c.id)
              WHEN 3 THEN 'closing_this_month' WHEN 2 THEN 'open_deals' WHEN 1 THEN 'customers' END AS category
    FROM mailbox_messages AS m JOIN contacts AS c ON c.email = m.from_address
   WHERE m.account_id = ?3 AND m.filed_category IS NOT NULL)
 WHERE category <> filed_category
"""


def previous_month(now: datetime) -> datetime:
    first = now.replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=15)


def categorized_pool(engine, at: datetime) -> dict[str, Category]:
    """Every contact's primary address with a category at `at` (UTC), by the product's own look-up."""
    with engine.connect() as conn:
        addresses = [row[0] for row in conn.exec_driver_sql("SELECT email FROM contacts")]
    pool: dict[str, Category] = {}
    with session_scope(engine) as session:
        for start in range(0, len(addresses), 5_000):
            found = categorize_senders(session, addresses[start:start + 5_000], at=at, tz="UTC", rules=StageRules())
            pool.update((a, f.category) for a, f in found.items() if f.category is not None)
    return pool


def seed_messages(stack, engine, account_ids: list[int], pool: dict[str, Category], filed_at: datetime):
    """2,000 filed messages per mailbox, straight into the table; the SAMPLE first also in the emulator."""
    rng = random.Random(2026)
    addresses = sorted(pool)
    stamp = filed_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    expected_by_sample: dict[str, dict[str, str]] = {}

    def rows():
        for index, account_id in enumerate(account_ids):
            senders = rng.sample(addresses, SENDERS_PER_MAILBOX)
            address_of_mailbox = f"rep{index}@gmail.example"
            if index < SAMPLE:
                specs = [{"sender": f"<{a}>", "to": address_of_mailbox, "subject": f"Filed {k}",
                          "label_ids": (LABELS.name_for(pool[a]),), "date": filed_at}
                         for a in senders for k in range(MESSAGES_PER_SENDER)]
                ids = stack.gmail.add_messages_bulk(address_of_mailbox, specs)
                expected_by_sample[address_of_mailbox] = {}
            else:
                ids = [f"{account_id:05x}{n:011x}" for n in range(len(senders) * MESSAGES_PER_SENDER)]
            n = 0
            for address in senders:
                for _ in range(MESSAGES_PER_SENDER):
                    if index < SAMPLE:
                        expected_by_sample[address_of_mailbox][ids[n]] = address
                    yield (account_id, ids[n], address, stamp, pool[address].value, stamp, 0, None)
                    n += 1

    count = _bulk.insert_rows(engine, "mailbox_messages",
                              ("account_id", "gmail_id", "from_address", "received_at", "filed_category",
                               "filed_at", "needs_filing", "in_inbox"), rows())
    return count, expected_by_sample


def prepare_mailboxes(stack, engine, account_ids: list[int], last_month_key: str) -> None:
    """As earlier label runs left them: labels created in Gmail and cached, last run in the previous month."""
    now = utcnow()
    table = GmailAccount.__table__
    with engine.begin() as conn:
        last_change = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM category_changes").scalar()
        for index, account_id in enumerate(account_ids):
            address = f"rep{index}@gmail.example"
            ids = {c.value: stack.gmail.label_id(address, LABELS.name_for(c))
                   or stack.gmail.create_label(address, LABELS.name_for(c)) for c in Category}
            conn.execute(table.update().where(table.c.id == account_id).values(
                label_ids=json.dumps(ids), label_ids_checked_at=now, last_label_month=last_month_key,
                last_category_change_id=last_change, history_id=stack.gmail.history_id(address)))


def raw_moves(engine, account_ids: list[int], month: Month) -> tuple[float, float, dict[int, Counter]]:
    """The simplest way: one statement per mailbox, one thread; wall and CPU seconds, the moves by (old, new)."""
    moves: dict[int, Counter] = {}
    raw = engine.raw_connection()
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        cursor = raw.cursor()
        for account_id in account_ids:
            cursor.execute(RAW_MOVES, (month.first_day.isoformat(), month.last_day.isoformat(), account_id))
            moves[account_id] = Counter((old, new) for _, old, new in cursor.fetchall())
    finally:
        raw.close()
    return time.perf_counter() - started, time.thread_time() - cpu, moves


def required_units(moves: dict[int, Counter]) -> int:
    """What the Gmail calls that must be made cost: per (old, new) pair, batchModify (50) or a modify per
    message when fewer than 10 (5 each); plus the run's history.list (2) per mailbox."""
    return sum(2 + sum(min(50, 5 * n) for n in pairs.values()) for pairs in moves.values())


def main() -> None:
    clock = _bulk.DbClock(by_statement=True)
    from bot import wiring
    real_create = wiring.create_db_engine
    wiring.create_db_engine = lambda url, **kw: clock.attach(real_create(url, **kw))
    now = utcnow()
    before = previous_month(now)
    with tempfile.TemporaryDirectory(dir=_bulk.categories.DATA_DIR) as tmp:
        url = _bulk.copy_crm(Path(tmp) / "month.db")
        stack = start_stack(url, scheduler=True, start_scheduler=False)
        try:
            engine = stack.engine
            workers = stack.settings.worker_concurrency
            started = time.perf_counter()
            cipher = TokenCipher(stack.settings.encryption_key_list)
            account_ids = seed_mailboxes(engine, cipher, stack.gmail, GOOGLE_CLIENT_ID, MAILBOXES, labels=True)
            pool = categorized_pool(engine, before)
            rows, expected = seed_messages(stack, engine, account_ids, pool, before)
            prepare_mailboxes(stack, engine, account_ids, before.strftime("%Y-%m"))
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
            seed_seconds = time.perf_counter() - started
            print(f"seeded {rows} rows in {seed_seconds:.0f}s", file=sys.stderr)

            month = Month.containing(now, stack.settings.default_timezone)
            raw_seconds, raw_cpu, moves = raw_moves(engine, account_ids, month)
            must_move = sum(sum(pairs.values()) for pairs in moves.values())
            pairs = sum(len(p) for p in moves.values())

            stack.gmail.reset_counters()
            clock.reset()
            started = time.perf_counter()
            outcomes = stack.run("labels")
            seconds = time.perf_counter() - started
            db_seconds, db_cpu, db_calls = clock.seconds, clock.cpu_seconds, clock.calls
            top = clock.top(8)
            units = stack.gmail.quota_units()
            by_method = Counter()
            calls = Counter()
            for call in stack.gmail.calls:
                by_method[call.method] += call.units
                calls[call.method] += 1
            moved = sum(o.refiled for o in outcomes)
            errors = [o.error for o in outcomes if o.error]

            stack.gmail.reset_counters()
            clock.reset()
            started = time.perf_counter()
            stack.run("labels")
            again_seconds, again_db, again_cpu = time.perf_counter() - started, clock.seconds, clock.cpu_seconds
            again_top = clock.top(5)
            again_units = stack.gmail.quota_units()

            # The sample mailboxes: Gmail holds each message under its contact's category of this month.
            current = {}
            with session_scope(engine) as session:
                for mailbox, messages in expected.items():
                    found = categorize_senders(session, set(messages.values()), at=now,
                                               tz=stack.settings.default_timezone, rules=StageRules())
                    current.update((a, f.category) for a, f in found.items())
            wrong = 0
            names = {LABELS.name_for(c) for c in Category}
            for mailbox, messages in expected.items():
                for gmail_id, address in messages.items():
                    if stack.gmail.label_names(mailbox, gmail_id) & names != {LABELS.name_for(current[address])}:
                        wrong += 1
        finally:
            stack.stop()
    emit("labels", {"month_turn": {
        "mailboxes": MAILBOXES,
        "filed_messages_per_mailbox": SENDERS_PER_MAILBOX * MESSAGES_PER_SENDER,
        "senders_per_mailbox": SENDERS_PER_MAILBOX,
        "mailbox_messages_rows": rows,
        "seed_seconds": round(seed_seconds, 1),
        "messages_that_must_move": must_move,
        "label_pairs_with_moves": pairs,
        "messages_moved": moved,
        "units": units,
        "units_by_method": dict(by_method),
        "calls_by_method": dict(calls),
        "required_units": required_units(moves),
        "units_over_required": round(units / required_units(moves), 3),
        "seconds": round(seconds, 2),
        "db_seconds": round(db_seconds, 2),
        "db_cpu_seconds": round(db_cpu, 2),
        "db_cpu_ms_per_mailbox": round(db_cpu * 1000 / MAILBOXES, 2),
        "db_calls": db_calls,
        "raw_moves_db_seconds": round(raw_seconds, 2),
        "db_cpu_over_raw_moves": round(db_cpu / raw_cpu, 2),
        "raw_moves_db_cpu_seconds": round(raw_cpu, 2),
        "errors": len(errors),
        "sample_mailboxes_checked": len(expected),
        "sample_messages_misfiled": wrong,
        "next_run_units": again_units,
        "next_run_seconds": round(again_seconds, 2),
        "next_run_db_seconds": round(again_db, 2),
        "next_run_db_cpu_seconds": round(again_cpu, 2),
        "workers": workers,
        "db_top_statements": top,
        "next_run_db_top_statements": again_top,
    }})


if __name__ == "__main__":
    main()
