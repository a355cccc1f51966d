"""The Slack emulator's Socket Mode against a tiny Bolt app on slack_sdk's built-in client
(`SocketModeHandler`), and against a bare WebSocket client for the protocol's edges."""
from __future__ import annotations

import base64
import json
import os
import socket
import struct
from urllib.parse import urlsplit

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack_emulator import SlackEmulator, SocketModeDriver
from sandbox.slack_emulator.socket_mode import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, accept_key, encode_frame, read_frame

APP_TOKEN = "xapp-1-A0MAILMAGNT-1-test"
USER = "U1"
CHANNEL = "C1"


def start_emulator() -> SlackEmulator:
    emulator = SlackEmulator().start()
    team = emulator.default_team()
    emulator.add_user(team.id, USER, email="ann@example.com")
    emulator.add_channel(team.id, CHANNEL, "general", members=[USER, team.bot_user_id])
    emulator.register_app_token(APP_TOKEN, team.id)
    return emulator


# One emulator and one connected app for the module: slack_sdk's client takes about a second to close
# (its message loop waits on a queue with a one-second timeout).
@pytest.fixture(scope="module")
def emu():
    emulator = start_emulator()
    yield emulator
    emulator.stop()


@pytest.fixture
def fresh_emu():
    emulator = start_emulator()
    yield emulator
    emulator.stop()


def tiny_app(emu: SlackEmulator) -> App:
    app = App(client=WebClient(base_url=emu.api_url, token=emu.default_team().bot_token),
              signing_secret="unused-in-socket-mode", token_verification_enabled=False)

    @app.command("/echo")
    def echo(ack, body, respond):
        ack(text=f"echo {body['text']}")
        respond(text="and later, through the response_url")

    @app.event("app_mention")
    def mention(event, say):
        say(text=f"hello <@{event['user']}>")

    @app.view("form")
    def form(ack):
        ack(response_action="errors", errors={"name": "Pick another name"})

    return app


def closed(emu: SlackEmulator, connection_id: str) -> dict | None:
    return next((c for c in emu.socket_mode.connections(include_closed=True)
                 if c["id"] == connection_id and c["closed_at"]), None)


def hang_up(emu: SlackEmulator, handler: SocketModeHandler) -> None:
    """Drop the app's sockets from the emulator's side, then close the client. slack_sdk's close()
    waits for its blocked recv (a 3-second timeout) unless the socket is already gone; revoking
    the token first keeps it from reconnecting in between."""
    emu.socket_mode.revoke_app_token(APP_TOKEN)
    emu.socket_mode.close(wait=5)
    handler.close()


@pytest.fixture(scope="module")
def bolt(emu):
    """The tiny app connected; `received` holds every raw message its client got."""
    handler = SocketModeHandler(tiny_app(emu), APP_TOKEN, ping_interval=0.5)
    handler.received = []  # type: ignore[attr-defined]
    handler.client.on_message_listeners.append(handler.received.append)  # type: ignore[attr-defined]
    handler.connect()
    emu.socket_mode.wait_for_connection()
    yield handler
    hang_up(emu, handler)


@pytest.fixture
def drv(emu, bolt):
    driver = SocketModeDriver(emu, timeout=5)
    yield driver
    driver.close()


def test_the_app_connects_through_apps_connections_open_and_is_greeted(emu, bolt):
    call = emu.calls_to("apps.connections.open")[0]
    assert call.ok and call.response["url"].startswith(f"ws://127.0.0.1:{emu.port}/link/?ticket=")
    assert call.team_id == emu.default_team().id
    hello = json.loads(emu.wait_for(lambda: bolt.received)[0])
    assert hello["type"] == "hello"
    assert hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": emu.app_id}
    assert emu.socket_mode.connections()[-1]["team_id"] == emu.default_team().id
    assert emu.wait_for(lambda: emu.socket_mode.connections()[-1]["pings"] >= 1)  # its keepalive is answered


def test_apps_connections_open_wants_a_registered_app_token_in_the_header(fresh_emu):
    emu = fresh_emu
    client = WebClient(base_url=emu.api_url)
    for token, error in (("xapp-1-unknown", "invalid_auth"), (emu.default_team().bot_token, "not_allowed_token_type")):
        with pytest.raises(SlackApiError) as raised:
            client.apps_connections_open(app_token=token)
        assert raised.value.response["error"] == error
    with pytest.raises(SlackApiError) as raised:
        client.api_call("apps.connections.open", data={"token": APP_TOKEN})  # a form field is not enough
    assert raised.value.response["error"] == "not_authed"


def test_a_slash_command_is_acked_with_its_payload_and_its_response_url_works(emu, drv):
    response = drv.slash_command(USER, "/echo", "ping")
    assert response.status == 200
    assert response.json == {"text": "echo ping"}
    envelope = next(e for e in emu.socket_mode.envelopes if e["envelope_id"] == response.envelope_id)
    assert envelope["type"] == "slash_commands" and envelope["message"]["accepts_response_payload"] is True
    assert envelope["message"]["payload"]["command"] == "/echo"
    post = emu.wait_for(lambda: emu.response_url_posts(response.response_url))
    assert post[0]["text"] == "and later, through the response_url"
    assert emu.ephemerals(USER)[-1]["text"] == "and later, through the response_url"


