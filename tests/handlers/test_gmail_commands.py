"""Each /gmail subcommand over real HTTP: what the rep reads in Slack, and what changed in the database."""
from __future__ import annotations

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.mailboxes import set_policy
from crm_store.models import EmailShare, MutedContact, SharingPolicy
from sandbox.gmail_emulator import Fault
from tests.factories import make_contact
from tests.support.slack import account_of, ask, shown_text
from testsupport.stack import REP, REP_GMAIL, TEAM

COLLEAGUE = "U200COL"
COLLEAGUE_EMAIL = "colleague@crm.example"


def test_status_without_a_mailbox(stack, rep):
    post = ask(stack, "status")
    assert "no Gmail connected" in shown_text(post) and "/gmail connect" in shown_text(post)


def test_status_shows_mailbox_settings_and_asks_gmail(stack, connected, sales_channel):
    stack.update_mailbox(magnet=True, alert_channel=sales_channel, digest_enabled=True,
                         quiet_start_minute=22 * 60, quiet_end_minute=7 * 60,
                         last_sync_error="Gmail answered 503")
    stack.gmail.reset_counters()
    text = shown_text(ask(stack, "status"))
    assert REP_GMAIL in text
    assert "Gmail answered just now" in text  # a live check, not only the stored state
    assert stack.gmail.call_counts(REP_GMAIL).get("gmail.users.getProfile") == 1
    assert "*MailMagnet alerts*\nOn" in text and "*Labels*\nOff" in text
    assert f"<#{sales_channel}>" in text
    assert "22:00–07:00" in text and "digest on" in text
    assert "Gmail answered 503" in text
    assert "Private" in text


def test_status_is_acked_before_gmail_answers(stack, connected):
    stack.gmail.add_fault(Fault(method="gmail.users.getProfile", count=1, status="timeout", timeout_seconds=2))
    response = stack.driver.slash_command(REP, "/gmail", "status")
    assert response.status == 200
    assert stack.slack.response_url_posts(response.response_url) == []  # Gmail has not answered yet
    answer = stack.slack.first_response_post(response.response_url, timeout=15)
    assert "Gmail answered just now" in shown_text(answer)  # the hung call was retried


def test_malformed_status_asks_gmail_nothing(stack, connected):
    stack.gmail.reset_counters()
    assert "takes no arguments" in shown_text(ask(stack, "status now"))
    assert not stack.gmail.call_counts(REP_GMAIL).get("gmail.users.getProfile")


def test_status_after_google_revoked_access_asks_to_reconnect_once(stack, connected):
    stack.gmail.revoke_access(REP_GMAIL)
    text = shown_text(ask(stack, "status"))
    assert "refused" in text and "/gmail connect" in text
    assert account_of(stack).status == "revoked"
    dms = stack.slack.wait_for(lambda: [m for m in stack.slack.dms(REP) if "lost access" in m["text"]])
    assert len(dms) == 1
    assert "access revoked" in shown_text(ask(stack, "status"))
    assert len([m for m in stack.slack.dms(REP) if "lost access" in m["text"]]) == 1


def test_magnet_and_labels_follow_f4(stack, connected, jobs):
    account_id = account_of(stack).id
    refusal = shown_text(ask(stack, "labels on"))
    assert "MailMagnet must be on first" in refusal and "/gmail magnet on" in refusal
    assert not account_of(stack).labels_enabled

    assert "MailMagnet is *on*" in shown_text(ask(stack, "magnet on"))
    on = shown_text(ask(stack, "labels on"))
    assert "Labels are *on*" in on and "the three labels are in your Gmail" in on
    # Created in Gmail as labels are switched on, before any label run (the scheduler is off here).
    for name in ("Deals Closing This Month", "Open Deals", "Customers"):
        assert stack.gmail.label_id(REP_GMAIL, name) is not None, name
    assert "On — in your Gmail" in shown_text(ask(stack, "status"))
    account = account_of(stack)
    assert account.magnet_enabled and account.labels_enabled
    assert jobs.asked("request_sync") == [(account_id,), (account_id,)]

    assert "already on" in shown_text(ask(stack, "magnet on"))
    off = shown_text(ask(stack, "magnet off"))
    assert "MailMagnet is *off*" in off and "Labels were switched off too" in off
    account = account_of(stack)
    assert not account.magnet_enabled and not account.labels_enabled
    assert len(jobs.asked("request_sync")) == 2  # switching off makes no work due


def test_sharing_shows_and_changes_within_the_policy(stack, connected):
    current = shown_text(ask(stack, "sharing"))
    assert "Your sharing: Private" in current and "`/gmail sharing [private|public|custom]" in current

    assert "Public, subject" in shown_text(ask(stack, "sharing PUBLIC subject"))
    account = account_of(stack)
    assert (account.sharing, account.sharing_depth) == ("public", "subject")

    assert "Public, full" in shown_text(ask(stack, "sharing full"))
    assert account_of(stack).sharing_depth == "full"

    with session_scope(stack.engine) as session:
        set_policy(session, TEAM, SharingPolicy.CUSTOM)
    refusal = shown_text(ask(stack, "sharing public"))
    assert "sharing policy is Custom for everyone" in refusal
    assert account_of(stack).sharing == "public"  # unchanged
    assert "set *Custom* for everyone" in shown_text(ask(stack, "sharing"))
    ask(stack, "sharing metadata")  # depth stays the rep's choice
    assert account_of(stack).sharing_depth == "metadata"


def test_alerts_to_a_channel_the_bot_is_in_or_to_dm(stack, connected, sales_channel):
    assert f"<#{sales_channel}>" in shown_text(ask(stack, f"alerts <#{sales_channel}|sales>"))
    assert account_of(stack).alert_channel == sales_channel

    ask(stack, "alerts dm")
    assert account_of(stack).alert_channel is None

    ask(stack, "alerts #sales")  # typed without Slack's escaping: found by name
    assert account_of(stack).alert_channel == sales_channel


def test_alerts_to_a_channel_without_the_bot_is_refused(stack, connected):
    stack.slack.add_channel(TEAM, "C0PUBLIC1", "general", members=[REP])
    stack.slack.add_channel(TEAM, "G0SECRET1", "deals", members=[REP], is_private=True)
    public = shown_text(ask(stack, "alerts <#C0PUBLIC1|general>"))
    assert "invite @MailMagnet to <#C0PUBLIC1> first" in public
    private = shown_text(ask(stack, "alerts <#G0SECRET1|deals>"))
    assert "invite @MailMagnet to <#G0SECRET1> first" in private
    assert "invite @MailMagnet to #deals first" in shown_text(ask(stack, "alerts #deals"))
    assert account_of(stack).alert_channel is None


def test_quiet_hours_and_digest(stack, connected):
    assert "between 22:00 and 07:00" in shown_text(ask(stack, "quiet 22:00-07:00"))
    account = account_of(stack)
    assert (account.quiet_start_minute, account.quiet_end_minute) == (22 * 60, 7 * 60)
    ask(stack, "quiet 12 - 13:30")
    assert (account_of(stack).quiet_start_minute, account_of(stack).quiet_end_minute) == (720, 810)
    assert "not a time of day" in shown_text(ask(stack, "quiet 25:00-07:00"))
    assert "Quiet hours are off" in shown_text(ask(stack, "quiet off"))
    assert account_of(stack).quiet_start_minute is None

    assert "Digest is *on*" in shown_text(ask(stack, "digest on"))
    assert account_of(stack).digest_enabled
    ask(stack, "digest off")
    assert not account_of(stack).digest_enabled


def test_mute_and_unmute_a_contact(stack, connected):
    with session_scope(stack.engine) as session:
        contact_id = make_contact(session, "jane@acme.example", first="Jane", last="Doe").id
    # Slack escapes addresses as mailto links (should_escape: true).
    assert "Muted Jane Doe" in shown_text(ask(stack, "mute <mailto:Jane@Acme.example|Jane@Acme.example>"))
    assert "already muted" in shown_text(ask(stack, "mute jane@acme.example"))
    with session_scope(stack.engine) as session:
        assert session.get(MutedContact, (account_of(stack).id, contact_id)) is not None
    assert "not a CRM contact" in shown_text(ask(stack, "mute nobody@else.example"))
    assert "Unmuted Jane Doe" in shown_text(ask(stack, "unmute jane@acme.example"))
    with session_scope(stack.engine) as session:
        assert session.exec(select(MutedContact)).all() == []


def test_share_and_unshare_with_a_colleague(stack, connected):
    stack.add_rep(COLLEAGUE, COLLEAGUE_EMAIL, gmail=None, mail_integration=False)
    shared = shown_text(ask(stack, f"share <@{COLLEAGUE}|colleague>"))
    assert f"<@{COLLEAGUE}> may now see your emails" in shared and "while your sharing is *Custom*" in shared
    with session_scope(stack.engine) as session:
        assert len(session.exec(select(EmailShare)).all()) == 1
    ask(stack, "sharing custom")
    status = shown_text(ask(stack, "status"))
    assert f"shared with <@{COLLEAGUE}>" in status
    assert "no longer sees" in shown_text(ask(stack, f"unshare <@{COLLEAGUE}>"))
    with session_scope(stack.engine) as session:
        assert session.exec(select(EmailShare)).all() == []
    assert "always visible to you" in shown_text(ask(stack, f"share <@{REP}>"))
    stack.slack.add_user(TEAM, "U300OUT", email="outsider@else.example")
    assert "not a CRM user yet" in shown_text(ask(stack, "share <@U300OUT>"))


def test_connect_when_already_connected_offers_to_reconnect(stack, connected):
    text = shown_text(ask(stack, "connect"))
    assert f"connected as *{REP_GMAIL}*" in text and "Authenticate" in text


def test_help_and_no_text_list_every_subcommand(stack, rep):
    for text in ("help", ""):
        listing = shown_text(ask(stack, text))
        for word in ("connect", "disconnect", "status", "sharing", "magnet", "labels", "alerts", "quiet", "digest",
                     "mute", "share", "admin"):
            assert f"/gmail {word}" in listing


MALFORMED = [
    ("frobnicate", "`/gmail frobnicate` is not a MailMagnet command"),
    ("magnet", "takes `on` or `off`"),
    ("magnet maybe", "is neither `on` nor `off`"),
    ("labels on off", "takes `on` or `off`"),
    ("status now", "takes no arguments"),
    ("sharing everyone", "is not a sharing option"),
    ("sharing public public", "is not a sharing option"),
    ("alerts", "takes `dm` or one `#channel`"),
    ("alerts dm #sales", "takes `dm` or one `#channel`"),
    ("alerts <@U100REP|rep>", "is not a channel"),
    ("quiet", "Give the hours"),
    ("quiet soon", "look like `22:00-07:00`"),
    ("mute", "takes one contact e-mail address"),
    ("mute '; DROP TABLE contacts; --", "takes one contact e-mail address"),
    ("mute robert');DROP", "is not an e-mail address"),
    ("share @bob", "pick the person from Slack's autocomplete"),
    ("share <!channel>", "is not a mention"),
    ("digest \"on\"", "is neither `on` nor `off`"),
    ("Ünïcödé ✉️ 📬", "is not a MailMagnet command"),
    ("x" * 3000, "is not a MailMagnet command"),
]


def test_malformed_input_gets_usage(stack, connected):
    for text, expected in MALFORMED:
        shown = shown_text(ask(stack, text))
        assert expected in shown, text
        assert "Usage" in shown or "`/gmail` commands" in shown, text
        assert "<!channel>" not in shown and "<@U100REP" not in shown, text  # input never mentions anyone
