"""SlackDriver against a small Bolt app served over real HTTP (Bolt's WSGI adapter).

Bolt's own middleware verifies the signatures, so these tests show the driver
signs like Slack does; the listeners call the emulator back through WebClient,
respond() and views.*, so they also show the round trip a real bot makes.
"""
from __future__ import annotations

import logging
import time
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store import FileInstallationStore
from slack_sdk.oauth.state_store import FileOAuthStateStore
from slack_sdk import WebClient

from sandbox.slack_emulator import SlackDriver, SlackEmulator
from tests.support.wsgi import serving

SIGNING_SECRET = "emulator-signing-secret"

SETTINGS_MODAL = {
    "type": "modal",
    "callback_id": "settings",
    "title": {"type": "plain_text", "text": "MailMagnet"},
    "submit": {"type": "plain_text", "text": "Save"},
    "private_metadata": "mailbox=42",
    "blocks": [
        {
            "type": "input",
            "block_id": "sharing",
            "label": {"type": "plain_text", "text": "Sharing"},
            "element": {"type": "plain_text_input", "action_id": "choice"},
        }
    ],
}

ALERT_BLOCKS = [
    {"type": "section", "block_id": "alert", "text": {"type": "mrkdwn", "text": "New email from *Dana*"}},
    {
        "type": "actions",
        "block_id": "alert_actions",
        "elements": [
            {"type": "button", "action_id": "mute_contact", "text": {"type": "plain_text", "text": "Mute"}, "value": "dana@acme.test"}
        ],
    },
]


def build_app(emu: SlackEmulator, seen: dict) -> App:
    team = emu.default_team()
    # The client carries both the token and the emulator's base_url, as the bot's SLACK_API_URL does.
    # Bolt's middleware logs through the app's logger: a test can then see it refuse a signature.
    app = App(signing_secret=SIGNING_SECRET, client=WebClient(base_url=emu.api_url, token=team.bot_token),
              logger=logging.getLogger("tests.driver_bolt_app"))

    @app.command("/gmail")
    def gmail(ack, body, respond, client, request):
        ack()
        seen.setdefault("retry_nums", []).append(request.headers.get("x-slack-retry-num", [None])[0])
        if body["text"] == "settings":
            client.views_open(trigger_id=body["trigger_id"], view=SETTINGS_MODAL)
        else:
            respond(text="Authenticate with Google", blocks=ALERT_BLOCKS)

    @app.action("mute_contact")
    def mute(ack, action, respond):
        ack()
        respond(replace_original=True, text=f"Muted {action['value']}")

    @app.view("settings")
    def save_settings(ack, view, body, client):
        choice = view["state"]["values"]["sharing"]["choice"]["value"]
        if choice not in ("private", "public", "custom"):
            ack(response_action="errors", errors={"sharing": "Choose private, public or custom"})
            return
        ack()
        seen["private_metadata"] = view["private_metadata"]
        client.chat_postMessage(channel=body["user"]["id"], text=f"Sharing set to {choice}")

    @app.event("app_home_opened")
    def home(event, client):
        client.views_publish(
            user_id=event["user"],
            view={"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Gmail: not connected"}}]},
        )

    @app.event("message")
    def direct_message(event):
        seen.setdefault("dm_texts", []).append(event["text"])

    @app.event("app_uninstalled")
    def uninstalled(event):
        seen["uninstalled"] = True

    @app.event("tokens_revoked")
    def revoked(event):
        seen["revoked_bots"] = event["tokens"]["bot"]

    return app


@pytest.fixture
def emu():
    with SlackEmulator() as emulator:
        team = emulator.default_team()
        emulator.add_user(team.id, "U1", email="ann@example.com", real_name="Ann Rep")
        emulator.add_channel(team.id, "C1", "sales", members=["U1", team.bot_user_id])
        yield emulator


@pytest.fixture
def seen():
    return {}


@pytest.fixture
def bot_url(emu, seen):
    with serving(SlackRequestHandler(build_app(emu, seen))) as base_url:
        yield base_url + "/slack/events"


@pytest.fixture
def drv(emu, bot_url):
    driver = SlackDriver(bot_url=bot_url, signing_secret=SIGNING_SECRET, emulator=emu, team_id="T0001")
    yield driver
    driver.close()


