"""Row lock order between a CRM delete of a contact and a mailbox's sync (red team, locks item 2).

The sync's transaction locks the contact's row before the contact's alerts and follow-ups: its alert INSERT's foreign
key takes a KEY SHARE lock on the contact (PostgreSQL), then it moves the open follow-up of the thread to the newer
message (an UPDATE of that follow-up). The delete (`crm_store.records.contacts`) deleted the contact's alerts and
follow-ups and the contact last: with the sync in between, the delete held the follow-up and waited for the contact,
the sync held the contact and waited for the follow-up. The delete now locks its contacts first. The interleaving is
forced as in tests/gmail/test_lock_order.py; on SQLite (one writer at a time) it must simply work."""
from __future__ import annotations

import pytest
from sqlmodel import select

import crm_store.records.bulk as bulk_module
from crm_store.db import session_scope
from crm_store.leases import Job
from crm_store.models import Alert, Contact, Followup, MailboxMessage
from crm_store.records import ingest_records
from crm_store.sources import ChangeSource
from gmail.magnet import MailMagnet
from tests.support.alerts import CONTACTS, DEALS
from tests.support.locks import WAIT, Pause, finished, in_thread, wait_until_waiting_for_a_lock
from usecases.mailbox_run import MailboxRunner

JANE = '"Jane Doe" <jane@acme.example>'


@pytest.fixture
def waiting_on_jane(live):
    """Jane wrote and nobody answered: her alert is posted and her follow-up open. Returns her contact id and the
    thread."""
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail(JANE, "Renewal question")
    live.run("sync")
    with session_scope(live.engine) as session:
        followup = session.exec(select(Followup).where(Followup.account_id == account_id)).one()
        return followup.contact_id, followup.thread_id


def of_contact(live, contact_id):
    with session_scope(live.engine) as session:
        return (session.get(Contact, contact_id) is not None,
                len(session.exec(select(Alert).where(Alert.contact_id == contact_id)).all()),
                len(session.exec(select(Followup).where(Followup.contact_id == contact_id)).all()))


def test_deleting_a_contact_while_a_sync_records_her_new_mail_does_not_deadlock(live, waiting_on_jane, monkeypatch):
    """Jane writes again in her thread: the sync inserts her alert (locking her contact's row for the foreign key),
    then moves her open follow-up to the new message, while the CRM deletes her."""
    contact_id, thread_id = waiting_on_jane
    # One attempt: the ingest retries a deadlock (its own victim), which would hide it here.
    monkeypatch.setattr(bulk_module, "_ATTEMPTS", 1)
    pause = Pause()
    real = MailMagnet.record

    def record_then_pause(self, session, batch):
        real(self, session, batch)
        pause.here()  # her alert is inserted (her row KEY SHARE locked); the follow-up's UPDATE is next

    monkeypatch.setattr(MailMagnet, "record", record_then_pause)
    live.mail(JANE, "Re: Renewal question", thread_id=thread_id)
    runner = MailboxRunner(live.services)
    syncing = in_thread(lambda: runner.run(live.account_id(), Job.SYNC))
    assert pause.reached.wait(WAIT)
    deleting = in_thread(lambda: ingest_records(live.engine, "contacts", [{"external_id": "C1", "deleted": True}],
                                                source=ChangeSource.API))
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    outcome = finished(*syncing)
    assert outcome.get("error") is None and outcome["value"].error is None, outcome
    assert outcome["value"].sync.status == "synced", outcome
    deleted = finished(*deleting)
    assert deleted.get("error") is None, deleted
    assert deleted["value"].deleted == 1
    assert of_contact(live, contact_id) == (False, 0, 0)  # her new alert and her follow-up went with her


