"""`mailmagnet serve --socket-mode`: Slack's requests reach the real bot as envelopes over the Slack
emulator's WebSocket (slack_sdk's built-in client), with no signing secret; the other routes stay
on the web server."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from testsupport.stack import REP, REP_GMAIL, authorize_url_in, http_get, start_stack


@pytest.fixture
def socket_stack(database_url):
    stack = start_stack(database_url, socket_mode=True)
    yield stack
    stack.stop()


def post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_gmail_help_over_the_socket_is_answered_ephemerally_and_the_web_routes_still_work(socket_stack):
    stack = socket_stack
    stack.add_rep()
    [connection] = stack.slack.socket_mode.connections()  # the bot connected at start-up
    response = stack.driver.slash_command(REP, "/gmail", "help")
    assert response.status == 200  # acked over the socket
    assert stack.slack.socket_mode.acks[-1]["envelope_id"] == response.envelope_id
    assert stack.slack.socket_mode.acks[-1]["connection_id"] == connection["id"]
    [answer] = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url))
    assert answer["response_type"] == "ephemeral"
    assert "/gmail connect" in answer["text"]
    assert [e["text"] for e in stack.slack.ephemerals(REP)] == [answer["text"]]  # seen by the rep alone
    assert stack.slack.dms(REP) == []

    status, _, body = http_get(f"{stack.server.url}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = post(f"{stack.server.url}/slack/events", b"command=%2Fgmail&text=help")
    assert status == 404 and "Socket Mode" in body  # no unsigned HTTP door next to the socket
    status, _, body = http_get(f"{stack.server.url}/gmail/oauth/callback?state=forged&code=x")
    assert status == 403 and "Gmail was not connected" in body


def test_gmail_connect_over_the_socket_gives_the_button_and_the_web_server_finishes_it(socket_stack):
    stack = socket_stack
    stack.add_rep()
    response = stack.driver.slash_command(REP, "/gmail", "connect")
    assert response.status == 200
    prompt = stack.slack.wait_for(lambda: next((p for p in stack.slack.response_url_posts(response.response_url)
                                                if p.get("blocks")), None))
    button = next(e for b in prompt["blocks"] for e in b.get("elements", []) if e.get("url"))
    assert button["text"]["text"] == "Authenticate"
    assert button["url"].startswith(stack.gmail.auth_uri)

    status, body = stack.follow_consent(authorize_url_in(prompt), REP_GMAIL)  # → /gmail/oauth/callback
    assert status == 200 and REP_GMAIL in body
    assert stack.account_id(REP_GMAIL)
    assert stack.slack.wait_for(lambda: [m for m in stack.slack.dms(REP) if REP_GMAIL in m.get("text", "")])
