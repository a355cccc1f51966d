"""`/contact` end to end (SPEC F5, F7): search, the card, emails from every visible mailbox live from Gmail, a
failing mailbox among five, "Show more" paging, the message shortcut, and disconnect."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

from handlers.blocks.ids import ActionId, CallbackId
from sandbox.gmail_emulator import Fault
from tests.support.contact_world import (
    CONTACTS,
    DEALS,
    JANE,
    audit_rows,
    buttons,
    click,
    contact_command,
    email_lines,
    ephemeral_of,
    mail_from_jane,
    open_email,
    open_values,
    text_of,
)
from tests.support.slack import account_of, ask
from testsupport.stack import REP, REP_GMAIL, TEAM

COLLEAGUE, COLLEAGUE_GMAIL = "U200COL", "colleague@gmail.example"


def test_one_match_shows_the_card_and_the_emails_received_and_sent(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "Renewal question", body="Can we talk pricing next week?")
    stack.gmail.insert_message(REP_GMAIL, sender=REP_GMAIL, to="Jane <jane.doe@acme-holdings.example>",
                               subject="Our proposal", body="Attached", label_ids=["SENT"])
    stack.mail("stranger@nowhere.example", "Not about Jane")
    post = contact_command(stack, "<mailto:jane@acme.example|jane@acme.example>")
    shown = text_of(post)
    for expected in ("Jane Doe", "Acme", "+1 555 0100", "owner@crm.example", "Acme renewal", "Negotiation",
                     "12500", "2099-01-15", "Open Deals", "Renewal question", "Can we talk pricing", "Our proposal",
                     "your mailbox"):
        assert expected in shown, expected
    assert "Not about Jane" not in shown
    lines = email_lines(post)
    assert len(lines) == 2 and "Our proposal" in lines[0] and ":outbox_tray:" in lines[0]  # newest first
    assert ":inbox_tray:" in lines[1]
    # One messages.list (its query covers both of Jane's addresses: the sent email went to her second one).
    assert stack.gmail.call_counts(REP_GMAIL).get("gmail.users.messages.list") == 1
    assert audit_rows(stack) == []  # the owner's own emails are not audited


def test_a_name_matching_several_contacts_offers_a_choice(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "Hello from Jane")
    post = contact_command(stack, "doe")
    shown = text_of(post)
    assert "Several contacts match" in shown and "Jane Doe" in shown and "John Doe" in shown
    assert "Bob Smith" not in shown
    picks = buttons(post, ActionId.CONTACT_PICK.value)
    jane = next(b for b in picks if json.loads(b["value"])["c"] == _contact_id(picks, "Jane", post))
    posts = click(stack, REP, post, ActionId.CONTACT_PICK.value, value=jane["value"])
    final = stack.slack.wait_for(lambda: [p for p in posts if p.get("replace_original")] or
                                 [p for p in stack.slack.response_url_posts(posts[0]["key"]) if p.get("replace_original")])
    assert "Hello from Jane" in text_of(final[-1]) and "Acme renewal" in text_of(final[-1])


def _contact_id(picks, first_name, post) -> int:
    for block in post["blocks"]:
        if first_name in (block.get("text") or {}).get("text", "") and block.get("accessory"):
            return json.loads(block["accessory"]["value"])["c"]
    raise AssertionError(first_name)


def test_nothing_found_names_the_closest_contacts(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    shown = text_of(contact_command(stack, "Jane Dough"))
    assert "No CRM contact matches" in shown and "Jane Doe" in shown
    response = stack.driver.slash_command(REP, "/contact", "   ")
    usage = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url))[-1]
    assert "/contact <email or name>" in text_of(usage)


def test_a_slack_user_who_is_not_a_crm_user_gets_a_refusal_and_no_data(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "Secret renewal terms")
    stack.update_mailbox(sharing="public", sharing_depth="full")
    stack.slack.add_user(TEAM, "U404NOB", email="nobody@elsewhere.example")
    shown = text_of(contact_command(stack, JANE, user="U404NOB"))
    assert "CRM users only" in shown
    for secret in ("Acme renewal", "Secret renewal", "+1 555", "Jane Doe"):
        assert secret not in shown


def five_mailboxes(stack, sharing: str = "public", depth: str = "full") -> list[tuple[str, str]]:
    reps = [(REP, REP_GMAIL)] + [(f"U30{n}REP", f"rep{n}@gmail.example") for n in range(1, 5)]
    stack.add_rep()
    for user, gmail in reps[1:]:
        stack.add_rep(user, f"rep{user[3]}@crm.example", gmail=gmail)
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    for user, gmail in reps:
        stack.connect(user, gmail)
        stack.update_mailbox(gmail, sharing=sharing, sharing_depth=depth)
    return reps


def test_a_failing_mailbox_among_five_is_unavailable_and_the_others_show(stack):
    stack.import_crm(CONTACTS, DEALS)
    reps = five_mailboxes(stack)
    for user, gmail in reps:
        mail_from_jane(stack, f"Note for {gmail}", gmail=gmail)
    broken_user, broken = reps[2]
    stack.gmail.add_fault(Fault(method="gmail.users.messages.list", user=broken, status=500, rate=1.0))
    post = contact_command(stack, JANE, user=COLLEAGUE)
    shown = text_of(post)
    assert "Unavailable right now" in shown and f"<@{broken_user}>'s mailbox" in shown
    for user, gmail in reps:
        assert (f"Note for {gmail}" in shown) is (gmail != broken), gmail
    assert len(email_lines(post)) == 4


def test_a_slow_mailbox_does_not_hold_the_others(stack):
    stack.import_crm(CONTACTS, DEALS)
    reps = five_mailboxes(stack)
    for user, gmail in reps:
        mail_from_jane(stack, f"Note for {gmail}", gmail=gmail)
    slow_user, slow = reps[4]
    stack.services.config = dataclasses.replace(stack.services.config, mailbox_view_timeout_seconds=1.0)
    stack.gmail.add_fault(Fault(method="*", user=slow, status=None, latency_ms=3000, rate=1.0))
    post = contact_command(stack, JANE, user=COLLEAGUE)
    shown = text_of(post)
    assert f"<@{slow_user}>'s mailbox" in shown.split("Unavailable right now")[1]
    assert len(email_lines(post)) == 4


def test_show_more_pages_back_newest_first_across_mailboxes(stack):
    stack.import_crm(CONTACTS, DEALS)
    reps = five_mailboxes(stack)[:2]
    start = datetime.now(timezone.utc) - timedelta(days=30)
    expected = []
    for n in range(25):  # interleaved: even minutes in one mailbox, odd in the other
        user, gmail = reps[n % 2]
        subject = f"Thread {n:02d}"
        mail_from_jane(stack, subject, gmail=gmail, date=start + timedelta(hours=n))
        expected.append(subject)
    expected.reverse()
    post = contact_command(stack, JANE, user=COLLEAGUE)
    seen = [_subject(line) for line in email_lines(post)]
    pages = 1
    while True:
        message = ephemeral_of(stack, COLLEAGUE, post)
        more = buttons(message, ActionId.CONTACT_MORE.value)
        if not more:
            break
        assert len(more[0]["value"]) <= 32 and "Thread" not in more[0]["value"]  # an id, not Gmail's tokens
        posts = click(stack, COLLEAGUE, post, ActionId.CONTACT_MORE.value)
        post = posts[-1]
        seen += [_subject(line) for line in email_lines(post)]
        pages += 1
    assert seen == expected and pages == 3
    assert "Older emails with Jane Doe* (21–25)" in text_of(post)
    # Every email shown was audited once for this viewer, whatever page showed it.
    rows = audit_rows(stack)
    assert len(rows) == 25 and {r.surface for r in rows} == {"contact_view"}


def _subject(line: str) -> str:
    return line.split("*")[1]


def test_show_more_of_someone_else_is_refused(stack):
    stack.import_crm(CONTACTS, DEALS)
    five_mailboxes(stack)
    for n in range(12):
        mail_from_jane(stack, f"Mail {n}")
    post = contact_command(stack, JANE, user=COLLEAGUE)
    view_id = buttons(ephemeral_of(stack, COLLEAGUE, post), ActionId.CONTACT_MORE.value)[0]["value"]
    stolen = stack.driver.block_action("U301REP", ActionId.CONTACT_MORE.value, value=view_id)
    refusal = stack.slack.wait_for(lambda: stack.slack.response_url_posts(stolen.payload["response_url"]))[-1]
    assert "older MailMagnet message" in text_of(refusal) and "Mail 1" not in text_of(refusal)


def test_disconnect_removes_the_mailbox_from_colleagues_views_at_once(stack):
    stack.import_crm(CONTACTS, DEALS)
    five_mailboxes(stack)
    mail_from_jane(stack, "Visible while connected")
    post = contact_command(stack, JANE, user=COLLEAGUE)
    assert "Visible while connected" in text_of(post)
    value = open_values(post)[0]
    # The rep disconnects: /gmail disconnect, then Confirm.
    ask(stack, "disconnect")
    confirm = stack.slack.ephemerals(REP)[-1]
    stack.driver.block_action(REP, ActionId.DISCONNECT_CONFIRM.value, message=confirm)
    stack.slack.wait_for(lambda: account_of(stack) is None)
    again = contact_command(stack, JANE, user=COLLEAGUE)
    assert "Visible while connected" not in text_of(again)
    assert f"<@{REP}>" not in text_of(again)
    # An "Open" from the older answer no longer opens anything.
    view = open_email(stack, COLLEAGUE, json.dumps(value), message=ephemeral_of(stack, COLLEAGUE, post))
    assert "no longer connected" in text_of(view) and "Visible while connected" not in text_of(view)


def test_the_message_shortcut_shows_the_contact_of_an_address_in_a_message(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "About the renewal")
    bot = stack.slack.team(TEAM).bot_user_id
    stack.slack.add_channel(TEAM, "C0DEALS", "deals", members=[REP, bot])
    message = stack.slack.post_as_user("C0DEALS", "U999ANY", "Can someone call <mailto:jane@acme.example|jane@acme.example>?")
    response = stack.driver.message_shortcut(REP, CallbackId.SHOW_CONTACT_SHORTCUT.value, message, channel_id="C0DEALS")
    assert response.status == 200
    final = stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.payload["response_url"])
                                          if p.get("replace_original")], timeout=20)[-1]
    assert "About the renewal" in text_of(final) and "Acme renewal" in text_of(final)
    plain = stack.slack.post_as_user("C0DEALS", "U999ANY", "no address here")
    response = stack.driver.message_shortcut(REP, CallbackId.SHOW_CONTACT_SHORTCUT.value, plain, channel_id="C0DEALS")
    final = stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.payload["response_url"])
                                          if p.get("replace_original")], timeout=20)[-1]
    assert "mentions no email address" in text_of(final)


def test_the_app_home_lists_the_reps_own_recent_customer_emails(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    mail_from_jane(live, "Latest from Jane", body="Preview of the latest.")
    live.mail("stranger@nowhere.example", "Newsletter")
    live.run("sync")
    before = len(live.slack.views_published.get(REP, []))
    live.driver.app_home_opened(REP)
    home = live.slack.wait_for(lambda: live.slack.views_published.get(REP, [])[before:], timeout=15)[-1]
    shown = text_of(home)
    assert "Recent emails from your CRM contacts" in shown and "Latest from Jane" in shown
    assert "Preview of the latest." in shown and "Newsletter" not in shown
    value = buttons(home, ActionId.EMAIL_OPEN.value)[0]["value"]
    detail = open_email(live, REP, value, view=home)
    assert "Preview of the latest." in text_of(detail) and buttons(detail, ActionId.EMAIL_REPLY.value)


def test_contact_finds_a_lead_and_shows_its_status_not_deals(stack, connected):
    import io

    from crm_store.csv_import import import_leads

    import_leads(stack.engine, io.StringIO("email,first_name,company,lead_status,owner_email\n"
                                           "pat@prospect.example,Pat,Zylker,Contacted,owner@crm.example\n"))
    stack.mail("Pat <pat@prospect.example>", "Interested in a pilot")
    post = contact_command(stack, "pat@prospect.example")
    shown = text_of(post)
    for expected in ("Lead: Pat", "Zylker", "Contacted", "owner@crm.example", "Interested in a pilot"):
        assert expected in shown, expected
    assert "Label" not in shown and "No deals yet" not in shown
