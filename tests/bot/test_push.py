"""Push mode: users.watch on connect, Pub/Sub push to /gmail/push, an alert within seconds; polling stays."""
from __future__ import annotations

import base64
import json

import pytest

from crm_store.db import session_scope
from crm_store.leases import Job
from crm_store.models import GmailAccount, utcnow
from tests.support.alerts import CONTACTS, DEALS, alerts_in
from testsupport.stack import REP, REP_GMAIL, TEAM, start_stack
from tests.signals import PUSHES_REJECTED, metrics, wait_for_count
from tests.support.push import TOPIC, pushing  # noqa: F401 - the push-mode stack fixture

TOKEN = "push-verification-secret"


@pytest.fixture
def query_token_pushing(database_url):
    """The documented fallback: the shared token in the push endpoint's query."""
    stack = start_stack(database_url, scheduler=True, gmail_pubsub_topic=TOPIC, pubsub_verification_token=TOKEN,
                        sync_interval_seconds=3600, label_interval_seconds=3600)
    stack.subscribe_push(TOPIC)
    yield stack
    stack.stop()


def envelope(address: str, history_id=12345) -> dict:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": history_id}).encode()).decode()
    return {"message": {"data": data, "messageId": "1", "publishTime": "2026-11-26T00:00:00Z"},
            "subscription": "projects/mailmagnet-test/subscriptions/gmail-push"}


def post(url: str, body: dict):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_push_brings_the_alert_without_waiting_for_the_poll(pushing):
    pushing.add_rep()
    pushing.import_crm(CONTACTS, DEALS)
    pushing.connect_with_push()
    with session_scope(pushing.engine) as session:
        account = session.get(GmailAccount, pushing.account_id())
        assert account.watch_expires_at is not None and account.history_id
    pushing.mail("jane@acme.example", "Pushed to you")
    dm = pushing.slack.dm_channel(TEAM, REP)
    alerts = pushing.slack.wait_for(lambda: alerts_in(pushing, dm), timeout=10)
    assert "Pushed to you" in json.dumps(alerts[0]["blocks"])


def test_push_brings_the_alert_with_the_query_token_fallback(query_token_pushing):
    query_token_pushing.add_rep()
    query_token_pushing.import_crm(CONTACTS, DEALS)
    query_token_pushing.connect_with_push()
    query_token_pushing.mail("jane@acme.example", "Pushed the old way")
    dm = query_token_pushing.slack.dm_channel(TEAM, REP)
    alerts = query_token_pushing.slack.wait_for(lambda: alerts_in(query_token_pushing, dm), timeout=10)
    assert "Pushed the old way" in json.dumps(alerts[0]["blocks"])


def test_push_without_the_verification_token_is_refused_with_no_side_effect(query_token_pushing):
    pushing = query_token_pushing
    pushing.add_rep()
    pushing.connect()
    pushing.services.jobs.wait_for_requested()  # the sync that connecting started: its calls come before `before`
    from datetime import timedelta

    from crm_store.models import utcnow

    # MailMagnet on, its next sync an hour away: only a push could make the mailbox sync now.
    pushing.update_mailbox(magnet=True, sync_requested=False, next_sync_at=utcnow() + timedelta(hours=1))
    before = len(pushing.gmail.calls)
    rejected_before = metrics(pushing.server.url).get(PUSHES_REJECTED, 0)
    assert post(f"{pushing.server.url}/gmail/push", envelope(REP_GMAIL)) == 403
    assert post(f"{pushing.server.url}/gmail/push?token=wrong", envelope(REP_GMAIL)) == 403
    wait_for_count(pushing.server.url, PUSHES_REJECTED, rejected_before + 2)  # handled: both counted as rejected
    with session_scope(pushing.engine) as session:
        assert not session.get(GmailAccount, pushing.account_id()).sync_requested
    assert len(pushing.gmail.calls) == before
    # A well-formed push for a mailbox we do not know, or garbage, is acknowledged (Pub/Sub would retry forever).
    assert post(f"{pushing.server.url}/gmail/push?token={TOKEN}", envelope("nobody@else.example")) == 204
    assert post(f"{pushing.server.url}/gmail/push?token={TOKEN}", {"message": {"data": "!!"}}) == 204


