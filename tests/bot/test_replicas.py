"""Several replicas on one database: each mailbox handled by exactly one replica per cycle; a dead
replica's mailboxes are taken over once its leases expire."""
from __future__ import annotations

import threading
import time
from collections import Counter

from bot.jobs import Jobs
from bot.services import build_services
from crm_store import leases
from crm_store.leases import Job
from testsupport.mailboxes import seed_mailboxes
from testsupport.stack import GOOGLE_CLIENT_ID

MAILBOXES = 40


def history_calls(stack) -> Counter:
    return Counter(c.user for c in stack.gmail.calls if c.method == "gmail.users.history.list")


def replicas(stack, count: int, lease_seconds: int = 120) -> list[Jobs]:
    settings = stack.settings.model_copy(update={"lease_seconds": lease_seconds, "worker_concurrency": 4})
    return [Jobs(build_services(settings), owner=f"replica-{i}") for i in range(count)]


def run_together(jobs: list[Jobs], job: Job = Job.SYNC) -> list[int]:
    counts = [0] * len(jobs)

    def run(i):
        counts[i] = jobs[i].run_cycle(job)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return counts


def test_three_replicas_split_the_mailboxes_without_overlap(live):
    seed_mailboxes(live.engine, live.services.cipher, live.gmail, GOOGLE_CLIENT_ID, MAILBOXES)
    three = replicas(live, 3)
    try:
        counts = run_together(three)
        assert sum(counts) == MAILBOXES
        calls = history_calls(live)
        assert len(calls) == MAILBOXES and set(calls.values()) == {1}
        # Everything is synced for this interval: a second cycle right away finds nothing due.
        assert run_together(three) == [0, 0, 0]
        assert set(history_calls(live).values()) == {1}
    finally:
        for jobs in three:
            jobs.stop()


def test_a_dead_replicas_mailboxes_are_taken_over_after_its_leases_expire(live):
    seed_mailboxes(live.engine, live.services.cipher, live.gmail, GOOGLE_CLIENT_ID, 12)
    # Replica "ghost" leases half the mailboxes, then dies (kill -9: it never releases them).
    held = leases.claim(live.engine, "ghost", Job.SYNC, limit=6, lease_seconds=2)
    assert len(held) == 6
    two = replicas(live, 2, lease_seconds=2)
    try:
        assert sum(run_together(two)) == 6
        assert len(history_calls(live)) == 6
        time.sleep(2.2)
        assert sum(run_together(two)) == 6
        calls = history_calls(live)
        assert len(calls) == 12 and set(calls.values()) == {1}
    finally:
        for jobs in two:
            jobs.stop()


def test_a_replica_that_lost_its_lease_commits_nothing_the_holder_does_the_work_once(live):
    """Fencing: replica A leased the mailbox, then stalled past its lease (a pause, a slow Gmail); B took it over.
    A's run must store nothing and post nothing when it resumes; B's run stores the mail and posts its alert once."""
    from datetime import timedelta

    from crm_store.db import session_scope
    from crm_store.models import MailboxMessage, utcnow
    from sqlmodel import select
    from tests.support.alerts import CONTACTS, DEALS, alerts_in
    from testsupport.stack import REP
    from usecases.mailbox_run import MailboxRunner

    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    runner = MailboxRunner(live.services)
    long_ago = utcnow() - timedelta(minutes=10)
    assert leases.claim(live.engine, "replica-a", Job.SYNC, limit=1, lease_seconds=60, force=True,
                        account_ids=[account_id], now=long_ago) == [account_id]
    assert leases.claim(live.engine, "replica-b", Job.SYNC, limit=1, lease_seconds=60, force=True,
                        account_ids=[account_id]) == [account_id]  # A's lease expired: B holds it now

    late = runner.run(account_id, Job.SYNC, lease_owner="replica-a")
    assert late.sync.status == "lease_lost"
    with session_scope(live.engine) as session:
        assert session.exec(select(MailboxMessage).where(MailboxMessage.account_id == account_id)).all() == []
    assert alerts_in(live, live.slack.dm_channel("T0001", REP)) == []

    holder = runner.run(account_id, Job.SYNC, lease_owner="replica-b")
    assert holder.sync.status == "synced" and holder.sync.new_messages == 1
    assert len(alerts_in(live, live.slack.dm_channel("T0001", REP))) == 1


def test_posting_and_filing_are_fenced_too(live):
    """Found by the full run's random kills (duplicated alerts, writes done twice): a replica past its lease went on
    posting the alerts it had loaded and recording its filings. The stamp before each post and the filing's record
    now check the lease in their transaction."""
    from datetime import timedelta

    import pytest

    from crm_store.models import utcnow
    from usecases.mailbox_run import MailboxRunner

    live.add_rep()
    account_id = live.connect_with_magnet()
    runner = MailboxRunner(live.services)
    assert leases.claim(live.engine, "replica-a", Job.SYNC, limit=1, lease_seconds=60, force=True,
                        account_ids=[account_id], now=utcnow() - timedelta(minutes=10)) == [account_id]
    assert leases.claim(live.engine, "replica-b", Job.SYNC, limit=1, lease_seconds=60, force=True,
                        account_ids=[account_id]) == [account_id]
    with leases.running_under("replica-a"):
        with pytest.raises(leases.LeaseLost):
            runner.magnet._stamp(account_id, [])
        with pytest.raises(leases.LeaseLost):
            runner.filer._mark(account_id, [], None, utcnow())
    with leases.running_under("replica-b"):
        runner.magnet._stamp(account_id, [])
        runner.filer._mark(account_id, [], None, utcnow())
    runner.magnet._stamp(account_id, [])  # outside a leased run (a Slack action, a test): nothing to check


def test_one_push_delivered_to_two_replicas_at_once_brings_its_alert_once(live):
    """Issue 17 takes a push's mailbox in one conditional UPDATE (crm_store.push_leases): Pub/Sub delivering the same
    push to two replicas at the same moment leases the mailbox to one of them; the other records the request (the
    holder runs again when done, finding nothing new). One alert, the message stored once, one replica's run at a
    time."""
    import base64
    import json

    from crm_store.db import session_scope
    from crm_store.models import MailboxMessage
    from sqlmodel import select
    from tests.support.alerts import CONTACTS, DEALS, alerts_in
    from testsupport.stack import REP, REP_GMAIL

    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    data = json.dumps({"emailAddress": REP_GMAIL, "historyId": int(live.gmail.history_id(REP_GMAIL))}).encode()
    push = {"message": {"data": base64.b64encode(data).decode(), "messageId": "1"}}
    two = replicas(live, 2)
    live.gmail.reset_counters()
    together = threading.Barrier(2, timeout=30)
    outcomes = []

    def receive(jobs):
        together.wait()
        outcomes.append(jobs.push_received(push))

    threads = [threading.Thread(target=receive, args=(jobs,)) for jobs in two]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for _ in range(3):  # a request recorded by the loser makes the holder run once more
            for jobs in two:
                jobs.wait_for_requested()
            two[0].run_cycle(Job.SYNC)
        assert sorted(outcomes) == ["accepted", "accepted"]
        assert len(alerts_in(live, live.slack.dm_channel("T0001", REP))) == 1
        with session_scope(live.engine) as session:
            assert len(session.exec(select(MailboxMessage).where(MailboxMessage.account_id == account_id)).all()) == 1
        assert 1 <= history_calls(live)[REP_GMAIL] <= 2, history_calls(live)
    finally:
        for jobs in two:
            jobs.stop()
