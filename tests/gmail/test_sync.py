"""The per-mailbox sync pipeline against the emulator: once per message, nothing lost, cheap when idle."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crm_store.db import session_scope
from crm_store.mailboxes import set_labels
from crm_store.models import AccountStatus, GmailAccount, MailboxMessage
from sandbox.gmail_emulator import Fault
from tests.support.gmail import RecordingSubscriber

USER = "ann@gmail.example"


def insert(env, count, start=0, **kwargs):
    return [env.emu.insert_message(USER, sender=f"C{i} <c{i}@acme.example>", to=USER, subject=f"S{i}", **kwargs)
            for i in range(start, start + count)]


def stored_ids(env, account_id):
    with session_scope(env.engine) as session:
        return set(session.exec(
            MailboxMessage.__table__.select().with_only_columns(MailboxMessage.gmail_id)
            .where(MailboxMessage.account_id == account_id)
        ).scalars())


class ExplodingSubscriber(RecordingSubscriber):
    def __init__(self, explode_times: int):
        super().__init__()
        self.left = explode_times

    def record(self, connection, batch):
        if self.left > 0:
            self.left -= 1
            raise RuntimeError("crash while recording")
        super().record(connection, batch)


def test_first_sync_starts_from_now_and_then_hands_each_new_message_once(gmail_env):
    account_id = gmail_env.connect(USER)
    old = insert(gmail_env, 3)
    sub = RecordingSubscriber()
    pipeline = gmail_env.pipeline(sub)
    first = pipeline.sync(account_id)
    assert first.initial and sub.recorded == [] and not set(old) & stored_ids(gmail_env, account_id)
    new = insert(gmail_env, 4, start=10)
    result = pipeline.sync(account_id)
    assert result.status == "synced" and result.new_messages == 4
    assert sub.recorded == [(i, True) for i in new] and sub.delivered == new
    with session_scope(gmail_env.engine) as session:
        row = session.exec(MailboxMessage.__table__.select().where(MailboxMessage.gmail_id == new[0])).one()
        assert row.from_address == "c10@acme.example" and row.received_at is not None
    gmail_env.emu.reset_counters()
    again = pipeline.sync(account_id)
    assert again.new_messages == 0 and len(sub.recorded) == 4
    assert gmail_env.emu.quota_units(USER) == 2  # one history.list


def test_history_id_is_stored_as_text_beyond_signed_64_bit(gmail_env):
    account_id = gmail_env.connect(USER)
    gmail_env.pipeline().sync(account_id)
    history_id = gmail_env.account(account_id).history_id
    assert isinstance(history_id, str) and int(history_id) > 2**63


def test_expired_history_resyncs_without_handing_anything_twice(gmail_env):
    account_id = gmail_env.connect(USER)
    sub = RecordingSubscriber()
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    seen = insert(gmail_env, 3)
    pipeline.sync(account_id)
    gap = insert(gmail_env, 2, start=20)
    gmail_env.emu.expire_history(USER)
    result = pipeline.sync(account_id)
    assert result.full_resync and result.status == "synced"
    assert sub.ids == seen + gap[::-1] or sorted(sub.ids) == sorted(seen + gap)
    assert len(sub.ids) == len(set(sub.ids)) == 5
    assert all(alertable for gmail_id, alertable in sub.recorded if gmail_id in gap)
    later = insert(gmail_env, 1, start=30)
    pipeline.sync(account_id)
    assert sub.ids[-1] == later[0] and len(sub.ids) == 6


def test_crash_while_recording_loses_nothing_and_duplicates_nothing(gmail_env):
    account_id = gmail_env.connect(USER)
    sub = ExplodingSubscriber(explode_times=1)
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    cursor = gmail_env.account(account_id).history_id
    new = insert(gmail_env, 5)
    with pytest.raises(RuntimeError):
        pipeline.sync(account_id)
    assert gmail_env.account(account_id).history_id == cursor and stored_ids(gmail_env, account_id) == set()
    pipeline.sync(account_id)
    assert sub.ids == new
    pipeline.sync(account_id)
    assert sub.ids == new


def test_failed_delivery_does_not_hold_back_the_cursor(gmail_env):
    account_id = gmail_env.connect(USER)

    class FailingDelivery(RecordingSubscriber):
        def deliver(self, batch, mailbox):
            raise RuntimeError("Slack is down")

    sub = FailingDelivery()
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    insert(gmail_env, 2)
    assert pipeline.sync(account_id).status == "synced"
    assert len(sub.recorded) == 2 and pipeline.sync(account_id).new_messages == 0


def test_faults_on_a_fifth_of_calls_lose_and_duplicate_nothing(gmail_env):
    account_id = gmail_env.connect(USER)
    sub = RecordingSubscriber()
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    for status in (429, 403, 500, 503, "drop"):
        gmail_env.emu.add_fault(Fault(rate=0.04, status=status, seed=hash(str(status)) % 1000))
    expected = []
    for round_ in range(4):
        expected += insert(gmail_env, 50, start=round_ * 50)
        for _ in range(10):
            if pipeline.sync(account_id).status == "synced":
                break
    gmail_env.emu.clear_faults()
    pipeline.sync(account_id)
    assert sorted(sub.ids) == sorted(expected) and len(sub.ids) == len(expected)


def test_revoked_access_stops_the_mailbox_and_tells_once(gmail_env):
    account_id = gmail_env.connect(USER)
    pipeline = gmail_env.pipeline(RecordingSubscriber())
    pipeline.sync(account_id)
    gmail_env.emu.revoke_access(USER)
    gmail_env.emu.expire_access_tokens(USER)
    assert pipeline.sync(account_id).status == "revoked"
    account = gmail_env.account(account_id)
    assert account.status == AccountStatus.REVOKED and account.encrypted_credentials is None
    gmail_env.emu.reset_counters()
    assert pipeline.sync(account_id).status == "skipped"
    assert gmail_env.emu.calls == [] and len(gmail_env.revoked) == 1


def test_backfill_on_enabling_labels_takes_the_inbox_within_the_lookback(gmail_env):
    account_id = gmail_env.connect(USER)
    now = datetime.now(timezone.utc)
    recent = insert(gmail_env, 3, date=now - timedelta(days=2))
    insert(gmail_env, 2, start=10, date=now - timedelta(days=45))
    insert(gmail_env, 1, start=20, label_ids=("SENT",))
    sub = RecordingSubscriber()
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    with session_scope(gmail_env.engine) as session:
        set_labels(session, session.get(GmailAccount, account_id), True)
    result = pipeline.sync(account_id)
    assert result.backfilled == 3 and sorted(sub.ids) == sorted(recent)
    assert not any(alertable for _, alertable in sub.recorded)  # old mail is not news
    assert gmail_env.account(account_id).backfill_done
    assert pipeline.sync(account_id).new_messages == 0


def test_a_message_whose_metadata_cannot_be_read_is_skipped_and_the_cursor_moves_on(gmail_env, monkeypatch,
                                                                                     caplog):
    import gmail.sync as sync_module

    account_id = gmail_env.connect(USER)
    sub = RecordingSubscriber()
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    bad = gmail_env.emu.insert_message(USER, sender="C1 <c1@acme.example>", to=USER, subject="Secret subject")
    good = insert(gmail_env, 1, start=5)[0]
    real = sync_module.from_gmail_metadata

    def unreadable(raw):
        if raw.get("id") == bad:
            raise ValueError(f"cannot read {raw}")  # carries content: it must not reach the log
        return real(raw)

    monkeypatch.setattr(sync_module, "from_gmail_metadata", unreadable)
    with caplog.at_level("WARNING"):
        result = pipeline.sync(account_id)
    assert result.status == "synced" and sub.ids == [good]
    assert bad in caplog.text and "Secret subject" not in caplog.text and "acme.example" not in caplog.text
    gmail_env.emu.reset_counters()
    assert pipeline.sync(account_id).new_messages == 0 and gmail_env.emu.quota_units(USER) == 2  # cursor moved on


def test_hostile_from_headers_are_stored_without_an_address_and_the_cursor_moves_on(gmail_env):
    account_id = gmail_env.connect(USER)
    sub = RecordingSubscriber()
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    hostile = [gmail_env.emu.insert_message(USER, sender=sender, to=USER, subject="x")
               for sender in ("(" * 250, "A (" * 300 + "<a@b.example>", "Eve <e\x00ve@evil.example>")]
    normal = insert(gmail_env, 1, start=7)
    assert pipeline.sync(account_id).status == "synced"
    assert sub.ids == hostile + normal
    with session_scope(gmail_env.engine) as session:
        stored = dict(session.exec(
            MailboxMessage.__table__.select().with_only_columns(MailboxMessage.gmail_id, MailboxMessage.from_address)
            .where(MailboxMessage.account_id == account_id)).all())
    assert [stored[i] for i in hostile] == ["", "", ""] and stored[normal[0]] == "c7@acme.example"


def test_the_history_tells_which_stored_messages_left_the_inbox_at_no_extra_cost(gmail_env):
    account_id = gmail_env.connect(USER)
    pipeline = gmail_env.pipeline(RecordingSubscriber())
    pipeline.sync(account_id)
    kept, archived, back = insert(gmail_env, 3)
    pipeline.sync(account_id)

    def in_inbox():
        with session_scope(gmail_env.engine) as session:
            return dict(session.exec(
                MailboxMessage.__table__.select().with_only_columns(MailboxMessage.gmail_id, MailboxMessage.in_inbox)
                .where(MailboxMessage.account_id == account_id)).all())

    assert in_inbox() == {kept: True, archived: True, back: True}
    gmail_env.emu.modify_labels(USER, archived, remove=["INBOX"])
    gmail_env.emu.modify_labels(USER, back, remove=["INBOX"])
    gmail_env.emu.modify_labels(USER, back, add=["INBOX"])
    gmail_env.emu.modify_labels(USER, kept, remove=["UNREAD"])  # read, still in the Inbox
    gmail_env.emu.reset_counters()
    assert pipeline.sync(account_id).new_messages == 0
    assert [c.method for c in gmail_env.emu.calls] == ["gmail.users.history.list"]
    assert in_inbox() == {kept: True, archived: False, back: True}

    # After a gap in the history, the listing of the Inbox says it all again.
    gmail_env.emu.modify_labels(USER, kept, remove=["INBOX"])
    gmail_env.emu.expire_history(USER)
    assert pipeline.sync(account_id).full_resync
    assert in_inbox() == {kept: False, archived: False, back: True}


def test_a_mailbox_revoked_during_its_sync_stores_nothing_and_keeps_its_cursor(gmail_env):
    """The cursor's UPDATE is the sync transaction's check of the mailbox (and of the lease): a mailbox that stopped
    being connected after the run opened it gets nothing stored, nothing delivered, its cursor where it was."""
    account_id = gmail_env.connect(USER)
    sub = RecordingSubscriber()
    pipeline = gmail_env.pipeline(sub)
    pipeline.sync(account_id)
    with session_scope(gmail_env.engine) as session:
        cursor = session.get(GmailAccount, account_id).history_id
    insert(gmail_env, 2)
    for expected_new in (2, 0):  # with mail to store (the last chunk's transaction), and with none (`_advance`)
        delivered, stored = list(sub.delivered), stored_ids(gmail_env, account_id)
        opened = pipeline.open(account_id)
        with session_scope(gmail_env.engine) as session:
            session.get(GmailAccount, account_id).status = AccountStatus.REVOKED
        result = pipeline.pull(opened)
        assert result.status == "gone" and sub.delivered == delivered
        assert stored_ids(gmail_env, account_id) == stored
        with session_scope(gmail_env.engine) as session:
            account = session.get(GmailAccount, account_id)
            assert account.history_id == cursor
            account.status = AccountStatus.CONNECTED
        if expected_new:
            assert pipeline.sync(account_id).new_messages == expected_new  # then it syncs as if nothing happened
            with session_scope(gmail_env.engine) as session:
                cursor = session.get(GmailAccount, account_id).history_id
