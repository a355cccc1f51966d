"""A run that waited in the executor's queue past its lease (red team, item 2): its replica's lease renewals did not
come (a scheduler loop held up), another replica took the mailbox over and synced it. When the late run starts and
reads Gmail while the holder is at work, its commit is fenced: it neither stores nor alerts twice, nor moves the
cursor back to what it read, nor touches the holder's schedule.

Forced with barriers: replica A's lease is claimed as if it ran out while queued (claimed a lease's length ago), A's
run starts and is held after its Gmail reads; a second message arrives; replica B claims the mailbox and syncs it
entirely; then A's run goes on."""
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


def test_a_run_queued_past_its_lease_commits_nothing_once_another_replica_synced(live, monkeypatch):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    a, b = replica(live, "replica-a"), replica(live, "replica-b")
    read_gmail, go_on = threading.Event(), threading.Event()
    try:
        # A's push claimed the mailbox a lease's length ago; its run waited in the queue all that time.
        queued_since = utcnow() - timedelta(seconds=LEASE_SECONDS + 1)
        [lease] = leases.claim_leases(live.engine, a.owner, Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS,
                                      now=queued_since, account_ids=[account_id], force=True)
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
        with session_scope(live.engine) as session:  # A's renewals did not come: its lease ran out
            session.get(GmailAccount, account_id).lease_expires_at = utcnow() - timedelta(seconds=1)

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
