"""A mailbox run whose lease runs out (red team, item 2): its replica's renewals did not come (the scheduler's loop
held up, the run queued behind others), and another replica took the mailbox over and synced it. The late run must
neither store nor alert twice, nor move the cursor back to what it read, nor touch the holder's schedule; a run
that waited in the queue a lease's length looks before asking Gmail anything, and keeps the lease when nobody
took it.

Forced with barriers on two replicas (two `Jobs` on one database): a run is held after its Gmail reads or after its
commit while its lease is made to run out (its expiry moved into the past) and the other replica runs; a queued run
is one whose lease was claimed a lease's length ago."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import select

from bot.jobs import Jobs
from bot.services import build_services
from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job
from crm_store.models import Alert, GmailAccount, MailboxMessage, utcnow
from testsupport.stack import REP, REP_GMAIL
from tests.support.alerts import CONTACTS, DEALS, alerts_in

LEASE_SECONDS = 60
WAIT = 30


def replica(stack, owner: str) -> Jobs:
    settings = stack.settings.model_copy(update={"lease_seconds": LEASE_SECONDS, "worker_concurrency": 2})
    return Jobs(build_services(settings), owner=owner)


def mailbox_state(engine, account_id):
    with session_scope(engine) as session:
        account = session.get(GmailAccount, account_id)
        counts = tuple(len(session.exec(select(model).where(model.account_id == account_id)).all())
                       for model in (MailboxMessage, Alert))
        return account.history_id, account.lease_owner, account.next_sync_at, counts


def expire(engine, account_id):
    with session_scope(engine) as session:
        session.get(GmailAccount, account_id).lease_expires_at = utcnow() - timedelta(seconds=1)


def test_a_run_whose_lease_ran_out_while_it_read_gmail_commits_nothing_once_another_replica_synced(live,
                                                                                                 monkeypatch):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    a, b = replica(live, "replica-a"), replica(live, "replica-b")
    read_gmail, go_on = threading.Event(), threading.Event()
    try:
        [lease] = leases.claim_leases(live.engine, a.owner, Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS,
                                      account_ids=[account_id], force=True)
        readable = a.runner.pipeline._readable

        def hold_after_the_gmail_reads(*args, **kwargs):
            read_gmail.set()
            assert go_on.wait(WAIT)
            return readable(*args, **kwargs)

        monkeypatch.setattr(a.runner.pipeline, "_readable", hold_after_the_gmail_reads)
        late: dict = {}
        thread = threading.Thread(target=lambda: late.update(outcome=a._work(lease, Job.SYNC)), daemon=True)
        thread.start()
        assert read_gmail.wait(WAIT)  # A has the history up to the first message, and its metadata
        expire(live.engine, account_id)  # A's renewals did not come: its lease ran out

        live.mail('"Bob Smith" <bob@globex.example>', "Pilot follow-up")
        [holder] = b.run_once(Job.SYNC)  # the lease ran out: B takes the mailbox and syncs both messages
        assert holder.sync.status == "synced" and holder.sync.new_messages == 2
        after_b = mailbox_state(live.engine, account_id)
        assert after_b[0] == live.gmail.history_id(REP_GMAIL) and after_b[1] is None and after_b[3] == (2, 2)

        go_on.set()
        thread.join(WAIT)
        assert not thread.is_alive()
        assert mailbox_state(live.engine, account_id) == after_b  # cursor, lease, schedule, rows: all B's
        assert late["outcome"].sync.status == "lease_lost"
        assert len(alerts_in(live, live.slack.dm_channel("T0001", REP))) == 2  # one per message
    finally:
        go_on.set()
        a.stop()
        b.stop()


def test_a_run_whose_lease_ran_out_after_its_commit_leaves_the_posts_to_the_holder(live, monkeypatch):
    """The same missing renewals, later in the run: A committed the message and its alert (stamped for posting) and
    its lease ran out before it posted. B takes the mailbox over and posts the waiting alert (Slack's history does
    not have it yet); A, going on, must not post it a second time."""
    import gmail.sync as sync_module

    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    a, b = replica(live, "replica-a"), replica(live, "replica-b")
    committed, go_on = threading.Event(), threading.Event()
    try:
        [lease] = leases.claim_leases(live.engine, a.owner, Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS,
                                      account_ids=[account_id], force=True)
        real = sync_module.failpoint
        late_thread: list = []

        def hold_after_the_commit(name):
            real(name)
            if name == "sync.committed" and threading.current_thread() in late_thread:
                committed.set()
                assert go_on.wait(WAIT)

        monkeypatch.setattr(sync_module, "failpoint", hold_after_the_commit)
        late: dict = {}
        thread = threading.Thread(target=lambda: late.update(outcome=a._work(lease, Job.SYNC)), daemon=True)
        late_thread.append(thread)
        thread.start()
        assert committed.wait(WAIT)
        expire(live.engine, account_id)  # A's renewals did not come: its lease ran out

        [holder] = b.run_once(Job.SYNC)
        assert holder.sync.status == "synced" and holder.alerts == 1  # the waiting alert, posted by the holder
        go_on.set()
        thread.join(WAIT)
        assert not thread.is_alive()
        assert len(alerts_in(live, live.slack.dm_channel("T0001", REP))) == 1
        assert late["outcome"].sync.status == "lease_lost"  # stopped there: nothing more of the run's work
    finally:
        go_on.set()
        a.stop()
        b.stop()


def history_calls(stack) -> int:
    return sum(1 for call in stack.gmail.calls if call.method == "gmail.users.history.list")


def test_a_run_queued_past_its_lease_that_another_replica_ran_meanwhile_makes_no_gmail_call(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    a, b = replica(live, "replica-a"), replica(live, "replica-b")
    try:
        [lease] = leases.claim_leases(live.engine, a.owner, Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS,
                                      now=utcnow() - timedelta(seconds=LEASE_SECONDS + 1), account_ids=[account_id],
                                      force=True)
        [holder] = b.run_once(Job.SYNC)
        assert holder.sync.status == "synced" and holder.sync.new_messages == 1
        before, calls = mailbox_state(live.engine, account_id), history_calls(live)
        late = a._work(lease, Job.SYNC)
        assert late.sync.status == "lease_lost"
        assert history_calls(live) == calls  # noticed before asking Gmail anything
        assert mailbox_state(live.engine, account_id) == before
        assert len(alerts_in(live, live.slack.dm_channel("T0001", REP))) == 1
    finally:
        a.stop()
        b.stop()


def test_a_run_queued_past_its_lease_that_nobody_took_keeps_it_and_brings_the_news(live):
    """The push's run must not be wasted (fenced out at its commit, the news left to the next poll) when no other
    replica wanted the mailbox."""
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    a = replica(live, "replica-a")
    try:
        [lease] = leases.claim_leases(live.engine, a.owner, Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS,
                                      now=utcnow() - timedelta(seconds=LEASE_SECONDS + 1), account_ids=[account_id],
                                      force=True)
        late = a._work(lease, Job.SYNC)
        assert late.sync.status == "synced" and late.sync.new_messages == 1
        assert len(alerts_in(live, live.slack.dm_channel("T0001", REP))) == 1
        assert mailbox_state(live.engine, account_id)[1] is None  # handed back
    finally:
        a.stop()
