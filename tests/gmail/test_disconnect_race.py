"""`/gmail disconnect` racing a mailbox run (red team, item 3): the disconnect lands while the sync's last
transaction is open, or between its commit and its posts. After both: the mailbox and everything stored for it are
gone, the disconnect did not fail, and no alert reached Slack after the disconnect returned.

The interleaving is forced with barriers at the sync's failpoints (`sync.cursor_transaction`: inside the transaction,
its rows and cursor written; `sync.committed`: committed, nothing posted) and, on PostgreSQL, by waiting until the
disconnect's transaction is seen waiting for a row lock (pg_stat_activity): no sleeps."""
from __future__ import annotations

import threading

import pytest
from sqlmodel import select

import gmail.sync as sync_module
from crm_store.db import session_scope
from crm_store.leases import Job
from crm_store.models import Alert, Followup, GmailAccount, MailboxMessage
from gmail.accounts import disconnect_mailbox, mark_revoked
from testsupport.stack import REP
from tests.support.alerts import CONTACTS, DEALS, alerts_in
from tests.support.locks import WAIT, in_thread, wait_until_waiting_for_a_lock
from usecases.mailbox_run import MailboxRunner



def stored(engine, account_id):
    with session_scope(engine) as session:
        rows = tuple(len(session.exec(select(model).where(model.account_id == account_id)).all())
                     for model in (MailboxMessage, Alert, Followup))
        return session.get(GmailAccount, account_id) is not None, rows


class Barriers:
    """Holds the sync at its failpoints: inside its last transaction until `commit` is set, after its commit until
    `post` is set."""

    def __init__(self, monkeypatch):
        self.in_transaction, self.commit, self.committed, self.post = (threading.Event() for _ in range(4))
        real = sync_module.failpoint

        def hook(name):
            real(name)
            if name == "sync.cursor_transaction":
                self.in_transaction.set()
                assert self.commit.wait(WAIT)
            elif name == "sync.committed":
                self.committed.set()
                assert self.post.wait(WAIT)

        monkeypatch.setattr(sync_module, "failpoint", hook)


@pytest.fixture
def mailbox_with_news(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    return account_id


def disconnect(live, account_id):
    services = live.services
    return lambda: disconnect_mailbox(services.engine, services.cipher, services.google, account_id)


def test_a_disconnect_waiting_on_the_syncs_last_transaction_deletes_everything_and_nothing_is_posted(
        live, mailbox_with_news, monkeypatch):
    account_id = mailbox_with_news
    gate = Barriers(monkeypatch)
    runner = MailboxRunner(live.services)
    sync_thread, sync_box = in_thread(lambda: runner.run(account_id, Job.SYNC))
    assert gate.in_transaction.wait(WAIT)  # the message, its alert, its follow-up and the cursor written
    disconnect_thread, disconnect_box = in_thread(disconnect(live, account_id))
    wait_until_waiting_for_a_lock(live.engine)  # PostgreSQL: the disconnect waits for the sync's row locks
    gate.commit.set()
    assert gate.committed.wait(WAIT)
    disconnect_thread.join(WAIT)
    assert not disconnect_thread.is_alive()
    gate.post.set()  # the sync's posts come after the disconnect returned
    sync_thread.join(WAIT)
    assert not sync_thread.is_alive() and "error" not in sync_box
    assert disconnect_box.get("error") is None and disconnect_box.get("value") is not None
    assert stored(live.engine, account_id) == (False, (0, 0, 0))
    assert alerts_in(live, live.slack.dm_channel("T0001", REP)) == []


def revoke(live, account_id):
    return lambda: mark_revoked(live.engine, account_id, "Google says the grant is gone")


@pytest.mark.parametrize("ending", [disconnect, revoke])
def test_a_disconnect_or_revoke_before_the_syncs_last_transaction_leaves_nothing_stored_and_nothing_posted(
        live, mailbox_with_news, monkeypatch, ending):
    account_id = mailbox_with_news
    with session_scope(live.engine) as session:
        cursor = session.get(GmailAccount, account_id).history_id
    runner = MailboxRunner(live.services)
    read = runner.pipeline._readable
    ended: list = []

    def end_after_the_gmail_reads(*args, **kwargs):
        messages = read(*args, **kwargs)
        if not ended:
            ended.append(ending(live, account_id)())
        return messages

    monkeypatch.setattr(runner.pipeline, "_readable", end_after_the_gmail_reads)
    outcome = runner.run(account_id, Job.SYNC)
    assert ended and ended[0]
    assert outcome.sync.status == "gone" and outcome.error is None
    with session_scope(live.engine) as session:
        account = session.get(GmailAccount, account_id)
        assert account is None or (account.status == "revoked" and account.history_id == cursor)
    assert stored(live.engine, account_id)[1] == (0, 0, 0)
    assert alerts_in(live, live.slack.dm_channel("T0001", REP)) == []
