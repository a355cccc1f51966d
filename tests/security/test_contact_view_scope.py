"""Issue 16, points 1 and 2 (SPEC §5 "What a view may list", THREATS "Scope by verified facts" and "Queries from
validated values only"), replayed through the running stack: signed Slack requests into the real server, the
Gmail emulator over HTTP.

Attackers: whoever writes CRM data (a contact whose address is a rep's own, a secondary email `-x@…`), and a
colleague who reads the views that contact opens. Every surface that involves a message with a contact — the
`/contact` list, *Show more*, *Open*, *Reply*, the App Home list, an alert's *View contact* and the audit log —
must involve only messages whose own headers show one of the contact's addresses as the counterparty, and never
count the organisation's own addresses as a contact's.

Contacts with the organisation's addresses are written straight into the store: that is what an ingest call, a
CSV import or a Zoho sync could do before those paths refused them, and what a contact looks like once its
address becomes a CRM user's. The views must hold whatever the store holds.
"""
from __future__ import annotations

import json

import pytest
from sqlmodel import select

from crm_store.db import insert_once, session_scope
from crm_store.models import Alert, AlertStatus, Contact, CrmUser, MailboxMessage
from crm_store.users import get_or_create_user
from handlers.blocks.ids import ActionId
from tests.support.slack import shown_text
from tests.support.contact_world import (
    CONTACTS,
    DEALS,
    JANE,
    audit_rows,
    buttons,
    contact_command,
    email_lines,
    ephemeral_of,
    mail_from_jane,
    open_email,
    open_values,
)
from testsupport.stack import REP, REP_GMAIL, TEAM

COLLEAGUE, COLLEAGUE_EMAIL = "U200COL", "colleague@crm.example"

# Rep A's private mail: nothing here is with a CRM contact, so nobody but A may see any of it.
PRIVATE = {
    "hr": ("HR Department <hr@people-ops.example>", "Disciplinary hearing hr-5e1d", "Hearing notes hr-body-77aa"),
    "bank": ("My Bank <alerts@bank.example>", "Statement bank-0b9e", "Balance bank-body-41d7"),
    "clinic": ("Clinic <results@clinic.example>", "Test results med-c3f0", "Results med-body-9d2c"),
}
SENT_SUBJECT, SENT_BODY = "Weekend plans sent-4a61", "Private sent-body-e810"
NOTE_SUBJECT, NOTE_BODY = "Note to self note-3b8d", "PIN reminder note-body-f00c"
SECRETS = [part for _, subject, body in PRIVATE.values() for part in (subject, body)] + [
    SENT_SUBJECT, SENT_BODY, NOTE_SUBJECT, NOTE_BODY]


def private_mail(stack) -> list[str]:
    """A's HR, bank and medical mail, a private email A sent, and a note A mailed to themselves (with A's own
    address as its only counterparty); returns their Gmail ids."""
    ids = [stack.gmail.insert_message(REP_GMAIL, sender=sender, to=f"Rep <{REP_GMAIL}>", subject=subject, body=body)
           for sender, subject, body in PRIVATE.values()]
    ids.append(stack.gmail.insert_message(REP_GMAIL, sender=REP_GMAIL, to="Friend <friend@home.example>",
                                          subject=SENT_SUBJECT, body=SENT_BODY, label_ids=["SENT"]))
    ids.append(stack.gmail.insert_message(REP_GMAIL, sender=REP_GMAIL, to=REP_GMAIL, subject=NOTE_SUBJECT,
                                          body=NOTE_BODY, label_ids=["INBOX", "SENT"]))
    return ids


