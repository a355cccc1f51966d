"""The Slack emulator's Web API, driven by the real slack_sdk WebClient over HTTP."""
from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from sandbox.slack_emulator import SlackEmulator

ALERT_METADATA = {"event_type": "mailmagnet_alert", "event_payload": {"gmail_message_id": "18c2f0a1b2c3d4e5"}}


@pytest.fixture
def emu():
    with SlackEmulator() as emulator:
        team = emulator.default_team()
        emulator.add_user(team.id, "U1", email="Ann.Rep@example.com", real_name="Ann Rep", tz="Europe/Paris")
        emulator.add_user(team.id, "U2", email="bob@example.com", real_name="Bob Boss", is_admin=True)
        emulator.add_user(team.id, "U3", email="gone@example.com", deleted=True)
        emulator.add_channel(team.id, "C1", "sales", members=["U1", "U2", team.bot_user_id])
        emulator.add_channel(team.id, "C2", "random", members=["U1", "U2"])
        emulator.add_channel(team.id, "G1", "secret", members=["U1"], is_private=True)
        yield emulator


@pytest.fixture
def client(emu):
    return WebClient(base_url=emu.api_url, token=emu.default_team().bot_token)


def api_error(call, *args, **kwargs) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call(*args, **kwargs)
    return info.value


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ---------------------------------------------------------------- auth and transport


def test_auth_test_describes_the_bot(emu, client):
    team = emu.default_team()
    result = client.auth_test()
    assert result["ok"] is True
    assert result["team_id"] == team.id and result["team"] == "Acme"
    assert result["user_id"] == team.bot_user_id == "U0BOT"
    assert result["bot_id"] == team.bot_id
    assert result["url"] == "https://acme.slack.com/"
    assert result["is_enterprise_install"] is False


def test_bad_missing_and_unknown(emu):
    assert api_error(WebClient(base_url=emu.api_url, token="xoxb-nope").auth_test).response["error"] == "invalid_auth"
    assert api_error(WebClient(base_url=emu.api_url).auth_test).response["error"] == "not_authed"
    client = WebClient(base_url=emu.api_url, token=emu.default_team().bot_token)
    assert api_error(client.api_call, "chat.teleport").response["error"] == "unknown_method"


