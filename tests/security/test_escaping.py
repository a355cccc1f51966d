"""Issue 16 point 7, replayed: whoever writes CRM data (here the ingest API) or sends a rep an email puts Slack
markup in names, companies, deals, subjects and headers — `<!channel>`, `<@U…>`, a link disguised as "Reset your
password". Through every surface that shows them (the alert serve's job posts, the digest, View contact, Mute,
Reply and its confirmation, `/contact` with its picker, "Show more" and Open, the message shortcut, the App Home,
`/gmail why`, `/email`, the audit log), nothing Slack renders may carry that markup unescaped: not the blocks, not
the top-level `text` (notifications), not an ephemeral or response_url text."""
from __future__ import annotations

import json

from handlers.blocks.ids import ActionId, CallbackId
from tests.support.ingest import put
from tests.support.contact_world import buttons, click, contact_command, ephemeral_of, open_email, open_values
from tests.support.slack import shown_text
from testsupport.stack import REP, REP_GMAIL, TEAM
from tests.security.slack_rendering import escaped_twice_shown, hostile_markup_shown
from usecases.crm import create_api_key

JANE = "jane@acme.example"
HOSTILE_CONTACTS = [
    {"email": JANE, "first_name": "<!channel>", "last_name": "<https://evil.example/login|Reset your password>",
     "company": "<@U0ATTACKER>", "phone": "<!everyone>", "owner_email": "rep@crm.example", "external_id": "X-C1"},
    {"email": "janet@acme.example", "first_name": "<!here> Janet", "last_name": "<#C0EVIL>",
     "company": "<!subteam^S0EVIL>", "external_id": "X-C2"},
]
HOSTILE_DEALS = [
    {"name": "<!here> renewal <https://evil.example/deal|pay now>", "contact_external_id": "X-C1",
     "stage": "<@U0ATTACKER>", "closing_date": "2099-01-15", "amount": "1000", "external_id": "X-D1"},
]
HOSTILE_SENDER = f'"<!everyone> Jane" <{JANE}>'
HOSTILE_SUBJECT = "<https://evil.example/invoice|Your invoice> <!channel>"
HOSTILE_REPLY_TO = '"<!here> Assistant <@U0ATTACKER>" <assistant@acme.example>'


def load_hostile_crm(stack) -> None:
    key = create_api_key(stack.services, "attacker-writes-crm")
    assert put(stack, "contacts", HOSTILE_CONTACTS, key)[0] == 200
    assert put(stack, "deals", HOSTILE_DEALS, key)[0] == 200


def hostile_mail(stack, subject: str = HOSTILE_SUBJECT) -> str:
    return stack.gmail.insert_message(
        REP_GMAIL, sender=HOSTILE_SENDER, to=REP_GMAIL, subject=subject,
        body="<!channel> please <https://evil.example/login|log in again>", cc="<!here> <cc@acme.example>",
        extra_headers={"Reply-To": HOSTILE_REPLY_TO})


def last_view(stack, method: str, before: int, user: str = REP) -> dict:
    calls = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:] if c["method"] == method
                                          and c["user_id"] == user], timeout=20)
    return calls[-1]["view"]


def submit_reply(stack, view: dict) -> None:
    values = {"reply_subject": {"subject": {"type": "plain_text_input", "value": "Re: hello"}},
              "reply_body": {"body": {"type": "plain_text_input", "value": "Thanks."}}}
    assert stack.driver.view_submission(REP, view, values=values).status == 200