def stored_contact(stack, address: str, *, owner_email: str | None = None, secondary: str | None = None) -> int:
    with session_scope(stack.engine) as session:
        owner = session.exec(select(CrmUser).where(CrmUser.email == owner_email)).one() if owner_email else None
        contact = Contact(email=address, secondary_email=secondary, first_name="Pat", last_name="Private",
                          owner_id=owner.id if owner else None)
        session.add(contact)
        session.flush()
        return contact.id


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def forged_open(stack, user: str, account_id: int, gmail_id: str, contact_id: int) -> str:
    """An "Open" whose value names (mailbox, message, contact) as the attacker likes; returns what the modal shows."""
    value = json.dumps({"a": account_id, "g": gmail_id, "c": contact_id})
    return shown_text(open_email(stack, user, value))


def answers_after(stack, before: int) -> dict:
    return stack.slack.wait_for(lambda: stack.slack.response_url_posts()[before:] or None, timeout=15)[-1]


def colleague_and_rep(stack, sharing: str) -> int:
    """Rep A connected with `sharing` at full depth; colleague B a CRM user (no mailbox). Returns A's mailbox id."""
    stack.add_rep()
    stack.add_rep(COLLEAGUE, COLLEAGUE_EMAIL, gmail=None)
    stack.import_crm(CONTACTS, DEALS)
    stack.connect()
    stack.update_mailbox(sharing=sharing, sharing_depth="full")
    return stack.account_id()


# -- a. a contact whose address is rep A's own Gmail address -------------------------------------------------

@pytest.mark.parametrize("sharing", ["custom", "public"])
def test_a_contact_with_a_reps_own_address_shows_a_colleague_none_of_that_reps_mail(stack, sharing):
    account_id = colleague_and_rep(stack, sharing)
    ids = private_mail(stack)
    # Owned by B: under Custom sharing that alone lets B see A's mail with this "contact".
    contact_id = stored_contact(stack, REP_GMAIL, owner_email=COLLEAGUE_EMAIL)

    post = contact_command(stack, REP_GMAIL, user=COLLEAGUE)
    assert leaked(shown_text(post)) == [] and email_lines(post) == [] and open_values(post) == []
    # The same contact picked from a list (what an alert's card and the shortcut lead to).
    before = len(stack.slack.response_url_posts())
    stack.driver.block_action(COLLEAGUE, ActionId.CONTACT_PICK.value,
                              value=json.dumps({"c": contact_id, "s": "contact_view"}))
    assert leaked(shown_text(answers_after(stack, before))) == []

    for gmail_id in ids:
        shown = forged_open(stack, COLLEAGUE, account_id, gmail_id, contact_id)
        assert "not one with this contact" in shown and leaked(shown) == []
    assert audit_rows(stack) == []


def test_an_alerts_view_contact_for_such_a_contact_lists_none_of_the_mail(stack):
    account_id = colleague_and_rep(stack, "custom")
    ids = private_mail(stack)
    contact_id = stored_contact(stack, REP_GMAIL, owner_email=COLLEAGUE_EMAIL)
    bot = stack.slack.team(TEAM).bot_user_id
    stack.slack.add_channel(TEAM, "G0TEAM", "team", members=[REP, COLLEAGUE, bot], is_private=True)
    # An alert MailMagnet posted for this "contact" (A's note to self) before its address was refused.
    note = ids[-1]
    with session_scope(stack.engine) as session:
        insert_once(session, Alert, account_id=account_id, gmail_id=note, contact_id=contact_id, channel="G0TEAM",
                    status=AlertStatus.POSTED.value)
    before = len(stack.slack.response_url_posts())
    response = stack.driver.block_action(COLLEAGUE, "alert_view_contact", channel_id="G0TEAM",
                                         value=json.dumps({"a": account_id, "g": note, "c": contact_id}))
    assert response.status == 200
    shown = shown_text(answers_after(stack, before))
    assert "Pat Private" in shown  # the card was shown: the listing below it is what is checked
    assert leaked(shown) == []
    assert audit_rows(stack) == []


