"""/healthz and /metrics of `serve`."""
from __future__ import annotations

import json

from tests.bot.test_alerts import CONTACTS, DEALS
from tests.harness import http_get


def test_healthz_reports_database_and_scheduler(live):
    status, headers, body = http_get(f"{live.server.url}/healthz")
    assert status == 200 and headers["content-type"].startswith("application/json")
    health = json.loads(body)
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["scheduler"] in ("running", "stopped") and health["replica"]


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