def test_a_sync_recording_mail_of_a_contact_being_deleted_waits_for_the_delete(live, waiting_on_jane, monkeypatch):
    """The other order: the delete has locked Jane's row when the sync inserts her alert. The sync waits at that
    INSERT holding nothing the delete needs; the delete commits and the INSERT's foreign key fails: the chunk's
    transaction rolls back and runs once more on what is there now, storing her mail as a stranger's (no alert, no
    follow-up). It ended the run as "gone" (the mailbox vanished, it said), its mail left to the next run."""
    import crm_store.records.contacts as contacts_module

    contact_id, thread_id = waiting_on_jane
    monkeypatch.setattr(bulk_module, "_ATTEMPTS", 1)
    pause = Pause()
    real = contacts_module._lock_contacts

    def lock_then_pause(connection, contact_ids):
        real(connection, contact_ids)
        pause.here()  # her row is locked; her deals, alerts, follow-ups and herself are deleted next

    monkeypatch.setattr(contacts_module, "_lock_contacts", lock_then_pause)
    deleting = in_thread(lambda: ingest_records(live.engine, "contacts", [{"external_id": "C1", "deleted": True}],
                                                source=ChangeSource.API))
    assert pause.reached.wait(WAIT)
    live.mail(JANE, "Re: Renewal question", thread_id=thread_id)
    runner = MailboxRunner(live.services)
    syncing = in_thread(lambda: runner.run(live.account_id(), Job.SYNC))
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    deleted = finished(*deleting)
    assert deleted.get("error") is None, deleted
    outcome = finished(*syncing)
    assert outcome.get("error") is None and outcome["value"].error is None, outcome
    assert outcome["value"].sync.status == "synced" and outcome["value"].sync.new_messages == 1, outcome
    assert of_contact(live, contact_id) == (False, 0, 0)
    with session_scope(live.engine) as session:
        assert len(session.exec(select(MailboxMessage).where(MailboxMessage.account_id == live.account_id())).all()) == 2
        assert session.exec(select(Alert)).all() == [] and session.exec(select(Followup)).all() == []


LEAD = {"external_id": "L-1", "email": "pat@prospect.example", "first_name": "Pat", "company": "Zylker",
        "lead_status": "Contacted"}


def test_converting_a_lead_while_a_sync_records_its_new_mail_does_not_deadlock(live, monkeypatch):
    """The same shape in a lead's conversion into an existing contact (`crm_store.leads.apply_conversion`): it moves
    the lead's alerts and follow-ups to the contact, then deletes the lead's row, while the sync holds that row (its
    alert INSERT's foreign key) and is about to move the lead's open follow-up."""
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    assert ingest_records(live.engine, "leads", [LEAD], source=ChangeSource.API).created == 1
    account_id = live.connect_with_magnet()
    live.mail("pat@prospect.example", "Pricing?")
    live.run("sync")
    with session_scope(live.engine) as session:
        followup = session.exec(select(Followup).where(Followup.account_id == account_id)).one()
        lead_id, thread_id = followup.contact_id, followup.thread_id
        bob_id = session.exec(select(Contact.id).where(Contact.external_id == "C2")).one()
    monkeypatch.setattr(bulk_module, "_ATTEMPTS", 1)
    pause = Pause()
    real = MailMagnet.record

    def record_then_pause(self, session, batch):
        real(self, session, batch)
        pause.here()  # the lead's alert is inserted (its row KEY SHARE locked); the follow-up's UPDATE is next

    monkeypatch.setattr(MailMagnet, "record", record_then_pause)
    live.mail("pat@prospect.example", "Re: Pricing?", thread_id=thread_id)
    runner = MailboxRunner(live.services)
    syncing = in_thread(lambda: runner.run(account_id, Job.SYNC))
    assert pause.reached.wait(WAIT)
    converting = in_thread(lambda: ingest_records(live.engine, "leads", [dict(LEAD, converted_contact_external_id="C2")],
                                                  source=ChangeSource.API))
    wait_until_waiting_for_a_lock(live.engine)
    pause.go.set()
    outcome = finished(*syncing)
    assert outcome.get("error") is None and outcome["value"].error is None, outcome
    assert outcome["value"].sync.status == "synced", outcome
    converted = finished(*converting)
    assert converted.get("error") is None, converted
    assert converted["value"].updated == 1
    assert of_contact(live, lead_id) == (False, 0, 0)
    assert of_contact(live, bob_id) == (True, 2, 1)  # both alerts and the follow-up are Bob's now
