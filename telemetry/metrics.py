"""Prometheus metrics served on /metrics (text format).

Counters and histograms live in prometheus_client's default registry and are updated where things happen.
Gauges of shared state (pushes waiting, leased mailboxes) are read when /metrics is scraped, by a collector
the server gives `render` — never stale, and nothing to keep up to date.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

GMAIL_CONNECTS = Counter("mailmagnet_gmail_connects_total", "Gmail consent callbacks", ["result"])
PUSH_NOTIFICATIONS = Counter("mailmagnet_push_notifications_total", "Gmail Pub/Sub pushes", ["result"])
SLACK_REQUESTS = Counter("mailmagnet_slack_requests_total", "Slack commands and interactions", ["kind", "name"])
SYNC_RUNS = Counter("mailmagnet_sync_runs_total", "Mailbox sync runs", ["job", "result"])
SYNC_SECONDS = Histogram("mailmagnet_sync_seconds", "Duration of one mailbox run", ["job"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
NEW_MESSAGES = Counter("mailmagnet_new_messages_total", "New Inbox messages handed to subscribers")
ALERTS = Counter("mailmagnet_alerts_total", "MailMagnet alerts", ["result"])
MESSAGES_FILED = Counter("mailmagnet_messages_filed_total", "Messages filed or re-filed into labels", ["label"])
CYCLE_SECONDS = Histogram("mailmagnet_cycle_seconds", "Duration of a scheduler cycle", ["job"],
                          buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
CRM_RECORDS = Counter("mailmagnet_crm_records_total", "CRM records ingested", ["source", "kind", "result"])
CRM_SYNC_RUNS = Counter("mailmagnet_crm_sync_runs_total", "CRM sync runs", ["source", "result"])
CRM_SYNC_ERRORS = Counter("mailmagnet_crm_sync_errors_total", "CRM sync runs that failed", ["source"])
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
