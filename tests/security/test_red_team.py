"""Red team, issue 16 (second round): ways in found by attacking the running stack from outside, each replayed
through it (signed Slack requests from the emulator's driver, mail through the Gmail emulator, real HTTP).

Each test asserts what must hold and is marked `xfail(strict=True)` while the product lets the attack through:
when a fix lands, the test passes, strict xfail fails the run, and the mark comes off with the fix.
"""
from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Contact, CrmUser
from handlers.blocks.ids import ActionId
from testsupport.stack import REP, REP_GMAIL, start_stack

JANE = "jane@acme.example"
COLLEAGUE = "U0COLLEAGUE"
BYSTANDER = "U0BYSTANDER"


def _contact_id(stack, email: str = JANE) -> int:
    with session_scope(stack.engine) as session:
        return session.exec(select(Contact.id).where(Contact.email == email)).one()


def _rep_sharing_publicly(stack) -> None:
    stack.import_crm(f"email,first_name,last_name,company\n{JANE},Jane,Doe,Acme\n")
    stack.add_rep()
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    stack.add_rep(BYSTANDER, "bystander@crm.example", gmail=None)
    stack.connect()
    stack.command(REP, "sharing public full")


# -- a colleague: Open clicks hold every Slack listener thread -------------------------------------------------

GMAIL_LATENCY_MS = 5000
CLICKS = 40  # more than the default SLACK_LISTENER_THREADS (32)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_colleagues_open_clicks_do_not_hold_everyone_elses_commands(database_url):
    """THREATS "Bounded work" / "one user must not take the bot's threads away from others". A colleague who may
    see the rep's mail (Public sharing) clicks Open on one of Jane's emails 40 times while the rep's Gmail is slow
    (5 s a call: Gmail's own latency, or its per-user rate limit with retries). Each click waits for Gmail on one
    of the 32 Slack listener threads, so a bystander's `/gmail help`, which needs no Gmail at all, is answered
    only after the first round of the colleague's Opens has finished. `/contact` refuses a second view in
    flight per person at once; Open has no such bound.

    Asserted without timings: the bystander's answer must come while the colleague's Opens are all still
    waiting on Gmail (no email detail filled in yet)."""
    stack = start_stack(database_url)
    try:
        _rep_sharing_publicly(stack)
        gmail_id = stack.mail(f"Jane Doe <{JANE}>", "Renewal")
        value = json.dumps({"a": stack.account_id(), "g": gmail_id, "c": _contact_id(stack)})
        stack.gmail.set_latency(GMAIL_LATENCY_MS, "gmail.users.messages.get")
        for _ in range(CLICKS):
            stack.driver.block_action(COLLEAGUE, ActionId.EMAIL_OPEN.value, value=value)
        # Each click was acked before the driver returned: all of them are queued for a listener thread now.
        response = stack.driver.slash_command(BYSTANDER, "/gmail", "help")
        answer = stack.slack.wait_for(
            lambda: next(iter(stack.slack.response_url_posts(response.response_url)), None), timeout=60)
        details_filled = sum(c["method"] == "views.update" and "Renewal" in json.dumps(c["view"])
                             for c in stack.slack.view_calls)

        assert "/gmail" in json.dumps(answer)
        assert details_filled == 0, (f"the bystander's /gmail help was answered only after {details_filled} of the "
                                     "colleague's Opens had got their email from Gmail")
    finally:
        stack.gmail.set_latency(0, "gmail.users.messages.get")
        stack.stop()


# -- a guest (no CRM user): a flood typed into MailMagnet's Messages tab --------------------------------------

GUEST = "U0GUEST"
DM_MESSAGES = 40


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_guests_flood_in_the_messages_tab_stays_within_slacks_rate_and_holds_nobody(database_url):
    """THREATS "Bounded work" (one user must not take the bot's threads or Slack rate away from others), played on
    the new Messages tab (`message.im`). A Slack user with no CRM user at all — a guest, anyone in the workspace —
    types 40 messages into MailMagnet's DM in a second (by hand, or with their own user token). Every one gets
    its own `chat.postMessage` on a Slack listener thread; Slack takes about one post a second per channel
    (short bursts tolerated, here 3), so the rest are answered 429 and slack_sdk's handler sleeps out each
    Retry-After on the listener thread, up to three times per post. Measured with 150 messages: 484 posts
    refused by Slack on that one DM and a bystander's `/gmail help` answered 17.8 s late (4.4 s late with 40).

    What must hold: one person's messages get answers within Slack's rate for their DM (no post refused), and a
    bystander's command is answered."""
    stack = start_stack(database_url)
    try:
        stack.slack.add_user(stack.driver.team_id, GUEST, email="guest@partner.example", real_name="Guest")
        stack.add_rep(BYSTANDER, "bystander@crm.example", gmail=None)
        stack.slack.set_channel_post_rate(1.0, burst=3)
        for number in range(DM_MESSAGES):
            stack.driver.message_im(GUEST, f"help {number}")

        response = stack.driver.slash_command(BYSTANDER, "/gmail", "help")
        stack.slack.wait_for(lambda: next(iter(stack.slack.response_url_posts(response.response_url)), None),
                             timeout=60)
        refused = stack.slack.rate_limited_counts().get(stack.driver.dm_channel(GUEST), 0)

        assert refused == 0, (f"Slack refused {refused} of MailMagnet's answers in the guest's DM before a "
                              "bystander's /gmail help was answered")
    finally:
        stack.stop()