def test_token_as_form_param_and_json_body(emu):
    team = emu.default_team()
    form = urlencode({"token": team.bot_token, "channel": "C1", "text": "form"}).encode()
    status, body = raw_post(emu.api_url + "chat.postMessage", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and body["ok"] is True

    as_json = json.dumps({"channel": "C1", "text": "json", "metadata": ALERT_METADATA}).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {team.bot_token}"}
    status, body = raw_post(emu.api_url + "chat.postMessage", as_json, headers)
    assert status == 200 and body["message"]["metadata"] == ALERT_METADATA

    # Like Slack, a token inside a JSON body does not authenticate.
    status, body = raw_post(
        emu.api_url + "chat.postMessage",
        json.dumps({"token": team.bot_token, "channel": "C1", "text": "x"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert body == {"ok": False, "error": "not_authed"}
    assert [m["text"] for m in emu.messages("C1")] == ["form", "json"]
    form_call = emu.calls_to("chat.postMessage")[0]
    assert form_call.token == team.bot_token and form_call.team_id == team.id
    assert form_call.params == {"channel": "C1", "text": "form"}


def test_keep_alive_connection_serves_several_requests(emu):
    team = emu.default_team()
    parts = urlsplit(emu.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        for i in range(3):
            connection.request("GET", f"/api/auth.test?token={team.bot_token}")
            response = connection.getresponse()
            assert int(response.headers["Content-Length"]) > 0
            assert json.loads(response.read())["ok"] is True
    finally:
        connection.close()
    assert len(emu.calls_to("auth.test")) == 3


def test_team_info(client):
    team = client.team_info()["team"]
    assert team["id"] == "T0001" and team["domain"] == "acme" and team["name"] == "Acme"


# ---------------------------------------------------------------- DMs, channels, messages


def test_post_to_user_id_lands_in_a_stable_dm(emu, client):
    posted = client.chat_postMessage(channel="U1", text="Connected as ann@example.com")
    dm = emu.dm_channel("T0001", "U1")
    assert posted["channel"] == dm and dm.startswith("D")
    assert client.conversations_open(users="U1")["channel"]["id"] == dm
    assert [m["text"] for m in emu.dms("U1")] == ["Connected as ann@example.com"]
    message = posted["message"]
    assert message["user"] == "U0BOT" and message["bot_id"] == emu.default_team().bot_id
    assert message["ts"] == posted["ts"]

    with SlackEmulator() as other:  # the same user gets the same DM id in a fresh emulator
        other.default_team()
        other.add_user("T0001", "U1")
        assert other.dm_channel("T0001", "U1") == dm


def test_conversations_open_shapes(emu, client):
    first = client.conversations_open(users="U2")
    assert first["channel"] == {"id": emu.dm_channel("T0001", "U2")}
    again = client.conversations_open(users="U2")
    assert again["already_open"] is True and again["channel"]["is_im"] is True and again["channel"]["user"] == "U2"
    assert api_error(client.conversations_open, users="U404").response["error"] == "user_not_found"
    assert api_error(client.conversations_open, users="U3").response["error"] == "user_disabled"


def test_metadata_round_trips_through_history(emu, client):
    dm = emu.dm_channel("T0001", "U1")
    for n in range(3):
        client.chat_postMessage(
            channel="U1",
            text=f"alert {n}",
            metadata={"event_type": "mailmagnet_alert", "event_payload": {"gmail_message_id": f"m{n}"}},
        )
    client.chat_postMessage(channel="U1", text="no metadata")
    with_metadata = client.conversations_history(channel=dm, include_all_metadata=True)["messages"]
    assert [m.get("metadata", {}).get("event_payload", {}).get("gmail_message_id") for m in with_metadata] == [
        None, "m2", "m1", "m0",
    ]
    plain = client.conversations_history(channel=dm)["messages"]
    assert all("metadata" not in m for m in plain)
    assert emu.dms("U1")[0]["metadata"]["event_payload"] == {"gmail_message_id": "m0"}


def test_bad_metadata_is_refused(client):
    error = api_error(client.chat_postMessage, channel="C1", text="x", metadata={"event_payload": {}})
    assert error.response["error"] == "invalid_metadata_format"


def test_history_pages_newest_first_with_cursor_and_window(emu, client):
    posted = [client.chat_postMessage(channel="C1", text=f"m{n}")["ts"] for n in range(7)]
    texts, cursor, pages = [], None, 0
    while True:
        page = client.conversations_history(channel="C1", limit=3, cursor=cursor)
        pages += 1
        texts += [m["text"] for m in page["messages"]]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page["has_more"]:
            break
    assert pages == 3
    assert texts == [f"m{n}" for n in reversed(range(7))]

    window = client.conversations_history(channel="C1", oldest=posted[1], latest=posted[4])["messages"]
    assert [m["text"] for m in window] == ["m3", "m2"]
    inclusive = client.conversations_history(channel="C1", oldest=posted[1], latest=posted[4], inclusive=True)
    assert [m["text"] for m in inclusive["messages"]] == ["m4", "m3", "m2", "m1"]
    assert api_error(client.conversations_history, channel="C1", cursor="bogus").response["error"] == "invalid_cursor"


def test_threads_stay_out_of_history_and_show_in_replies(client):
    parent = client.chat_postMessage(channel="C1", text="parent")["ts"]
    client.chat_postMessage(channel="C1", text="reply", thread_ts=parent)
    history = client.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in history] == ["parent"] and history[0]["reply_count"] == 1
    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["parent", "reply"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_channel_membership_rules(client):
    assert api_error(client.chat_postMessage, channel="C2", text="x").response["error"] == "not_in_channel"
    assert api_error(client.chat_postMessage, channel="G1", text="x").response["error"] == "channel_not_found"
    assert api_error(client.chat_postMessage, channel="C404", text="x").response["error"] == "channel_not_found"
    assert api_error(client.conversations_history, channel="C2").response["error"] == "not_in_channel"
    assert api_error(client.chat_postMessage, channel="C1").response["error"] == "no_text"
    client.conversations_join(channel="C2")
    assert client.chat_postMessage(channel="#random", text="now I can")["channel"] == "C2"


def test_conversations_info_and_members_paging(emu, client):
    info = client.conversations_info(channel="C1", include_num_members=True)["channel"]
    assert info["name"] == "sales" and info["is_member"] is True and info["num_members"] == 3
    assert info["is_channel"] is True and info["is_private"] is False
    assert client.conversations_info(channel="C2")["channel"]["is_member"] is False
    assert api_error(client.conversations_info, channel="G1").response["error"] == "channel_not_found"

    emu.add_members("T0001", "C1", [f"UX{n}" for n in range(5)])
    members, cursor = [], None
    while True:
        page = client.conversations_members(channel="C1", limit=3, cursor=cursor)
        members += page["members"]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert members == ["U1", "U2", "U0BOT"] + [f"UX{n}" for n in range(5)]


def test_conversations_info_says_whom_a_channel_is_shared_with(emu, client):
    info = client.conversations_info(channel="C1")["channel"]
    assert (info["is_shared"], info["is_ext_shared"], info["is_org_shared"]) == (False, False, False)
    assert info["shared_team_ids"] == ["T0001"]

    emu.share_channel("T0001", "C1", ["T0VENDOR"], pending=True)  # a Slack Connect invitation not yet accepted
    info = client.conversations_info(channel="C1")["channel"]
    assert info["is_pending_ext_shared"] is True and info["is_ext_shared"] is False
    assert info["pending_shared"] == ["T0VENDOR"] and info["shared_team_ids"] == ["T0001"]

    emu.share_channel("T0001", "C1", ["T0VENDOR"])  # accepted: another organisation is in it
    info = client.conversations_info(channel="C1")["channel"]
    assert info["is_shared"] is True and info["is_ext_shared"] is True and info["is_org_shared"] is False
    assert info["shared_team_ids"] == ["T0001", "T0VENDOR"]

    emu.share_channel("T0001", "C1", ["T0002"], external=False)  # another workspace of the same Grid org
    info = client.conversations_info(channel="C1")["channel"]
    assert info["is_shared"] is True and info["is_org_shared"] is True and info["is_ext_shared"] is False
    assert info["shared_team_ids"] == ["T0001", "T0002"]


def test_users_info_and_lookup(client):
    ann = client.users_info(user="U1")["user"]
    assert ann["profile"]["email"] == "Ann.Rep@example.com"
    assert ann["tz"] == "Europe/Paris" and ann["tz_offset"] in (3600, 7200)
    assert ann["is_admin"] is False and ann["is_owner"] is False and ann["deleted"] is False and ann["is_bot"] is False
    assert client.users_info(user="U2")["user"]["is_admin"] is True
    assert client.users_info(user="U3")["user"]["deleted"] is True
    assert client.users_info(user="U0BOT")["user"]["is_bot"] is True
    assert client.users_lookupByEmail(email="ann.rep@EXAMPLE.com")["user"]["id"] == "U1"
    assert api_error(client.users_lookupByEmail, email="who@example.com").response["error"] == "users_not_found"
    assert api_error(client.users_info, user="U404").response["error"] == "user_not_found"


def test_update_delete_and_permalink(emu, client):
    posted = client.chat_postMessage(channel="C1", text="v1", metadata=ALERT_METADATA)
    updated = client.chat_update(channel="C1", ts=posted["ts"], text="v2", blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": "*v2*"}}
    ])
    assert updated["ts"] == posted["ts"] and updated["text"] == "v2"
    (message,) = emu.messages("C1")
    assert message["text"] == "v2" and message["blocks"][0]["text"]["text"] == "*v2*"
    assert message["metadata"] == ALERT_METADATA and "edited" in message

    link = client.chat_getPermalink(channel="C1", message_ts=posted["ts"])["permalink"]
    assert link == f"https://acme.slack.com/archives/C1/p{posted['ts'].replace('.', '')}"

    human = emu.post_as_user("C1", "U1", "written by Ann")
    assert api_error(client.chat_update, channel="C1", ts=human["ts"], text="x").response["error"] == "cant_update_message"
    assert api_error(client.chat_update, channel="C1", ts="1.000001", text="x").response["error"] == "message_not_found"

    assert client.chat_delete(channel="C1", ts=posted["ts"])["ts"] == posted["ts"]
    assert [m["text"] for m in emu.messages("C1")] == ["written by Ann"]


def test_post_ephemeral(emu, client):
    ts = client.chat_postEphemeral(channel="C1", user="U1", text="only you")["message_ts"]
    (ephemeral,) = emu.ephemerals("U1")
    assert ephemeral["message_ts"] == ts and ephemeral["channel"] == "C1" and ephemeral["text"] == "only you"
    assert emu.ephemerals("U2") == [] and emu.messages("C1") == []
    assert api_error(client.chat_postEphemeral, channel="C1", user="U404", text="x").response["error"] == "user_not_in_channel"


def test_block_kit_limits_are_enforced(client):
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}
    error = api_error(client.chat_postMessage, channel="C1", text="x", blocks=[section] * 51)
    assert error.response["error"] == "invalid_blocks"
    assert any("no more than 50" in m for m in error.response["response_metadata"]["messages"])
    long_text = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    error = api_error(client.chat_postMessage, channel="C1", text="x", blocks=[long_text])
    assert "[json-pointer:/blocks/0/text/text]" in error.response["response_metadata"]["messages"][0]


# ---------------------------------------------------------------- views


MODAL = {
    "type": "modal",
    "callback_id": "gmail_settings",
    "title": {"type": "plain_text", "text": "MailMagnet"},
    "submit": {"type": "plain_text", "text": "Save"},
    "private_metadata": "mailbox=1",
    "blocks": [
        {
            "type": "input",
            "block_id": "sharing",
            "label": {"type": "plain_text", "text": "Sharing"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


def test_views_open_requires_an_issued_trigger_once(emu, client):
    assert api_error(client.views_open, trigger_id="123.456.abc", view=MODAL).response["error"] == "invalid_trigger_id"
    trigger = emu.issue_trigger_id("T0001", "U1")
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["hash"] and view["callback_id"] == "gmail_settings"
    assert view["private_metadata"] == "mailbox=1" and view["root_view_id"] == view["id"]
    assert view["team_id"] == "T0001" and view["state"] == {"values": {}}
    assert emu.views_opened["U1"][-1]["id"] == view["id"]
    assert api_error(client.views_open, trigger_id=trigger, view=MODAL).response["error"] == "exchanged_trigger_id"


def test_expired_trigger_and_invalid_view(emu, client):
    emu.trigger_id_ttl = 0.01
    trigger = emu.issue_trigger_id("T0001", "U1")
    time.sleep(0.05)
    assert api_error(client.views_open, trigger_id=trigger, view=MODAL).response["error"] == "expired_trigger_id"
    emu.trigger_id_ttl = 3.0
    no_submit = {**MODAL, "submit": None}
    error = api_error(client.views_open, trigger_id=emu.issue_trigger_id("T0001", "U1"), view=no_submit)
    assert error.response["error"] == "invalid_arguments" and error.response["response_metadata"]["messages"]


def test_views_update_push_and_hash(emu, client):
    opened = client.views_open(trigger_id=emu.issue_trigger_id("T0001", "U1"), view={**MODAL, "external_id": "settings-U1"})
    view = opened["view"]
    stale_hash = view["hash"]
    step2 = {**MODAL, "callback_id": "step2", "external_id": ""}
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=step2)["view"]
    assert updated["id"] == view["id"] and updated["callback_id"] == "step2" and updated["hash"] != stale_hash
    assert api_error(client.views_update, view_id=view["id"], hash=stale_hash, view=MODAL).response["error"] == "hash_conflict"
    by_external = client.views_update(external_id="settings-U1", view={**MODAL, "callback_id": "step3"})["view"]
    assert by_external["id"] == view["id"]
    assert api_error(client.views_update, view_id="VNOPE", view=MODAL).response["error"] == "not_found"

    pushed = client.views_push(trigger_id=emu.issue_trigger_id("T0001", "U1"), view={**MODAL, "callback_id": "confirm"})["view"]
    assert pushed["root_view_id"] == view["id"] and pushed["previous_view_id"] == view["id"]
    assert [v["callback_id"] for v in emu.modal_stack("U1")] == ["step3", "confirm"]
    assert [v["callback_id"] for v in emu.views_opened["U1"]] == ["gmail_settings", "step2", "step3", "confirm"]


def test_views_publish_home(emu, client):
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Connected"}}]}
    first = client.views_publish(user_id="U1", view=home)["view"]
    second = client.views_publish(user_id="U1", view=home, hash=first["hash"])["view"]
    assert first["type"] == "home" and second["id"] == first["id"]
    assert api_error(client.views_publish, user_id="U1", view=home, hash=first["hash"]).response["error"] == "hash_conflict"
    assert len(emu.views_published["U1"]) == 2 and emu.home_view("U1")["hash"] == second["hash"]
    assert api_error(client.views_publish, user_id="U1", view=MODAL).response["error"] == "invalid_arguments"


# ---------------------------------------------------------------- faults


def test_rate_limit_is_a_429_with_retry_after(emu, client):
    emu.inject_rate_limit("chat.postMessage", count=1, retry_after=7)
    error = api_error(client.chat_postMessage, channel="C1", text="x")
    assert error.response.status_code == 429 and error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "7"
    assert emu.messages("C1") == []


def test_rate_limit_retry_handler_honours_retry_after(emu):
    client = WebClient(
        base_url=emu.api_url,
        token=emu.default_team().bot_token,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    emu.inject_rate_limit("chat.postMessage", count=1, retry_after=1)
    assert client.chat_postMessage(channel="U1", text="after the wait")["ok"] is True
    limited, accepted = emu.calls_to("chat.postMessage")
    assert (limited.http_status, limited.error) == (429, "ratelimited")
    assert accepted.ok and accepted.time - limited.time >= 1.0
    assert [m["text"] for m in emu.dms("U1")] == ["after the wait"]


def test_injected_errors(emu, client):
    emu.inject_error("users.info", error="internal_error", status=500)
    emu.inject_error("*", error="fatal_error", count=1)
    error = api_error(client.users_info, user="U1")
    assert error.response.status_code == 500 and error.response["error"] == "internal_error"
    assert api_error(client.auth_test).response["error"] == "fatal_error"
    assert client.users_info(user="U1")["ok"] is True


# ---------------------------------------------------------------- oauth v2 and uninstall


def authorize(emu, **params) -> dict[str, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(emu.authorize_url + "?" + urlencode(params), timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        location = exc.headers["Location"]
        assert location.startswith(params["redirect_uri"])
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    raise AssertionError("authorize did not redirect")


def test_oauth_v2_install(emu):
    emu.register_oauth_app("111.222", "s3cret")
    emu.add_team("T0002", name="Globex", bot_user_id="U0BOT2")
    emu.add_user("T0002", "UG1", email="admin@globex.test", is_admin=True)
    emu.install_as("T0002", "UG1")
    redirect = "http://localhost:3000/slack/oauth_redirect"
    query = authorize(emu, client_id="111.222", scope="chat:write,commands", redirect_uri=redirect, state="st-1")
    assert query["state"] == "st-1" and query["code"]

    anonymous = WebClient(base_url=emu.api_url)
    result = anonymous.oauth_v2_access(client_id="111.222", client_secret="s3cret", code=query["code"], redirect_uri=redirect)
    assert result["token_type"] == "bot" and result["access_token"].startswith("xoxb-")
    assert result["team"] == {"id": "T0002", "name": "Globex"} and result["bot_user_id"] == "U0BOT2"
    assert result["authed_user"] == {"id": "UG1"} and result["scope"] == "chat:write,commands"
    assert result["enterprise"] is None and result["is_enterprise_install"] is False and result["app_id"] == emu.app_id
    again = api_error(anonymous.oauth_v2_access, client_id="111.222", client_secret="s3cret", code=query["code"], redirect_uri=redirect)
    assert again.response["error"] == "invalid_code"

    installed = WebClient(base_url=emu.api_url, token=result["access_token"]).auth_test()
    assert installed["team_id"] == "T0002" and installed["user_id"] == "U0BOT2"

    second = authorize(emu, client_id="111.222", scope="chat:write", user_scope="identity.basic", redirect_uri=redirect)
    form = urlencode({"client_id": "111.222", "client_secret": "s3cret", "code": second["code"], "redirect_uri": redirect})
    status, body = raw_post(emu.api_url + "oauth.v2.access", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and body["access_token"] != result["access_token"]
    assert body["authed_user"]["access_token"].startswith("xoxp-") and body["authed_user"]["token_type"] == "user"

    third = authorize(emu, client_id="111.222", scope="chat:write", redirect_uri=redirect)
    bad = api_error(anonymous.oauth_v2_access, client_id="111.222", client_secret="nope", code=third["code"])
    assert bad.response["error"] == "bad_client_secret"
    mismatch = api_error(anonymous.oauth_v2_access, client_id="111.222", client_secret="s3cret", code=third["code"])
    assert mismatch.response["error"] == "bad_redirect_uri"

    emu.install_as("T0002", "UG1", deny=True)
    denied = authorize(emu, client_id="111.222", scope="chat:write", redirect_uri=redirect, state="st-2")
    assert denied == {"error": "access_denied", "state": "st-2"}


def test_uninstall_and_revoke_kill_tokens_and_notify(emu, client):
    events = []
    emu.subscribe_events(lambda team_id, event: events.append((team_id, event["type"])))
    emu.register_oauth_app("111.222", "s3cret")
    assert client.apps_uninstall(client_id="111.222", client_secret="s3cret")["ok"] is True
    assert api_error(client.auth_test).response["error"] == "token_revoked"
    emu.wait_for(lambda: len(events) == 2)
    assert events == [("T0001", "tokens_revoked"), ("T0001", "app_uninstalled")]

    emu.add_team("T0002", name="Globex")
    other = WebClient(base_url=emu.api_url, token=emu.token_for("T0002"))
    assert other.auth_revoke()["revoked"] is True
    assert api_error(other.auth_test).response["error"] == "token_revoked"
    emu.wait_for(lambda: ("T0002", "tokens_revoked") in events)


# ---------------------------------------------------------------- response_url


def post_json(url: str, payload: dict) -> tuple[int, dict]:
    return raw_post(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def test_response_url_ephemeral_in_channel_replace_delete(emu):
    url = emu.new_response_url("T0001", "C1", "U1")
    assert url.startswith(emu.url + "response/")
    assert post_json(url, {"text": "working on it"}) == (200, {"ok": True})
    assert [e["text"] for e in emu.ephemerals("U1", channel="C1")] == ["working on it"]
    assert post_json(url, {"text": "done", "replace_original": True}) == (200, {"ok": True})
    assert [e["text"] for e in emu.ephemerals("U1")] == ["done"]
    assert post_json(url, {"delete_original": True})[0] == 200
    assert emu.ephemerals("U1") == []
    assert post_json(url, {"text": "for everyone", "response_type": "in_channel"})[0] == 200
    assert [m["text"] for m in emu.messages("C1")] == ["for everyone"]

    posts = emu.response_url_posts(url)
    assert [p["response_type"] for p in posts] == ["ephemeral", "ephemeral", "ephemeral", "in_channel"]
    assert [p["replace_original"] for p in posts] == [False, True, False, False]
    assert posts[2]["delete_original"] is True

    assert post_json(url, {"text": "fifth"})[0] == 200
    assert post_json(url, {"text": "sixth"}) == (404, {"ok": False, "error": "used_url"})


def test_response_url_replaces_the_message_an_action_came_from(emu, client):
    posted = client.chat_postMessage(channel="C1", text="New email from Dana")
    url = emu.new_response_url("T0001", "C1", "U1", original=("message", "C1", posted["ts"]))
    post_json(url, {"replace_original": True, "text": "Dana muted"})
    assert [m["text"] for m in emu.messages("C1")] == ["Dana muted"]


def test_response_url_expiry_and_unknown(emu):
    emu.response_url_ttl = 0.0
    url = emu.new_response_url("T0001", "C1", "U1")
    time.sleep(0.01)
    assert post_json(url, {"text": "late"}) == (404, {"ok": False, "error": "expired_url"})
    assert post_json(emu.url + "response/nope", {"text": "x"})[0] == 404
    assert len(emu.response_url_posts()) == 2


# ---------------------------------------------------------------- seed


def test_seed_from():
    seed = {
        "teams": [
            {
                "id": "T9",
                "name": "Initech",
                "bot_token": "xoxb-seeded",
                "bot_user_id": "UBOT9",
                "users": [{"id": "U9", "email": "peter@initech.test", "real_name": "Peter G", "is_admin": True}],
                "channels": [{"id": "C9", "name": "tps", "members": ["U9", "UBOT9"]}],
            }
        ],
        "oauth_apps": [{"client_id": "9.9", "client_secret": "s"}],
    }
    with SlackEmulator() as emu:
        emu.seed_from(seed)
        client = WebClient(base_url=emu.api_url, token="xoxb-seeded")
        assert client.auth_test()["user_id"] == "UBOT9"
        assert client.users_lookupByEmail(email="peter@initech.test")["user"]["is_admin"] is True
        assert client.chat_postMessage(channel="C9", text="reports")["channel"] == "C9"
        assert emu.default_team().id == "T9"
