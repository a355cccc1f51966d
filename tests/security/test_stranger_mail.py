"""A stranger on the internet can send the rep an email with anything in it, and can put a customer's address in
its From (nothing checks it). What reaches Slack from such an email — the alert in the rep's DM and in a channel,
the App Home list, the rep's /contact list and the email's detail — shows the stranger's words as text: no
`<!channel>`, no mention, no link of theirs, within Slack's limits, and the mailbox goes on alerting afterwards.
Through the Gmail emulator and signed Slack requests."""
from __future__ import annotations

import json

import pytest

from handlers.blocks.ids import ActionId
from tests.support.slack import shown_text
from tests.support.contact_world import CONTACTS, DEALS, JANE, buttons, contact_command, ephemeral_of, open_email
from testsupport.stack import REP, REP_GMAIL, TEAM

COLLEAGUE = "U200COL"
# What would notify everyone, mention someone or link to the stranger's page if Slack rendered it as written.
MARKUP = ("<!channel>", "<!here>", "<!everyone>", "<@U0BOSS>", "<https://evil.example", "<mailto:", "<#C0")
SUBJECT = ("<!channel> Invoice overdue <https://evil.example/login|Reset your password> <@U0BOSS> <#C0GENERAL> "
           + "pay now " * 800)
BODY = ("<!here> <!everyone> Hi, <https://evil.example/login|sign in here> to see the invoice. <@U0BOSS>\n> quoted "
        "*bold* ~gone~ `code` " + "more text " * 3000)
FROM = '"<!channel> Jane <@U0BOSS> <https://evil.example|Acme>" <jane@acme.example>'
RECIPIENTS = [f"person{n}@corp.example" for n in range(3000)]


def hostile_mail(stack, subject: str = SUBJECT) -> str:
    return stack.gmail.insert_message(
        REP_GMAIL, sender=FROM, to=[REP_GMAIL, *RECIPIENTS[:2000]], cc=RECIPIENTS[2000:], subject=subject, body=BODY,
        extra_headers={"Reply-To": ", ".join(f"<!channel> <reply{n}@evil.example>" for n in range(300))})


def alerts_in(stack, channel: str) -> list[dict]:
    return [m for m in stack.slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]


def mrkdwn_in(node) -> list[str]:
    """The texts Slack renders as mrkdwn: mrkdwn text objects and a message's top-level `text` (plain_text objects
    show their characters as they are)."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("text"), str) and node.get("type") != "plain_text":
            found.append(node["text"])  # a mrkdwn object, or a message's (or a response's) top-level text
        for value in node.values():
            found += mrkdwn_in(value) if isinstance(value, (dict, list)) else []
    elif isinstance(node, list):
        for item in node:
            found += mrkdwn_in(item)
    return found


def assert_inert(what: str, payload) -> None:
    rendered = "\n".join(mrkdwn_in(payload))
    assert rendered, what
    for markup in MARKUP:
        assert markup not in rendered, (what, markup)


@pytest.fixture
def rep_with_a_channel(live):
    live.import_crm(CONTACTS, DEALS)
    live.add_rep()
    live.add_rep(COLLEAGUE, "owner@crm.example", gmail=None)  # Jane's owner: Custom sharing lets them see it
    bot = live.slack.team(TEAM).bot_user_id
    live.slack.add_channel(TEAM, "G0DEALS", "deals", members=[REP, COLLEAGUE, bot], is_private=True)
    live.connect_with_magnet(sharing="custom", sharing_depth="full")
    return live


def test_a_strangers_email_reaches_the_dm_alert_as_inert_text(rep_with_a_channel):
    stack = rep_with_a_channel
    hostile_mail(stack)
    stack.run("sync")
    alert = alerts_in(stack, stack.slack.dm_channel(TEAM, REP))[-1]  # Slack accepted it: within Block Kit's limits
    assert "Invoice overdue" in shown_text(alert) and "&lt;!channel&gt;" in json.dumps(alert)  # shown, as text
    assert_inert("the alert in the rep's DM (text and blocks)", {"text": alert["text"], "blocks": alert["blocks"]})

    # The mailbox is not stuck on it: the next email alerts too.
    stack.mail("jane@acme.example", "An ordinary follow-up")
    stack.run("sync")
    assert "An ordinary follow-up" in shown_text(alerts_in(stack, stack.slack.dm_channel(TEAM, REP))[-1])


def test_a_strangers_email_reaches_a_channel_alert_as_inert_text(rep_with_a_channel):
    stack = rep_with_a_channel
    stack.update_mailbox(alert_channel="G0DEALS")
    hostile_mail(stack)
    stack.run("sync")
    alert = alerts_in(stack, "G0DEALS")[-1]
    assert "Invoice overdue" in shown_text(alert)  # full depth for everyone in it: the subject is shown, as text
    assert_inert("the alert in a channel", {"text": alert["text"], "blocks": alert["blocks"]})


def test_a_strangers_email_in_the_app_home_the_contact_view_and_the_detail_is_inert(rep_with_a_channel):
    stack = rep_with_a_channel
    hostile_mail(stack)
    stack.run("sync")
    before = len(stack.slack.views_published.get(REP, []))
    stack.driver.app_home_opened(REP)
    home = stack.slack.wait_for(lambda: stack.slack.views_published.get(REP, [])[before:], timeout=15)[-1]
    assert "Invoice overdue" in shown_text(home)
    assert_inert("the App Home", home)

    for viewer in (REP, COLLEAGUE):  # the owner, and a colleague who may see it at full depth
        post = contact_command(stack, JANE, user=viewer)
        assert "Invoice overdue" in shown_text(post), viewer
        assert_inert(f"/contact for {viewer}", post)
        listing = ephemeral_of(stack, viewer, post)
        value = buttons(listing, ActionId.EMAIL_OPEN.value)[0]["value"]
        detail = open_email(stack, viewer, value, message=listing)
        assert "Invoice overdue" in shown_text(detail), viewer
        assert_inert(f"the email's detail for {viewer}", detail)
