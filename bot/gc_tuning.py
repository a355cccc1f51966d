"""The garbage collector's settings for a long-running `serve` (not for the tests' in-process servers).

With CPython's default young-generation threshold (700 allocations), the objects of a polling sweep (hundreds of
requests and answers, alive for the half second the sweep takes) are collected young many times while still in
use, so they are promoted, and the old generation grows fast enough to need a full collection every few seconds:
~100 ms each with a few hundred thousand objects, during which nothing else runs, Slack acks included
(benchmarks/slack_ack.py: ack p99 73–156 ms). With 20,000 most of them are gone before the first young
collection; young collections take a few milliseconds and full ones become rare (ack p99 ~30 ms). Cycles are
still collected: only how often changes.
"""
from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 20_000


def tune_for_serving() -> None:
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