def test_an_event_is_acked_and_the_listener_calls_the_web_api(emu, drv):
    event = {"type": "app_mention", "user": USER, "text": f"<@{emu.default_team().bot_user_id}> hi",
             "channel": CHANNEL, "ts": "1700000000.000100", "event_ts": "1700000000.000100"}
    response = drv.event(event)
    assert response.status == 200 and response.json is None  # a bare ack
    envelope = next(e for e in emu.socket_mode.envelopes if e["envelope_id"] == response.envelope_id)
    assert envelope["type"] == "events_api"
    assert envelope["message"]["retry_attempt"] == 0 and envelope["message"]["payload"]["event"] == event
    assert emu.wait_for(lambda: [m for m in emu.messages(CHANNEL) if m["text"] == f"hello <@{USER}>"])


def test_a_view_submission_is_acked_with_its_response_action(emu, drv):
    response = drv.view_submission(USER, {"callback_id": "form"})
    assert response.json == {"response_action": "errors", "errors": {"name": "Pick another name"}}


def test_an_envelope_the_app_does_not_ack_times_out(emu, bolt):
    driver = SocketModeDriver(emu, timeout=0.3, deliver_lifecycle_events=False)
    with pytest.raises(TimeoutError):
        driver.slash_command(USER, "/nobody-listens")  # Bolt answers 404, so its client sends no ack


def test_the_app_reconnects_after_the_server_closes_its_socket(emu, bolt, drv):
    first = emu.socket_mode.wait_for_connection()
    opened = len(emu.calls_to("apps.connections.open"))
    assert emu.socket_mode.close() == 1
    second = emu.socket_mode.wait_for_connection(other_than=first["id"])
    assert len(emu.calls_to("apps.connections.open")) == opened + 1  # a new URL: tickets are single use
    old = emu.wait_for(lambda: closed(emu, first["id"]))
    assert old["closed_by"] == "server" and old["close_code"] == 1001
    response = drv.slash_command(USER, "/echo", "again")
    assert response.json == {"text": "echo again"}
    assert emu.socket_mode.acks[-1]["connection_id"] == second["id"]


def test_a_refresh_request_moves_the_app_to_a_new_connection(emu, bolt, drv):
    first = emu.socket_mode.wait_for_connection()
    assert emu.socket_mode.disconnect("refresh_requested") == 1
    second = emu.socket_mode.wait_for_connection(other_than=first["id"])
    old = emu.wait_for(lambda: closed(emu, first["id"]))
    assert old["closed_by"] == "server"  # once the app has moved over
    response = drv.slash_command(USER, "/echo", "after refresh")
    assert response.json == {"text": "echo after refresh"}
    assert emu.socket_mode.acks[-1]["connection_id"] == second["id"]


# ---------------------------------------------------------------------------- a bare WebSocket client


class RawClient:
    def __init__(self, url: str, key: str | None = None) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        self.stream = self.sock.makefile("rb")
        self.status = int(self.stream.readline().split()[1])
        self.headers = {}
        while (line := self.stream.readline().strip()):
            name, _, value = line.decode().partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def send(self, opcode: int, payload: bytes, *, mask: bool = True) -> None:
        self.sock.sendall(encode_frame(opcode, payload, mask=mask))

    def read(self) -> tuple[int, bytes]:
        _, opcode, payload = read_frame(self.stream, require_mask=False)
        return opcode, payload

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def open_url(emu: SlackEmulator) -> str:
    return WebClient(base_url=emu.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]


def test_the_websocket_handshake_ping_pong_acks_and_closing_handshake(fresh_emu):
    emu = fresh_emu
    client = RawClient(open_url(emu))
    try:
        assert client.status == 101 and client.headers["sec-websocket-accept"] == accept_key(client.key)
        opcode, hello = client.read()
        assert opcode == OP_TEXT and json.loads(hello)["type"] == "hello"
        client.send(OP_PING, b"are you there")
        assert client.read() == (OP_PONG, b"are you there")
        envelope_id = emu.socket_mode.send("events_api", {"type": "event_callback", "event": {"type": "x"}})
        opcode, message = client.read()
        assert json.loads(message)["envelope_id"] == envelope_id
        long_payload = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 70_000}}]}
        client.send(OP_TEXT, json.dumps({"envelope_id": envelope_id, "payload": long_payload}).encode())
        assert emu.socket_mode.wait_for_ack(envelope_id)["payload"] == long_payload
        client.send(OP_CLOSE, struct.pack("!H", 1000) + b"bye")
        assert client.read() == (OP_CLOSE, struct.pack("!H", 1000) + b"bye")  # echoed, as RFC 6455 asks
        closed = emu.wait_for(lambda: [c for c in emu.socket_mode.connections(include_closed=True) if c["closed_at"]])
        assert closed[0]["closed_by"] == "client" and closed[0]["close_code"] == 1000
    finally:
        client.close()


def test_an_unmasked_client_frame_closes_the_connection_with_a_protocol_error(fresh_emu):
    emu = fresh_emu
    client = RawClient(open_url(emu))
    try:
        client.read()  # hello
        client.send(OP_TEXT, b'{"envelope_id": "x"}', mask=False)
        opcode, payload = client.read()
        assert opcode == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1002
        assert emu.socket_mode.acks == []
    finally:
        client.close()


def test_a_ticket_works_once(fresh_emu):
    emu = fresh_emu
    url = open_url(emu)
    first = RawClient(url)
    second = RawClient(url)
    try:
        assert first.status == 101
        assert second.status == 401
    finally:
        first.close()
        second.close()
