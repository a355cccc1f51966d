"""What onboarding a team and sending a chart need from the Slack emulator: user groups, channel
members, users with their time zone and admin flag, files upload v2, and slash commands that mention a
group — all through slack_sdk's real WebClient methods (and a Bolt app for the signed command)."""
from __future__ import annotations

import re
import struct
import urllib.error
import urllib.request
import zlib

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from sandbox.slack_emulator import Fault, SlackDriver, SlackEmulator
from tests.support.wsgi import serving

SIGNING_SECRET = "onboarding-signing-secret"


def png(width: int, height: int) -> bytes:
    """A valid grey PNG of that size (stdlib only)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def emu():
    with SlackEmulator() as emulator:
        team = emulator.default_team()
        emulator.add_user(team.id, "U1", email="ann@acme.test", real_name="Ann Rep", tz="Europe/Paris")
        emulator.add_user(team.id, "U2", email="bob@acme.test", real_name="Bob Rep", tz="America/New_York")
        emulator.add_user(team.id, "U3", email="cy@acme.test", real_name="Cy Boss", is_admin=True)
        emulator.add_user(team.id, "U4", email="gone@acme.test", deleted=True)
        emulator.add_user(team.id, "U5", email="new@acme.test", is_email_confirmed=False)
        emulator.add_channel(team.id, "C1", "deals", members=["U1", "U2", team.bot_user_id])
        emulator.add_channel(team.id, "C2", "random", members=["U1", "U2", "U3"])
        emulator.add_channel(team.id, "G1", "leadership", members=["U3"], is_private=True)
        emulator.add_channel(team.id, "G2", "sales-leads", members=["U1", team.bot_user_id], is_private=True)
        yield emulator


@pytest.fixture
def client(emu):
    return WebClient(base_url=emu.api_url, token=emu.default_team().bot_token)


def api_error(call, *args, **kwargs) -> dict:
    with pytest.raises(SlackApiError) as info:
        call(*args, **kwargs)
    return info.value.response.data


# ---------------------------------------------------------------- user groups


def test_usergroups_list_and_users_list(emu, client):
    sales = emu.add_usergroup("T0001", "sales", ["U1", "U2", "U4"], name="Sales team", description="Reps")
    emu.add_usergroup("T0001", "old-team", ["U3"], disabled=True)

    groups = client.usergroups_list()["usergroups"]
    assert [g["handle"] for g in groups] == ["sales"]
    assert groups[0]["id"] == sales["id"] and groups[0]["id"].startswith("S") and groups[0]["name"] == "Sales team"
    assert groups[0]["is_usergroup"] is True and groups[0]["date_delete"] == 0 and "users" not in groups[0]
    with_users = client.usergroups_list(include_users=True, include_count=True, include_disabled=True)["usergroups"]
    assert [(g["handle"], g["users"], g["user_count"]) for g in with_users] == [
        ("sales", ["U1", "U2", "U4"], 3), ("old-team", ["U3"], 1)]
    assert with_users[1]["date_delete"] > 0

    # Deactivated accounts are not members any more, as in Slack.
    assert client.usergroups_users_list(usergroup=sales["id"])["users"] == ["U1", "U2"]
    emu.set_usergroup("T0001", sales["id"], users=["U2", "U3"])
    assert client.usergroups_users_list(usergroup=sales["id"])["users"] == ["U2", "U3"]

    # A renamed group keeps its id; a new group may then take the old handle.
    emu.set_usergroup("T0001", sales["id"], handle="sales-emea")
    newcomer = emu.add_usergroup("T0001", "sales", ["U1"])
    assert newcomer["id"] != sales["id"]
    assert client.usergroups_users_list(usergroup=sales["id"])["users"] == ["U2", "U3"]


def test_usergroup_errors_are_slacks(emu, client):
    old = emu.add_usergroup("T0001", "old-team", ["U3"], disabled=True)
    assert api_error(client.usergroups_users_list, usergroup="S0NOPE")["error"] == "no_such_subteam"
    # A disabled group answers only when the caller allows disabled groups.
    assert api_error(client.usergroups_users_list, usergroup=old["id"])["error"] == "no_such_subteam"
    assert client.usergroups_users_list(usergroup=old["id"], include_disabled=True)["users"] == ["U3"]
    assert api_error(client.api_call, "usergroups.users.list")["error"] == "invalid_arguments"

    # Another workspace's group is no such group here.
    other = emu.add_team("T0002", "Other")
    theirs = emu.add_usergroup("T0002", "sales", ["UX"])
    assert api_error(client.usergroups_users_list, usergroup=theirs["id"])["error"] == "no_such_subteam"
    assert WebClient(base_url=emu.api_url, token=other.bot_token).usergroups_users_list(
        usergroup=theirs["id"])["users"] == ["UX"]


def test_a_token_without_the_scope_is_refused_like_slack(emu):
    narrow = emu.add_team("T0003", "Narrow", scopes="chat:write,commands,users:read")
    emu.add_usergroup("T0003", "sales", [])
    data = api_error(WebClient(base_url=emu.api_url, token=narrow.bot_token).usergroups_list)
    assert (data["error"], data["needed"], data["provided"]) == ("missing_scope", "usergroups:read",
                                                                 "chat:write,commands,users:read")
    data = api_error(WebClient(base_url=emu.api_url, token=narrow.bot_token).files_getUploadURLExternal,
                     filename="a.png", length=3)
    assert (data["error"], data["needed"]) == ("missing_scope", "files:write")


def test_usergroups_take_faults_like_any_method(emu, client):
    sales = emu.add_usergroup("T0001", "sales", ["U1"])
    emu.inject_rate_limit("usergroups.users.list", retry_after=3)
    with pytest.raises(SlackApiError) as info:
        client.usergroups_users_list(usergroup=sales["id"])
    assert info.value.response.status_code == 429 and info.value.response.headers["Retry-After"] == "3"
    assert client.usergroups_users_list(usergroup=sales["id"])["users"] == ["U1"]


def test_seeded_usergroups():
    emulator = SlackEmulator().seed_from({"teams": [{
        "id": "T9", "bot_token": "xoxb-seed", "users": [{"id": "U1", "email": "a@x.test", "is_email_confirmed": False}],
        "usergroups": [{"id": "S9", "handle": "sales", "users": ["U1"]}]}]})
    with emulator:
        client = WebClient(base_url=emulator.api_url, token="xoxb-seed")
        assert client.usergroups_users_list(usergroup="S9")["users"] == ["U1"]
        assert client.users_info(user="U1")["user"]["is_email_confirmed"] is False


# ---------------------------------------------------------------- a signed command that mentions a group


def onboarding_app(emu: SlackEmulator, granted: list[str]) -> App:
    """A bot that does what `/gmail admin grant @group|#channel` needs: read the escaped mention, list the
    members through the Web API, DM each one once."""
    app = App(signing_secret=SIGNING_SECRET,
              client=WebClient(base_url=emu.api_url, token=emu.default_team().bot_token))

    @app.command("/gmail")
    def grant(ack, command, client, respond):
        ack()
        text = command["text"]
        if match := re.search(r"<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>", text):
            members = client.usergroups_users_list(usergroup=match.group(1))["users"]
        elif match := re.search(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>", text):
            members = [m for page in client.conversations_members(channel=match.group(1), limit=2)
                       for m in page["members"]]
        else:
            respond(text=f"usage, got {text!r}")
            return
        for user_id in members:
            if user_id != emu.default_team().bot_user_id:
                granted.append(user_id)
                client.chat_postMessage(channel=user_id, text="You can connect your Gmail now")
        respond(text=f"granted {len(members)}")

    return app


@pytest.fixture
def granted():
    return []


@pytest.fixture
def drv(emu, granted):
    with serving(SlackRequestHandler(onboarding_app(emu, granted))) as base_url:
        driver = SlackDriver(base_url + "/slack/events", SIGNING_SECRET, emulator=emu)
        yield driver
        driver.close()


def test_a_typed_group_mention_arrives_escaped_and_its_members_are_dmed(emu, drv, granted):
    sales = emu.add_usergroup("T0001", "sales", ["U1", "U2"])
    response = drv.slash_command("U3", "/gmail", "admin grant @sales", escape=True)
    assert response.status == 200
    assert response.payload["text"] == f"admin grant <!subteam^{sales['id']}|@sales>"
    emu.wait_for(lambda: emu.ephemerals("U3"))
    assert emu.ephemerals("U3")[0]["text"] == "granted 2"
    assert granted == ["U1", "U2"] and [m["text"] for m in emu.dms("U1")] == ["You can connect your Gmail now"]
    assert drv.usergroup_mention(sales["id"]) == f"<!subteam^{sales['id']}|@sales>"


def test_escaping_covers_users_channels_and_leaves_the_rest(emu, drv):
    assert drv.escape_mentions("grant @ann and #deals, not ann@acme.test nor @nobody") == (
        "grant <@U1|ann> and <#C1|deals>, not ann@acme.test nor @nobody")
    # Without escape the text goes out exactly as given.
    assert drv.slash_command("U3", "/gmail", "admin grant @sales").payload["text"] == "admin grant @sales"


def test_a_channel_mention_lists_its_members_page_by_page(emu, drv, granted):
    emu.add_members("T0001", "C1", ["U3", "U5"])
    drv.slash_command("U3", "/gmail", "admin grant #deals", escape=True)
    emu.wait_for(lambda: emu.ephemerals("U3"))
    assert granted == ["U1", "U2", "U3", "U5"]
    pages = [c for c in emu.calls_to("conversations.members")]
    assert len(pages) == 3 and all(c.params["limit"] == "2" for c in pages)


# ---------------------------------------------------------------- conversations.members and users


def test_conversations_members_paging_and_errors(emu, client):
    emu.add_members("T0001", "C1", [f"UX{n}" for n in range(5)])
    # slack_sdk's own pagination follows response_metadata.next_cursor (it reuses one response object).
    pages = [list(page["members"]) for page in client.conversations_members(channel="C1", limit=3)]
    assert pages == [["U1", "U2", "U0BOT"], ["UX0", "UX1", "UX2"], ["UX3", "UX4"]]

    # A public channel the bot is not in can still be listed (channels:read), as in Slack.
    assert client.conversations_members(channel="C2")["members"] == ["U1", "U2", "U3"]
    # A private channel only when the bot is a member: otherwise it does not exist for the bot.
    assert client.conversations_members(channel="G2")["members"] == ["U1", "U0BOT"]
    assert api_error(client.conversations_members, channel="G1")["error"] == "channel_not_found"
    assert api_error(client.conversations_members, channel="C404")["error"] == "channel_not_found"
    assert api_error(client.conversations_members, channel="C1", cursor="bm9wZQ==")["error"] == "invalid_cursor"


def test_users_carry_time_zone_admin_and_confirmation(emu, client):
    ann = client.users_info(user="U1")["user"]
    assert (ann["tz"], ann["is_admin"], ann["is_email_confirmed"]) == ("Europe/Paris", False, True)
    assert client.users_info(user="U3")["user"]["is_admin"] is True
    assert client.users_info(user="U5")["user"]["is_email_confirmed"] is False
    emu.set_user("T0001", "U1", tz="Asia/Tokyo", is_admin=True)
    ann = client.users_info(user="U1")["user"]
    assert (ann["tz"], ann["tz_offset"], ann["is_admin"]) == ("Asia/Tokyo", 9 * 3600, True)

    pages = [[u["id"] for u in page["members"]] for page in client.users_list(limit=2)]
    assert pages == [["U0BOT", "U1"], ["U2", "U3"], ["U4", "U5"]]


# ---------------------------------------------------------------- files upload v2


def test_files_upload_v2_shares_a_chart_into_a_channel(emu, client):
    chart = png(640, 360)
    result = client.files_upload_v2(channel="C1", content=chart, filename="response-times.png",
                                    title="Response times, week 47", initial_comment="Your team's week")
    file_id = result["file"]["id"]
    assert result["file"]["title"] == "Response times, week 47" and result["file"]["name"] == "response-times.png"
    assert (result["file"]["mimetype"], result["file"]["filetype"]) == ("image/png", "png")
    assert (result["file"]["original_w"], result["file"]["original_h"], result["file"]["size"]) == (640, 360,
                                                                                                   len(chart))
    # The three steps slack_sdk takes, and the bytes that reached the upload URL.
    assert [c.method for c in emu.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]
    assert emu.calls_to("files.getUploadURLExternal")[0].params["length"] == str(len(chart))
    (uploaded,) = emu.files("C1")
    assert uploaded["content"] == chart and uploaded["title"] == "Response times, week 47"
    assert uploaded["initial_comment"] == "Your team's week" and uploaded["channels"] == ["C1"]

    # A message carrying the file appears in the channel's history.
    (message,) = client.conversations_history(channel="C1")["messages"]
    assert message["text"] == "Your team's week" and message["upload"] is True
    assert [f["id"] for f in message["files"]] == [file_id] and message["ts"] == uploaded["ts"]["C1"]
    assert client.files_info(file=file_id)["file"]["channels"] == ["C1"]

    # url_private gives the bytes to a token of the workspace only, as Slack does.
    url = result["file"]["url_private"]
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {emu.default_team().bot_token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.read() == chart and answer.headers["Content-Type"] == "image/png"
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.read() != chart


def test_files_upload_v2_into_a_dm_thread(emu, client):
    dm = client.conversations_open(users="U1")["channel"]["id"]
    parent = client.chat_postMessage(channel=dm, text="Weekly digest")["ts"]
    client.files_upload_v2(channel=dm, thread_ts=parent, content=b"rep,answered\nann,3\n", filename="digest.csv")
    (uploaded,) = emu.files(dm)
    assert uploaded["thread_ts"] == parent and uploaded["title"] == "digest.csv" and uploaded["mimetype"] == "text/csv"
    assert [m["text"] for m in client.conversations_history(channel=dm)["messages"]] == ["Weekly digest"]
    replies = client.conversations_replies(channel=dm, ts=parent)["messages"]
    assert [r.get("files", [{}])[0].get("id") for r in replies[1:]] == [uploaded["id"]]


def test_files_upload_steps_fail_like_slack(emu, client):
    # Sharing where the bot is not a member: Slack's not_in_channel / channel_not_found.
    with pytest.raises(SlackApiError) as info:
        client.files_upload_v2(channel="C2", content=b"x", filename="a.txt")
    assert info.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as info:
        client.files_upload_v2(channel="G1", content=b"x", filename="a.txt")
    assert info.value.response["error"] == "channel_not_found"
    assert emu.files() == []

    assert api_error(client.files_getUploadURLExternal, filename="a.txt", length=0)["error"] == "missing_argument"
    assert api_error(client.api_call, "files.getUploadURLExternal", params={"length": 3})["error"] == (
        "invalid_arguments")
    ticket = client.files_getUploadURLExternal(filename="a.txt", length=3)
    # Completing before the bytes were uploaded, or an unknown file: file_not_found.
    assert api_error(client.files_completeUploadExternal, files=[{"id": ticket["file_id"]}])["error"] == (
        "file_not_found")
    assert api_error(client.files_completeUploadExternal, files=[{"id": "F0NOPE"}])["error"] == "file_not_found"
    assert api_error(client.files_info, file=ticket["file_id"])["error"] == "file_not_found"

    # The upload URL takes one upload; without a channel the file stays private.
    request = urllib.request.Request(ticket["upload_url"], data=b"abc", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200 and answer.read() == b"OK - 3"
    with pytest.raises(urllib.error.HTTPError) as again:
        urllib.request.urlopen(urllib.request.Request(ticket["upload_url"], data=b"abc", method="POST"), timeout=5)
    assert again.value.code == 404
    private = client.files_completeUploadExternal(files=[{"id": ticket["file_id"], "title": "Notes"}])["files"][0]
    assert private["channels"] == [] and emu.file(ticket["file_id"])["content"] == b"abc"
    assert api_error(client.files_completeUploadExternal, files=[{"id": ticket["file_id"]}])["error"] == (
        "file_not_found")


def test_a_multipart_upload_is_read_like_raw_bytes(emu, client):
    ticket = client.files_getUploadURLExternal(filename="chart.png", length=4)
    boundary = "xyzBOUNDARY"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"chart.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + b"\x00\x01\x02\x03" + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(ticket["upload_url"], data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.read() == b"OK - 4"
    client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id="C1")
    assert emu.file(ticket["file_id"])["content"] == b"\x00\x01\x02\x03"


def test_a_failed_upload_step_and_a_lost_answer(emu, client):
    emu.inject_error("file_upload", error="upload failed", status=500)
    # slack_sdk lets urllib's HTTPError through for a failed POST to the upload URL.
    with pytest.raises((SlackRequestError, urllib.error.HTTPError)):
        client.files_upload_v2(channel="C1", content=b"x", filename="a.txt")
    assert emu.files() == []

    # The share is carried out and only its answer is lost: the file is in the channel all the same.
    fault = emu.add_fault(Fault(method="files.completeUploadExternal", status=503, count=1))
    with pytest.raises(SlackApiError):
        client.files_upload_v2(channel="C1", content=b"y", filename="b.txt")
    assert fault.hits == 1 and [f["name"] for f in emu.files("C1")] == ["b.txt"]