def test_the_app_home_lists_no_mail_of_a_contact_with_the_reps_own_address(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    stored_contact(live, REP_GMAIL)
    hr = private_mail(live)[0]  # with A's note to self: in the Inbox, From A's own address
    mail_from_jane(live, "Renewal from Jane")
    live.run("sync")
    # Nor is the store's word taken for it: a row that says Jane sent A's HR mail (however it came to say so)
    # does not put that mail on the App Home; the headers Gmail gives for it decide.
    with session_scope(live.engine) as session:
        row = session.exec(select(MailboxMessage).where(MailboxMessage.gmail_id == hr)).one()
        row.from_address = JANE
        session.add(row)
    before = len(live.slack.views_published.get(REP, []))
    live.driver.app_home_opened(REP)
    home = live.slack.wait_for(lambda: live.slack.views_published.get(REP, [])[before:], timeout=15)[-1]
    shown = shown_text(home)
    assert "Renewal from Jane" in shown  # the list is there, with the real contact's email
    assert leaked(shown) == [] and "Pat Private" not in shown


# -- b. a secondary email that is a Gmail operator ------------------------------------------------------------

def test_a_secondary_email_starting_with_a_dash_does_not_list_every_message(stack):
    colleague_and_rep(stack, "public")
    with session_scope(stack.engine) as session:
        jane = session.exec(select(Contact).where(Contact.email == JANE)).one()
        jane.secondary_email = "-x@acme.example"
        session.add(jane)
    private_mail(stack)
    for n in range(10):  # enough private mail for more than one page
        stack.gmail.insert_message(REP_GMAIL, sender="Newsletter <news@shop.example>", to=REP_GMAIL,
                                   subject=f"{SENT_SUBJECT} offer {n}", body=SENT_BODY)
    mail_from_jane(stack, "Renewal terms")

    post = contact_command(stack, "jane", user=COLLEAGUE)
    shown = shown_text(post)
    assert leaked(shown) == []
    assert len(email_lines(post)) == 1 and "Renewal terms" in email_lines(post)[0]
    assert buttons(ephemeral_of(stack, COLLEAGUE, post), ActionId.CONTACT_MORE.value) == []
    assert {row.gmail_id for row in audit_rows(stack)} == {v["g"] for v in open_values(post)}


# -- c. a contact whose address later becomes a CRM user's ----------------------------------------------------

def test_a_contact_stops_matching_once_a_crm_user_has_its_address(stack):
    account_id = colleague_and_rep(stack, "public")
    sam = "sam@partner.example"
    contact_id = stored_contact(stack, sam)
    gmail_id = stack.gmail.insert_message(REP_GMAIL, sender=f"Sam <{sam}>", to=REP_GMAIL,
                                          subject="Partner pricing sam-6f0a", body="Numbers sam-body-31be")
    before = contact_command(stack, sam, user=COLLEAGUE)
    assert "sam-6f0a" in shown_text(before)  # a contact: B sees it, as Public sharing says
    audited = len(audit_rows(stack))

    with session_scope(stack.engine) as session:  # Sam joins the organisation
        get_or_create_user(session, sam)
    after = contact_command(stack, sam, user=COLLEAGUE)
    assert "sam-6f0a" not in shown_text(after) and email_lines(after) == []
    shown = forged_open(stack, COLLEAGUE, account_id, gmail_id, contact_id)
    assert "not one with this contact" in shown and "sam-6f0a" not in shown
    assert len(audit_rows(stack)) == audited


# -- d. the contact is in the headers, but not as the counterparty ---------------------------------------------

def test_mail_where_the_contact_is_not_the_counterparty_is_neither_listed_nor_opened(stack):
    account_id = colleague_and_rep(stack, "public")
    genuine = mail_from_jane(stack, "Renewal terms")
    copied = stack.gmail.insert_message(REP_GMAIL, sender="Manager <manager@crm.example>", to=REP_GMAIL, cc=JANE,
                                        subject="Discount ceiling cc-2b7e", body="Internal cc-body-8c11")
    addressed = stack.gmail.insert_message(REP_GMAIL, sender="Manager <manager@crm.example>",
                                           to=[REP_GMAIL, JANE], subject="Board notes to-1d4f", body="to-body-a3c2")
    mentioned = stack.gmail.insert_message(REP_GMAIL, sender="Recruiter <hr@people-ops.example>", to=REP_GMAIL,
                                           subject="Reference check body-66e0", body=f"About {JANE}: body-5c9b")
    # Gmail's search matches words, not addresses: these are found by the query, and are not Jane's.
    named = stack.gmail.insert_message(REP_GMAIL, sender=f'"{JANE}" <offers@stranger.example>', to=REP_GMAIL,
                                       subject="Named like Jane name-90ab", body="name-body-17fe")
    lookalike = stack.gmail.insert_message(REP_GMAIL, sender=f"x.{JANE}", to=REP_GMAIL,
                                           subject="Look-alike like-4c3d", body="like-body-e2a9")
    hidden = ["cc-2b7e", "cc-body-8c11", "to-1d4f", "to-body-a3c2", "body-66e0", "body-5c9b", "name-90ab",
              "name-body-17fe", "like-4c3d", "like-body-e2a9"]

    post = contact_command(stack, JANE, user=COLLEAGUE)
    shown = shown_text(post)
    assert "Renewal terms" in shown and not [h for h in hidden if h in shown]
    assert [v["g"] for v in open_values(post)] == [genuine]
    jane_id = open_values(post)[0]["c"]
    for gmail_id in (copied, addressed, mentioned, named, lookalike):
        detail = forged_open(stack, COLLEAGUE, account_id, gmail_id, jane_id)
        assert "not one with this contact" in detail and not [h for h in hidden if h in detail]
    assert [row.gmail_id for row in audit_rows(stack)] == [genuine]


def test_sent_mail_is_with_the_contact_it_went_to(stack):
    """The rule's other half: a sent email (the SENT label, or From the mailbox's own address) is with the
    contact it went to or copied; one the rep sent to someone else is not, whoever is named in it."""
    colleague_and_rep(stack, "public")
    stack.gmail.insert_message(REP_GMAIL, sender=REP_GMAIL, to="Boss <boss@crm.example>", cc=JANE,
                               subject="Proposal copied to Jane", label_ids=["SENT"])
    stack.gmail.insert_message(REP_GMAIL, sender=f"Rep <{REP_GMAIL}>", to=JANE, subject="Proposal to Jane",
                               label_ids=["INBOX"])  # filed by a filter: no SENT label, From is the mailbox
    stack.gmail.insert_message(REP_GMAIL, sender=REP_GMAIL, to="Friend <friend@home.example>",
                               subject=f"Gossip about {JANE} sent-77e1", label_ids=["SENT"])
    shown = shown_text(contact_command(stack, JANE, user=COLLEAGUE))
    assert "Proposal copied to Jane" in shown and "Proposal to Jane" in shown
    assert "sent-77e1" not in shown


# -- e. Reply on a message that is not with the contact ----------------------------------------------------------

def _reply(stack, user: str, account_id: int, gmail_id: str, contact_id: int) -> str:
    before = len(stack.slack.view_calls)
    stack.driver.block_action(user, ActionId.EMAIL_REPLY.value,
                              value=json.dumps({"a": account_id, "g": gmail_id, "c": contact_id}))
    calls = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:] if c["method"] == "views.update"
                                          and c["user_id"] == user], timeout=15)
    return json.dumps(calls[-1]["view"])


def test_reply_on_a_message_that_is_not_with_the_contact_is_refused(stack):
    account_id = colleague_and_rep(stack, "public")
    hr = private_mail(stack)[0]
    genuine = mail_from_jane(stack, "Renewal terms")
    post = contact_command(stack, JANE, user=REP)
    jane_id = open_values(post)[0]["c"]

    refused = _reply(stack, REP, account_id, hr, jane_id)
    assert "not one with this contact" in refused and leaked(refused) == []
    assert "Re: Renewal terms" in _reply(stack, REP, account_id, genuine, jane_id)
    assert stack.gmail.sent_messages(REP_GMAIL) == []
