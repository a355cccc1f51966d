"""/healthz and /metrics of `serve`."""
from __future__ import annotations

import json
from datetime import timedelta

from crm_store.models import utcnow
from tests.bot.test_alerts import CONTACTS, DEALS
from tests.harness import http_get


def scrape(live) -> dict[str, float]:
    status, headers, body = http_get(f"{live.server.url}/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
            if line and not line.startswith("#")}


def test_healthz_reports_database_and_scheduler(live):
    status, headers, body = http_get(f"{live.server.url}/healthz")
    assert status == 200 and headers["content-type"].startswith("application/json")
    health = json.loads(body)
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["scheduler"] in ("running", "stopped") and "replica" not in health


def test_healthz_is_503_when_the_database_is_gone(live, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(live.engine, "connect", broken)
    status, _, body = http_get(f"{live.server.url}/healthz")
    assert status == 503 and json.loads(body)["status"] == "unhealthy"


def test_metrics_count_what_happened(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.mail("jane@acme.example", "Counted")
    live.run("labels")
    status, headers, body = http_get(f"{live.server.url}/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
             if line and not line.startswith("#")}
    assert lines['mailmagnet_gmail_connects_total{result="connected"}'] >= 1
    assert lines['mailmagnet_sync_runs_total{job="labels",result="synced"}'] >= 1
    assert lines['mailmagnet_messages_filed_total{label="Open Deals"}'] >= 1
    assert any(key.startswith("mailmagnet_slack_requests_total") for key in lines)


def test_metrics_time_each_ack_and_count_gmail_quota_by_method(live):
    live.add_rep()
    live.connect()
    before = scrape(live)
    live.command("U100REP", "status")  # acked, then one getProfile
    after = scrape(live)
    acks = 'mailmagnet_slack_ack_seconds_count{kind="command"}'
    assert after[acks] - before.get(acks, 0) == 1
    assert after['mailmagnet_slack_ack_seconds_bucket{kind="command",le="+Inf"}'] == after[acks]
    units = 'mailmagnet_gmail_quota_units_total{method="gmail.users.getProfile"}'
    assert after[units] - before.get(units, 0) == 1


def test_metrics_read_pending_pushes_and_leases_from_the_database_when_scraped(live):
    for n in range(3):
        live.add_rep(f"U{n}LEASE", f"lease{n}@crm.example", gmail=f"lease{n}@gmail.example")
        live.connect(f"U{n}LEASE", f"lease{n}@gmail.example")
    soon = utcnow() + timedelta(minutes=2)
    live.update_mailbox("lease0@gmail.example", lease_owner=live.services.jobs.owner, lease_expires_at=soon,
                        sync_requested=True)
    live.update_mailbox("lease1@gmail.example", lease_owner="another-replica", lease_expires_at=soon)
    live.update_mailbox("lease2@gmail.example", lease_owner="a-dead-replica",
                        lease_expires_at=utcnow() - timedelta(minutes=1))  # expired: nobody holds it
    lines = scrape(live)
    assert lines["mailmagnet_pending_pushes"] == 1
    assert lines['mailmagnet_leased_mailboxes{holder="this_replica"}'] == 1
    assert lines['mailmagnet_leased_mailboxes{holder="other_replicas"}'] == 1
