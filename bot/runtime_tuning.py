"""The interpreter's settings for a long-running `serve` (not for the tests' in-process servers).

The garbage collector. With CPython's default young-generation threshold (700 allocations), the objects of a
polling sweep (hundreds of requests and answers, alive for the half second the sweep takes) are collected young
many times while still in use, so they are promoted, and the old generation grows fast enough to need a full
collection every few seconds: ~100 ms each with a few hundred thousand objects, during which nothing else runs,
Slack acks included (benchmarks/slack_ack.py: ack p99 73–156 ms). With 20,000 most of them are gone before the
first young collection; young collections take a few milliseconds and full ones become rare (ack p99 ~30 ms).
Cycles are still collected: only how often changes.

What exists once the server has started (modules, the Bolt app, mappers, the discovery document: ~180k of the
~200k objects the collector tracks) lives as long as the process: `gc.freeze()` moves it out of the collector's
sight, so a full collection, when one comes, walks only what was made since (alerts_e2e: pauses of 90-240 ms every
~3 s fell to 20-45 ms; slack_ack, machine shared: ack p99 60.1 / 51.4 ms with it, 88.8 / 74.0 without).

The switch interval. A thread that wakes for a Slack request (waitress's loop accepting and reading it, then a
worker running Bolt: three wake-ups before the ack is written) waits for the interpreter lock until the thread
holding it has run for the switch interval; with background work running (a sweep parsing Gmail's answers, a
sync storing messages) that wait is paid at every wake-up. 1 ms instead of CPython's 5 ms bounds it lower, for a
few more switches a second (slack_ack, with sweep batches taking turns: ack p99 18.2–18.7 ms in three runs,
24.7–31.3 ms with 5 ms).
"""
from __future__ import annotations

import gc
import sys

YOUNG_GENERATION_THRESHOLD = 20_000
SWITCH_INTERVAL_SECONDS = 0.001


def tune_for_serving() -> None:
    """Once the server has started."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
