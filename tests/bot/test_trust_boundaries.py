"""Issue 8's attacks, replayed through the real HTTP surface (signed Slack requests into the server, the Gmail
and Slack emulators): each now gets a refusal and changes nothing."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, AuditLog, CrmUser, GmailAccount, MutedContact
from crm_store.users import find_user_by_email, user_profile
from testsupport.stack import OTHER_TEAM, OUTSIDER_TEAM, start_org_stack
from tests.support.slack import shown_text
from testsupport.stack import GOOGLE_CLIENT_ID, REP, REP_EMAIL, REP_GMAIL, TEAM, authorize_url_in, http_get
from tests.signals import MALFORMED_SIGNATURES, metrics, wait_for_count

CONTACTS = (
    "email,first_name,last_name,company,external_id,owner_email\n"
    "jane@acme.example,Jane,Doe,Acme,C1,owner@crm.example\n"
    "bob@globex.example,Bob,Smith,Globex,C2,\n"
)
DEALS = (
    "name,contact_external_id,stage,closing_date,amount,external_id\n"
    "Acme renewal,C1,Negotiation,2099-01-15,1000,D1\n"
    "Globex pilot,C2,Closed Won,2026-02-01,500,D2\n"
)
COLLEAGUE, COLLEAGUE_EMAIL = "U200COL", "colleague@crm.example"


@pytest.fixture
def org(database_url):
    running = start_org_stack(database_url)
    yield running
    running.stop()


def ask_in(stack, driver, user: str, text: str, command: str = "/gmail") -> str:
    response = driver.slash_command(user, command, text)
    assert response.status == 200, response.body
    if response.body and response.body.startswith("{"):  # answered in the acknowledgement itself
        return json.loads(response.body).get("text", "")
    posts = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url), timeout=15)
    return shown_text(posts[-1])


def linked(stack, email: str) -> tuple[str | None, str | None, bool]:
    with session_scope(stack.engine) as session:
        user = find_user_by_email(session, email)
        return user.slack_team_id, user.slack_user_id, user_profile(session, user).mail_integration


def accounts(stack) -> list[tuple[str, int]]:
    with session_scope(stack.engine) as session:
        return [(a.email_address, a.crm_user_id) for a in session.exec(select(GmailAccount)).all()]


# -- 1. another workspace's admin ----------------------------------------------------------------------

def test_another_workspaces_admin_cannot_take_over_a_rep(org):
    org.add_rep()
    org.connect()
    other = org.driver_for(OTHER_TEAM)
    org.slack.add_user(OTHER_TEAM, "U2ADMIN", email="boss@other.example", is_admin=True)
    org.slack.add_user(OTHER_TEAM, "U2TWIN", email=REP_EMAIL)  # someone there with the rep's address

    answer = ask_in(org, other, "U2ADMIN", f"admin link <@U2ADMIN> {REP_EMAIL}")
    assert "links someone only to the CRM user whose email or secondary email is their own Slack email" in answer
    answer = ask_in(org, other, "U2ADMIN", f"admin link <@U2TWIN> {REP_EMAIL}")  # the email matches, the workspace not
    assert "belongs to another Slack workspace" in answer
    answer = ask_in(org, other, "U2ADMIN", "admin grant <@U2TWIN>")
    assert "linked to someone in another Slack workspace" in answer
    assert "not a CRM user" in ask_in(org, other, "U2ADMIN", "admin revoke <@U2TWIN>")
    # The twin is not the rep: email linking never moves a CRM user linked elsewhere.
    assert "not linked to a CRM user" in ask_in(org, other, "U2TWIN", "status")
    assert "not linked to a CRM user" in ask_in(org, other, "U2ADMIN", "sharing public full")
    assert "not linked to a CRM user" in ask_in(org, other, "U2ADMIN", "why jane@acme.example")

    assert linked(org, REP_EMAIL) == (TEAM, REP, True)
    assert accounts(org) == [(REP_GMAIL, accounts(org)[0][1])]
    with session_scope(org.engine) as session:
        assert session.exec(select(GmailAccount)).one().sharing == "private"


def test_a_workspace_admin_administers_only_their_workspace_and_never_a_crm_admin(org):
    org.slack.add_user(OTHER_TEAM, "U2ADMIN", email="boss@other.example", is_admin=True)
    org.slack.add_user(OTHER_TEAM, "U2NEW", email="new@other.example")
    other = org.driver_for(OTHER_TEAM)
    with session_scope(org.engine) as session:  # the CRM data knows them (a workspace admin never creates one)
        from crm_store.users import get_or_create_user

        get_or_create_user(session, "new@other.example")
    # Their own workspace's user, whose Slack email is their CRM email: fine.
    assert "now has the Mail Integration permission" in ask_in(org, other, "U2ADMIN", "admin grant <@U2NEW>")
    assert linked(org, "new@other.example") == (OTHER_TEAM, "U2NEW", True)
    # A CRM admin linked nowhere yet is not theirs to take.
    with session_scope(org.engine) as session:
        from crm_store.users import get_or_create_user, set_permissions

        set_permissions(session, get_or_create_user(session, "ceo@crm.example"), mail_integration=True, is_admin=True)
    answer = ask_in(org, other, "U2ADMIN", "admin link <@U2ADMIN> ceo@crm.example")
    assert "links someone only to the CRM user whose email or secondary email is their own Slack email" in answer
    org.slack.add_user(OTHER_TEAM, "U2CEO", email="ceo@crm.example")  # even with the matching email
    assert "is a MailMagnet (CRM) admin" in ask_in(org, other, "U2ADMIN", "admin link <@U2CEO> ceo@crm.example")
    with session_scope(org.engine) as session:
        assert find_user_by_email(session, "ceo@crm.example").slack_user_id is None


def test_a_crm_admin_acts_across_workspaces(org):
    org.add_rep("U2CRMADM", "admin@crm.example", gmail=None, admin=True, team=OTHER_TEAM)
    org.add_rep(mail_integration=False)  # a rep in the first workspace
    other = org.driver_for(OTHER_TEAM)
    org.slack.add_user(OTHER_TEAM, "U2SALES", email="sales2@other.example")
    assert "is now linked" in ask_in(org, other, "U2CRMADM", "admin link <@U2SALES> sales2@crm.example")
    assert linked(org, "sales2@crm.example")[:2] == (OTHER_TEAM, "U2SALES")


def test_requests_and_installs_from_outside_the_organisation_are_refused(org):
    outsider = org.driver_for(OUTSIDER_TEAM)
    org.slack.add_user(OUTSIDER_TEAM, "U6ADMIN", email=REP_EMAIL, is_admin=True)
    org.add_rep()
    answer = ask_in(org, outsider, "U6ADMIN", "admin link <@U6ADMIN> rep@crm.example")
    assert "serves another organisation's Slack workspace" in answer
    assert "serves another organisation's Slack workspace" in ask_in(org, outsider, "U6ADMIN", "status")
    assert linked(org, REP_EMAIL) == (TEAM, REP, True)
    with session_scope(org.engine) as session:
        assert session.exec(select(CrmUser).where(CrmUser.slack_team_id == OUTSIDER_TEAM)).all() == []

    # A new install from a workspace outside the organisation: a clear page, nothing stored, token revoked.
    org.slack.add_team("T0777", name="Strangers")
    org.slack.add_user("T0777", "U7ADMIN", email="x@strangers.example", is_admin=True)
    org.slack.install_as("T0777", "U7ADMIN")
    status, headers, page = _get(f"{org.server.url}/slack/install")
    authorize = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page).group(1).replace("&amp;", "&")
    cookie = headers["set-cookie"].split(";", 1)[0]
    status, headers, _ = _get(authorize)
    status, _, page = _get(headers["location"], cookie)
    assert status == 403 and "serves another organisation" in page
    store = org.services.slack.installation_store
    assert store.find_bot(enterprise_id=None, team_id="T0777") is None
    assert org.slack.calls_to("auth.revoke"), "the token Slack issued to the stranger must be revoked"


def _get(url: str, cookie: str | None = None):
    import http.client

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


# -- 2. someone else's Google account ------------------------------------------------------------------

def _consent(stack, user: str, google_account: str, scopes=None, url_scope: str | None = None) -> tuple[int, str]:
    response = stack.driver.slash_command(user, "/gmail", "connect")
    post = stack.slack.wait_for(lambda: next((p for p in stack.slack.response_url_posts(response.response_url)
                                              if p.get("blocks")), None))
    url = authorize_url_in(post)
    if url_scope is not None:  # the rep edits the link before consenting
        parts = urlsplit(url)
        query = [(k, url_scope if k == "scope" else v) for k, v in parse_qsl(parts.query)]
        url = urlunsplit(parts._replace(query=urlencode(query)))
    return stack.follow_consent(url, google_account, scopes)


def test_a_colleague_consenting_on_my_link_is_refused_and_revoked(stack):
    stack.add_rep()
    stack.gmail.add_user("colleague@gmail.example")
    status, page = _consent(stack, REP, "colleague@gmail.example")
    assert status == 403 and "connects only your own mailbox" in page and "/gmail admin allow" in page
    assert accounts(stack) == []
    assert stack.gmail.granted_scopes("colleague@gmail.example", GOOGLE_CLIENT_ID) is None  # revoked at Google
    assert not stack.slack.dms(REP)  # no "Connected as" DM


def test_one_gmail_address_is_connected_to_one_crm_user(stack):
    stack.add_rep()
    stack.connect()
    stack.add_rep(COLLEAGUE, COLLEAGUE_EMAIL, gmail=None)
    with session_scope(stack.engine) as session:  # the CRM says the colleague's secondary email is the rep's Gmail
        user = find_user_by_email(session, COLLEAGUE_EMAIL)
        user.secondary_email = REP_GMAIL
        session.add(user)
    status, page = _consent(stack, COLLEAGUE, REP_GMAIL)
    assert status == 403 and "already connected to MailMagnet by another user" in page
    assert [address for address, _ in accounts(stack)] == [REP_GMAIL]
    with session_scope(stack.engine) as session:
        assert session.exec(select(GmailAccount)).one().slack_user_id == REP
    # Refusing did not revoke the Google grant behind the rep's live connection (one grant per account and app).
    assert stack.gmail.granted_scopes(REP_GMAIL, GOOGLE_CLIENT_ID) is not None
    assert "working — Gmail answered just now" in shown_text(stack.command(REP, "status"))


# -- 3. headers slack_sdk cannot verify ----------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "v0=" + "0" * 64},
    {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "é" * 64},
    {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "sha1=deadbeef"},
    {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=" + "a" * 64},
])
def test_unverifiable_signature_headers_are_rejected_before_any_listener(stack, headers):
    stack.add_rep()
    target = stack.slack.new_response_url(TEAM, stack.slack.dm_channel(TEAM, REP), REP)
    body = urlencode({"command": "/gmail", "text": "status", "team_id": TEAM, "user_id": REP,
                      "response_url": target, "trigger_id": "1.2.3", "channel_id": "D1"}).encode()
    stack.slack.wait_for(lambda: stack.slack.calls_to("auth.test"), timeout=15)  # the start-up's own look-up
    calls_before = len(stack.slack.calls)
    refused_before = metrics(stack.server.url).get(MALFORMED_SIGNATURES, 0)
    response = stack.driver.post_raw(body, headers)
    assert response.status == 401
    wait_for_count(stack.server.url, MALFORMED_SIGNATURES, refused_before + 1)  # handled: refused before Bolt
    assert stack.slack.response_url_posts(target) == []
    assert len(stack.slack.calls) == calls_before  # no DM, no users.info: nothing reached Slack


# -- 5. public channels ----------------------------------------------------------------------------------

def alerts_in(stack, channel):
    return [m for m in stack.slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]


def test_public_channel_alerts_obey_sharing(live):
    live.add_rep()
    live.add_rep(COLLEAGUE, COLLEAGUE_EMAIL, gmail=None)
    live.import_crm(CONTACTS, DEALS)
    bot = live.slack.default_team().bot_user_id
    live.slack.add_channel(TEAM, "C0PUBLIC", "general", members=[REP, COLLEAGUE, bot])
    live.connect_with_magnet()
    warning = shown_text(live.command(REP, "alerts <#C0PUBLIC|general>"))
    assert "public channel" in warning and "come to your DM instead" in warning

    live.mail("jane@acme.example", "Private pricing", body="confidential numbers")
    live.run("sync")
    assert alerts_in(live, "C0PUBLIC") == []  # Private: a public channel may see nothing of it
    dm = live.slack.dm_channel(TEAM, REP)
    assert "Private pricing" in json.dumps(alerts_in(live, dm)[-1]["blocks"])

    live.update_mailbox(sharing="public", sharing_depth="metadata")
    live.mail('"Jane Doe" <jane@acme.example>', "Public-ish", body="still not for everyone")
    live.run("sync")
    posted = json.dumps(alerts_in(live, "C0PUBLIC")[-1]["blocks"])
    assert "Jane Doe" in posted and "Acme" in posted
    for hidden in ("Public-ish", "still not for everyone", "Acme renewal", "jane@acme.example", "Open Deals"):
        assert hidden not in posted, hidden  # anyone may read it: no subject at metadata depth, no CRM details
    with session_scope(live.engine) as session:
        rows = session.exec(select(AuditLog)).all()
        assert [(r.surface, r.depth) for r in rows] == [("channel_alert", "metadata")]


def test_alerts_to_a_private_channel_the_rep_is_not_in_are_refused(stack):
    stack.add_rep()
    stack.connect()
    bot = stack.slack.default_team().bot_user_id
    stack.slack.add_channel(TEAM, "G0BOSSES", "bosses", members=[bot, "U0OTHER"], is_private=True)
    answer = shown_text(stack.command(REP, "alerts <#G0BOSSES|bosses>"))
    assert "You are not a member of <#G0BOSSES>" in answer
    with session_scope(stack.engine) as session:
        assert session.exec(select(GmailAccount)).one().alert_channel is None


# -- 6. the contact card and other buttons ---------------------------------------------------------------

def _alert_button(stack, action_id: str):
    dm = stack.slack.dm_channel(TEAM, REP)
    alert = alerts_in(stack, dm)[-1]
    button = next(e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == action_id)
    return alert, button, dm


def _answers_after(stack, count_before):
    return stack.slack.wait_for(lambda: stack.slack.response_url_posts()[count_before:] or None, timeout=10)


def test_buttons_check_the_clicker_and_every_id_in_their_value(live):
    live.add_rep()
    live.add_rep(COLLEAGUE, COLLEAGUE_EMAIL, gmail=None, mail_integration=False)
    live.slack.add_user(TEAM, "U404NOB", email="guest@elsewhere.example")  # a Slack user who is no CRM user
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.mail("jane@acme.example", "Renewal")
    live.run("sync")
    alert, view_button, dm = _alert_button(live, "alert_view_contact")
    genuine = view_button["value"]
    with session_scope(live.engine) as session:
        bob = session.exec(select(Alert)).one()
        forged = json.dumps({**json.loads(genuine), "c": bob.contact_id + 1})

    def click(user, action_id, value):
        before = len(live.slack.response_url_posts())
        response = live.driver.block_action(user, action_id, value=value, channel_id=dm, message=alert)
        assert response.status == 200  # acked, then refused: never Bolt's 404 for a listener that raised
        return shown_text(_answers_after(live, before)[-1])

    assert "CRM users only" in click("U404NOB", "alert_view_contact", genuine)
    assert "older MailMagnet message" in click(COLLEAGUE, "alert_view_contact", forged)
    card = click(COLLEAGUE, "alert_view_contact", genuine)
    assert "Jane Doe" in card and "Acme renewal" in card
    assert f"Only <@{REP}>" in click(COLLEAGUE, "alert_mute_contact", genuine)
    forged_mailbox = json.dumps({**json.loads(genuine), "a": 999})
    assert "no longer connected" in click(REP, "alert_mute_contact", forged_mailbox)
    with session_scope(live.engine) as session:
        assert session.exec(select(MutedContact)).all() == []
    # Reply from someone else: the modal says no, and nothing is sent.
    live.driver.block_action(COLLEAGUE, "alert_reply", value=genuine, channel_id=dm, message=alert)
    live.slack.wait_for(lambda: any("Only" in json.dumps(v) for v in live.slack.view_calls))
    assert live.gmail.sent_messages(REP_GMAIL) == []


# -- 7. scopes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["send unticked", "readonly link", "openid only"])
def test_a_consent_without_the_scopes_mailmagnet_needs_is_refused_and_revoked(stack, how):
    stack.add_rep()
    modify = "https://www.googleapis.com/auth/gmail.modify"
    if how == "send unticked":
        status, page = _consent(stack, REP, REP_GMAIL, scopes=[modify])
        assert "send mail as you" in page
    elif how == "readonly link":
        status, page = _consent(stack, REP, REP_GMAIL, url_scope="https://www.googleapis.com/auth/gmail.readonly")
        assert "gmail.modify" in page
    else:
        status, page = _consent(stack, REP, REP_GMAIL, url_scope="openid email")
        assert "gmail.modify" in page
    assert status == 403 and "did not keep the access" in page
    assert accounts(stack) == []
    assert stack.gmail.granted_scopes(REP_GMAIL, GOOGLE_CLIENT_ID) is None


# -- 8. the lower items -------------------------------------------------------------------------------------

def test_what_users_type_and_crm_data_are_escaped(stack):
    stack.add_rep()
    stack.connect()
    stack.import_crm("email,first_name,last_name,company\nevil@acme.example,<!channel>,<@U0BOSS>,<https://x.example|Acme>\n")
    answer = stack.command(REP, "why <!channel> evil@acme.example")
    text = json.dumps(answer)
    assert "<!channel>" not in text and "<@U0BOSS>" not in text and "&lt;!channel&gt;" in text


def test_healthz_does_not_reveal_database_errors(stack):
    import sqlalchemy as sa

    broken = sa.create_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/none", pool_pre_ping=False)
    engine, stack.services.engine = stack.services.engine, broken
    try:
        status, _, body = http_get(f"{stack.server.url}/healthz")
    finally:
        stack.services.engine = engine
    assert status == 503 and json.loads(body) == {"status": "unhealthy", "database": "unavailable",
                                                  "failing": ["database"]}


def test_push_route_rejects_wrong_tokens_and_survives_hostile_bodies(database_url):
    from testsupport.stack import start_stack

    stack = start_stack(database_url, scheduler=True, start_scheduler=False, pubsub_verification_token="s3cret")
    try:
        import http.client

        def post(path, body):
            parts = urlsplit(stack.server.url)
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
            connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            connection.close()
            return response.status

        assert post("/gmail/push?token=s3creT", b"{}") == 403
        assert post("/gmail/push", b"{}") == 403
        assert post("/gmail/push?token=s3cret", b"[" * 100_000 + b"]" * 100_000) == 204
        assert post("/gmail/push?token=s3cret", b"\xff\xfe not json") == 204
        assert post("/gmail/push?token=s3cret", json.dumps({"message": {"data": "!!!"}}).encode()) == 204
    finally:
        stack.stop()


def test_crash_recovery_trusts_only_our_own_alert_messages(stack):
    from datetime import timedelta

    from crm_store.models import utcnow
    from gmail.notifier import AlertView

    stack.add_rep()
    channel = stack.slack.dm_channel(TEAM, REP)
    notifier = stack.services.notifier
    since = utcnow() - timedelta(minutes=1)
    view = AlertView(account_id=7, gmail_id="genuine", mailbox_address=REP_GMAIL, rep_user_id=REP, contact_id=1,
                     contact_name="Jane", contact_email=None, company=None, category_label=None, deal_context=None,
                     sender="Jane", received_at=utcnow(), gmail_url="https://mail.google.com/")
    ts = notifier.post_alert(TEAM, channel, view)
    forged = {"event_type": "mailmagnet_alert", "event_payload": {"account_id": 7, "gmail_id": "forged"}}
    stack.slack.post_as_user(channel, REP, "looks like an alert", metadata=forged)
    client = stack.services.slack.for_team(TEAM)
    client.chat_postMessage(channel=channel, text="odd", metadata={"event_type": "mailmagnet_alert",
                                                                   "event_payload": {"account_id": "x"}})
    client.chat_postMessage(channel=channel, text="odd digest", metadata={
        "event_type": "mailmagnet_digest", "event_payload": {"account_id": 7, "gmail_ids": "not-a-list"}})
    assert notifier.posted_alerts(TEAM, channel, since) == {(7, "genuine"): ts}


def test_slack_tokens_are_encrypted_at_rest_and_rotate(org):
    """`mailmagnet keys rotate` with a new key in front of the old one re-encrypts every Slack token and the Google
    credentials under the new key; with the old key dropped afterwards, every one of them still reads."""
    import os
    import subprocess
    import sys

    import sqlalchemy as sa
    from cryptography.fernet import Fernet

    from bot.slack_store import PREFIX, EncryptedInstallationStore
    from gmail.accounts import load_credentials
    from gmail.tokens import TokenCipher, TokenKeyError
    from testsupport.stack import SLACK_CLIENT_ID

    def stored_slack_tokens() -> list[str]:
        with org.engine.connect() as connection:
            return ([row[0] for row in connection.execute(sa.text("SELECT bot_token FROM slack_bots"))]
                    + [row[0] for row in connection.execute(sa.text("SELECT bot_token FROM slack_installations"))])

    def google_credentials() -> bytes:
        with session_scope(org.engine) as session:
            return session.exec(select(GmailAccount)).one().encrypted_credentials

    def store(*keys: str) -> EncryptedInstallationStore:
        return EncryptedInstallationStore(TokenCipher(keys), client_id=SLACK_CLIENT_ID, engine=org.engine)

    org.add_rep()
    org.connect()
    team = org.slack.team(OTHER_TEAM)
    before, credentials_before = stored_slack_tokens(), google_credentials()
    assert before and all(value.startswith(PREFIX) for value in before)
    assert team.bot_token not in " ".join(before)
    old_key, new_key = org.settings.token_encryption_keys, Fernet.generate_key().decode()
    assert store(old_key).find_bot(enterprise_id=None, team_id=OTHER_TEAM).bot_token == team.bot_token

    rotate = subprocess.run([sys.executable, "-m", "bot.cli", "keys", "rotate"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "DATABASE_URL": org.settings.database_url,
                                              "TOKEN_ENCRYPTION_KEYS": f"{new_key},{old_key}",
                                              "SLACK_CLIENT_ID": SLACK_CLIENT_ID})
    assert rotate.returncode == 0, rotate.stderr
    assert f"re-encrypted 1 stored Google credential(s) and {len(before)} Slack token(s)" in rotate.stdout

    after = stored_slack_tokens()
    assert len(after) == len(before) and not set(after) & set(before)  # every ciphertext changed
    assert google_credentials() != credentials_before
    with pytest.raises(TokenKeyError):  # under the new key: the old one alone opens none of them
        store(old_key).find_bot(enterprise_id=None, team_id=OTHER_TEAM)
    with pytest.raises(TokenKeyError):
        TokenCipher([old_key]).decrypt(google_credentials())
    # The old key dropped: every token still reads with the new key alone.
    for team_id in (TEAM, OTHER_TEAM):
        assert (store(new_key).find_bot(enterprise_id=None, team_id=team_id).bot_token
                == org.slack.team(team_id).bot_token)
    with session_scope(org.engine) as session:
        account = session.exec(select(GmailAccount)).one()
        assert load_credentials(TokenCipher([new_key]), account, org.services.google).refresh_token