# -- what counts as "sent by the rep" ------------------------------------------------------------------------

def _colleagues_contact_view(stack) -> str:
    response = stack.driver.slash_command(COLLEAGUE, "/contact", JANE)
    final = stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                          if p.get("replace_original")], timeout=20)[-1]
    return json.dumps(final)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_reps_unsent_draft_to_a_contact_is_not_shown_to_colleagues(database_url):
    """THREATS "Scope by verified facts": a view lists a message only when its headers show the contact as the
    counterparty — the From of a received message, a To/Cc of a *sent* one. A draft is neither: the rep wrote it
    and has not sent it (label DRAFT, not SENT). `messages.list` returns drafts and the pre-filter's `from:me`
    matches them; `is_sent` once took "From is the mailbox's address" as sent, so with Public sharing (full) a
    colleague's `/contact Jane` showed the rep's draft — "we could go to 40% off" — with its first words, as an
    :outbox_tray: email the rep sent Jane. Sent now means Gmail's SENT label, and a draft is with nobody."""
    stack = start_stack(database_url)
    try:
        _rep_sharing_publicly(stack)
        stack.gmail.insert_message(REP_GMAIL, sender=REP_GMAIL, to=JANE, label_ids=("DRAFT",),
                                   subject="Thinking aloud: we could go to 40% off",
                                   body="Not sure yet, need to ask my manager first")
        stack.mail(f"Jane Doe <{JANE}>", "Renewal question")

        seen = _colleagues_contact_view(stack)

        assert "Renewal question" in seen  # Jane's real email is there: the view works
        assert "40% off" not in seen and "ask my manager" not in seen
    finally:
        stack.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_strangers_email_spoofing_the_reps_address_is_not_listed_as_sent_by_the_rep(database_url):
    """A stranger on the internet writes to the rep with `From: rep@gmail.example` (spoofed; it lands in the
    Inbox, not in Sent) and `To: jane@acme.example`. When `is_sent` trusted the From header, the message's
    counterparty became Jane: every colleague who may see the rep's mail finds, under Jane's contact, an
    :outbox_tray: email "from the rep to Jane" with the stranger's subject and text. What must hold: a message
    the mailbox received (no SENT label) is with whoever its From names, and the rep's own address is the
    organisation's, never a contact's, so it is not in Jane's view."""
    stack = start_stack(database_url)
    try:
        _rep_sharing_publicly(stack)
        stack.gmail.insert_message(REP_GMAIL, sender=f"Your rep <{REP_GMAIL}>", to=JANE,
                                   subject="Price change: wire the renewal to our new bank account",
                                   body="IBAN XX00 STRANGER 0000")
        stack.mail(f"Jane Doe <{JANE}>", "Renewal question")

        seen = _colleagues_contact_view(stack)

        assert "Renewal question" in seen
        assert "new bank account" not in seen and "STRANGER" not in seen
    finally:
        stack.stop()


# -- a channel shared with another workspace of the organisation ----------------------------------------------

