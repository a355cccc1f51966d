"""`mailmagnet serve --socket-mode`: Slack's requests reach the real bot as envelopes over the Slack
emulator's WebSocket (slack_sdk's built-in client), with no signing secret; the other routes stay
on the web server."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from cryptography.fernet import Fernet

from bot.server import BotServer
from bot.settings import Settings
from handlers.identity import clear_cache
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackEmulator, SocketModeDriver
from tests.harness import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    REP,
    REP_GMAIL,
    Stack,
    authorize_url_in,
    free_port,
    http_get,
)

APP_TOKEN = "xapp-1-A0MAILMAGNT-1-socket-mode-test"


@pytest.fixture
def socket_stack(database_url):
    """start_stack's product on loopback, but `serve --socket-mode`: an app-level token instead of
    the signing secret, and a SocketModeDriver instead of signed HTTP posts."""
    clear_cache()
    gmail = GmailEmulator().start()
    gmail.register_client(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)
    slack = SlackEmulator().start()
    team = slack.default_team()
    slack.register_app_token(APP_TOKEN, team.id)
    port = free_port()
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        slack_bot_token=team.bot_token,
        slack_signing_secret=None,
        slack_app_token=APP_TOKEN,
        slack_api_url=slack.api_url,
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        google_auth_uri=gmail.auth_uri,
        google_token_uri=gmail.token_uri,
        google_revoke_uri=gmail.revoke_uri,
        gmail_api_url=gmail.url,
        token_encryption_keys=Fernet.generate_key().decode(),
        gmail_retry_base_seconds=0.01,
        gmail_timeout_seconds=5,
        public_url=f"http://127.0.0.1:{port}",
    )
    server = BotServer(settings, host="127.0.0.1", port=port, socket_mode=True, scheduler=False).start()
    stack = Stack(gmail, slack, server, SocketModeDriver(slack, team.id), settings)
    yield stack
    # Hang up from Slack's side first: slack_sdk's close() otherwise waits out its blocked recv (3 s);
    # without the token it cannot reconnect in between.
    slack.socket_mode.revoke_app_token(APP_TOKEN)
    slack.socket_mode.close(wait=5)
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