def test_signed_slash_command_is_acked_and_responds(emu, drv):
    response = drv.slash_command("U1", "/gmail", "connect", channel_id="C1")
    assert response.status == 200 and response.body == "" and response.json is None
    assert response.elapsed_ms >= 0 and response.payload["channel_name"] == "sales"
    assert response.response_url.startswith(emu.url + "response/") and response.trigger_id

    ephemeral = emu.wait_for(lambda: emu.ephemerals("U1", channel="C1"))[0]
    assert ephemeral["text"] == "Authenticate with Google" and ephemeral["blocks"] == ALERT_BLOCKS
    (post,) = emu.response_url_posts(response.response_url)
    assert post["response_type"] == "ephemeral" and post["blocks"] == ALERT_BLOCKS


def test_command_defaults_to_the_users_dm(emu, drv):
    response = drv.slash_command("U1", "/gmail", "help")
    assert response.payload["channel_id"] == emu.dm_channel("T0001", "U1")
    assert response.payload["channel_name"] == "directmessage"
    emu.wait_for(lambda: emu.ephemerals("U1", channel=emu.dm_channel("T0001", "U1")))


@pytest.mark.parametrize(
    "options",
    [{"signature": "v0=forged"}, {"timestamp": int(time.time()) - 600}],
    ids=["forged", "stale"],
)
def test_forged_or_stale_signature_is_rejected_without_side_effects(emu, drv, seen, options, caplog):
    caplog.set_level(logging.INFO, logger="slack_bolt")
    calls_before = len(emu.calls)
    response = drv.slash_command("U1", "/gmail", "connect", channel_id="C1", **options)
    assert response.status == 401
    # Handled: Bolt logged its refusal of the signature (and hands nothing to a listener after that).
    emu.wait_for(lambda: any("Invalid request signature" in r.getMessage() for r in list(caplog.records)))
    assert emu.ephemerals() == [] and emu.response_url_posts() == [] and len(emu.calls) == calls_before
    assert "retry_nums" not in seen


def test_unsigned_raw_post_is_rejected(drv):
    body = b'{"type": "url_verification", "challenge": "c1", "token": "t"}'
    assert drv.post_raw(body, content_type="application/json").status == 401
    signed = drv.post_raw(body, drv.sign(body), content_type="application/json")
    assert signed.status == 200 and signed.json == {"challenge": "c1"}


def test_retry_headers_reach_the_app(emu, drv, seen):
    drv.slash_command("U1", "/gmail", "connect", channel_id="C1", retry_num=1, retry_reason="http_timeout")
    emu.wait_for(lambda: seen.get("retry_nums"))
    assert seen["retry_nums"] == ["1"]


def test_modal_open_errors_then_submit(emu, drv, seen):
    drv.slash_command("U1", "/gmail", "settings")
    opened = emu.wait_for(lambda: emu.views_opened.get("U1"))[-1]
    assert opened["callback_id"] == "settings" and emu.modal_stack("U1")[0]["id"] == opened["id"]

    rejected = drv.view_submission("U1", opened, values={"sharing": {"choice": {"type": "plain_text_input", "value": "everyone"}}})
    assert rejected.status == 200
    assert rejected.json == {"response_action": "errors", "errors": {"sharing": "Choose private, public or custom"}}
    assert len(emu.modal_stack("U1")) == 1

    accepted = drv.view_submission(
        "U1", {"callback_id": "settings"}, values={"sharing": {"choice": {"type": "plain_text_input", "value": "custom"}}}
    )
    assert accepted.status == 200 and accepted.body == ""
    assert emu.modal_stack("U1") == []
    dm = emu.wait_for(lambda: emu.dms("U1"))
    assert dm[-1]["text"] == "Sharing set to custom"
    assert seen["private_metadata"] == "mailbox=42"


def test_button_in_a_dm_replaces_the_alert(emu, drv):
    client = WebClient(base_url=emu.api_url, token=emu.default_team().bot_token)
    client.chat_postMessage(channel="U1", text="New email from Dana", blocks=ALERT_BLOCKS)
    alert = emu.dms("U1")[-1]
    response = drv.block_action("U1", "mute_contact", message=alert)
    assert response.status == 200
    action = response.payload["actions"][0]
    assert action["value"] == "dana@acme.test" and action["block_id"] == "alert_actions" and action["type"] == "button"
    assert response.payload["container"]["message_ts"] == alert["ts"]
    emu.wait_for(lambda: emu.dms("U1")[-1]["text"] == "Muted dana@acme.test")
    assert len(emu.dms("U1")) == 1


