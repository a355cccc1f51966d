"""POST /slack/events as Slack sends it: forged and stale signatures are refused with no side effect; Slack's
retries (X-Slack-Retry-Num) and replays of a processed request change nothing."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import ProcessedSlackRequest
from tests.support.slack import JobsRecorder, account_of, ask
from testsupport.stack import REP
from tests.signals import (ANSWERED_COMMANDS, MALFORMED_SIGNATURES, REPEAT_DROPPED, RETRY_DROPPED,
                           capture_request_logs, metrics, wait_for_count, wait_for_log)


@pytest.fixture
def connected(stack):
    stack.add_rep()
    stack.connect()
    stack.slack.wait_for(lambda: stack.slack.dms(REP))
    stack.services.jobs = JobsRecorder()
    stack.slack.clear_calls()
    with session_scope(stack.engine) as session:
        for row in session.exec(select(ProcessedSlackRequest)).all():
            session.delete(row)
    return stack.services.jobs


def processed_keys(stack) -> list[str]:
    with session_scope(stack.engine) as session:
        return [row.key for row in session.exec(select(ProcessedSlackRequest)).all()]


@pytest.mark.parametrize("tamper, refused_by", [
    ({"signature": "v0=" + "0" * 64}, "bolt"),  # forged
    ({"timestamp": int(time.time()) - 10 * 60}, "bolt"),  # correctly signed, but stale: a replay
    ({"signature": ""}, "shape check"),
])
def test_forged_or_stale_requests_are_refused_without_side_effects(stack, connected, tamper, refused_by):
    series = ANSWERED_COMMANDS if refused_by == "bolt" else MALFORMED_SIGNATURES
    before = metrics(stack.server.url).get(series, 0)
    response = stack.driver.slash_command(REP, "/gmail", "magnet on", **tamper)
    assert response.status == 401
    # Handled: the server counted the request it answered (Bolt's 401) or refused (the shape check), and Bolt hands
    # a request to no listener after a 401. Only then the absences.
    wait_for_count(stack.server.url, series, before + 1)
    assert stack.slack.response_url_posts(response.response_url) == []
    assert stack.slack.calls == []
    assert not account_of(stack).magnet_enabled
    assert processed_keys(stack) == []
    assert connected.calls == []


def test_unsigned_interaction_and_event_are_refused(stack, connected):
    body = urlencode({"payload": '{"type": "block_actions", "actions": []}'}).encode()
    assert stack.driver.post_raw(body).status == 401
    assert stack.driver.post_raw(b'{"type": "event_callback"}', content_type="application/json").status == 401
    assert processed_keys(stack) == [] and stack.slack.calls == []


def test_a_retried_command_is_acked_and_not_run_again(stack, connected, caplog):
    capture_request_logs(caplog)
    first = stack.driver.slash_command(REP, "/gmail", "magnet on")
    stack.slack.wait_for(lambda: stack.slack.response_url_posts(first.response_url))
    body = urlencode(first.payload).encode()
    for retry in (1, 2):
        headers = {**stack.driver.sign(body), "X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        assert stack.driver.post_raw(body, headers).status == 200
    # Handled: each retry was dropped as one already processed (at the door, or by its listener's claim).
    assert len(wait_for_log(caplog, RETRY_DROPPED, REPEAT_DROPPED, count=2)) == 2
    assert len(stack.slack.response_url_posts(first.response_url)) == 1  # no "already on" second answer
    assert connected.asked("request_sync") == [(account_of(stack).id,)]


def test_a_retry_racing_its_original_runs_once(stack, connected, caplog):
    """The original is still being processed when Slack's retry arrives: the claim after the ack decides."""
    capture_request_logs(caplog)
    response_url = stack.slack.new_response_url("T0001", stack.driver.dm_channel(REP), REP)
    body = urlencode({"token": "t", "team_id": "T0001", "user_id": REP, "command": "/gmail", "text": "magnet on",
                      "channel_id": stack.driver.dm_channel(REP), "trigger_id": "13345224609.738474920.8088930838d88f",
                      "response_url": response_url})
    retry_headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda extra: stack.driver.post_raw(body.encode(), {**stack.driver.sign(body), **extra}),
                                [{}, retry_headers, retry_headers, {}]))
    assert [a.status for a in answers] == [200] * 4
    stack.slack.wait_for(lambda: stack.slack.response_url_posts(response_url), timeout=15)  # the winner answered
    assert account_of(stack).magnet_enabled
    # Handled: the three copies that lost were each dropped, at the door or by the listener's claim.
    assert len(wait_for_log(caplog, RETRY_DROPPED, REPEAT_DROPPED, count=3)) == 3
    assert len(stack.slack.response_url_posts(response_url)) == 1
    assert len(connected.asked("request_sync")) == 1


def test_a_retry_whose_original_never_arrived_is_processed(stack, connected):
    post = ask(stack, "magnet on", retry_num=1, retry_reason="http_error")
    assert "MailMagnet is *on*" in post["text"]


def test_a_retried_event_is_processed_once(stack, connected, caplog):
    capture_request_logs(caplog)
    event = {"type": "app_home_opened", "user": REP, "channel": stack.driver.dm_channel(REP), "tab": "home",
             "event_ts": f"{time.time():.6f}"}
    assert stack.driver.event(event, event_id="Ev0RETRY01").status == 200
    stack.slack.wait_for(lambda: stack.slack.views_published.get(REP))
    assert stack.driver.event(event, event_id="Ev0RETRY01", retry_num=1).status == 200
    wait_for_log(caplog, RETRY_DROPPED, REPEAT_DROPPED)  # handled: dropped as a repeat
    assert len(stack.slack.views_published[REP]) == 1
    assert "event:Ev0RETRY01" in processed_keys(stack)


def test_url_verification_answers_the_challenge(stack):
    response = stack.driver.url_verification("challenge-123")
    assert response.status == 200 and "challenge-123" in response.body