def test_watch_is_renewed_a_day_after_it_was_made(pushing):
    from datetime import timedelta

    from crm_store.models import utcnow

    pushing.add_rep()
    pushing.connect()
    pushing.update_mailbox(magnet=True)
    pushing.run("sync")
    watches = lambda: [c for c in pushing.gmail.calls if c.method == "gmail.users.watch"]  # noqa: E731
    assert len(watches()) == 1
    pushing.run("sync")
    assert len(watches()) == 1  # a fresh watch is left alone
    pushing.update_mailbox(watch_expires_at=utcnow() + timedelta(days=5, hours=23))
    pushing.run("sync")
    assert len(watches()) == 2


def test_a_burst_of_pushes_costs_a_handful_of_history_calls(database_url):
    """Pub/Sub delivers one push per change, late and more than once: here 200 pushes for a burst of 20
    messages, arriving one after the other. A push whose history id the mailbox's cursor has already passed
    starts nothing; new mail still does."""
    import random

    stack = start_stack(database_url, scheduler=True, pubsub_verification_token=TOKEN,
                        sync_interval_seconds=3600, label_interval_seconds=3600)
    try:
        stack.add_rep()
        stack.import_crm(CONTACTS, DEALS)
        stack.connect_with_magnet()
        history_ids = []
        for i in range(20):
            stack.mail("jane@acme.example", f"Burst {i}")
            history_ids.append(int(stack.gmail.history_id(REP_GMAIL)))
        stack.gmail.reset_counters()
        pushes = [envelope(REP_GMAIL, h if i % 2 else str(h)) for i, h in enumerate(history_ids * 10)]
        random.Random(7).shuffle(pushes)
        for body in pushes:
            assert post(f"{stack.server.url}/gmail/push?token={TOKEN}", body) == 204
            stack.services.jobs.wait_for_requested()  # the next push arrives after this one's sync, if any
        dm = stack.slack.dm_channel(TEAM, REP)
        assert len(alerts_in(stack, dm)) == 20
        history_calls = [c for c in stack.gmail.calls if c.method == "gmail.users.history.list"]
        assert len(history_calls) <= 5, len(history_calls)

        stack.mail("jane@acme.example", "After the burst")
        assert post(f"{stack.server.url}/gmail/push?token={TOKEN}",
                    envelope(REP_GMAIL, int(stack.gmail.history_id(REP_GMAIL)))) == 204
        stack.slack.wait_for(lambda: len(alerts_in(stack, dm)) == 21, timeout=10)
    finally:
        stack.stop()


def test_a_failing_watch_is_retried_with_backoff_not_after_every_sync(database_url):
    from datetime import timedelta

    from bot.jobs import Jobs
    from bot.services import build_services
    from crm_store.models import utcnow

    # The topic does not exist (yet): users.watch answers 404, 100 quota units each time.
    stack = start_stack(database_url, scheduler=True, start_scheduler=False, gmail_pubsub_topic=TOPIC,
                        pubsub_verification_token=TOKEN)
    other_replica = None
    try:
        stack.add_rep()
        stack.connect_with_magnet()
        watches = lambda: [c for c in stack.gmail.calls if c.method == "gmail.users.watch"]  # noqa: E731
        assert len(watches()) == 1 and watches()[0].status == 404
        for _ in range(4):
            stack.run("sync")
        other_replica = Jobs(build_services(stack.settings), owner="replica-2")
        other_replica.run_once(Job.SYNC)  # another replica (or a restart) respects the same backoff
        assert len(watches()) == 1

        def retry_at():
            with session_scope(stack.engine) as session:
                return session.get(GmailAccount, stack.account_id()).watch_retry_at

        first = retry_at()
        assert timedelta(minutes=4) < first - utcnow() <= timedelta(minutes=5)
        stack.update_mailbox(watch_retry_at=utcnow() - timedelta(seconds=1))  # five minutes later
        stack.run("sync")
        stack.run("sync")
        assert len(watches()) == 2
        assert timedelta(minutes=9) < retry_at() - utcnow() <= timedelta(minutes=10)  # the wait doubles

        stack.gmail.create_topic(TOPIC)  # fixed: the next retry succeeds and the mailbox is watched again
        stack.update_mailbox(watch_retry_at=utcnow() - timedelta(seconds=1))
        stack.run("sync")
        stack.run("sync")
        assert len(watches()) == 3 and watches()[-1].status == 200
        with session_scope(stack.engine) as session:
            account = session.get(GmailAccount, stack.account_id())
            assert account.watch_expires_at is not None and account.watch_retry_at is None
    finally:
        if other_replica is not None:
            other_replica.stop()
        stack.stop()


