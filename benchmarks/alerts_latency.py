"""alerts.*: from a message landing in Gmail to the alert reaching Slack (SPEC §8).

- push mode: Gmail's watch pushes to /gmail/push, the bot syncs that mailbox at once;
- poll mode: the scheduler's sync cycle; the figure is the time from the poll that found the
  message (its history.list call) to the alert, i.e. the latency minus the wait for the next poll.
Times come from the emulators' own records of each call (one clock, this process).

Push: 1,000 samples, so the p99 is a p99. Poll: each sample waits for the next poll (the interval is at
least a second), so 100 samples, and the figure reported as `poll_overhead_p99_ms` is their maximum
(`poll_overhead_p99_is_max`), as SPEC §8 asks of a p99 from fewer than 1,000 samples.
"""
from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from benchmarks.common import emit, median, percentile
from benchmarks.serve_process import CONTACTS, DEALS
from testsupport.stack import REP_GMAIL, start_stack

PUSH_SAMPLES = 1_000
POLL_SAMPLES = 100
TOPIC = "projects/mailmagnet-bench/topics/gmail"
TOKEN = "bench-push-token"


def alert_times(stack) -> list[float]:
    # Alerts only: the DMs ("Connected as…") carry metadata of their own.
    return [c.time for c in stack.slack.calls_to("chat.postMessage")
            if c.ok and "mailmagnet_alert" in json.dumps(c.params.get("metadata") or {})]


def wait_for_alerts(stack, count: int, timeout: float = 30.0) -> list[float]:
    return stack.slack.wait_for(lambda: (times := alert_times(stack)) and len(times) >= count and times,
                                timeout=timeout)


def history_call_times(stack) -> list[float]:
    return [c.time for c in stack.gmail.calls if c.method == "gmail.users.history.list" and c.user == REP_GMAIL]


def measure_push(tmp: Path) -> list[float]:
    stack = start_stack(f"sqlite:///{tmp / 'push.db'}", scheduler=True, gmail_pubsub_topic=TOPIC,
                        pubsub_verification_token=TOKEN, sync_interval_seconds=3600, label_interval_seconds=3600)
    try:
        stack.gmail.create_push_subscription(TOPIC, f"{stack.server.url}/gmail/push", verification_token=TOKEN)
        stack.add_rep()
        stack.import_crm(CONTACTS, DEALS)
        stack.connect_with_push()
        latencies = []
        for i in range(PUSH_SAMPLES):
            sent = time.time()
            stack.mail("Jane <jane@acme.example>", f"Push {i}")
            received = wait_for_alerts(stack, i + 1)[i]
            latencies.append((received - sent) * 1000)
            time.sleep(random.uniform(0.01, 0.05))
        return latencies
    finally:
        stack.stop()


def measure_poll(tmp: Path) -> list[float]:
    stack = start_stack(f"sqlite:///{tmp / 'poll.db'}", scheduler=True, sync_interval_seconds=1,
                        label_interval_seconds=3600)
    try:
        stack.add_rep()
        stack.import_crm(CONTACTS, DEALS)
        stack.connect()
        stack.update_mailbox(magnet=True)
        time.sleep(1.5)  # first poll: the cursor
        overheads = []
        for i in range(POLL_SAMPLES):
            time.sleep(random.uniform(0, 1.0))
            sent = time.time()
            stack.mail("Jane <jane@acme.example>", f"Poll {i}")
            received = wait_for_alerts(stack, i + 1)[i]
            poll = min(t for t in history_call_times(stack) if t >= sent)
            overheads.append((received - poll) * 1000)
        return overheads
    finally:
        stack.stop()


def main() -> None:
    random.seed(11)
    with tempfile.TemporaryDirectory() as tmp:
        push = measure_push(Path(tmp))
        poll = measure_poll(Path(tmp))
    emit("alerts", {
        "push_samples": len(push),
        "push_latency_p50_ms": round(median(push), 1),
        "push_latency_p99_ms": round(percentile(push, 99), 1),
        "poll_samples": len(poll),
        "poll_overhead_p50_ms": round(median(poll), 1),
        "poll_overhead_p99_ms": round(percentile(poll, 99) if len(poll) >= 1000 else max(poll), 1),
        "poll_overhead_p99_is_max": len(poll) < 1000,
        "target_push_latency_p99_ms": 1000,
        "target_poll_overhead_p99_ms": 500,
    })


if __name__ == "__main__":
    main()
