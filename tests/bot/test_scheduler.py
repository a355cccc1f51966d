"""The scheduler keeps the cadence the settings promise: a sync every SYNC_INTERVAL_SECONDS and a label run
every LABEL_INTERVAL_SECONDS, whether a run is shorter or longer than its interval, never two runs of one
mailbox at once. Short intervals stand in for the defaults; Gmail's side is observed on the emulator (every
run starts with one `history.list`), the label runs in the database (`last_label_run_at`, what /gmail status
shows).

The scheduler runs on a clock the test steps (`Jobs(clock=…)`): its dispatch step is called every tick, and a run
that makes Gmail calls holds its worker until the clock has moved on by the Gmail latency. So the cadence is a
property of the code, not of how loaded the machine is; the real HTTP calls to the emulator still happen, in the
frozen instant. Tolerances stay wide (mean within ±35%, no gap of 2.5 intervals or more): the bug being fixed
doubled every interval, which the mean catches.

The test used to fail now and then on a loaded machine (gaps of 2-6 intervals, or a mean far off): a worker whose
moment had come still counted as waiting for the clock until its thread was scheduled again, so `settle` let the
clock run on, tick after tick, while that run had not ended. Only a worker waiting for a moment still to come is
blocked now (`SteppedClock.blocked`). Not the cause: the wall clock read by the lease checks (`fence`) and by
`quiet_run`/`is_watched`; they compare with leases 120 s long and a watch this test never makes."""
from __future__ import annotations

import statistics
import threading
import time
from datetime import datetime, timedelta

import pytest

from crm_store.leases import Job
from crm_store.models import utcnow
from tests.support.alerts import CONTACTS, DEALS

TICK = 0.05  # seconds of the stepped clock between two dispatch steps


class SteppedClock:
    """A clock that moves only when the test says; workers can wait for a moment of it."""

    def __init__(self, start: datetime):
        self._now = start
        self._moved = threading.Condition()
        self._waits: list[datetime] = []  # the moments workers wait for

    def __call__(self) -> datetime:
        with self._moved:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._now += timedelta(seconds=seconds)
            self._moved.notify_all()

    def wait_until(self, moment: datetime) -> None:
        with self._moved:
            self._waits.append(moment)
            try:
                assert self._moved.wait_for(lambda: self._now >= moment, timeout=60), "the test stopped the clock"
            finally:
                self._waits.remove(moment)

    @property
    def blocked(self) -> int:
        """Workers waiting for a moment still to come. One whose moment has come is not blocked, though it may not
        have run yet: a loaded machine can leave a woken thread unscheduled for a long while, and counting it as
        waiting let the test step the clock on by seconds before that worker's run ended (a gap of several
        intervals in the cadence, the test's flakiness)."""
        with self._moved:
            return sum(1 for moment in self._waits if moment > self._now)


def settle(jobs, clock: SteppedClock) -> None:
    """Wait (real time) until every mailbox in flight either finished or waits for a moment the clock has not
    reached."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        blocked = clock.blocked
        if jobs.in_flight() == blocked and (blocked or jobs.idle()):
            return
        time.sleep(0.002)
    raise AssertionError("the scheduler did not settle")


def observe(stack, seconds: float, latency: float) -> tuple[list[float], list[float], list[tuple[float, float]]]:
    """Step the scheduler's clock for `seconds`; the clock times (seconds from the start) at which a run or a poll
    asked Gmail for news, at which label runs started, and the spans Gmail calls held the mailbox."""
    jobs = stack.services.jobs
    start = utcnow()
    clock = SteppedClock(start)
    jobs.clock = clock
    since = lambda moment: (moment - start).total_seconds()  # noqa: E731
    runs: list[float] = []
    label_runs: list[float] = []
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    run, poll = jobs.runner.run, jobs.sweep.poll

    def timed_run(account_id, job, **kwargs):
        began = clock()
        outcome = run(account_id, job, **kwargs)
        with lock:
            if job is Job.LABELS:
                label_runs.append(since(began))
            if outcome.synced:
                runs.append(since(began))
                spans.append((since(began), since(began) + latency))
        if outcome.synced:
            clock.wait_until(began + timedelta(seconds=latency))  # Gmail's answer comes `latency` later
        return outcome

    def timed_poll(targets, on_batch=None):
        began = clock()
        with lock:
            runs.append(since(began))
            spans.append((since(began), since(began) + latency))
        clock.wait_until(began + timedelta(seconds=latency))  # the answers (and the leases' release) come later
        return poll(targets, on_batch=on_batch)

    jobs.runner.run, jobs.sweep.poll = timed_run, timed_poll
    try:
        while since(clock()) < seconds:
            jobs.dispatch()
            settle(jobs, clock)
            clock.advance(TICK)
            settle(jobs, clock)
    finally:
        clock.advance(3600)  # lets every waiting worker finish
        jobs.stop()
    return sorted(runs), sorted(label_runs), sorted(spans)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:])]


def assert_cadence(times: list[float], expected: float, what: str) -> None:
    between = gaps(times)
    assert len(between) >= 3, f"{what}: only {len(times)} runs"
    mean = statistics.mean(between)
    assert 0.65 * expected <= mean <= 1.35 * expected, f"{what}: mean gap {mean:.2f}s, expected {expected}s"
    assert max(between) < 2.5 * expected, f"{what}: a gap of {max(between):.2f}s, expected {expected}s"


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
    runs, label_runs, spans = observe(live, seconds, latency)
    # Every run syncs: one starts every sync interval, or right after the previous one when a run is longer.
    assert_cadence(runs, max(sync, latency), "sync")
    assert_cadence(label_runs, labels, "labels")
    # Never two runs of the mailbox at once: each asks Gmail only once the previous one's answer came.
    assert all(later[0] >= earlier[1] - 1e-6 for earlier, later in zip(spans, spans[1:])), spans
