"""Where a push run's CPU goes, one run at a time (a tool beside `capacity.cpu_over_minimal`, not a benchmark).

The capacity benchmark measures `serve`'s CPU per alert under load, where thread hand-overs and waits for the
interpreter lock add to every step. This runs the mailbox run that a push starts (`MailboxRunner.run`: open, sync,
post, the alert's result) N times in a row on one thread, against the in-process emulators with no latency, one
new contact email each, and splits the thread's CPU (time.thread_time, so the emulators' threads are not counted)
into the calls the minimal script makes too (Gmail's history.list and metadata batch, Slack's chat.postMessage,
with the libraries' own work) and the rest, which is the product's own: its statements, sessions and everything
between them.

    python -m benchmarks._push_run_cost [N]      (300 by default; SQLite in a temporary file)

Prints a JSON line: ms of CPU per run, per part, and `run_over_calls` (the run's CPU over the shared calls').
"""
from __future__ import annotations

import functools
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

SHARED = "calls: "


def _timed(owner, name: str, key: str, spent: Counter) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[key] += time.thread_time() - started

    setattr(owner, name, timed)


def _instrument(spent: Counter) -> None:
    import bot.notifier
    import gmail.alert_results
    import gmail.client
    import gmail.followups
    import gmail.magnet
    import gmail.sync

    parts = [
        (gmail.client.MailboxClient, "get_metadata", SHARED + "Gmail metadata /batch"),
        (gmail.client.MailboxClient, "_execute", SHARED + "Gmail history.list"),
        (bot.notifier.SlackNotifier, "_post_once", SHARED + "Slack chat.postMessage"),
        (gmail.sync.MailboxSync, "open", "open: the mailbox read, credentials, client"),
        (gmail.sync, "store_new", "sync: the messages' INSERT"),
        (gmail.sync, "categorize_senders", "sync: the senders' categories"),
        (gmail.magnet, "read_senders", "sync: the contacts' facts and mutes"),
        (gmail.followups.FollowupTracker, "record", "sync: follow-ups"),
        (gmail.sync.MailboxSync, "_finish_in", "sync: the cursor's UPDATE"),
        (gmail.magnet.MailMagnet, "_still_ours", "the look before the post"),
        (bot.notifier, "alert_blocks", "the alert's blocks"),
        (gmail.alert_results, "write_alert_results", "the alert's result"),
    ]
    for owner, name, key in parts:
        _timed(owner, name, key, spent)


def measure(runs: int) -> dict:
    from crm_store.leases import Job
    from testsupport.stack import start_stack
    from tests.support.alerts import CONTACTS, DEALS

    spent: Counter = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        live = start_stack(f"sqlite:///{Path(tmp) / 'cost.db'}", scheduler=True, start_scheduler=False)
        try:
            live.add_rep()
            live.import_crm(CONTACTS, DEALS)
            live.connect_with_magnet()
            live.services.jobs.wait_for_requested()
            live.services.jobs.nudger.min_interval = timedelta(days=1)  # the follow-up check: not per run here
            runner, account_id = live.services.jobs.runner, live.account_id()
            _instrument(spent)
            for n in range(20):  # warm: caches, compiled statements, connections
                live.mail("jane@acme.example", f"Warm-up {n}")
                runner.run(account_id, Job.SYNC)
            spent.clear()
            total = 0.0
            for n in range(runs):
                live.mail("jane@acme.example", f"Hello {n}")
                started = time.thread_time()
                runner.run(account_id, Job.SYNC)
                total += time.thread_time() - started
        finally:
            live.stop()
    shared = sum(seconds for key, seconds in spent.items() if key.startswith(SHARED))
    ms = lambda seconds: round(1000 * seconds / runs, 3)  # noqa: E731
    return {"runs": runs, "run_cpu_ms": ms(total), "shared_calls_cpu_ms": ms(shared),
            "product_cpu_ms": ms(total - shared), "run_over_calls": round(total / shared, 2) if shared else None,
            "parts_cpu_ms": {key: ms(seconds) for key, seconds in spent.most_common()},
            "unattributed_cpu_ms": ms(total - sum(spent.values()))}


if __name__ == "__main__":
    print(json.dumps({"push_run_cost": measure(int(sys.argv[1]) if len(sys.argv) > 1 else 300)}))
