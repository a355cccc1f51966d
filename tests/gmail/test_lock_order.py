"""Row lock order between a mailbox's run and `/gmail disconnect` (red team, item 1): every transaction that writes
the mailbox's row and rows of its tables (messages, alerts, follow-ups) locks the mailbox's row first. Two
transactions taking them in opposite orders deadlock on PostgreSQL (one of them fails with "deadlock detected"
after deadlock_timeout); each test interleaves the two at the worst moment with barriers and waits for the second
to be seen waiting for a lock (pg_stat_activity). On SQLite, one writer at a time, the same interleaving must simply
work."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

import gmail.accounts as accounts_module
import gmail.sync as sync_module
from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job, LeaseLost
from crm_store.models import Alert, GmailAccount, MailboxMessage, utcnow
from gmail.accounts import disconnect_mailbox
from gmail.alert_results import write_alert_results
from testsupport.stack import REP_GMAIL
from tests.support.alerts import CONTACTS, DEALS
from tests.support.locks import WAIT, Pause, finished, in_thread, wait_until_waiting_for_a_lock
from usecases.mailbox_run import MailboxRunner

OWNER = "replica-a"


@pytest.fixture
def synced_mailbox(live):
    """A mailbox with one message from a contact stored and its alert posted; no run holds it."""
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    gmail_id = live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    live.run("sync")
    with session_scope(live.engine) as session:
        alert = session.exec(select(Alert).where(Alert.account_id == account_id)).one()
        assert alert.gmail_id == gmail_id
        return account_id, gmail_id, alert.id


def disconnect(live, account_id):
    services = live.services
    return lambda: disconnect_mailbox(services.engine, services.cipher, services.google, account_id)


def lease(live, account_id):
    assert leases.claim(live.engine, OWNER, Job.SYNC, limit=1, lease_seconds=600, force=True,
                        account_ids=[account_id]) == [account_id]


def gone(live, account_id):
    with session_scope(live.engine) as session:
        return session.get(GmailAccount, account_id) is None and not session.exec(
            select(MailboxMessage).where(MailboxMessage.account_id == account_id)).all()


def test_a_label_runs_fenced_filing_and_a_disconnect_do_not_deadlock(live, synced_mailbox, monkeypatch):
    """The label run records a filing with the fence first (mailbox row, then its messages); the disconnect deleted
    the messages first and the mailbox last: each waited for the other."""
    account_id, gmail_id, _ = synced_mailbox
    lease(live, account_id)
    pause = Pause()
    real = accounts_module._delete_mailbox_data

    def delete_then_pause(session, account):
        real(session, account)
        pause.here()  # the mailbox's rows are deleted (locked); the mailbox's own row is next

    monkeypatch.setattr(accounts_module, "_delete_mailbox_data", delete_then_pause)
    filer = MailboxRunner(live.services).filer
    disconnecting = in_thread(disconnect(live, account_id))
    assert pause.reached.wait(WAIT)

    def mark():
        with leases.running_under(OWNER):
            filer._mark(account_id, [gmail_id], None, utcnow())

    marking = in_thread(mark)
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    assert finished(*disconnecting).get("error") is None
    error = finished(*marking).get("error")
    assert error is None or isinstance(error, LeaseLost), error  # the holder of the lease decides, or no one
    assert gone(live, account_id)


def test_a_release_with_alert_results_and_a_disconnect_do_not_deadlock(live, synced_mailbox):
    """The run's last transaction writes its alerts' results with the release of the lease."""
    account_id, _, alert_id = synced_mailbox
    lease(live, account_id)
    pause = Pause()
    results = [{"b_id": alert_id, "b_status": "posted", "b_ts": "1.000001", "b_posted": utcnow()}]

    def results_then_pause(connection):
        write_alert_results(connection, results)
        pause.here()

    releasing = in_thread(lambda: leases.release(live.engine, OWNER, account_id,
                                                 next_sync_at=utcnow() + timedelta(minutes=1),
                                                 also=results_then_pause))
    assert pause.reached.wait(WAIT)
    disconnecting = in_thread(disconnect(live, account_id))
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    assert finished(*releasing).get("error") is None
    assert finished(*disconnecting).get("error") is None
    assert gone(live, account_id)


def test_a_sync_moving_messages_out_of_the_inbox_and_a_disconnect_do_not_deadlock(live, synced_mailbox,
                                                                                  monkeypatch):
    """Nothing new, but a stored message was archived: the sync's one transaction updates the message and moves
    the cursor."""
    account_id, gmail_id, _ = synced_mailbox
    live.gmail.archive(REP_GMAIL, gmail_id)
    pause = Pause()
    real = sync_module.apply_inbox_changes

    def change_then_pause(session, account, changes):
        real(session, account, changes)
        if changes:
            pause.here()

    monkeypatch.setattr(sync_module, "apply_inbox_changes", change_then_pause)
    runner = MailboxRunner(live.services)
    syncing = in_thread(lambda: runner.run(account_id, Job.SYNC))
    assert pause.reached.wait(WAIT)
    disconnecting = in_thread(disconnect(live, account_id))
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    outcome = finished(*syncing)
    assert outcome.get("error") is None and outcome["value"].error is None, outcome
    assert finished(*disconnecting).get("error") is None
    assert gone(live, account_id)


def test_a_stamp_before_a_post_and_magnet_off_do_not_deadlock(live, synced_mailbox, monkeypatch):
    """A run stamps a waiting alert before posting it (the fence first: the mailbox's row, then the alert) while the
    rep switches MailMagnet off (which skips the waiting alerts and switches the mailbox off)."""
    import gmail.magnet as magnet_module
    from crm_store.mailboxes import set_magnet
    from crm_store.models import AlertStatus

    account_id, _, alert_id = synced_mailbox
    with session_scope(live.engine) as session:  # an alert whose post failed: the next run stamps and posts it
        alert = session.get(Alert, alert_id)
        alert.status, alert.attempted_at, alert.slack_ts = AlertStatus.PENDING.value, None, None
    lease(live, account_id)
    pause = Pause()
    real = magnet_module.fence

    def fence_then_pause(connection, account):
        real(connection, account)
        pause.here()

    monkeypatch.setattr(magnet_module, "fence", fence_then_pause)
    magnet = MailboxRunner(live.services).magnet

    def stamp():
        with leases.running_under(OWNER):
            magnet._stamp(account_id, [alert_id])

    stamping = in_thread(stamp)
    assert pause.reached.wait(WAIT)

    def magnet_off():
        with session_scope(live.engine) as session:
            set_magnet(session, session.get(GmailAccount, account_id), False)

    switching = in_thread(magnet_off)
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    assert finished(*stamping).get("error") is None
    assert finished(*switching).get("error") is None
    with session_scope(live.engine) as session:
        assert session.get(GmailAccount, account_id).magnet_enabled is False
        assert session.get(Alert, alert_id).status == AlertStatus.SKIPPED.value


@pytest.mark.parametrize("listing", ["backfill", "full_resync"])
def test_a_last_chunk_marking_stored_mail_for_filing_and_a_disconnect_do_not_deadlock(live, synced_mailbox,
                                                                                     monkeypatch, listing):
    """Labels on: the sync lists the Inbox (a backfill, or a full resync after the history expired) and the listing
    names only a message stored before. The last chunk inserts nothing (no foreign key locks the mailbox's row), and
    the label filer marks the stored message for filing in it before the cursor's UPDATE: the disconnect locked the
    mailbox's row and waited for the message; the sync then waited for the mailbox's row."""
    from crm_store.mailboxes import set_labels
    from gmail.labels import LabelFiler

    account_id, gmail_id, _ = synced_mailbox
    with session_scope(live.engine) as session:
        account = session.get(GmailAccount, account_id)
        set_labels(session, account, True)
        account.backfill_done = listing == "full_resync"
    if listing == "full_resync":
        live.gmail.expire_history(REP_GMAIL)
    pause = Pause()
    real = LabelFiler.record

    def record_then_pause(self, session, batch):
        real(self, session, batch)
        if batch.known_in_inbox:
            pause.here()  # the stored message is marked (locked); the cursor's UPDATE is next

    monkeypatch.setattr(LabelFiler, "record", record_then_pause)
    runner = MailboxRunner(live.services)
    syncing = in_thread(lambda: runner.run(account_id, Job.SYNC))
    assert pause.reached.wait(WAIT)
    disconnecting = in_thread(disconnect(live, account_id))
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    outcome = finished(*syncing)
    assert outcome.get("error") is None and outcome["value"].error is None, outcome
    assert outcome["value"].sync.status in ("synced", "gone"), outcome  # the first to lock the mailbox goes first
    assert finished(*disconnecting).get("error") is None
    assert gone(live, account_id)
