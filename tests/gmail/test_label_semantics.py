"""SPEC §4 as a rep lives it, end to end (Gmail emulator → the real bot → Slack emulator): backfill of mail
MailMagnet already saw, mail whose sender gets a deal later, mail archived before the label run, the labels
appearing when labelling is switched on, and one hostile email that must not stop a mailbox."""
from __future__ import annotations

import json

from tests.support.alerts import CONTACTS, DEALS, alerts_in
from testsupport.stack import REP, REP_GMAIL, TEAM

LABELS = {"Deals Closing This Month", "Open Deals", "Customers"}


def labels_of(stack, gmail_id: str) -> set[str]:
    return stack.gmail.label_names(REP_GMAIL, gmail_id)


def why(stack, gmail_id: str) -> str:
    post = stack.command(REP, f"why {gmail_id}")
    return json.dumps(post.get("blocks") or post.get("text"))


def dm_alerts(stack) -> list[dict]:
    return alerts_in(stack, stack.slack.dm_channel(TEAM, REP))


def test_turning_labels_on_files_mail_magnet_already_saw_with_no_second_alert(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    seen = live.mail("Jane Doe <jane@acme.example>", "Seen while labels were off")
    live.run("sync")
    assert len(dm_alerts(live)) == 1
    assert "Labels are off" in why(live, seen)

    assert "*on*" in live.command(REP, "labels on")["text"]  # and the sync it started (the backfill) is done
    assert "next label run" in why(live, seen)
    live.run("labels")
    assert "Open Deals" in labels_of(live, seen) and "INBOX" not in labels_of(live, seen)
    assert "filed under Open Deals" in why(live, seen)
    assert len(dm_alerts(live)) == 1  # backfilled mail is never alerted, even mail MailMagnet saw


def test_mail_from_a_sender_who_gets_a_deal_later_is_filed_at_the_next_run(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.run("labels")
    early = live.mail("Nora <nora@newco.example>", "Before she was a contact")
    live.run("labels")
    assert "INBOX" in labels_of(live, early) and not labels_of(live, early) & LABELS
    # Nora becomes a contact, then gets an open deal: the mail left in the Inbox is filed at the next run.
    live.import_crm("email,first_name,company,external_id\nnora@newco.example,Nora,Newco,C9\n",
                    "name,contact_external_id,stage,closing_date,external_id\nNewco pilot,C9,Proposal,2099-05-01,D9\n")
    assert "CRM record changed after the last label run" in why(live, early)
    live.gmail.reset_counters()
    live.run("labels")
    assert "Open Deals" in labels_of(live, early) and "INBOX" not in labels_of(live, early)
    methods = [c.method for c in live.gmail.calls]
    assert methods == ["gmail.users.history.list", "gmail.users.messages.modify"]  # nothing listed, nothing fetched
    assert "filed under Open Deals" in why(live, early)
    assert dm_alerts(live) == []  # she was not a contact when it arrived


def test_a_contact_email_added_later_files_the_mail_from_that_address(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.run("labels")
    private = live.mail("Jane <jane.private@home.example>", "From her other address")
    live.run("labels")
    assert "INBOX" in labels_of(live, private)
    live.import_crm("email,secondary_email,external_id\njane@acme.example,jane.private@home.example,C1\n")
    live.run("labels")
    assert "Open Deals" in labels_of(live, private) and "INBOX" not in labels_of(live, private)


def test_mail_archived_between_the_sync_and_the_label_run_is_not_filed(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.run("labels")
    archived = live.mail("jane@acme.example", "Read and archived")
    kept = live.mail("jane@acme.example", "Left in the Inbox")
    live.run("sync")  # seen and marked for filing
    live.gmail.modify_labels(REP_GMAIL, archived, remove=["INBOX"])  # the rep archives it in Gmail
    live.gmail.reset_counters()
    live.run("labels")
    assert labels_of(live, archived) & (LABELS | {"INBOX"}) == set()  # left exactly as the rep left it
    assert "Open Deals" in labels_of(live, kept) and "INBOX" not in labels_of(live, kept)
    assert [c.method for c in live.gmail.calls] == ["gmail.users.history.list", "gmail.users.messages.modify"]
    assert "not in the Inbox" in why(live, archived)


def test_the_three_labels_exist_as_soon_as_labels_are_on(live):
    live.add_rep()
    live.gmail.create_label(REP_GMAIL, "customers")  # already there, in another case: reused
    live.connect_with_magnet()
    live.command(REP, "labels on")
    live.run("labels")  # nothing to file yet
    for name in LABELS:
        assert live.gmail.label_id(REP_GMAIL, name), name
    assert live.gmail.label_id(REP_GMAIL, "Customers") == live.gmail.label_id(REP_GMAIL, "customers")


def test_one_hostile_email_does_not_stop_the_mailbox(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.run("labels")
    hostile = live.mail("(" * 250 + "x", "Nested comments")
    live.run("labels")
    later = live.mail("Jane Doe <jane@acme.example>", "After the hostile one")
    live.run("labels")
    alerts = dm_alerts(live)
    assert len(alerts) == 1 and alerts[0]["metadata"]["event_payload"]["gmail_id"] == later
    assert "Open Deals" in labels_of(live, later) and "INBOX" not in labels_of(live, later)
    assert "INBOX" in labels_of(live, hostile)  # left where it was: it has no sender we can read