def test_metrics_show_the_pushed_syncs_in_flight(pushing):
    from sandbox.gmail_emulator import Fault
    from tests.support.web import scrape

    pushing.add_rep()
    pushing.connect_with_push()
    gauge = "mailmagnet_requested_syncs_in_flight"
    pushing.services.jobs.wait_for_requested(timeout=30)  # the syncs connecting started have finished
    assert scrape(pushing)[gauge] == 0
    pushing.gmail.add_fault(Fault(method="gmail.users.history.list", count=1, status=None, latency_ms=3000))
    pushing.mail("someone@else.example", "Slow to read")  # the emulator pushes it; its sync waits 3 s on Gmail
    assert pushing.slack.wait_for(lambda: scrape(pushing)[gauge] == 1, timeout=10)
    pushing.services.jobs.wait_for_requested(timeout=30)
    assert scrape(pushing)[gauge] == 0


def test_pushes_beyond_the_queue_limit_go_to_the_polling_sweep_and_a_queued_run_covers_a_push(database_url):
    """Backpressure: with PUSH_QUEUE_LIMIT push runs queued or running, a further push is recorded on its mailbox
    and the polling sweep takes it (the queue never grows past the limit); a push for a mailbox whose run is queued
    and has not asked Gmail yet is covered by that run, with nothing written. Every alert still arrives, once."""
    stack = start_stack(database_url, scheduler=True, sync_interval_seconds=3600, label_interval_seconds=3600,
                        push_workers=1, push_queue_limit=2)
    try:
        reps = [(REP, REP_GMAIL), ("U200TWO", "two@gmail.example"), ("U300THREE", "three@gmail.example")]
        for index, (user, gmail) in enumerate(reps):
            if index:
                stack.add_rep(user, f"rep{index}@crm.example", gmail=gmail)
            else:
                stack.add_rep()
        stack.import_crm(CONTACTS, DEALS)
        ids = [stack.connect_with_magnet(user, gmail) for user, gmail in reps]
        stack.services.jobs.wait_for_requested()
        for _, gmail in reps:
            stack.mail("jane@acme.example", f"For {gmail}", gmail=gmail)
        stack.gmail.set_latency(500, "gmail.users.history.list")  # the first run holds the one push thread

        def requested(account_id: int) -> bool:
            with session_scope(stack.engine) as session:
                return session.get(GmailAccount, account_id).sync_requested

        def synced_since(account_id: int, moment) -> bool:
            with session_scope(stack.engine) as session:
                last = session.get(GmailAccount, account_id).last_sync_at
            return last is not None and last.replace(tzinfo=moment.tzinfo) > moment

        jobs = stack.services.jobs
        before = utcnow()
        assert jobs.request_sync(ids[0])  # runs
        assert jobs.request_sync(ids[1])  # queued: the queue's second place
        assert not jobs.request_sync(ids[1])  # covered by the queued run
        assert not requested(ids[1])
        assert not jobs.request_sync(ids[2])  # the queue is full: recorded for the sweep
        # Recorded: still waiting for the sweep, or the sweep (the scheduler runs) already took it, cleared it, and
        # its run ends soon (a CI run looked while that run was still on Gmail). Not recorded, it would wait an hour
        # (SYNC_INTERVAL_SECONDS), and this would time out.
        assert stack.slack.wait_for(lambda: requested(ids[2]) or synced_since(ids[2], before), timeout=20)
        for user, _ in reps:
            dm = stack.slack.dm_channel(TEAM, user)
            stack.slack.wait_for(lambda: alerts_in(stack, dm), timeout=20)
        jobs.wait_for_requested()
        assert [len(alerts_in(stack, stack.slack.dm_channel(TEAM, user))) for user, _ in reps] == [1, 1, 1]
    finally:
        stack.stop()


