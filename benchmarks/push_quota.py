"""Gmail quota in push mode (SPEC §8), counted by the emulator with Google's costs:

- sync.units_per_new_message_trickle: 100 messages arriving one at a time, each followed by its own
  Pub/Sub push, 10% of them from CRM contacts (alerts posted), labels on;
- gmail.units_per_idle_mailbox_day: one mailbox with push on and no mail for a day, with the default
  intervals. The day is compressed: the real scheduler runs every job when the product itself said it is
  due (`next_sync_at`, `next_label_at`, the watch's renewal), and the clock is moved to that moment by
  shifting the mailbox's stored times back; every call it makes is counted.
"""
from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from benchmarks.common import emit
from benchmarks.serve_process import CONTACTS, DEALS
from crm_store.db import session_scope
from crm_store.models import GmailAccount
from testsupport.stack import REP_GMAIL, start_stack

TOPIC = "projects/mailmagnet-bench/topics/gmail"
TOKEN = "bench-push-token"
TRICKLE = 100
DAY = timedelta(days=1)
SHIFTED = ("next_sync_at", "next_label_at", "watch_expires_at", "watch_retry_at", "last_sync_at",
           "last_label_run_at", "label_ids_checked_at", "labels_enabled_at", "magnet_enabled_at", "connected_at")


def pushing_stack(tmp: Path, name: str, **settings):
    stack = start_stack(f"sqlite:///{tmp / name}", scheduler=True, gmail_pubsub_topic=TOPIC,
                        pubsub_verification_token=TOKEN, **settings)
    stack.gmail.create_push_subscription(TOPIC, f"{stack.server.url}/gmail/push", verification_token=TOKEN)
    stack.add_rep()
    stack.import_crm(CONTACTS, DEALS)
    return stack


def settled(stack) -> bool:
    """Nothing running, nothing requested, nothing pushed and not yet synced."""
    with session_scope(stack.engine) as session:
        account = session.exec(sa.select(GmailAccount)).scalars().one()
        cursor = int(account.history_id or 0)
        busy = account.lease_owner is not None or account.sync_requested
    return not busy and cursor >= int(stack.gmail.history_id(REP_GMAIL))


def labels_checked(stack) -> bool:
    with session_scope(stack.engine) as session:
        account = session.exec(sa.select(GmailAccount)).scalars().one()
        return account.label_ids_checked_at is not None


def trickle(tmp: Path) -> dict:
    stack = pushing_stack(tmp, "trickle.db", sync_interval_seconds=3600, label_interval_seconds=3600)
    try:
        stack.connect_with_push()
        stack.update_mailbox(labels=True)
        stack.services.jobs.request_sync(stack.account_id())
        # The label run due at once (labels just switched on: it creates the three labels) is set-up, not the
        # cost of new mail; it must be over before counting starts, or it lands in the trickle at a random
        # moment. With LABEL_INTERVAL 3600 no other label run falls in the window: this is the sync's cost
        # per message (alerts and labels share it), filing is counted by labels.*.
        stack.slack.wait_for(lambda: labels_checked(stack) and settled(stack), timeout=30)
        stack.gmail.reset_counters()
        for i in range(TRICKLE):
            sender = "Jane <jane@acme.example>" if i % 10 == 0 else f"someone{i}@elsewhere.example"
            stack.mail(sender, f"Trickle {i}")
            stack.slack.wait_for(lambda: settled(stack), timeout=30)
        units = stack.gmail.quota_units(REP_GMAIL)
        by_method: dict[str, int] = {}
        for call in stack.gmail.calls:
            by_method[call.method] = by_method.get(call.method, 0) + call.units
        alerts = len([c for c in stack.slack.calls_to("chat.postMessage") if c.ok and "mailmagnet_alert" in json.dumps(c.params.get("metadata") or {})])
    finally:
        stack.stop()
    return {"units_per_new_message_trickle": round(units / TRICKLE, 3), "trickle_messages": TRICKLE,
            "trickle_units_by_method": by_method, "trickle_alerts": alerts, "target_units_per_new_message_trickle": 7.2}


def shift_clock(stack, by: timedelta) -> None:
    """Move the mailbox `by` into the future: every time it stores goes back by as much."""
    with session_scope(stack.engine) as session:
        account = session.exec(sa.select(GmailAccount)).scalars().one()
        for name in SHIFTED:
            value = getattr(account, name)
            if value is not None:
                setattr(account, name, value - by)
        session.add(account)


def next_event(stack) -> datetime:
    with session_scope(stack.engine) as session:
        account = session.exec(sa.select(GmailAccount)).scalars().one()
        # The watch is renewed by the first sync after its renewal falls due: the product's own beats decide.
        times = [t for t in (account.next_sync_at, account.next_label_at) if t is not None]
    times = [t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t for t in times]
    return min(times)


def idle_day(tmp: Path) -> dict:
    stack = pushing_stack(tmp, "idle.db")  # the default intervals
    try:
        stack.connect_with_push()
        stack.update_mailbox(labels=True)
        stack.services.jobs.request_sync(stack.account_id())
        stack.slack.wait_for(lambda: settled(stack), timeout=30)
        time.sleep(1.5)  # the label run due at once (labels just switched on) and the backfill
        stack.slack.wait_for(lambda: settled(stack), timeout=30)
        stack.gmail.reset_counters()
        simulated = timedelta(0)
        runs = 0
        while simulated < DAY:
            wait = max(timedelta(0), next_event(stack) - datetime.now(timezone.utc)) + timedelta(milliseconds=50)
            if simulated + wait > DAY:
                break
            shift_clock(stack, wait)
            simulated += wait
            stack.services.jobs._wake.set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the job that fell due runs, and hands the mailbox back
                time.sleep(0.05)
                if next_event(stack) > datetime.now(timezone.utc) and settled(stack):
                    break
            runs += 1
        units = stack.gmail.quota_units(REP_GMAIL)
        by_method: dict[str, int] = {}
        for call in stack.gmail.calls:
            by_method[call.method] = by_method.get(call.method, 0) + call.units
    finally:
        stack.stop()
    return {"units_per_idle_mailbox_day": units, "idle_day_units_by_method": by_method,
            "idle_day_jobs_run": runs, "idle_day_simulated_hours": round(simulated.total_seconds() / 3600, 2),
            "target_units_per_idle_mailbox_day": 300}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mm-bench-push-") as tmp:
        sync = trickle(Path(tmp))
        gmail = idle_day(Path(tmp))
    emit("sync", sync)
    emit("gmail", gmail)


if __name__ == "__main__":
    main()
