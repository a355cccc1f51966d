"""The scheduler keeps the cadence the settings promise: a sync every SYNC_INTERVAL_SECONDS and a label run
every LABEL_INTERVAL_SECONDS, whether a run is shorter or longer than its interval, never two runs of one
mailbox at once. Short intervals stand in for the defaults; Gmail's side is observed on the emulator (every
run starts with one `history.list`), the label runs in the database (`last_label_run_at`, what /gmail status
shows).

A cadence correctness test, not a performance one: tolerances are wide (mean within ±35%, no gap of 1.8
intervals or more), the bug being fixed doubled the interval."""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest

from crm_store.db import session_scope
from crm_store.models import GmailAccount
from tests.bot.test_alerts import CONTACTS, DEALS


def observe(stack, seconds: float) -> tuple[list[float], list[float]]:
    """Start the real scheduler for `seconds`; the start times of every run (any run syncs) and of label runs."""
    jobs = stack.services.jobs
    account_id = stack.account_id()
    label_runs: list = []
    started = time.time()
    jobs.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            with session_scope(stack.engine) as session:
                value = session.get(GmailAccount, account_id).last_label_run_at
            if value is not None and (not label_runs or value != label_runs[-1]):
                label_runs.append(value)
            time.sleep(0.02)
    finally:
        jobs.stop()
    runs = sorted(c.time for c in stack.gmail.calls
                  if c.method == "gmail.users.history.list" and c.time >= started)
    return runs, [moment.timestamp() for moment in label_runs if moment.timestamp() >= started]


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:])]


def assert_cadence(times: list[float], expected: float, what: str) -> None:
    between = gaps(times)
    assert len(between) >= 3, f"{what}: only {len(times)} runs"
    mean = statistics.mean(between)
    assert 0.65 * expected <= mean <= 1.35 * expected, f"{what}: mean gap {mean:.2f}s, expected {expected}s"
    assert max(between) < 1.8 * expected, f"{what}: a gap of {max(between):.2f}s, expected {expected}s"


@pytest.mark.parametrize("sync, labels, latency, seconds", [
    (0.4, 1.2, 0, 6.0),    # runs much shorter than both intervals
    (0.3, 1.5, 0.6, 7.5),  # a run (0.6 s of Gmail latency) longer than the sync interval, shorter than labels'
], ids=["runs-shorter", "runs-longer-than-sync"])
def test_runs_keep_the_configured_cadence(live, sync, labels, latency, seconds):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.run("labels")  # backfill and labels done: what follows is the steady state
    live.update_mailbox(next_sync_at=None, next_label_at=None)
    jobs = live.services.jobs
    jobs.sync_interval = timedelta(seconds=sync)
    jobs.label_interval = timedelta(seconds=labels)
    if latency:
        live.gmail.set_latency(int(latency * 1000), "gmail.users.history.list")
    runs, label_runs = observe(live, seconds)
    # Every run syncs: one starts every sync interval, or right after the previous one when a run is longer.
    assert_cadence(runs, max(sync, latency), "sync")
    assert_cadence(label_runs, labels, "labels")
    if latency:
        # Never two runs of the mailbox at once: each history.list waits for the previous run to finish.
        assert min(gaps(runs)) >= 0.95 * latency