ORG_CHANNEL = "C0ORGWIDE"
OTHER_REP = "U0OTHERREP"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_org_shared_public_channel_shows_no_more_than_the_other_workspaces_people_may_see(database_url):
    """SPEC §5: "Channel alerts show only what every member of that channel may see", and Public sharing means
    "every CRM user in the workspace". In a multi-workspace organisation (TEAM and OTHER_TEAM served by one
    deployment), the rep of TEAM shares Public (full) and sends alerts to a public channel of TEAM that is shared
    with OTHER_TEAM (Enterprise Grid's org-shared channel: `is_org_shared`, `shared_team_ids`). Everyone in
    OTHER_TEAM can read that channel — here a CRM user of OTHER_TEAM is even a member — yet that person's own
    `/contact Jane` shows none of the rep's mail (Public stops at the workspace). The alert in the channel shows
    the subject and the first words of Jane's email all the same: the public-channel rule asks what an unrelated
    CRM user *of the mailbox's workspace* may see, not what the channel's other workspace may."""
    from testsupport.stack import OTHER_TEAM, TEAM, start_org_stack

    stack = start_org_stack(database_url, scheduler=True, start_scheduler=False)
    try:
        stack.import_crm(f"email,first_name,last_name,company\n{JANE},Jane,Doe,Acme\n")
        stack.add_rep()
        stack.add_rep(OTHER_REP, "other.rep@crm.example", gmail=None, team=OTHER_TEAM)
        stack.connect_with_magnet()
        stack.command(REP, "sharing public full")
        bot = stack.slack.team(TEAM).bot_user_id
        stack.slack.add_channel(TEAM, ORG_CHANNEL, "sales-everyone", members=[REP, bot, OTHER_REP])
        stack.slack.share_channel(TEAM, ORG_CHANNEL, [OTHER_TEAM], external=False)
        stack.command(REP, f"alerts <#{ORG_CHANNEL}|sales-everyone>")

        stack.mail(f"Jane Doe <{JANE}>", "Confidential renewal pricing", body="We can pay 120k if you")
        stack.run("sync")
        response = stack.driver_for(OTHER_TEAM).slash_command(OTHER_REP, "/contact", JANE)
        own_view = json.dumps(stack.slack.wait_for(
            lambda: [p for p in stack.slack.response_url_posts(response.response_url) if p.get("replace_original")],
            timeout=20)[-1])
        in_channel = json.dumps(stack.slack.team(TEAM).channels[ORG_CHANNEL].messages)

        assert "Confidential renewal pricing" not in own_view  # what the other workspace's person may see
        assert "Jane Doe" in in_channel or "Jane Doe" in json.dumps(stack.slack.dms(REP))  # the alert went out
        assert "Confidential renewal pricing" not in in_channel and "120k" not in in_channel
    finally:
        stack.stop()


# -- a stranger's Reply-To: a line break in an encoded display name -------------------------------------------

# "Evil\r\nBcc: boss@corp.example" as an RFC 2047 encoded word: legal on the wire, a line break once decoded.
HOSTILE_REPLY_TO = "=?UTF-8?B?RXZpbA0KQmNjOiBib3NzQGNvcnAuZXhhbXBsZQ==?= <attacker@evil.example>"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reply_to_with_an_encoded_line_break_does_not_break_the_reply(database_url):
    """A stranger on the internet (hostile headers): an email whose From is a contact (as anyone can write it)
    and whose Reply-To's display name is an encoded word that decodes to "Evil\\r\\nBcc: boss@corp.example".
    `parse_addresses` decodes it and `recipient_header` formats it back with the line break inside the quotes;
    the header injection itself is stopped by the email package, which raises ValueError — but nothing catches
    it: the rep's Send from the Reply modal ends in "Sorry, something went wrong on our side (reference …)",
    an unhandled error in the log (SPEC §9 counts them: 0), and the rep cannot reply to that email from Slack.
    What must hold: the reply goes to the address (the name cleaned), or the rep is told in a sentence why not."""
    from handlers.blocks.compose import BODY_BLOCK, COMPOSE_CALLBACK, SUBJECT_BLOCK

    stack = start_stack(database_url)
    try:
        stack.import_crm(f"email,first_name,last_name,company\n{JANE},Jane,Doe,Acme\n")
        stack.add_rep()
        stack.connect()
        gmail_id = stack.mail(f"Jane Doe <{JANE}>", "Quote", extra_headers={"Reply-To": HOSTILE_REPLY_TO})
        value = json.dumps({"a": stack.account_id(), "g": gmail_id, "c": _contact_id(stack)})

        stack.driver.block_action(REP, ActionId.EMAIL_REPLY.value, value=value)
        compose = stack.slack.wait_for(
            lambda: [c["view"] for c in stack.slack.view_calls if c["method"] == "views.update"
                     and c["view"].get("callback_id") == COMPOSE_CALLBACK and c["view"].get("submit")], timeout=20)[-1]
        before = len(stack.slack.dms(REP))
        stack.driver.view_submission(REP, compose, values={
            SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": "Re: Quote"}},
            BODY_BLOCK: {"body": {"type": "plain_text_input", "value": "Here is the quote."}}})
        told = stack.slack.wait_for(lambda: stack.slack.dms(REP)[before:], timeout=20)[-1].get("text") or ""

        assert "went wrong on our side" not in told, told
        assert "Sent your reply" in told or stack.gmail.sent_messages(REP_GMAIL) == [], told
    finally:
        stack.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_crm_name_with_a_line_break_does_not_break_email(database_url):
    """Whoever writes CRM data (a CSV, the ingest API, a Zoho field): a contact whose first name holds a line break,
    "Jane\\nBcc: boss@corp.example" (a quoted CSV field; `"\\n"` in JSON). The import takes it: names are checked
    for NUL only. `/email jane@acme.example` opens the modal; Send formats the To header from the CRM name, and
    the email package refuses the line break with a ValueError that nothing catches: "Sorry, something went wrong
    on our side", an unhandled error (SPEC §9: 0), and no rep can email that contact from Slack. What must hold:
    the email goes to Jane's address (the name cleaned), or the import refuses the name with the reason."""
    from handlers.blocks.compose import BODY_BLOCK, SUBJECT_BLOCK, TO_ACTION, TO_BLOCK

    stack = start_stack(database_url)
    try:
        from crm_store.csv_import import ImportRejected

        try:
            stack.import_crm(f'email,first_name,last_name,company\n{JANE},"Jane\nBcc: boss@corp.example",Doe,Acme\n')
        except ImportRejected:
            return  # the import refused the name: that holds too
        stack.add_rep()
        stack.connect()
        before_views = len(stack.slack.view_calls)
        stack.driver.slash_command(REP, "/email", JANE)
        compose = stack.slack.wait_for(lambda: [c["view"] for c in stack.slack.view_calls[before_views:]
                                                if c["method"] == "views.open"], timeout=20)[-1]
        before = len(stack.slack.dms(REP))
        stack.driver.view_submission(REP, compose, values={
            TO_BLOCK: {TO_ACTION: {"type": "static_select", "selected_option": {"value": JANE}}},
            SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": "Your quote"}},
            BODY_BLOCK: {"body": {"type": "plain_text_input", "value": "Here is the quote."}}})
        told = stack.slack.wait_for(lambda: stack.slack.dms(REP)[before:], timeout=20)[-1].get("text") or ""

        assert "went wrong on our side" not in told, told
        assert "Sent your email" in told, told
    finally:
        stack.stop()


