"""Google consent for one rep: `state` bound to the Slack user, single use, 10-minute expiry, PKCE.

google-auth-oauthlib makes a new PKCE verifier on every `authorization_url`,
so the verifier is stored with the state and handed back to the Flow that
exchanges the code.
"""
from __future__ import annotations

import logging
from enum import StrEnum
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlparse

import httplib2
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from sqlalchemy.engine import Engine
from sqlmodel import delete, update

from crm_store.db import session_scope
from crm_store.models import GmailOAuthState, utcnow
from gmail.config import GoogleConfig

log = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class ConsentFailure(StrEnum):
    """Why a consent callback cannot complete (the web route words it)."""

    NO_STATE = "no_state"
    UNKNOWN_STATE = "unknown_state"  # forged, or not ours
    STATE_USED = "state_used"  # replayed
    STATE_EXPIRED = "state_expired"
    NOT_GRANTED = "not_granted"  # Google's `error` (access_denied: the rep declined)
    NO_CODE = "no_code"
    EXCHANGE_REFUSED = "exchange_refused"
    NOT_KEPT = "not_kept"  # the use case would not keep it (its message says why)


class ConsentError(Exception):
    """The callback cannot complete: `failure` says why; `google_error` is Google's error code, if it sent one."""

    def __init__(self, message: str = "", *, failure: ConsentFailure = ConsentFailure.NOT_KEPT,
                 google_error: str | None = None):
        super().__init__(message)
        self.failure, self.google_error = failure, google_error


class InvalidState(ConsentError):
    """Unknown (forged), already used (replayed) or expired state."""


@dataclass
class ConsentResult:
    slack_team_id: str
    slack_user_id: str
    credentials: Credentials


def allow_plain_http_for_loopback(config: GoogleConfig) -> None:
    """oauthlib insists on HTTPS; the emulators on this machine speak plain HTTP on loopback only."""
    hosts = {urlparse(u).hostname for u in (config.auth_uri, config.token_uri)}
    if hosts <= LOOPBACK_HOSTS:
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


class GoogleConsent:
    def __init__(self, config: GoogleConfig, engine: Engine):
        self.config = config
        self.engine = engine
        allow_plain_http_for_loopback(config)
        # Google may answer with the scopes granted earlier too (include_granted_scopes).
        os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

    def _flow(self, *, state: str | None = None, code_verifier: str | None = None) -> Flow:
        client_config = {
            "web": {
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret,
                "auth_uri": self.config.auth_uri,
                "token_uri": self.config.token_uri,
                "redirect_uris": [self.config.redirect_uri],
            }
        }
        return Flow.from_client_config(
            client_config, scopes=list(self.config.scopes), redirect_uri=self.config.redirect_uri,
            state=state, code_verifier=code_verifier, autogenerate_code_verifier=code_verifier is None,
        )

    def authorization_url(self, slack_team_id: str, slack_user_id: str, *, login_hint: str | None = None) -> str:
        """A fresh consent URL for this Slack user; its state is stored with the PKCE verifier."""
        state = secrets.token_urlsafe(32)
        flow = self._flow(state=state)
        extra = {"login_hint": login_hint} if login_hint else {}
        url, _ = flow.authorization_url(access_type="offline", prompt="consent", include_granted_scopes="true",
                                        **extra)
        with session_scope(self.engine) as session:
            # Old unfinished consents only clutter the table.
            session.execute(delete(GmailOAuthState).where(GmailOAuthState.created_at < utcnow() - STATE_TTL * 6))
            session.add(GmailOAuthState(state=state, slack_team_id=slack_team_id, slack_user_id=slack_user_id,
                                        code_verifier=flow.code_verifier))
        return url

    def _consume_state(self, state: str) -> GmailOAuthState:
        now = utcnow()
        with session_scope(self.engine) as session:
            # One atomic UPDATE: of two concurrent callbacks with the same state, only one wins.
            claimed = session.execute(
                update(GmailOAuthState)
                .where(GmailOAuthState.state == state, GmailOAuthState.consumed_at.is_(None))
                .values(consumed_at=now)
            ).rowcount
            record = session.get(GmailOAuthState, state)
            if record is None:
                raise InvalidState(failure=ConsentFailure.UNKNOWN_STATE)
            if not claimed:
                raise InvalidState(failure=ConsentFailure.STATE_USED)
            if now - record.created_at > STATE_TTL:
                raise InvalidState(failure=ConsentFailure.STATE_EXPIRED)
            session.expunge(record)
            return record

    def complete(self, state: str | None, code: str | None, error: str | None = None) -> ConsentResult:
        """Check the state, then exchange the code (with the stored PKCE verifier) for credentials."""
        if not state:
            raise InvalidState(failure=ConsentFailure.NO_STATE)
        record = self._consume_state(state)
        if error:
            raise ConsentError(failure=ConsentFailure.NOT_GRANTED, google_error=error[:100])
        if not code:
            raise ConsentError(failure=ConsentFailure.NO_CODE)
        flow = self._flow(state=state, code_verifier=record.code_verifier)
        try:
            flow.fetch_token(code=code)
        except (OAuth2Error, ValueError, OSError) as failure:
            log.warning("token exchange failed: %s", failure)
            raise ConsentError(failure=ConsentFailure.EXCHANGE_REFUSED) from None
        return ConsentResult(record.slack_team_id, record.slack_user_id, flow.credentials)


def revoke_token(config: GoogleConfig, token: str) -> bool:
    """Ask Google to revoke the grant behind a token; True when it is gone (or already was)."""
    http = httplib2.Http(timeout=config.timeout_seconds)
    try:
        response, _ = http.request(
            config.revoke_uri, method="POST", body=urlencode({"token": token}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    except (OSError, httplib2.HttpLib2Error) as error:
        log.warning("token revocation failed: %s", error)
        return False
    # 400 invalid_token: already revoked or expired, which is what we wanted.
    return response.status in (200, 400)
