"""A push's run of one mailbox is few transactions (issue 17 capacity, issue 18 item 2 for job steps): the lease's
claim; the mailbox read with its time zones; the sync's one transaction (messages, alert rows stamped for posting,
follow-ups, the cursor's UPDATE that checks the lease); the look, just before the post, that the mailbox is still
connected and leased to the run (a disconnect may come between the sync's commit and the post:
tests/gmail/test_disconnect_race.py); and the release, which also records the alert's post. Each
transaction is a job step's one unit of work: nothing read again that the run already holds, no transaction per
alert after its post."""
from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.support.alerts import CONTACTS, DEALS, alerts_in
from crm_store.db import session_scope
from crm_store.models import GmailAccount
from testsupport.stack import REP, REP_GMAIL, TEAM


# A push run posting one alert, on both databases (19, then 14, before issue 17's rounds; 9 before the look before
# the post).
STATEMENTS = 10
WROTE = "tests.transactions.wrote"


class Transactions:
    """Transactions begun (and statements run) on the engine while counting, by whether they wrote."""

    def __init__(self, engine):
        self.engine = engine
        self.lock = threading.Lock()
        self.counts: Counter = Counter()

    def __enter__(self):
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "before_cursor_execute", self._statement)

    # A transaction counts as a write at its first statement that is no read, whether it then commits or rolls
    # back. The flag has a key of its own: benchmarks/_serve_instrumented.py (imported by tests/benchmarks/ in the
    # same pytest worker) listens on every Engine and sets and pops `info["wrote"]` itself, which left this count
    # at 0 writes in full parallel runs.
    def _begin(self, connection):
        with self.lock:
            self.counts["transactions"] += 1
        connection.info[WROTE] = False

    def _statement(self, connection, cursor, statement, parameters, context, executemany):
        with self.lock:
            self.counts["statements"] += 1
            if not statement.lstrip().upper().startswith(("SELECT", "PRAGMA")) and not connection.info.get(WROTE):
                connection.info[WROTE] = True
                self.counts["writes"] += 1


