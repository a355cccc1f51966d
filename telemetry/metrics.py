"""Prometheus metrics served on /metrics (text format)."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
CRM_RECORDS = Counter("mailmagnet_crm_records_total", "CRM records ingested", ["source", "kind", "result"])
CRM_SYNC_RUNS = Counter("mailmagnet_crm_sync_runs_total", "CRM sync runs", ["source", "result"])
CRM_SYNC_ERRORS = Counter("mailmagnet_crm_sync_errors_total", "CRM sync runs that failed", ["source"])
SWEEP_SECONDS = Histogram("mailmagnet_sweep_seconds", "Duration of one polling sweep (a chunk of mailboxes)",
                          buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
