"""Whoever captured one of the rep's genuine Slack requests (a proxy log, a leaked HAR file) sends it again, byte for
byte, within the five minutes its signature is good for. A request runs once: the replay of a command, a click or a
modal submission is acknowledged and dropped, even after the rep undid what it did; a capture re-sent with a fresh
timestamp no longer matches its signature. Through the signed-request driver and the emulators."""
from __future__ import annotations

import time

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import MutedContact
from handlers.blocks.compose import BODY_BLOCK, SUBJECT_BLOCK, TO_ACTION, TO_BLOCK
from tests.support.slack import account_of, shown_text
from tests.support.contact_world import CONTACTS, DEALS, JANE
from testsupport.stack import REP, REP_GMAIL, TEAM
from tests.signals import REPEAT_DROPPED, capture_request_logs, log_lines, wait_for_log


class Captured:
    """Every request the driver sends, as bytes and headers (what an eavesdropper keeps)."""

    def __init__(self, driver):
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        send = driver._post

        def post(body: bytes, headers: dict[str, str]):
            self.requests.append((body, dict(headers)))
            return send(body, headers)

        driver._post = post

    def last(self) -> tuple[bytes, dict[str, str]]:
        return self.requests[-1]


def replay(stack, captured: tuple[bytes, dict[str, str]], caplog) -> None:
    """Send the captured request again and wait until the server has dropped it as a repeat."""
    dropped = len(log_lines(caplog, REPEAT_DROPPED))
    body, headers = captured
    assert stack.driver.post_raw(body, headers).status == 200  # still within its signature's five minutes
    wait_for_log(caplog, REPEAT_DROPPED, count=dropped + 1)


@pytest.fixture
def rep(live, caplog):
    capture_request_logs(caplog)
    live.import_crm(CONTACTS, DEALS)
    live.add_rep()
    live.connect_with_magnet()
    live.captured = Captured(live.driver)
    return live


def test_a_replayed_send_sends_nothing_more(rep, caplog):
    stack = rep
    response = stack.driver.slash_command(REP, "/email", JANE)
    assert response.status == 200
    view = stack.slack.wait_for(lambda: stack.slack.modal_stack(REP), timeout=15)[-1]
    state = {SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": "Our offer"}},
             BODY_BLOCK: {"body": {"type": "plain_text_input", "value": "As discussed."}},
             TO_BLOCK: {TO_ACTION: {"type": "static_select", "selected_option": {"value": JANE}}}}
    assert stack.driver.view_submission(REP, view, values=state).status == 200
    submission = stack.captured.last()
    stack.slack.wait_for(lambda: stack.gmail.sent_messages(REP_GMAIL), timeout=15)
    replay(stack, submission, caplog)
    assert len(stack.gmail.sent_messages(REP_GMAIL)) == 1


def test_a_replayed_mute_does_not_mute_again_after_the_rep_unmuted(rep, caplog):
    stack = rep
    stack.mail("jane@acme.example", "Renewal")
    stack.run("sync")
    dm = stack.slack.dm_channel(TEAM, REP)
    alert = [m for m in stack.slack.messages(dm)
             if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"][-1]
    click = stack.driver.block_action(REP, "alert_mute_contact", channel_id=dm, message=alert)
    stack.slack.wait_for(lambda: stack.slack.response_url_posts(click.payload["response_url"]), timeout=15)
    mute = stack.captured.last()
    assert muted(stack)
    assert "Unmuted Jane Doe" in shown_text(stack.command(REP, f"unmute {JANE}"))
    assert not muted(stack)
    replay(stack, mute, caplog)
    assert not muted(stack)


def test_a_replayed_command_does_not_undo_what_the_rep_changed_since(rep, caplog):
    stack = rep
    stack.command(REP, "sharing public full")
    change = stack.captured.last()
    stack.command(REP, "sharing private")
    replay(stack, change, caplog)
    assert account_of(stack).sharing == "private"


def test_a_capture_resent_with_a_fresh_timestamp_is_refused(rep):
    stack = rep
    stack.command(REP, "sharing public full")
    body, headers = stack.captured.last()
    stack.command(REP, "sharing private")
    fresh = {**headers, "X-Slack-Request-Timestamp": str(int(time.time()) + 1)}
    assert stack.driver.post_raw(body, fresh).status == 401  # the signature covers the timestamp
    assert account_of(stack).sharing == "private"


def muted(stack) -> bool:
    with session_scope(stack.engine) as session:
        return bool(session.exec(select(MutedContact)).all())