# -- a colleague's Slack name in the weekly response-time chart -----------------------------------------------

MATHTEXT_NAME = "$\\frac{1}{$ Mallory"  # matplotlib reads $…$ in a label as mathtext, and this one does not parse


def _wait_for_crm_name(stack, email: str, name: str, timeout: float = 20.0) -> None:
    """A linked rep's Slack profile is refreshed in the background after a request, and the CRM user takes its
    name at a later request (usecases.actors._linked): ask again until it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(stack.engine) as session:
            if session.exec(select(CrmUser.name).where(CrmUser.email == email)).first() == name:
                return
        stack.driver.slash_command(REP, "/gmail", "status")
        time.sleep(0.2)
    raise AssertionError(f"the CRM user {email} never took the Slack name {name!r}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reps_slack_name_does_not_stop_the_weekly_response_time_digest(database_url):
    """A colleague sets their Slack full name to `$\\frac{1}{$ Mallory` before MailMagnet first sees them (the
    name becomes their CRM user's name). The weekly digest (SPEC §3 Follow-ups) draws each rep's name as a
    matplotlib tick label; matplotlib treats text between `$` signs as mathtext, and this one raises ValueError
    when the figure is drawn. The workspace's week is claimed first, so the admins' (and the rep's manager's)
    digest is not sent and not retried: one person's display name takes the weekly digest away from everyone who
    would get it. (Mathtext also lets a name render as formulas or tiny/huge glyphs in someone else's chart.)
    What must hold: the admin's digest is sent, the name shown as typed."""
    from testsupport.stack import TEAM

    stack = start_stack(database_url, scheduler=True, start_scheduler=False)
    try:
        stack.add_rep("U0ADMIN", "boss@crm.example", gmail=None, admin=True)
        stack.add_rep()
        stack.slack.add_user(TEAM, REP, email="rep@crm.example", real_name=MATHTEXT_NAME)
        stack.connect()  # the rep's first request; a later one gives their CRM user the Slack name
        _wait_for_crm_name(stack, "rep@crm.example", MATHTEXT_NAME)

        sent = stack.services.jobs.send_response_digests(force=True)

        assert sent >= 1, "no weekly response-time digest was sent to the admin"
        charts = [f for f in stack.slack.files() if f["name"] == "response-times.png"]
        assert charts and charts[0]["content"].startswith(b"\x89PNG"), "the digest went out without its chart"
        assert "Mallory" in charts[0]["initial_comment"]
    finally:
        stack.stop()
