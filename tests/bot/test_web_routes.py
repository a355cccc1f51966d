"""/healthz and /metrics of `serve`."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crm_store.models import utcnow
from tests.support.alerts import CONTACTS, DEALS
from testsupport.stack import http_get
from tests.support.web import scrape


def test_healthz_reports_database_and_scheduler(live):
    status, headers, body = http_get(f"{live.server.url}/healthz")
    assert status == 200 and headers["content-type"].startswith("application/json")
    health = json.loads(body)
    assert health["status"] == "ok" and health["database"] == "ok" and health["migrations"] == "current"
    assert health["scheduler"] == "not started" and "replica" not in health  # the fixture runs no scheduler
    assert (status, body) == http_get(f"{live.server.url}/readyz")[::2]  # /healthz is /readyz's older name


def test_healthz_is_503_when_the_database_is_gone(live, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(live.engine, "connect", broken)
    for route in ("/healthz", "/readyz"):
        status, _, body = http_get(f"{live.server.url}{route}")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"
        assert json.loads(body)["failing"] == ["database"]
    assert http_get(f"{live.server.url}/livez")[0] == 200  # the process itself answers: no restart for this


def test_readyz_is_503_naming_migrations_not_current(live):
    with live.engine.begin() as connection:
        (head,) = connection.exec_driver_sql("SELECT version_num FROM alembic_version").one()
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001_initial'")
    try:
        status, _, body = http_get(f"{live.server.url}/readyz")
        assert status == 503 and json.loads(body)["failing"] == ["migrations"]
        assert json.loads(body)["migrations"] == "not current"
    finally:
        with live.engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")
    assert http_get(f"{live.server.url}/readyz")[0] == 200


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_readyz_is_503_naming_the_scheduler_once_its_thread_died(live):
    jobs = live.services.jobs
    jobs.start()
    status, _, body = http_get(f"{live.server.url}/readyz")
    assert status == 200 and json.loads(body)["scheduler"] == "running"

    def die():
        raise SystemExit("the scheduler thread ends")  # not an Exception: the loop's guard does not catch it

    jobs._scheduler.run_pending = die
    jobs._wake.set()
    jobs._thread.join(timeout=10)
    assert not jobs._thread.is_alive()
    status, _, body = http_get(f"{live.server.url}/readyz")
    assert status == 503 and json.loads(body)["failing"] == ["scheduler"]
    assert json.loads(body)["scheduler"] == "stopped"
    assert http_get(f"{live.server.url}/livez")[0] == 200


def test_metrics_count_what_happened(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.mail("jane@acme.example", "Counted")
    live.run("labels")
    lines = scrape(live)
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


def test_metrics_show_mailboxes_by_state_and_how_stale_their_syncs_are(live):
    from crm_store.db import session_scope
    from crm_store.models import AccountStatus, CrmSyncCursor

    for n in range(4):
        live.add_rep(f"U{n}STATE", f"state{n}@crm.example", gmail=f"state{n}@gmail.example")
        live.connect(f"U{n}STATE", f"state{n}@gmail.example")
    now = utcnow()
    live.update_mailbox("state0@gmail.example", last_sync_at=now - timedelta(minutes=3), last_sync_error=None)
    live.update_mailbox("state1@gmail.example", last_sync_at=now - timedelta(minutes=20), last_sync_error=None)
    live.update_mailbox("state2@gmail.example", last_sync_at=now - timedelta(hours=2),
                        last_sync_error="HttpError 500")
    live.update_mailbox("state3@gmail.example", status=AccountStatus.REVOKED.value,
                        last_sync_at=now - timedelta(days=3))
    with session_scope(live.engine) as session:
        session.add(CrmSyncCursor(name="zoho:Contacts", last_success_at=now - timedelta(minutes=7)))
        session.add(CrmSyncCursor(name="zoho:Deals", last_success_at=now - timedelta(minutes=45),
                                  last_error="HTTP 500 from Zoho"))
    lines = scrape(live)
    assert lines['mailmagnet_mailboxes{state="connected"}'] == 2
    assert lines['mailmagnet_mailboxes{state="failing"}'] == 1
    assert lines['mailmagnet_mailboxes{state="revoked"}'] == 1
    # The stalest healthy mailbox synced 20 minutes ago; the failing one has not for two hours.
    assert 20 * 60 <= lines['mailmagnet_mailbox_oldest_sync_age_seconds{state="connected"}'] < 21 * 60
    assert 2 * 3600 <= lines['mailmagnet_mailbox_oldest_sync_age_seconds{state="failing"}'] < 2 * 3600 + 60
    assert 'mailmagnet_mailbox_oldest_sync_age_seconds{state="revoked"}' not in lines
    assert 45 * 60 <= lines['mailmagnet_crm_last_sync_age_seconds{source="zoho"}'] < 46 * 60
    assert lines['mailmagnet_crm_sync_failing{source="zoho"}'] == 1
    # Gone: it counted what mailmagnet_crm_sync_runs_total{result="failed"} counts.
    assert not any(key.startswith("mailmagnet_crm_sync_errors_total") for key in lines)


def test_metrics_show_the_busiest_mailbox_quota_units_per_second(live, monkeypatch):
    from telemetry import metrics

    monkeypatch.setattr(metrics, "MAILBOX_UNIT_PEAKS", metrics.MailboxUnitPeaks())  # this test's calls only
    assert scrape(live)["mailmagnet_gmail_mailbox_peak_units_per_second"] == 0
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    for n in range(3):
        live.mail("jane@acme.example", f"Quota {n}")
    live.run("sync")  # history.list, then the three messages' metadata: one mailbox, within a second or two
    assert scrape(live)["mailmagnet_gmail_mailbox_peak_units_per_second"] >= 5
