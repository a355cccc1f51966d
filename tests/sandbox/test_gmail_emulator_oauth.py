"""The emulator's Google OAuth 2.0 endpoints: authorize, token, revoke.

The happy path runs through google-auth-oauthlib's ``Flow``; the error paths
post to the token endpoint directly so that each rule (PKCE, single-use
codes, client authentication) is checked on its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httplib2
import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request

from sandbox.gmail_emulator import GmailEmulator
from sandbox.gmail_emulator.testing import (
    GMAIL_MODIFY,
    authorize,
    code_from_location,
    gmail_service,
    open_authorize_url,
)

CLIENT_ID = "mailmagnet-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-secret"
REDIRECT = "http://127.0.0.1:3000/gmail/oauth/callback"
REP = "rep@example.com"
OTHER = "colleague@example.com"


@pytest.fixture
def emu():
    with GmailEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET, redirect_uris=[REDIRECT])
        emulator.add_user(REP)
        emulator.add_user(OTHER)
        yield emulator


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(emu, **overrides) -> str:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": GMAIL_MODIFY,
        "state": "state-123",
        "access_type": "offline",
        "prompt": "consent",
    }
    params.update(overrides)
    return emu.auth_uri + "?" + urlencode({k: v for k, v in params.items() if v is not None})


def get_code(emu, **overrides) -> str:
    status, location = open_authorize_url(authorize_url(emu, **overrides))
    assert status == 302
    return code_from_location(location)


def post_token(emu, form: dict, basic: bool = False) -> tuple[int, dict]:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    form = dict(form)
    if basic:
        pair = f"{form.pop('client_id')}:{form.pop('client_secret')}".encode()
        headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
    response, content = httplib2.Http().request(emu.token_uri, "POST", body=urlencode(form), headers=headers)
    return response.status, json.loads(content)


def exchange(emu, code: str, verifier: str | None, **extra) -> tuple[int, dict]:
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    form.update(extra)
    return post_token(emu, form)


def test_flow_with_pkce_gives_working_credentials(emu):
    creds = authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    assert creds.refresh_token and creds.token.startswith("ya29.")
    assert gmail_service(emu, creds).users().getProfile(userId="me").execute()["emailAddress"] == REP


def test_authorize_redirects_with_code_and_state(emu):
    status, location = open_authorize_url(authorize_url(emu))
    assert status == 302
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT
    query = parse_qs(parts.query)
    assert query["state"] == ["state-123"] and query["code"][0]

    emu.consent_as(None, deny=True)
    status, location = open_authorize_url(authorize_url(emu))
    assert parse_qs(urlsplit(location).query) == {"error": ["access_denied"], "state": ["state-123"]}


def test_authorize_errors_are_shown_not_redirected(emu):
    assert open_authorize_url(authorize_url(emu, client_id="unknown"))[0] == 401
    assert open_authorize_url(authorize_url(emu, redirect_uri="http://evil.test/cb"))[0] == 400
    assert open_authorize_url(authorize_url(emu, scope=None))[0] == 400


def test_consenting_user_and_login_hint(emu):
    emu.consent_as(OTHER)
    creds = authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    assert gmail_service(emu, creds).users().getProfile(userId="me").execute()["emailAddress"] == OTHER

    with GmailEmulator() as fresh:
        fresh.register_client(CLIENT_ID, CLIENT_SECRET)
        fresh.add_user(REP)
        fresh.add_user(OTHER)
        hinted = authorize(fresh, CLIENT_ID, CLIENT_SECRET, login_hint=OTHER)
        assert gmail_service(fresh, hinted).users().getProfile(userId="me").execute()["emailAddress"] == OTHER


def test_pkce_verifier_is_checked(emu):
    verifier, challenge = pkce_pair()
    code = get_code(emu, code_challenge=challenge, code_challenge_method="S256")
    status, body = exchange(emu, code, pkce_pair()[0])
    assert (status, body["error"]) == (400, "invalid_grant")

    code = get_code(emu, code_challenge=challenge, code_challenge_method="S256")
    status, body = exchange(emu, code, None)
    assert (status, body["error"]) == (400, "invalid_grant")

    code = get_code(emu, code_challenge=challenge, code_challenge_method="S256")
    status, body = exchange(emu, code, verifier)
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["scope"] == GMAIL_MODIFY and "refresh_token" in body

    plain = secrets.token_urlsafe(48)
    code = get_code(emu, code_challenge=plain, code_challenge_method="plain")
    assert exchange(emu, code, plain)[0] == 200


def test_codes_are_single_use_and_bound_to_redirect_uri(emu):
    verifier, challenge = pkce_pair()
    code = get_code(emu, code_challenge=challenge, code_challenge_method="S256")
    assert exchange(emu, code, verifier)[0] == 200
    status, body = exchange(emu, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")

    code = get_code(emu, code_challenge=challenge, code_challenge_method="S256")
    status, body = exchange(emu, code, verifier, redirect_uri="http://127.0.0.1:3000/other")
    assert (status, body["error"]) == (400, "redirect_uri_mismatch")

    status, body = exchange(emu, "4/0Aforged", verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


def test_client_credentials_as_basic_or_in_body(emu):
    for basic in (False, True):
        code = get_code(emu)
        status, body = post_token(
            emu,
            {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
             "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            basic=basic,
        )
        assert status == 200, body
        refreshed = post_token(
            emu,
            {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
             "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            basic=not basic,
        )
        assert refreshed[0] == 200 and "refresh_token" not in refreshed[1]

    code = get_code(emu)
    status, body = post_token(
        emu,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
         "client_id": CLIENT_ID, "client_secret": "wrong"},
        basic=True,
    )
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = post_token(emu, {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody",
                                    "client_secret": "x"})
    assert (status, body["error"]) == (401, "invalid_client")


def test_refresh_token_only_for_offline_and_first_consent(emu):
    first = exchange(emu, get_code(emu, prompt=None), None)[1]
    assert "refresh_token" in first
    again = exchange(emu, get_code(emu, prompt=None), None)[1]
    assert "refresh_token" not in again  # Google issues it once per user and client
    forced = exchange(emu, get_code(emu, prompt="consent"), None)[1]
    assert "refresh_token" in forced
    online = exchange(emu, get_code(emu, access_type="online", prompt="consent"), None)[1]
    assert "refresh_token" not in online


def test_revoke_endpoint_ends_the_grant(emu):
    creds = authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    gmail = gmail_service(emu, creds)
    assert gmail.users().getProfile(userId="me").execute()
    response, _ = httplib2.Http().request(
        emu.revoke_uri + "?" + urlencode({"token": creds.refresh_token}), "POST",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    response, _ = httplib2.Http().request(
        emu.url + "gmail/v1/users/me/profile", headers={"authorization": f"Bearer {creds.token}"}
    )
    assert response.status == 401
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(Request())

    response, content = httplib2.Http().request(
        emu.revoke_uri, "POST", body=urlencode({"token": creds.refresh_token}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400 and json.loads(content)["error"] == "invalid_token"

    # Revoking with the access token ends the whole grant too, and a new
    # consent afterwards starts clean with a new refresh token.
    second = authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT, prompt="select_account")
    assert second.refresh_token
    response, _ = httplib2.Http().request(
        emu.revoke_uri, "POST", body=urlencode({"token": second.token}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    with pytest.raises(RefreshError, match="invalid_grant"):
        second.refresh(Request())


def test_revoking_a_later_consents_token_ends_the_earlier_connection_too(emu):
    """Google keeps one grant per user and client: a second consent adds a refresh token to it, and revoking
    that new token ends the grant, so the refresh token a live connection holds stops working too."""
    live = authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    again = authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT, prompt="consent")
    assert again.refresh_token and again.refresh_token != live.refresh_token
    response, _ = httplib2.Http().request(
        emu.revoke_uri, "POST", body=urlencode({"token": again.refresh_token}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    with pytest.raises(RefreshError, match="invalid_grant"):
        live.refresh(Request())
    assert emu.granted_scopes(REP, CLIENT_ID) is None


def test_tokens_of_one_user_do_not_open_another_mailbox(emu):
    rep = gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT))
    emu.consent_as(OTHER)
    other = gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT))
    emu.revoke_access(REP)
    assert other.users().getProfile(userId="me").execute()["emailAddress"] == OTHER
    with pytest.raises(RefreshError):
        rep.users().getProfile(userId="me").execute()
