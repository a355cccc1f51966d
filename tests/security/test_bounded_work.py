"""THREATS "Bounded work", replayed through the running stack: a stranger's hostile HTML email opened by its
rep, a guest's and a rep's message shortcut on 40,000 hostile characters, and one user firing `/contact`s
at once while a colleague looks up their own contact.

No timings are asserted: the CPU figures are in benchmarks/bounded_work.py. What is asserted is what a user
sees (the email's start, the rest left to Gmail; a colleague's view complete; "still looking") and the work
done (the scan never runs for a guest; each colleague's mailbox is asked once per view, not once per click).
"""
from __future__ import annotations

import dataclasses
import threading
from email.message import EmailMessage

import pytest

from handlers.blocks.ids import ActionId, CallbackId
from tests.support.contact_world import (
    CONTACTS,
    DEALS,
    JANE,
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
from tests.support.slack import connected, rep  # noqa: F401 - fixtures
from testsupport.stack import REP, REP_GMAIL, TEAM
from usecases.email_detail import BODY_LIMIT

MEGABYTE = 1_000_000

# What a stranger's HTML can do to a parser that was not written for it: each ~1 MB.
HOSTILE_HTML = {
    "unclosed-divs": "<div>" * (MEGABYTE // 5),
    "endless-comment": "<!--" + "x" * MEGABYTE,
    "open-a-tags": "<a " * (MEGABYTE // 3),
    "many-attributes": ("<a " + " ".join(f"{chr(97 + i % 26)}{i // 26}" for i in range(12_000)) + ">") * 15,
    "huge-attribute": '<a href="' + "x" * MEGABYTE + '">link</a>',
    "nested-tables": "<table><tr><td>" * (MEGABYTE // 15),
    "entity-flood": "&lt;" * (MEGABYTE // 4),
    "endless-script": "<script>" * (MEGABYTE // 8),
    "lt-flood": "<" * MEGABYTE,
}


def hostile_email(shape: str) -> bytes:
    """An HTML-only email from Jane: a visible first line, a script, ~1 MB of hostile markup, a last line."""
    message = EmailMessage()
    message["From"] = f"Jane Doe <{JANE}>"
    message["To"] = REP_GMAIL
    message["Subject"] = f"Hostile {shape}"
    message.set_content(f"<html><body><p>Visible start of {shape}</p><script>stolenCookies()</script>"
                        f"{HOSTILE_HTML[shape]}<p>Last line of {shape}</p></body></html>", subtype="html")
    return bytes(message)


def test_open_on_a_strangers_hostile_html_email_shows_its_start_and_leaves_the_rest_to_gmail(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    for shape in HOSTILE_HTML:
        stack.gmail.deliver_raw(REP_GMAIL, hostile_email(shape))
    seen = set()
    post = contact_command(stack, JANE)
    while True:  # every page of the view: each hostile email opened in turn
        message = ephemeral_of(stack, REP, post)
        for line, value in zip(email_lines(post), buttons(post, ActionId.EMAIL_OPEN.value)):
            shape = next(s for s in HOSTILE_HTML if f"Hostile {s}" in line)
            detail = open_email(stack, REP, value["value"], message=message)
            shown = text_of(detail)
            body = "\n".join(b["text"]["text"] for b in detail["blocks"]
                             if b["type"] == "section" and (b.get("text") or {}).get("type") == "plain_text")
            assert f"Visible start of {shape}" in body, shape
            # Read as a page, not as markup: no script, no tags; the part after the cap is left to Gmail.
            assert "stolenCookies" not in body and "<p>" not in body and "<script" not in body, shape
            assert f"Last line of {shape}" not in shown and "The rest is in Gmail." in shown, shape
            assert len(body) <= BODY_LIMIT + 10, shape
            seen.add(shape)
        more = buttons(message, ActionId.CONTACT_MORE.value)
        if not more:
            break
        post = click(stack, REP, post, ActionId.CONTACT_MORE.value)[-1]
    assert seen == set(HOSTILE_HTML)


# -- the message shortcut ----------------------------------------------------------------------------

HOSTILE_TEXT = {
    "local part run": "a" * 39_900,
    "dotted run": "a." * 19_950,
    "domain without dot": "x@" + "b" * 39_900,
    "unclosed mailto links": "<mailto:" * 4_985,
    "many addresses": "".join(f"u{i}@x{i}.example " for i in range(2_400))[:39_900],
}


@pytest.fixture
def deals_channel(stack):
    """#deals, with the rep, a guest who has no CRM user, and the bot."""
    stack.slack.add_user(TEAM, "U0GUEST", email="guest@outside.example")
    stack.slack.add_channel(TEAM, "C0DEALS", "deals", members=[REP, "U0GUEST", stack.slack.team(TEAM).bot_user_id])
    return "C0DEALS"


def shortcut(stack, user: str, text: str) -> dict:
    """`user` runs "Show contact emails" on a message with `text` in #deals; returns the answer that replaced
    "looking…"."""
    message = stack.slack.post_as_user("C0DEALS", "U999ANY", text)
    response = stack.driver.message_shortcut(user, CallbackId.SHOW_CONTACT_SHORTCUT.value, message,
                                             channel_id="C0DEALS")
    assert response.status == 200
    url = response.payload["response_url"]
    return stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(url) if p.get("replace_original")],
                                timeout=30)[-1]


@pytest.fixture
def scans(monkeypatch):
    """Every message text the shortcut scanned for addresses."""
    from handlers.shortcuts import message as shortcut_module

    scanned: list[int] = []
    real = shortcut_module.addresses_in

    def counting(text):
        scanned.append(len(text))
        return real(text)

    monkeypatch.setattr(shortcut_module, "addresses_in", counting)
    return scanned


def test_a_guest_cannot_make_the_shortcut_scan_40k_hostile_characters(stack, connected, deals_channel, scans):
    stack.import_crm(CONTACTS, DEALS)
    answer = shortcut(stack, "U0GUEST", HOSTILE_TEXT["unclosed mailto links"] + f" {JANE}")
    assert "CRM users only" in text_of(answer) and "Jane Doe" not in text_of(answer)
    assert scans == []  # refused before any of the text was read


@pytest.mark.parametrize("shape", sorted(HOSTILE_TEXT))
def test_the_shortcut_finds_the_contact_behind_40k_hostile_characters(stack, connected, deals_channel, scans,
                                                                        shape):
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "About the renewal")
    answer = shortcut(stack, REP, HOSTILE_TEXT[shape] + f" <mailto:{JANE}|{JANE}>")
    # Slack's own links come first (Slack turns every address typed into one), then bare addresses.
    assert "About the renewal" in text_of(answer) and "Acme renewal" in text_of(answer)
    assert scans and max(scans) <= 40_000


# -- /contact: one user cannot starve the others --------------------------------------------------------

ATTACKER, VICTIM = "U0ATTACK", "U0VICTIM"


def shared_mailboxes(stack, count: int = 5) -> list[str]:
    """`count` reps whose mailboxes any CRM user may see (Public, full), each with an email from Jane."""
    stack.import_crm(CONTACTS, DEALS)
    gmails = []
    for n in range(count):
        user, gmail = f"U30{n}REP", f"rep{n}@gmail.example"
        stack.add_rep(user, f"rep{n}@crm.example", gmail=gmail)
        stack.connect(user, gmail)
        stack.update_mailbox(gmail, sharing="public", sharing_depth="full")
        mail_from_jane(stack, f"Note for {gmail}", gmail=gmail)
        gmails.append(gmail)
    stack.add_rep(ATTACKER, "attacker@crm.example", gmail=None)
    stack.add_rep(VICTIM, "victim@crm.example", gmail=None)
    return gmails


def final_answer(stack, response) -> dict:
    return stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                         if p.get("replace_original")], timeout=60)[-1]


def test_one_user_firing_twenty_contacts_at_once_does_not_starve_a_colleagues_view(stack):
    gmails = shared_mailboxes(stack)
    stack.services.config = dataclasses.replace(stack.services.config, mailbox_view_timeout_seconds=4.0)
    stack.gmail.set_latency(600)  # every Gmail call: a view takes two round trips, 1.2 s
    stack.gmail.reset_counters()
    responses = []

    def fire():
        responses.append(stack.driver.slash_command(ATTACKER, "/contact", JANE))

    burst = [threading.Thread(target=fire) for _ in range(20)]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join()
    # Every one of the 20 is being worked on ("looking…" answered) before the colleague asks.
    stack.slack.wait_for(lambda: all(stack.slack.response_url_posts(r.response_url) for r in responses), timeout=30)
    mine = stack.driver.slash_command(VICTIM, "/contact", JANE)
    shown = text_of(final_answer(stack, mine))
    assert "Unavailable right now" not in shown
    for gmail in gmails:
        assert f"Note for {gmail}" in shown, gmail

    answers = [text_of(final_answer(stack, r)) for r in responses]
    stack.gmail.set_latency(0)
    still_looking = [a for a in answers if "still looking" in a.lower()]
    views = [a for a in answers if "Note for" in a]
    assert still_looking, "a second /contact while one runs is told it is still looking"
    assert len(views) + len(still_looking) == 20
    # Each colleague's Gmail was asked once per view shown, not once per click.
    lists = [stack.gmail.call_counts(g).get("gmail.users.messages.list", 0) for g in gmails]
    assert max(lists) <= len(views) + 1 < 20


def test_show_more_while_a_view_is_running_is_told_it_is_still_looking(stack):
    shared_mailboxes(stack, count=1)
    for n in range(12):
        mail_from_jane(stack, f"Mail {n}", gmail="rep0@gmail.example")
    first = contact_command(stack, JANE, user=ATTACKER)
    assert buttons(ephemeral_of(stack, ATTACKER, first), ActionId.CONTACT_MORE.value)
    stack.gmail.set_latency(3000, method="gmail.users.messages.get")  # the next view's /batch is slow
    stack.gmail.reset_counters()
    running = stack.driver.slash_command(ATTACKER, "/contact", JANE)
    # Positive signal: the running view has listed the mailbox and waits for its /batch.
    stack.slack.wait_for(lambda: stack.gmail.call_counts("rep0@gmail.example").get("gmail.users.messages.list"),
                         timeout=20)
    posts = click(stack, ATTACKER, first, ActionId.CONTACT_MORE.value)
    assert "still looking" in text_of(posts[-1]).lower() and "Mail" not in text_of(posts[-1])
    stack.gmail.set_latency(0, method="gmail.users.messages.get")
    assert "Mail 11" in text_of(final_answer(stack, running))
    # Once that view has answered, Show more works again.
    posts = click(stack, ATTACKER, first, ActionId.CONTACT_MORE.value)
    assert "Mail 0" in text_of(posts[-1])