@pytest.fixture
def pushed(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.services.jobs.wait_for_requested()
    # The follow-up check runs at most once a minute per mailbox; connecting ran it: counted out of the push's run.
    live.services.jobs.nudger.min_interval = timedelta(days=1)
    return live


def test_a_push_run_posting_one_alert_is_five_transactions_three_of_them_writes(pushed):
    jobs = pushed.services.jobs
    account_id = pushed.account_id()
    pushed.mail("jane@acme.example", "Pushed to you")
    with Transactions(pushed.engine) as counted:
        assert jobs.request_sync(account_id)
        jobs.wait_for_requested()
    assert len(alerts_in(pushed, pushed.slack.dm_channel(TEAM, REP))) == 1
    # The claim; the open (a read); the sync; the look before the post (a read); the release with the post's record.
    # Before issue 17: 7 transactions
    # (also a read of stored ids, a write of the post's record, a read of waiting alerts), 4 writes, 19 statements;
    # then 14. Since: the waiting alerts, the mutes, the contact and its deals are one read (were four), the
    # follow-up is opened by a conditional INSERT with no read first, and the cursor's UPDATE is the sync's check
    # of the lease and status (no SELECT … FOR UPDATE before it). 4 transactions until the look before the post.
    assert counted.counts["transactions"] == 5, counted.counts
    assert counted.counts["writes"] == 3, counted.counts
    assert counted.counts["statements"] <= STATEMENTS, counted.counts


@pytest.fixture
def filing(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.run("labels")  # the backfill done and the labels made: what follows is the steady state
    live.services.jobs.nudger.min_interval = timedelta(days=1)  # the follow-up check: counted out, as above
    return live


def test_a_label_run_is_one_transaction_when_quiet_and_nine_when_it_files(filing):
    """Issue 18 item 2 measured for the label run (`MailboxRunner.run`, without the lease's claim and release, which
    add one transaction each). Quiet (nothing to file or move): the check that records the run, one transaction.
    With mail to file that a sync recorded: 9 transactions, 4 of them writes, each a session of its own — the
    quiet check, the open, the sync's (no news), the waiting alerts, then the filer's five: what the run starts
    from (the mailbox, the month, the CRM changes and the mail to file, one transaction: it was two), the
    categories, the intents (committed before Gmail is asked), the Gmail changes marked (after), the run recorded.
    A step is the work between two calls to Gmail: no transaction stays open across one."""
    from crm_store.leases import Job

    runner, account_id = filing.services.jobs.runner, filing.account_id()
    with Transactions(filing.engine) as quiet:
        outcome = runner.run(account_id, Job.LABELS, may_skip_sync=True)
    assert outcome.quiet and not outcome.filed
    assert (quiet.counts["transactions"], quiet.counts["writes"]) == (1, 1), quiet.counts

    gmail_id = filing.mail("jane@acme.example", "To be filed")
    filing.run("sync")  # recorded, to be filed by the next label run
    with Transactions(filing.engine) as filed:
        outcome = runner.run(account_id, Job.LABELS, may_skip_sync=True)
    assert not outcome.quiet and outcome.filed == {"Open Deals": 1}
    assert "Open Deals" in filing.gmail.label_names(REP_GMAIL, gmail_id)
    assert filed.counts["transactions"] <= 9 and filed.counts["writes"] <= 4, filed.counts



def envelope(address: str, history_id: int) -> dict:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": history_id}).encode()).decode()
    return {"message": {"data": data, "messageId": "1"}}


def test_a_push_taken_and_run_is_five_transactions_the_claim_reading_the_mailbox_itself(pushed):
    jobs = pushed.services.jobs
    with session_scope(pushed.engine) as session:
        account = session.get(GmailAccount, pushed.account_id())
        address, cursor = account.email_address, int(account.history_id)
    pushed.mail("jane@acme.example", "Pushed to you")
    with Transactions(pushed.engine) as counted:
        assert jobs.push_received(envelope(address, cursor + 1)) == "accepted"
        jobs.wait_for_requested()
    assert len(alerts_in(pushed, pushed.slack.dm_channel(TEAM, REP))) == 1
    # The push's claim (one conditional UPDATE, no read of the mailbox before it); the open; the sync; the look
    # before the post; the release. Before: one more (the push's read of the mailbox, then the claim), 15 statements.
    assert counted.counts["transactions"] == 5, counted.counts
    assert counted.counts["writes"] == 3, counted.counts
    assert counted.counts["statements"] <= STATEMENTS, counted.counts


def test_a_push_the_mailbox_was_synced_past_claims_nothing_and_runs_nothing(pushed):
    jobs = pushed.services.jobs
    with session_scope(pushed.engine) as session:
        account = session.get(GmailAccount, pushed.account_id())
        address, cursor = account.email_address, int(account.history_id)
    for history_id in (cursor, cursor - 1):  # at the cursor, and behind it (a late push)
        with Transactions(pushed.engine) as counted:
            assert jobs.push_received(envelope(address, history_id)) == "coalesced"
            jobs.wait_for_requested()
        # One statement claims when there is news and otherwise says what it saw (`crm_store.push_leases`): no read
        # after it. Before: the conditional claim (nothing claimed), then the read that decided, 2 statements.
        assert counted.counts["transactions"] == 1, counted.counts
        assert counted.counts["statements"] == 1, counted.counts
    with session_scope(pushed.engine) as session:
        account = session.get(GmailAccount, pushed.account_id())
        assert (account.lease_owner, account.lease_expires_at, account.history_id) == (None, None, str(cursor))


def test_a_push_while_the_mailboxs_run_is_in_flight_is_a_read_and_a_recorded_request(pushed, monkeypatch):
    """The push's claim is not tried when this replica's own run holds the mailbox (it would take nothing), neither
    the one-statement claim nor the claim by id: the push is read and recorded for that run to pick up."""
    jobs = pushed.services.jobs
    with session_scope(pushed.engine) as session:
        account = session.get(GmailAccount, pushed.account_id())
        address, cursor = account.email_address, int(account.history_id)
    running, go_on = threading.Event(), threading.Event()
    run = jobs.runner.run

    def held_run(*args, **kwargs):
        running.set()
        assert go_on.wait(30)
        return run(*args, **kwargs)

    monkeypatch.setattr(jobs.runner, "run", held_run)
    pushed.mail("jane@acme.example", "Pushed to you")
    assert jobs.push_received(envelope(address, cursor + 1)) == "accepted"
    assert running.wait(30)
    try:
        with Transactions(pushed.engine) as counted:
            assert jobs.push_received(envelope(address, cursor + 2)) == "accepted"
    finally:
        go_on.set()
    jobs.wait_for_requested()
    # The read; the request recorded for the run to see. (Before issue 17's last round also the claim by id, which
    # took nothing: 3 transactions.)
    assert counted.counts["transactions"] == 2, counted.counts
    assert counted.counts["statements"] == 2, counted.counts
    assert len(alerts_in(pushed, pushed.slack.dm_channel(TEAM, REP))) == 1


def test_a_push_run_builds_no_orm_entity(pushed):
    """Issue 17: the push path reads rows (the mailbox as `open` reads it, the alerts it records) instead of loading
    or constructing ORM entities, whose instrumentation cost more CPU than the statements themselves."""
    from sqlalchemy.orm import Mapper

    built: Counter = Counter()

    def loaded(target, _context):
        built[f"loaded {type(target).__name__}"] += 1

    def constructed(target, _args, _kwargs):
        built[f"constructed {type(target).__name__}"] += 1

    jobs = pushed.services.jobs
    pushed.mail("jane@acme.example", "Pushed to you")
    event.listen(Mapper, "load", loaded)
    event.listen(Mapper, "init", constructed)
    try:
        assert jobs.request_sync(pushed.account_id())
        jobs.wait_for_requested()
    finally:
        event.remove(Mapper, "load", loaded)
        event.remove(Mapper, "init", constructed)
    assert len(alerts_in(pushed, pushed.slack.dm_channel(TEAM, REP))) == 1
    assert not built, built