def test_a_push_for_a_mailbox_this_replica_is_running_records_its_request_without_trying_a_claim(database_url):
    """A push for a mailbox whose run here is already past its history.list: the lease is this replica's, so a claim
    could only fail. The request is recorded (one write, with no failed claim first: issue 17, where under load many
    pushes come while their mailbox runs), the run's release sees it and runs the mailbox again: both alerts arrive,
    once each."""
    import threading

    import sqlalchemy as sa

    stack = start_stack(database_url, scheduler=True, sync_interval_seconds=3600, label_interval_seconds=3600)
    try:
        stack.add_rep()
        stack.import_crm(CONTACTS, DEALS)
        account_id = stack.connect_with_magnet()
        jobs = stack.services.jobs
        jobs.wait_for_requested()
        stack.mail("jane@acme.example", "First")
        stack.gmail.set_latency(1000, "gmail.users.history.list")
        assert jobs.request_sync(account_id)
        stack.slack.wait_for(lambda: any(c.method == "gmail.users.history.list" for c in stack.gmail.calls),
                             timeout=10)  # the run is on Gmail: past the point where a queued run covers a push
        stack.mail("jane@acme.example", "Second")
        me, statements = threading.get_ident(), []

        def seen(_conn, _cursor, statement, _parameters, _context, _executemany):
            if threading.get_ident() == me:
                statements.append(" ".join(statement.split()))

        sa.event.listen(stack.engine, "before_cursor_execute", seen)
        try:
            assert not jobs.request_sync(account_id)
        finally:
            sa.event.remove(stack.engine, "before_cursor_execute", seen)
        assert not [s for s in statements if "lease_owner=" in s.replace(" ", "")], statements
        assert [s for s in statements if "sync_requested" in s and s.startswith("UPDATE")], statements
        stack.gmail.set_latency(0, "gmail.users.history.list")
        dm = stack.slack.dm_channel(TEAM, REP)
        stack.slack.wait_for(lambda: len(alerts_in(stack, dm)) == 2, timeout=20)
        jobs.wait_for_requested()
        assert sorted("First" in json.dumps(a["blocks"]) for a in alerts_in(stack, dm)) == [False, True]
    finally:
        stack.stop()


def test_a_push_while_the_database_is_away_is_answered_503_for_redelivery_not_a_500(query_token_pushing,
                                                                                    monkeypatch):
    """Found by the fleet's PostgreSQL restart (tests/reliability): the push route raised, Flask logged an
    unhandled exception and answered 500. Pub/Sub redelivers after any non-2xx; a 503 says why, and nothing escapes."""
    from sqlalchemy.exc import OperationalError

    stack = query_token_pushing

    def away(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("the database is restarting"))

    monkeypatch.setattr(stack.services.engine, "connect", away)
    assert post(f"{stack.server.url}/gmail/push?token={TOKEN}", envelope(REP_GMAIL)) == 503
    monkeypatch.undo()
    assert post(f"{stack.server.url}/gmail/push?token={TOKEN}", envelope(REP_GMAIL)) == 204


def test_past_capacity_a_push_is_answered_before_it_is_taken_and_its_alert_still_arrives(query_token_pushing,
                                                                                        monkeypatch):
    """Overload (bot/push_intake.py): a push not taken within the intake's answer time is answered at once, so the
    web thread is free and Pub/Sub's deadline is met; it waits in memory and is taken later, its alert posted. The
    answer is 503, not an acknowledgement: were the process to die first, Pub/Sub would deliver the push again."""
    import threading

    from bot.routes import EXTENSION

    stack = query_token_pushing
    stack.add_rep()
    stack.import_crm(CONTACTS, DEALS)
    stack.connect_with_push()
    jobs = stack.services.jobs
    jobs.wait_for_requested()
    monkeypatch.setattr(stack.server.web_app.extensions[EXTENSION].push_intake, "answer_within", 0.2)
    release = threading.Event()
    take = jobs.push_received
    monkeypatch.setattr(jobs, "push_received", lambda body: release.wait(60) and take(body))
    stack.mail("jane@acme.example", "Answered before taken")
    assert post(f"{stack.server.url}/gmail/push?token={TOKEN}",
                envelope(REP_GMAIL, int(stack.gmail.history_id(REP_GMAIL)))) == 503  # taking it is held
    dm = stack.slack.dm_channel(TEAM, REP)
    assert alerts_in(stack, dm) == []
    release.set()
    alerts = stack.slack.wait_for(lambda: alerts_in(stack, dm), timeout=20)
    assert "Answered before taken" in json.dumps(alerts[0]["blocks"])
