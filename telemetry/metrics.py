"""Prometheus metrics served on /metrics (text format).

Counters and histograms live in prometheus_client's default registry and are updated where things happen.
Gauges of shared state (pushes waiting, leased mailboxes) are read when /metrics is scraped, by a collector
the server gives `render` — never stale, and nothing to keep up to date.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable, Hashable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

GMAIL_CONNECTS = Counter("mailmagnet_gmail_connects_total", "Gmail consent callbacks", ["result"])
PUSH_NOTIFICATIONS = Counter("mailmagnet_push_notifications_total", "Gmail Pub/Sub pushes", ["result"])
PUSH_BACKPRESSURE = Counter("mailmagnet_push_backpressure_total",
                            "Sync requests not queued: covered by a queued run, or deferred to the polling sweep",
                            ["result"])
SLACK_REQUESTS = Counter("mailmagnet_slack_requests_total", "Slack commands and interactions", ["kind", "name"])
DM_ANSWERS_DROPPED = Counter("mailmagnet_dm_answers_dropped_total",
                             "Messages typed in the app's Messages tab left unanswered: another answer went to that "
                             "DM within the last few seconds (a flood gets one answer per interval)")
SYNC_RUNS = Counter("mailmagnet_sync_runs_total", "Mailbox sync runs", ["job", "result"])
SYNC_SECONDS = Histogram("mailmagnet_sync_seconds", "Duration of one mailbox run", ["job"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
NEW_MESSAGES = Counter("mailmagnet_new_messages_total", "New Inbox messages handed to subscribers")
ALERTS = Counter("mailmagnet_alerts_total", "MailMagnet alerts", ["result"])
MESSAGES_FILED = Counter("mailmagnet_messages_filed_total", "Messages filed or re-filed into labels", ["label"])
CYCLE_SECONDS = Histogram("mailmagnet_cycle_seconds", "Duration of a scheduler cycle", ["job"],
                          buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
CRM_RECORDS = Counter("mailmagnet_crm_records_total", "CRM records ingested", ["source", "kind", "result"])
# result: ok, partial, failed (a failed run is counted here only: there is no separate error counter).
CRM_SYNC_RUNS = Counter("mailmagnet_crm_sync_runs_total", "CRM sync runs", ["source", "result"])
SWEEP_SECONDS = Histogram("mailmagnet_sweep_seconds", "Duration of one polling sweep (a chunk of mailboxes)",
                          buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))

GMAIL_CALLS = Counter("mailmagnet_gmail_calls_total",
                      "Gmail API calls by discovery method id (each part of a /batch is one call)", ["method"])
GMAIL_QUOTA_UNITS = Counter("mailmagnet_gmail_quota_units_total",
                            "Gmail quota units spent, at Google's published cost per method", ["method"])
GMAIL_ERRORS = Counter("mailmagnet_gmail_errors_total",
                       "Failed Gmail calls by kind (Gmail's reason such as rateLimitExceeded, 401, 5xx, network, "
                       "invalid_grant)", ["kind"])
GMAIL_BATCH_FAILURES = Counter("mailmagnet_gmail_batch_failures_total",
                               "/batch requests that failed as a whole, so none of their parts got an answer, by kind "
                               "(5xx, network, ...); the parts are retried or synced one by one", ["kind"])
SLACK_API_ERRORS = Counter("mailmagnet_slack_api_errors_total",
                           "Slack Web API answers that were errors, by method and kind (Slack's error code such as "
                           "channel_not_found, ratelimited, http_5xx, connection)", ["method", "kind"])
# Slack gives up after 3 s; the target is 50 ms (SPEC §8), so the buckets are fine at the low end.
SLACK_ACK_SECONDS = Histogram("mailmagnet_slack_ack_seconds",
                              "From a Slack request reaching /slack/events to its HTTP answer (the ack)", ["kind"],
                              buckets=(0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5,
                                       1, 3))


class MailboxUnitPeaks:
    """Gmail's per-user limit (250 quota units per user per second, a moving average) in view: the quota units
    each mailbox spent, in one-second buckets kept for `window_seconds`. /metrics shows only the highest bucket,
    so no mailbox appears in a label; the key is whatever tells mailboxes apart in memory (a hash)."""

    def __init__(self, window_seconds: int = 60, clock: Callable[[], float] = time.monotonic):
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._seconds: deque[tuple[int, dict[Hashable, int]]] = deque()

    def add(self, mailbox: Hashable, units: int) -> None:
        if not units:
            return
        second = int(self._clock())
        with self._lock:
            if not self._seconds or self._seconds[-1][0] != second:
                self._seconds.append((second, {}))
                self._forget_before(second - self.window_seconds)
            spent = self._seconds[-1][1]
            spent[mailbox] = spent.get(mailbox, 0) + units

    def peak(self) -> int:
        """The most units one mailbox spent within one second, over the window."""
        with self._lock:
            self._forget_before(int(self._clock()) - self.window_seconds)
            return max((max(spent.values()) for _, spent in self._seconds if spent), default=0)

    def _forget_before(self, second: int) -> None:
        while self._seconds and self._seconds[0][0] < second:
            self._seconds.popleft()


MAILBOX_UNIT_PEAKS = MailboxUnitPeaks()


_children: dict[tuple, object] = {}


def labelled(metric, *values: str):
    """`metric.labels(*values)` (in the metric's label order), looked up once per metric and values: labels() takes
    a lock and builds its key on every call, several times per push run (issue 17). Only for label values from a
    small fixed set (jobs, results, Gmail methods, error kinds): each stays in memory."""
    child = _children.get((metric, values))
    if child is None:
        child = _children.setdefault((metric, values), metric.labels(*values))
    return child


class _DefaultRegistry(Collector):
    """Everything registered the usual way, inside a server's own registry."""

    def collect(self):
        return REGISTRY.collect()


class WorkGauges(Collector):
    """Work state read at scrape time. `pending_pushes()` counts mailboxes whose push waits for a running sync
    (from the database: every replica's); `requested()` the syncs this replica runs or waits for on request
    (pushes, setting changes); `leases()` maps a holder (`this_replica`, `other_replicas`) to mailboxes leased."""

    def __init__(self, pending_pushes: Callable[[], int], leases: Callable[[], dict[str, int]],
                 requested: Callable[[], int] = lambda: 0):
        self._pending_pushes = pending_pushes
        self._leases = leases
        self._requested = requested

    def collect(self) -> Iterable[GaugeMetricFamily]:
        requested = GaugeMetricFamily("mailmagnet_requested_syncs_in_flight",
                                      "Syncs this replica started on request (Gmail pushes, setting changes), or "
                                      "waits for on request, not finished yet")
        requested.add_metric([], self._requested())
        yield requested
        try:
            pending, leased = self._pending_pushes(), self._leases()
        except Exception:  # noqa: BLE001 - a database hiccup must not take the other metrics down
            log.warning("could not read the work gauges for /metrics", exc_info=True)
            return
        pushes = GaugeMetricFamily("mailmagnet_pending_pushes",
                                   "Mailboxes with a Gmail push waiting for the sync that holds them to finish")
        pushes.add_metric([], pending)
        yield pushes
        leases = GaugeMetricFamily("mailmagnet_leased_mailboxes", "Mailboxes leased right now, by holder",
                                   labels=["holder"])
        for holder, count in sorted(leased.items()):
            leases.add_metric([holder], count)
        yield leases


class OpsGauges(Collector):
    """What an operator alerts on, read when /metrics is scraped (ops/prometheus-alerts.yml).

    `mailboxes()` gives, per state (connected, failing, revoked), how many mailboxes are in it and when the
    stalest of them last synced (None: no such mailbox); `crm_syncs()` gives, per source with a sync, when its
    stalest stream last succeeded (None: never) and whether its latest run failed; `now()` the clock."""

    STATES = ("connected", "failing", "revoked")

    def __init__(self, mailboxes: Callable[[], dict[str, tuple[int, float | None]]],
                 crm_syncs: Callable[[], dict[str, tuple[float | None, bool]]],
                 now: Callable[[], float] = time.time, peaks: MailboxUnitPeaks | None = None):
        self._mailboxes = mailboxes
        self._crm_syncs = crm_syncs
        self._now = now
        self._peaks = peaks

    def collect(self) -> Iterable[GaugeMetricFamily]:
        peak = GaugeMetricFamily("mailmagnet_gmail_mailbox_peak_units_per_second",
                                 "The most Gmail quota units one mailbox spent within one second over the last "
                                 "minute, on this replica (Google's per-user limit: 250 a second)")
        peak.add_metric([], (self._peaks or MAILBOX_UNIT_PEAKS).peak())
        yield peak
        try:
            states, syncs = self._mailboxes(), self._crm_syncs()
        except Exception:  # noqa: BLE001 - a database hiccup must not take the other metrics down
            log.warning("could not read the mailbox and CRM sync gauges for /metrics", exc_info=True)
            return
        now = self._now()
        count = GaugeMetricFamily("mailmagnet_mailboxes", "Mailboxes by state: connected (syncing), failing (its "
                                  "last run failed), revoked (Google access revoked; the rep must reconnect)",
                                  labels=["state"])
        age = GaugeMetricFamily("mailmagnet_mailbox_oldest_sync_age_seconds",
                                "Seconds since the last successful sync of the stalest mailbox in that state (since "
                                "it was connected, if it never synced)", labels=["state"])
        for state in self.STATES:
            number, oldest = states.get(state, (0, None))
            count.add_metric([state], number)
            if number and oldest is not None and state != "revoked":
                age.add_metric([state], max(0.0, now - oldest))
        yield count
        yield age
        sync_age = GaugeMetricFamily("mailmagnet_crm_last_sync_age_seconds",
                                     "Seconds since the CRM sync last succeeded (its stalest stream)", labels=["source"])
        failing = GaugeMetricFamily("mailmagnet_crm_sync_failing", "1 while the latest CRM sync run failed",
                                    labels=["source"])
        for source, (succeeded_at, failed) in sorted(syncs.items()):
            if succeeded_at is not None:
                sync_age.add_metric([source], max(0.0, now - succeeded_at))
            failing.add_metric([source], 1 if failed else 0)
        yield sync_age
        yield failing


def server_registry(*collectors: Collector) -> CollectorRegistry:
    """The default registry plus a server's own scrape-time collectors (one server per process in production,
    several in the tests: each reports its own)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DefaultRegistry())
    for collector in collectors:
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST
