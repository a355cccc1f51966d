"""No blind retry of a non-idempotent Slack post (issue 17): 40% of chat.postMessage calls fail — 429 (not taken),
500 after Slack stored the message, connection reset after storing, answer held past the client's timeout — while
the real sync job posts alerts and digests: every alert lands exactly once, none is lost."""
from __future__ import annotations

import socket
from collections import Counter
from datetime import datetime, timezone
from http.client import HTTPException, RemoteDisconnected
from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError
from sqlmodel import select

from bot.notifier import SlackDeliveryError, SlackNotifier
from bot.settings import Settings
from bot.slack_clients import SlackClients, make_client
from bot.slack_failures import Failure, failure_of, safe_to_repeat
from crm_store.db import session_scope
from crm_store.models import Alert, AlertStatus
from gmail.notifier import AlertView
from sandbox.slack_emulator import Fault, SlackEmulator
from testsupport.stack import REP, TEAM, start_stack

N_CONTACTS = 8
CONTACTS = "email,first_name,last_name,company,external_id\n" + "".join(
    f"c{i}@customer.example,Contact{i},Doe,Company{i},C{i}\n" for i in range(N_CONTACTS))
DEALS = "name,contact_external_id,stage,closing_date,external_id\n" + "".join(
    f"Deal {i},C{i},Proposal,2099-01-01,D{i}\n" for i in range(N_CONTACTS))
# The four ways a post fails, each on a tenth of all chat.postMessage calls.
KINDS = (dict(status=429, retry_after=1), dict(status=500), dict(status="reset"),
         dict(status="timeout", timeout_seconds=3))
MAX_RUNS = 12


@pytest.fixture
def flaky(database_url):
    """The stack with its jobs built but not scheduled, and a Slack client that gives up after 1 s (so a held answer
    is a timeout on our side, not a slow success)."""
    running = start_stack(database_url, scheduler=True, start_scheduler=False, slack_timeout_seconds=1)
    running.add_rep()
    running.import_crm(CONTACTS, DEALS)
    yield running
    running.stop()


def fail_posts(slack, share: float = 0.1, seed: int = 5) -> list[Fault]:
    """`share` of all chat.postMessage calls for each kind: each fault sees only the calls the ones before it let
    through, so its own rate is share / (what is left)."""
    faults = []
    for index, kind in enumerate(KINDS):
        faults.append(slack.add_fault(Fault(method="chat.postMessage", rate=share / (1 - share * index),
                                            seed=seed + index, **kind)))
    return faults


def posted(slack, event_type: str) -> list[dict]:
    dm = slack.dm_channel(TEAM, REP)
    return [m for m in slack.messages(dm) if (m.get("metadata") or {}).get("event_type") == event_type]


def alerted(slack) -> Counter:
    return Counter(m["metadata"]["event_payload"]["gmail_id"] for m in posted(slack, "mailmagnet_alert"))


def digested(slack) -> Counter:
    return Counter(g for m in posted(slack, "mailmagnet_digest") for g in m["metadata"]["event_payload"]["gmail_ids"])


def test_alerts_land_exactly_once_while_two_fifths_of_posts_fail(flaky):
    flaky.connect_with_magnet()
    faults = fail_posts(flaky.slack)
    sent = [flaky.mail(f"Contact{i} <c{i}@customer.example>", f"Question {i}") for i in range(N_CONTACTS)]
    for _ in range(MAX_RUNS):  # the faults stay on: every run posts through them
        flaky.run("sync")
        if set(alerted(flaky.slack)) >= set(sent):
            break
    flaky.run("sync")  # one more run with the faults on: nothing is left to post again
    counts = alerted(flaky.slack)
    assert all(f.hits for f in faults), [f.hits for f in faults]  # every kind of failure did hit a post
    assert {g: n for g, n in counts.items() if n > 1} == {}, f"duplicated: {counts}"
    assert set(counts) == set(sent), f"lost: {set(sent) - set(counts)}"
    # Each alert knows its message (the buttons and the audit work from it), found in the history or not.
    in_slack = {m["metadata"]["event_payload"]["gmail_id"]: m["ts"] for m in posted(flaky.slack, "mailmagnet_alert")}
    with session_scope(flaky.engine) as session:
        recorded = {a.gmail_id: (a.status, a.slack_ts) for a in session.exec(select(Alert))}
    assert recorded == {g: (AlertStatus.POSTED.value, ts) for g, ts in in_slack.items()}


def test_digests_land_exactly_once_while_two_fifths_of_posts_fail(flaky):
    flaky.connect_with_magnet()
    faults = fail_posts(flaky.slack, seed=83)
    sent = []
    rounds = 5
    for round_ in range(rounds):
        flaky.update_mailbox(quiet_start_minute=0, quiet_end_minute=24 * 60)  # the whole day (1439 left 23:59 out): queue alerts for a digest
        batch = [flaky.mail(f"Contact{i} <c{i}@customer.example>", f"Round {round_} #{i}") for i in range(3)]
        sent += batch
        flaky.run("sync")
        flaky.update_mailbox(quiet_start_minute=None, quiet_end_minute=None)  # quiet hours over: the digest is due
        for _ in range(MAX_RUNS):
            flaky.run("sync")
            if set(digested(flaky.slack)) >= set(batch):
                break
    flaky.run("sync")
    counts = digested(flaky.slack)
    assert all(f.hits for f in faults), [f.hits for f in faults]
    assert {g: n for g, n in counts.items() if n > 1} == {}, f"duplicated: {counts}"
    assert set(counts) == set(sent), f"lost: {set(sent) - set(counts)}"
    assert len(posted(flaky.slack, "mailmagnet_digest")) == rounds
    assert alerted(flaky.slack) == Counter()


# -- the retry decision, per failure kind ---------------------------------------------------------------------------


@pytest.mark.parametrize(("outcome", "expected"), [
    (dict(status=200), None),
    (dict(status=429, error="ratelimited"), Failure.NOT_TAKEN),
    (dict(status=200, error="request_timeout"), Failure.NOT_TAKEN),  # Slack got a truncated body
    (dict(status=500, error="internal_error"), Failure.UNCERTAIN),
    (dict(status=502), Failure.UNCERTAIN),
    (dict(status=503, error="service_unavailable"), Failure.UNCERTAIN),
    (dict(status=504), Failure.UNCERTAIN),
    (dict(status=200, error="fatal_error"), Failure.UNCERTAIN),  # "some aspect of the operation may have succeeded"
    (dict(status=200, error="channel_not_found"), Failure.REFUSED),
    (dict(status=200, error="not_in_channel"), Failure.REFUSED),
    (dict(status=200, error="invalid_auth"), Failure.REFUSED),
    (dict(status=404), Failure.REFUSED),
    (dict(exception=TimeoutError("timed out")), Failure.UNCERTAIN),
    (dict(exception=ConnectionResetError(104, "Connection reset by peer")), Failure.UNCERTAIN),
    (dict(exception=RemoteDisconnected("Remote end closed connection without response")), Failure.UNCERTAIN),
    (dict(exception=URLError(ConnectionResetError(104, "reset while sending"))), Failure.UNCERTAIN),
    (dict(exception=URLError(ConnectionRefusedError(111, "Connection refused"))), Failure.NOT_TAKEN),
    (dict(exception=URLError(socket.gaierror(-2, "Name or service not known"))), Failure.NOT_TAKEN),
])
def test_what_each_failure_says_about_the_post(outcome, expected):
    assert failure_of(**outcome) is expected


@pytest.mark.parametrize(("method", "repeatable"), [
    ("chat.postMessage", False), ("chat.scheduleMessage", False), ("files.completeUploadExternal", False),
    ("conversations.create", False), ("chat.postEphemeral", True), ("conversations.history", True),
    ("conversations.open", True), ("users.info", True), ("auth.test", True), ("views.publish", True),
    ("usergroups.users.list", True), ("chat.update", True),
])
def test_which_methods_may_be_sent_twice(method, repeatable):
    assert safe_to_repeat(method) is repeatable


@pytest.fixture
def slack():
    with SlackEmulator() as emulator:
        team = emulator.default_team()
        emulator.add_user(team.id, REP, email="rep@crm.example")
        emulator.add_channel(team.id, "C0SALES", "sales", members=[REP, team.bot_user_id])
        yield emulator


def settings_for(slack) -> Settings:
    return Settings(_env_file=None, slack_bot_token=slack.default_team().bot_token, slack_api_url=slack.api_url,
                    slack_timeout_seconds=1)


def alert_view(gmail_id: str = "m1") -> AlertView:
    return AlertView(account_id=1, gmail_id=gmail_id, mailbox_address="rep@gmail.example", rep_user_id=REP,
                     contact_id=1, contact_name="Jane Doe", contact_email="jane@acme.example", company="Acme",
                     category_label="Open Deals", deal_context="Open deal", sender="Jane Doe",
                     received_at=datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc),
                     gmail_url="https://mail.google.com/mail/#all/m1", subject="Renewal", snippet="Hello")


@pytest.mark.parametrize("status", [500, 503, "reset", "drop", "timeout"])
def test_the_client_never_resends_a_post_whose_answer_was_lost(slack, status):
    client = make_client(settings_for(slack), slack.default_team().bot_token)
    slack.add_fault(Fault(status=status, count=1, timeout_seconds=2))
    with pytest.raises((SlackApiError, OSError, HTTPException)):
        client.chat_postMessage(channel="C0SALES", text="once")
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert [m["text"] for m in slack.messages("C0SALES")] == ["once"]


def test_the_client_resends_a_rate_limited_post_after_retry_after_and_repeats_reads(slack):
    client = make_client(settings_for(slack), slack.default_team().bot_token)
    slack.add_fault(Fault(status=429, retry_after=1, count=1))
    assert client.chat_postMessage(channel="C0SALES", text="after the wait")["ok"]
    assert [m["text"] for m in slack.messages("C0SALES")] == ["after the wait"]
    for status in (500, "reset"):  # a read may be sent again whatever happened to the first one
        slack.add_fault(Fault(method="conversations.history", status=status, count=1))
        assert client.conversations_history(channel="C0SALES")["ok"]
    assert len(slack.calls_to("conversations.history")) == 4


@pytest.mark.parametrize("status", [500, "reset", "drop", "timeout"])
@pytest.mark.parametrize("channel", ["C0SALES", REP])  # a channel, and the rep's DM posted to by user id
def test_an_alert_whose_answer_was_lost_is_found_in_the_history_not_posted_again(slack, status, channel):
    notifier = SlackNotifier(SlackClients(settings_for(slack)), pause_seconds=0.01)
    slack.add_fault(Fault(status=status, count=1, timeout_seconds=2))
    ts = notifier.post_alert(TEAM, channel, alert_view())
    target = slack.dm_channel(TEAM, REP) if channel == REP else channel
    assert [m["ts"] for m in slack.messages(target)] == [ts]
    assert len(slack.calls_to("chat.postMessage")) == 1 and slack.calls_to("conversations.history")


def test_an_alert_that_did_not_land_is_posted_again_once(slack):
    notifier = SlackNotifier(SlackClients(settings_for(slack)), pause_seconds=0.01)
    slack.add_fault(Fault(status="reset", accepted=False, count=1))  # cut before Slack stored anything
    ts = notifier.post_alert(TEAM, "C0SALES", alert_view())
    assert [m["ts"] for m in slack.messages("C0SALES")] == [ts]
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_a_rate_limited_alert_waits_and_a_refused_one_is_not_sent_again(slack):
    notifier = SlackNotifier(SlackClients(settings_for(slack)), pause_seconds=0.01)
    slack.add_fault(Fault(status=429, retry_after=1, count=4))  # more than slack_sdk's handler retries
    ts = notifier.post_alert(TEAM, "C0SALES", alert_view())
    assert [m["ts"] for m in slack.messages("C0SALES")] == [ts]
    assert slack.calls_to("conversations.history") == []  # a 429 is not taken: nothing to look for

    slack.clear_calls()
    slack.add_channel(TEAM, "C0OTHER", "other", members=[REP])  # the bot was never invited
    with pytest.raises(SlackDeliveryError, match="not_in_channel"):
        notifier.post_alert(TEAM, "C0OTHER", alert_view("m2"))
    assert [c.method for c in slack.calls if c.method != "auth.test"] == ["chat.postMessage"]


def test_an_uncertain_post_waits_when_the_history_cannot_be_read(slack):
    """Without the history a second post could be a duplicate: the alert stays pending for the next run."""
    notifier = SlackNotifier(SlackClients(settings_for(slack)), pause_seconds=0.01)
    slack.add_fault(Fault(status=500, count=1))
    slack.add_fault(Fault(method="conversations.history", status=500, accepted=False, rate=1.0))
    with pytest.raises(SlackDeliveryError, match="history"):
        notifier.post_alert(TEAM, "C0SALES", alert_view())
    assert len(slack.calls_to("chat.postMessage")) == 1 and len(slack.messages("C0SALES")) == 1


def test_a_notice_dm_whose_answer_was_lost_is_not_sent_twice(slack):
    notifier = SlackNotifier(SlackClients(settings_for(slack)), pause_seconds=0.01)
    slack.add_fault(Fault(status="reset", count=1))
    ts = notifier.dm(TEAM, REP, "Google revoked access", [])
    assert [m["ts"] for m in slack.dms(REP)] == [ts]
