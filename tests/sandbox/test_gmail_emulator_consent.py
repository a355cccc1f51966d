"""Google's granular consent in the emulator: the user grants only some of the requested scopes.

The flow runs through google-auth-oauthlib's ``Flow`` as the product's does
(PKCE, ``access_type=offline``, ``include_granted_scopes=true``,
``OAUTHLIB_RELAX_TOKEN_SCOPE=1``); the reduced grant is then used against the
Gmail API over HTTP.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.errors import HttpError

from sandbox.gmail_emulator import GmailEmulator
from sandbox.gmail_emulator.testing import client_config, code_from_location, gmail_service, open_authorize_url

CLIENT_ID = "mailmagnet-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-secret"
REDIRECT = "http://127.0.0.1:3000/gmail/oauth/callback"
REP = "rep@example.com"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
SEND = "https://www.googleapis.com/auth/gmail.send"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"


@pytest.fixture(autouse=True)
def oauthlib_as_the_product_sets_it(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


@pytest.fixture
def emu():
    with GmailEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET, redirect_uris=[REDIRECT])
        emulator.add_user(REP)
        yield emulator


def start_consent(emu, scopes, **params) -> tuple[Flow, str]:
    flow = Flow.from_client_config(
        client_config(emu, CLIENT_ID, CLIENT_SECRET, REDIRECT), scopes=list(scopes), redirect_uri=REDIRECT
    )
    url, _ = flow.authorization_url(access_type="offline", prompt="consent", **params)
    status, location = open_authorize_url(url)
    assert status == 302 and location
    return flow, location


def consent(emu, scopes, **params) -> Flow:
    flow, location = start_consent(emu, scopes, **params)
    flow.fetch_token(code=code_from_location(location))
    return flow


def test_a_partial_consent_grants_only_the_ticked_scopes(emu):
    emu.consent_as(REP, scopes=[SEND])  # the user unticks "read, compose and modify"
    flow, location = start_consent(emu, [MODIFY, SEND], include_granted_scopes="true")
    assert parse_qs(urlsplit(location).query)["scope"] == [SEND]
    flow.fetch_token(code=code_from_location(location))
    assert flow.oauth2session.token["scope"] == [SEND]
    assert flow.credentials.granted_scopes == [SEND]
    assert emu.granted_scopes(REP, CLIENT_ID) == [SEND]

    gmail = gmail_service(emu, flow.credentials)
    raw = base64.urlsafe_b64encode(b"To: ann@acme.test\r\nSubject: Re\r\n\r\nHi").decode()
    gmail.users().messages().send(userId="me", body={"raw": raw}).execute()
    assert len(emu.sent_messages(REP)) == 1
    message = emu.insert_message(REP, sender="ann@acme.test", to=REP)
    for request in (
        gmail.users().messages().get(userId="me", id=message),
        gmail.users().messages().modify(userId="me", id=message, body={"removeLabelIds": ["UNREAD"]}),
    ):
        with pytest.raises(HttpError) as refused:
            request.execute()
        assert refused.value.status_code == 403
        assert json.loads(refused.value.content)["error"]["errors"][0]["reason"] == "insufficientPermissions"
    assert "UNREAD" in emu.label_names(REP, message)


def test_refreshing_with_the_requested_scopes_fails_but_the_granted_ones_work(emu):
    """The Flow's credentials keep the *requested* scopes; a refresh naming them is invalid_scope, as at Google."""
    emu.consent_as(REP, scopes=[MODIFY])
    flow = consent(emu, [MODIFY, SEND])
    requested = flow.credentials
    assert sorted(requested.scopes) == sorted([MODIFY, SEND])
    with pytest.raises(RefreshError) as refused:
        requested.refresh(Request())
    assert "invalid_scope" in str(refused.value)

    granted = Credentials(
        None, refresh_token=requested.refresh_token, token_uri=emu.token_uri, client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET, scopes=requested.granted_scopes,
    )
    granted.refresh(Request())
    assert gmail_service(emu, granted).users().getProfile(userId="me").execute()["emailAddress"] == REP


def test_consenting_to_sign_in_only(emu):
    emu.consent_as(REP, scopes=["openid", "email"])
    flow = consent(emu, ["openid", "email", MODIFY])
    token = flow.oauth2session.token
    assert token["scope"] == ["openid", USERINFO_EMAIL]  # Google answers "email" with its full URL
    payload = token["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["email"] == REP and claims["aud"] == CLIENT_ID and claims["iss"] == "https://accounts.google.com"
    assert emu.granted_scopes(REP, CLIENT_ID) == ["openid", USERINFO_EMAIL]

    with pytest.raises(HttpError) as refused:
        gmail_service(emu, flow.credentials).users().getProfile(userId="me").execute()
    assert refused.value.status_code == 403


def test_by_default_everything_requested_is_granted(emu):
    emu.consent_as(REP)
    flow = consent(emu, [MODIFY, SEND])
    assert flow.oauth2session.token["scope"] == [MODIFY, SEND]
    assert "id_token" not in flow.oauth2session.token  # no openid, no ID token
    assert emu.granted_scopes(REP, CLIENT_ID) == [MODIFY, SEND]


def test_nothing_requested_left_ticked_is_a_denial(emu):
    emu.consent_as(REP, scopes=[])
    _, location = start_consent(emu, [MODIFY])
    assert parse_qs(urlsplit(location).query)["error"] == ["access_denied"]
    emu.consent_as(REP, scopes=["https://mail.google.com/"])  # never requested: cannot be granted
    _, location = start_consent(emu, [MODIFY])
    assert parse_qs(urlsplit(location).query)["error"] == ["access_denied"]
    assert emu.granted_scopes(REP, CLIENT_ID) is None


def test_include_granted_scopes_adds_what_was_granted_before(emu):
    emu.consent_as(REP, scopes=[MODIFY])
    consent(emu, [MODIFY, SEND])
    emu.consent_as(REP)
    assert consent(emu, [READONLY]).oauth2session.token["scope"] == [READONLY]
    assert consent(emu, [READONLY], include_granted_scopes="true").oauth2session.token["scope"] == [MODIFY, READONLY]
    assert emu.granted_scopes(REP, CLIENT_ID) == [MODIFY, READONLY]
