"""Client-side helpers for tests and benchmarks that talk to the emulator.

They use the real Google libraries (google-auth-oauthlib's ``Flow``,
googleapiclient's ``build`` and ``BatchHttpRequest``), so the emulator is
exercised the way the bot exercises Google.  Imported lazily: the emulator
itself needs only the standard library.
"""

from __future__ import annotations

import http.client
import os
from typing import Any, Callable, Sequence
from urllib.parse import parse_qs, urlsplit

from .server import DEFAULT_SCOPES, GmailEmulator

GMAIL_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/gmail/oauth/callback"


def client_config(emu: GmailEmulator, client_id: str, client_secret: str, redirect_uri: str = DEFAULT_REDIRECT_URI) -> dict:
    return {
        "web": {
            "client_id": client_id,
            "client_secret": client_secret,
            "auth_uri": emu.auth_uri,
            "token_uri": emu.token_uri,
            "redirect_uris": [redirect_uri],
        }
    }


def open_authorize_url(url: str) -> tuple[int, str | None]:
    """GET the authorize URL like a browser would, without following the redirect."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        connection.close()


def code_from_location(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    if "error" in query:
        raise PermissionError(query["error"][0])
    return query["code"][0]


def authorize(
    emu: GmailEmulator,
    client_id: str,
    client_secret: str,
    scopes: Sequence[str] = (GMAIL_MODIFY,),
    *,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    access_type: str = "offline",
    prompt: str = "consent",
    login_hint: str | None = None,
):
    """Credentials from the full OAuth web flow (consent by ``emu.consent_as``)."""
    from google_auth_oauthlib.flow import Flow

    # oauthlib refuses http:// token endpoints unless told this is a test.
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    flow = Flow.from_client_config(
        client_config(emu, client_id, client_secret, redirect_uri), scopes=list(scopes), redirect_uri=redirect_uri
    )
    extra = {"login_hint": login_hint} if login_hint else {}
    url, _state = flow.authorization_url(access_type=access_type, prompt=prompt, **extra)
    status, location = open_authorize_url(url)
    if status != 302 or not location:
        raise RuntimeError(f"authorize answered {status}")
    flow.fetch_token(code=code_from_location(location))
    return flow.credentials


def credentials_for(
    emu: GmailEmulator, user: str, client_id: str, client_secret: str, scopes: Sequence[str] = DEFAULT_SCOPES
):
    """Credentials without the browser step (benchmarks with many mailboxes)."""
    from google.oauth2.credentials import Credentials

    tokens = emu.issue_tokens(user, client_id, scopes)
    return Credentials(
        tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_uri=emu.token_uri,
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(scopes),
    )


def gmail_service(emu: GmailEmulator, credentials: Any, timeout: float | None = None):
    """googleapiclient's Gmail client from the static discovery document, aimed at the emulator."""
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build

    if timeout is None:
        return build(
            "gmail", "v1", credentials=credentials, static_discovery=True,
            client_options={"api_endpoint": emu.url}, cache_discovery=False,
        )
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
    return build(
        "gmail", "v1", http=http, static_discovery=True,
        client_options={"api_endpoint": emu.url}, cache_discovery=False,
    )


def new_batch(emu: GmailEmulator, callback: Callable | None = None):
    """A BatchHttpRequest aimed at the emulator (client_options does not move the batch URL)."""
    from googleapiclient.http import BatchHttpRequest

    return BatchHttpRequest(callback=callback, batch_uri=emu.batch_url)
