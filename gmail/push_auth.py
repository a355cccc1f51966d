"""Who may POST to /gmail/push: Cloud Pub/Sub, proved by the OIDC token of an authenticated push subscription.

Google signs a JWT for the subscription's service account and sends it as `Authorization: Bearer …` with each
push. google-auth checks its signature against Google's certificates (GOOGLE_CERTS_URL) and its expiry; the
claims are checked here: the issuer is Google, the audience is ours (PUBSUB_PUSH_AUDIENCE), and the token was
issued to our service account (`email` = PUBSUB_PUSH_SERVICE_ACCOUNT, `email_verified`). The certificates are
cached (Google's `Cache-Control: max-age`), so a push costs no extra round trip.

The shared token in the URL query (PUBSUB_VERIFICATION_TOKEN) is the fallback when the OIDC settings are absent:
it travels in the URL, so it ends up in load-balancer and proxy logs.
"""
from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import google.auth.transport
import google.auth.transport.requests
from google.auth import exceptions as auth_errors
from google.oauth2 import id_token

log = logging.getLogger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
DEFAULT_CERTS_TTL = 3600.0
MAX_CERTS_TTL = 86400.0
# A token naming a key we do not have may mean Google rotated its keys: look again, but not for every forged
# token an attacker sends.
REFETCH_AT_MOST_EVERY = 60.0
CLOCK_SKEW_SECONDS = 10
MAX_TOKEN_LENGTH = 8192
BEARER = re.compile(r"^Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)$")


class PushRefused(Exception):
    """The push is not from our subscription: 401 (no valid Google token) or 403 (a valid one, not ours)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PushUnverifiable(Exception):
    """Google's certificates could not be fetched: answer 503 so that Pub/Sub delivers the push again later."""


@dataclass(frozen=True)
class _CachedResponse(google.auth.transport.Response):
    _status: int
    _headers: Mapping[str, str]
    _data: bytes

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


def max_age(headers: Mapping[str, str]) -> float:
    """Seconds a response may be kept, from its Cache-Control (Google sends `public, max-age=…`)."""
    control = next((value for name, value in headers.items() if name.lower() == "cache-control"), "")
    match = re.search(r"max-age=(\d+)", control)
    return min(float(match.group(1)), MAX_CERTS_TTL) if match else DEFAULT_CERTS_TTL


class CachingRequest(google.auth.transport.Request):
    """google-auth's transport, remembering successful GETs (the certificates) for as long as they may be kept."""

    def __init__(self, transport: google.auth.transport.Request | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._transport = transport or google.auth.transport.requests.Request()
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, _CachedResponse]] = {}

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET":
            return self._transport(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        response = self._transport(url, method="GET", headers=headers, timeout=timeout or 10, **kwargs)
        if response.status == 200:
            kept = _CachedResponse(response.status, dict(response.headers), response.data)
            with self._lock:
                self._cache[url] = (now + max_age(kept.headers), kept)
            return kept
        return response

    def forget(self, url: str) -> None:
        with self._lock:
            self._cache.pop(url, None)


class OidcPushVerifier:
    def __init__(self, *, audience: str, service_account: str, certs_url: str,
                 request: CachingRequest | None = None, clock: Callable[[], float] = time.monotonic):
        self.audience = audience
        self.service_account = service_account.lower()
        self.certs_url = certs_url
        self._request = request or CachingRequest()
        self._clock = clock
        self._last_refetch = float("-inf")
        self._lock = threading.Lock()

    def verify(self, authorization: str | None, query_token: str | None = None) -> dict[str, Any]:
        """The token's claims, or PushRefused / PushUnverifiable."""
        match = BEARER.match((authorization or "")[:MAX_TOKEN_LENGTH])
        if match is None:
            raise PushRefused(401, "no bearer token")
        claims = self._verified_claims(match.group(1))
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise PushRefused(403, "token not issued by Google")
        if claims.get("aud") != self.audience:
            raise PushRefused(403, "token for another audience")
        if str(claims.get("email") or "").lower() != self.service_account:
            raise PushRefused(403, "token of another service account")
        if claims.get("email_verified") is not True:
            raise PushRefused(403, "service account email not verified")
        return dict(claims)

    def _verified_claims(self, token: str) -> Mapping[str, Any]:
        for attempt in (1, 2):
            try:
                return id_token.verify_token(token, self._request, audience=None, certs_url=self.certs_url,
                                             clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
            except auth_errors.TransportError as error:
                raise PushUnverifiable(f"Google's certificates could not be fetched: {error}") from None
            except (ValueError, auth_errors.GoogleAuthError) as error:
                # google-auth's errors are ValueErrors too (malformed, bad signature, expired, unknown key id).
                if attempt == 1 and "key id" in str(error) and self._may_refetch():
                    self._request.forget(self.certs_url)
                    continue
                raise PushRefused(401, f"invalid token ({_reason(error)})") from None
        raise AssertionError("unreachable")

    def _may_refetch(self) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._last_refetch < REFETCH_AT_MOST_EVERY:
                return False
            self._last_refetch = now
            return True


def _reason(error: Exception) -> str:
    """A short reason for the log, without the token's content (google-auth quotes claims in some messages)."""
    text = str(error)
    for known in ("expired", "too early", "signature", "key id", "segments", "algorithm", "audience"):
        if known in text.lower():
            return known
    return type(error).__name__


class QueryTokenVerifier:
    """The fallback: `?token=` equal to PUBSUB_VERIFICATION_TOKEN (no token configured: every push refused)."""

    def __init__(self, token: str | None):
        self._token = (token or "").encode()

    def verify(self, authorization: str | None, query_token: str | None) -> dict[str, Any]:
        if not self._token or not hmac.compare_digest((query_token or "").encode(), self._token):
            raise PushRefused(403, "wrong or missing verification token")
        return {}
