"""The garbage collector's settings for a long-running `serve` (not for the tests' in-process servers).

With CPython's default young-generation threshold (700 allocations), the objects of a polling sweep (hundreds of
requests and answers, alive for the half second the sweep takes) are collected young many times while still in
use, so they are promoted, and the old generation grows fast enough to need a full collection every few seconds:
~100 ms each with a few hundred thousand objects, during which nothing else runs, Slack acks included
(benchmarks/slack_ack.py: ack p99 73–156 ms). With 20,000 most of them are gone before the first young
collection; young collections take a few milliseconds and full ones become rare (ack p99 ~30 ms). Cycles are
still collected: only how often changes.

What exists once the server has started (modules, the Bolt app, mappers, the discovery document: ~180k of the
~200k objects the collector tracks) lives as long as the process: `gc.freeze()` moves it out of the collector's
sight, so a full collection, when one comes, walks only what was made since (alerts_e2e: pauses of 90-240 ms every
~3 s fell to 20-45 ms; slack_ack, machine shared: ack p99 60.1 / 51.4 ms with it, 88.8 / 74.0 without).
"""
from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 20_000


def tune_for_serving() -> None:
    """Once the server has started."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