def test_crm_and_mail_markup_is_escaped_on_every_surface(live):
    live.add_rep(admin=True)
    load_hostile_crm(live)
    live.connect_with_magnet()
    dm = live.slack.dm_channel(TEAM, REP)
    acks = []

    # The alert serve's job posts, and its buttons.
    hostile_mail(live)
    live.run("sync")
    alert = live.slack.wait_for(lambda: [m for m in live.slack.messages(dm)
                                         if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"])[-1]
    assert "New email from" in alert["text"]
    value = buttons(alert, "alert_view_contact")[0]["value"]
    response = live.driver.block_action(REP, "alert_view_contact", value=value, channel_id=dm, message=alert)
    acks.append(("view contact ack", response.json))
    live.slack.wait_for(lambda: live.slack.response_url_posts(response.payload["response_url"]), timeout=20)
    before = len(live.slack.view_calls)
    live.driver.block_action(REP, "alert_reply", value=value, channel_id=dm, message=alert)
    compose = last_view(live, "views.update", before)
    assert "assistant@acme.example" in shown_text(compose)
    submit_reply(live, compose)
    live.slack.wait_for(lambda: [m for m in live.slack.dms(REP) if "Sent your reply" in shown_text(m)], timeout=15)

    # The digest.
    live.update_mailbox(digest_enabled=True, last_digest_at=None)
    hostile_mail(live, "<!channel> digest item")
    live.run("sync")
    live.slack.wait_for(lambda: [m for m in live.slack.messages(dm)
                                 if (m.get("metadata") or {}).get("event_type") == "mailmagnet_digest"])

    # /contact: the card with the emails, "Show more", Open, Reply from the detail.
    for index in range(11):
        hostile_mail(live, f"<!here> older {index}")
    post = contact_command(live, JANE)
    assert "Reset your password" in shown_text(post)  # shown, as text
    more = click(live, REP, post, ActionId.CONTACT_MORE.value)
    assert more
    detail = open_email(live, REP, json.dumps(open_values(post)[0]), message=ephemeral_of(live, REP, post))
    before = len(live.slack.view_calls)
    live.driver.block_action(REP, ActionId.EMAIL_REPLY.value, value=json.dumps(open_values(post)[0]), view=detail)
    last_view(live, "views.update", before)

    # Several contacts match; the closest names when none does.
    picker = contact_command(live, "acme")
    assert "Several contacts match" in shown_text(picker)
    contact_command(live, "Jnae")

    # The message shortcut, the App Home, /gmail why, /email, mute, the audit log.
    bot = live.slack.team(TEAM).bot_user_id
    live.slack.add_channel(TEAM, "C0DEALS", "deals", members=[REP, bot])
    message = live.slack.post_as_user("C0DEALS", "U999ANY", f"Can someone call {JANE}?")
    response = live.driver.message_shortcut(REP, CallbackId.SHOW_CONTACT_SHORTCUT.value, message,
                                            channel_id="C0DEALS")
    live.slack.wait_for(lambda: [p for p in live.slack.response_url_posts(response.payload["response_url"])
                                 if p.get("replace_original")], timeout=20)
    before = len(live.slack.views_published.get(REP, []))
    live.driver.app_home_opened(REP)
    live.slack.wait_for(lambda: live.slack.views_published.get(REP, [])[before:], timeout=15)
    live.command(REP, f"why {JANE}")
    before = len(live.slack.view_calls)
    response = live.driver.slash_command(REP, "/email", JANE)
    acks.append(("/email ack", response.json))
    last_view(live, "views.open", before)
    live.command(REP, f"mute {JANE}")
    live.command(REP, f"unmute {JANE}")
    alert = [m for m in live.slack.messages(dm) if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"][-1]
    response = live.driver.block_action(REP, "alert_mute_contact", value=value, channel_id=dm, message=alert)
    live.slack.wait_for(lambda: [p for p in live.slack.response_url_posts(response.payload["response_url"])
                                 if "Muted" in (p.get("text") or "")], timeout=15)
    live.command(REP, "admin audit")

    found = hostile_markup_shown(live.slack, acks)
    assert found == [], "\n".join(found)
    # Escaped once, not twice: the reader sees the markup as text, not as `&lt;`.
    assert "&lt;!channel&gt; please" in json.dumps(alert["blocks"])
    twice = escaped_twice_shown(live.slack, acks)
    assert twice == [], "\n".join(twice)