def test_events_url_verification_and_home(emu, drv, seen):
    verification = drv.url_verification("challenge-123")
    assert verification.status == 200 and verification.json == {"challenge": "challenge-123"}

    assert drv.app_home_opened("U1").status == 200
    home = emu.wait_for(lambda: emu.views_published.get("U1"))[-1]
    assert home["blocks"][0]["text"]["text"] == "Gmail: not connected"

    assert drv.message_im("U1", "hello bot").status == 200
    emu.wait_for(lambda: seen.get("dm_texts"))
    assert seen["dm_texts"] == ["hello bot"]
    assert emu.dms("U1")[-1]["user"] == "U1"


def test_uninstall_delivers_lifecycle_events_to_the_app(emu, drv, seen):
    emu.uninstall("T0001")
    emu.wait_for(lambda: len(drv.deliveries) == 2)
    assert [d.status for d in drv.deliveries] == [200, 200]
    assert [d.payload["event"]["type"] for d in drv.deliveries] == ["tokens_revoked", "app_uninstalled"]
    emu.wait_for(lambda: seen.get("uninstalled"))
    assert seen["revoked_bots"] == ["U0BOT"]


def browse(url: str) -> tuple[int, list[str]]:
    """Follow redirects like a browser on localhost, which sends Bolt's Secure state cookie over http."""
    cookies: dict[str, str] = {}
    visited: list[str] = []
    for _ in range(5):
        visited.append(url)
        parts = urlsplit(url)
        connection = HTTPConnection(parts.hostname, parts.port, timeout=5)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        connection.request("GET", parts.path + ("?" + parts.query if parts.query else ""), headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        if response.status not in (301, 302, 303, 307):
            return response.status, visited
        url = response.headers["Location"]
    raise AssertionError(f"too many redirects: {visited}")


def test_bolt_oauth_install_round_trip(emu, tmp_path):
    """Bolt's own installer: /slack/install → emulator authorize → /slack/oauth_redirect → oauth.v2.access."""
    emu.register_oauth_app("111.222", "s3cret")
    emu.add_team("T0002", name="Globex", bot_user_id="U0BOT2")
    emu.add_user("T0002", "UG1", email="admin@globex.test", is_admin=True)
    emu.install_as("T0002", "UG1")
    holder = {}
    with serving(lambda environ, start_response: holder["handler"](environ, start_response)) as base_url:
        installation_store = FileInstallationStore(base_dir=str(tmp_path / "installations"))
        app = App(
            signing_secret=SIGNING_SECRET,
            client=WebClient(base_url=emu.api_url),
            oauth_settings=OAuthSettings(
                client_id="111.222",
                client_secret="s3cret",
                scopes=["chat:write", "commands"],
                redirect_uri=base_url + "/slack/oauth_redirect",
                authorization_url=emu.authorize_url,
                install_page_rendering_enabled=False,
                installation_store=installation_store,
                state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(tmp_path / "states")),
            ),
        )
        holder["handler"] = SlackRequestHandler(app)
        status, visited = browse(base_url + "/slack/install")
        assert status == 200
        assert [urlsplit(url).path for url in visited] == ["/slack/install", "/oauth/v2/authorize", "/slack/oauth_redirect"]

    installation = installation_store.find_installation(enterprise_id=None, team_id="T0002")
    assert installation is not None and installation.user_id == "UG1" and installation.bot_user_id == "U0BOT2"
    assert installation.bot_token == emu.token_for("T0002") and installation.bot_id == emu.teams["T0002"].bot_id
    assert [c.method for c in emu.calls] == ["oauth.v2.access", "auth.test"]


def test_button_on_an_ephemeral_replaces_the_ephemeral(emu, drv):
    drv.slash_command("U1", "/gmail", "connect", channel_id="C1")
    ephemeral = emu.wait_for(lambda: emu.ephemerals("U1"))[-1]
    response = drv.block_action("U1", "mute_contact", message=ephemeral)
    assert response.payload["container"]["is_ephemeral"] is True and "message" not in response.payload
    emu.wait_for(lambda: [e["text"] for e in emu.ephemerals("U1")] == ["Muted dana@acme.test"])
    assert emu.messages("C1") == []


def test_concurrent_commands_are_all_answered(emu, drv):
    from concurrent.futures import ThreadPoolExecutor

    for n in range(20):
        emu.add_user("T0001", f"UC{n}")
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda n: drv.slash_command(f"UC{n}", "/gmail", "status"), range(20)))
    assert [r.status for r in responses] == [200] * 20
    emu.wait_for(lambda: len(emu.ephemerals()) == 20)
    assert {e["user"] for e in emu.ephemerals()} == {f"UC{n}" for n in range(20)}
