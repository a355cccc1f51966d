"""Google's OAuth 2.0 endpoints for web-server apps: authorize, token, revoke.

Behaviour follows Google's documentation: PKCE (S256 or plain), single-use
codes, refresh tokens only for ``access_type=offline`` and only on the first
consent of a user to a client (or when ``prompt=consent`` asks again),
client credentials accepted as HTTP Basic or in the form body, ``invalid_grant``
for revoked or unknown refresh tokens and wrong PKCE verifiers.

Granular consent: Google's consent page lets the user untick scopes, so the
code, the token response's ``scope`` and the access token carry only what
was granted.  ``email`` and ``profile`` come back as their full URLs, as
Google answers them; ``openid`` brings an ``id_token``.  With
``include_granted_scopes=true`` the token also covers what this user granted
this client before.  A refresh that asks for a scope the grant lacks fails
with ``invalid_scope`` (so credentials must be rebuilt from the granted
scopes, not the requested ones).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

CODE_LIFETIME_SECONDS = 600
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")

USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
USERINFO_PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
# Short names Google accepts in a request and answers with their full URLs.
SCOPE_ALIASES = {"email": USERINFO_EMAIL, "profile": USERINFO_PROFILE}


def normalize_scopes(scopes) -> tuple[str, ...]:
    """Scopes as Google reports them: aliases expanded, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(SCOPE_ALIASES.get(scope, scope) for scope in scopes))


class OAuthError(Exception):
    """An error answer of the token or revoke endpoint."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class AuthorizePageError(Exception):
    """An error Google shows on its own page instead of redirecting back."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"Error {status}: {error} ({description})")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()


@dataclass
class Grant:
    """One user's consent to one client: its refresh tokens and access tokens."""

    user: str
    client_id: str
    scopes: tuple[str, ...]
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant: Grant
    expires_at: float
    scopes: tuple[str, ...]
    valid: bool = True


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    user: str
    scopes: tuple[str, ...]
    challenge: str | None
    challenge_method: str
    offline: bool
    force_consent: bool
    expires_at: float
    include_granted: bool = False
    used: bool = False


class OAuthServer:
    def __init__(self, access_token_lifetime: int = 3599):
        self.access_token_lifetime = access_token_lifetime
        self._lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self._codes: dict[str, AuthCode] = {}
        self._grants: dict[tuple[str, str], Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._access: dict[str, AccessToken] = {}
        self._secret = secrets.token_bytes(32)  # per process: tokens cannot be guessed or forged
        self._counter = 0

    def _token(self, prefix: str) -> str:
        self._counter += 1
        digest = hmac.new(
            self._secret, f"{prefix}{self._counter}{secrets.token_hex(8)}".encode(), hashlib.sha256
        ).digest()
        return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    # -- set-up ---------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str, redirect_uris=()) -> None:
        with self._lock:
            self.clients[client_id] = Client(client_id, client_secret, tuple(redirect_uris))

    # -- authorize ------------------------------------------------------

    def authorize(
        self, params: dict[str, str], user: str | None, deny: bool, granted: tuple[str, ...] | None = None
    ) -> str:
        """Answer GET /o/oauth2/auth with the Location to redirect to.

        ``granted`` are the scopes the user leaves ticked on the consent page
        (None: all requested); scopes that were not requested cannot be granted.
        """
        client_id = params.get("client_id", "")
        with self._lock:
            client = self.clients.get(client_id)
        if client is None:
            raise AuthorizePageError(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            raise AuthorizePageError(400, "invalid_request", "Missing required parameter: redirect_uri")
        if client.redirect_uris and redirect_uri not in client.redirect_uris:
            raise AuthorizePageError(
                400, "redirect_uri_mismatch",
                f"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
                f"policy. redirect_uri={redirect_uri}",
            )
        state = params.get("state")
        response_type = params.get("response_type", "")
        if response_type != "code":
            if not response_type:
                raise AuthorizePageError(400, "invalid_request", "Required parameter is missing: response_type")
            return _with_query(redirect_uri, {"error": "unsupported_response_type", "state": state})
        scope = params.get("scope", "").split()
        if not scope:
            raise AuthorizePageError(400, "invalid_request", "Missing required parameter: scope")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method", "plain" if challenge else "")
        if challenge and method not in ("S256", "plain"):
            raise AuthorizePageError(400, "invalid_request", "Invalid code_challenge_method value.")
        scope = list(normalize_scopes(scope))
        if granted is not None:
            ticked = set(normalize_scopes(granted))
            scope = [item for item in scope if item in ticked]
        if deny or user is None or not scope:
            return _with_query(redirect_uri, {"error": "access_denied", "state": state})
        code = self._token("4/0A")
        prompt = params.get("prompt", "").split()
        with self._lock:
            self._codes[code] = AuthCode(
                client_id=client_id,
                redirect_uri=redirect_uri,
                user=user,
                scopes=tuple(scope),
                challenge=challenge,
                challenge_method=method,
                offline=params.get("access_type") == "offline",
                force_consent="consent" in prompt,
                expires_at=time.time() + CODE_LIFETIME_SECONDS,
                include_granted=params.get("include_granted_scopes", "").lower() == "true",
            )
        return _with_query(
            redirect_uri,
            {"state": state, "code": code, "scope": " ".join(scope), "authuser": "0", "prompt": "consent"},
        )

    # -- token ----------------------------------------------------------

    def authenticate_client(self, form: dict[str, str], basic: tuple[str, str] | None) -> Client:
        if basic is not None:
            client_id, secret = basic
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if secret is None:
            raise OAuthError(400, "invalid_request", "client_secret is missing.")
        if not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            raise OAuthError(401, "invalid_client", "Unauthorized")
        return client

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        with self._lock:
            client = self.authenticate_client(form, basic)
            grant_type = form.get("grant_type", "")
            if grant_type == "authorization_code":
                return self._exchange_code(client, form)
            if grant_type == "refresh_token":
                return self._refresh_grant(client, form)
            if not grant_type:
                raise OAuthError(400, "invalid_request", "Missing required parameter: grant_type")
            raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _exchange_code(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        code_value = form.get("code", "")
        code = self._codes.get(code_value)
        if code is None:
            raise OAuthError(400, "invalid_grant", "Malformed auth code.")
        if code.used or code.expires_at < time.time() or code.client_id != client.client_id:
            code.used = True
            raise OAuthError(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri", "") != code.redirect_uri:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier")
        if code.challenge:
            if not verifier:
                raise OAuthError(400, "invalid_grant", "Missing code verifier.")
            if not _VERIFIER.match(verifier) or not _pkce_matches(verifier, code.challenge, code.challenge_method):
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        code.used = True
        key = (code.user, client.client_id)
        grant = self._grants.get(key)
        first_consent = grant is None or grant.revoked
        if first_consent:
            grant = Grant(code.user, client.client_id, code.scopes)
            self._grants[key] = grant
        else:
            # Grants add up until revoked: a narrower consent does not take back earlier scopes.
            grant.scopes = tuple(dict.fromkeys(grant.scopes + code.scopes))
        result = self._issue_access(grant, grant.scopes if code.include_granted else code.scopes)
        if code.offline and (first_consent or code.force_consent or not grant.refresh_tokens):
            refresh = self._token("1//0")
            grant.refresh_tokens.add(refresh)
            self._refresh[refresh] = grant
            result["refresh_token"] = refresh
        return result

    def _refresh_grant(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        grant = self._refresh.get(form.get("refresh_token", ""))
        if grant is None or grant.revoked:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        if grant.client_id != client.client_id:
            raise OAuthError(400, "unauthorized_client", "Unauthorized")
        requested = normalize_scopes(form.get("scope", "").split()) or grant.scopes
        if not set(requested) <= set(grant.scopes):
            # Google's answer when a refresh names a scope the user did not grant.
            raise OAuthError(400, "invalid_scope", "Bad Request")
        return self._issue_access(grant, requested)

    def _issue_access(self, grant: Grant, scopes: tuple[str, ...]) -> dict[str, Any]:
        token = self._token("ya29.")
        self._access[token] = AccessToken(
            token, grant, time.time() + self.access_token_lifetime, tuple(scopes)
        )
        grant.access_tokens.add(token)
        result: dict[str, Any] = {
            "access_token": token,
            "expires_in": self.access_token_lifetime,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if "openid" in scopes:
            result["id_token"] = self._id_token(grant, scopes)
        return result

    def _id_token(self, grant: Grant, scopes: tuple[str, ...]) -> str:
        """An OpenID Connect ID token with Google's claims, signed HS256 with this emulator's own key.

        Google signs with RS256 keys published at its certs URL; nothing here can
        verify against those, so clients should read the claims, not verify them.
        """
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "azp": grant.client_id,
            "aud": grant.client_id,
            "sub": str(int.from_bytes(hashlib.sha256(grant.user.encode()).digest()[:8], "big")),
            "iat": now,
            "exp": now + self.access_token_lifetime,
        }
        if USERINFO_EMAIL in scopes:
            claims.update({"email": grant.user, "email_verified": True})
        header = {"alg": "HS256", "typ": "JWT"}
        signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(signature)

    def granted_scopes(self, user: str, client_id: str) -> list[str] | None:
        """What ``user`` has granted ``client_id`` (None: no live grant)."""
        with self._lock:
            grant = self._grants.get((user, client_id))
            return None if grant is None or grant.revoked else list(grant.scopes)

    def issue_tokens(self, user: str, client_id: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        """Tokens as if ``user`` had consented (offline) — for benchmarks with many mailboxes."""
        with self._lock:
            if client_id not in self.clients:
                raise KeyError(f"unknown OAuth client {client_id!r}")
            key = (user, client_id)
            grant = self._grants.get(key)
            if grant is None or grant.revoked:
                grant = Grant(user, client_id, tuple(scopes))
                self._grants[key] = grant
            result = self._issue_access(grant, tuple(scopes))
            refresh = self._token("1//0")
            grant.refresh_tokens.add(refresh)
            self._refresh[refresh] = grant
            result["refresh_token"] = refresh
            return result

    # -- revoke ---------------------------------------------------------

    def revoke(self, token: str) -> None:
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None and token in self._access:
                grant = self._access[token].grant
            if grant is None or grant.revoked:
                raise OAuthError(400, "invalid_token", "Token expired or revoked")
            self._revoke_grant(grant)

    def _revoke_grant(self, grant: Grant) -> None:
        grant.revoked = True
        for access in grant.access_tokens:
            if access in self._access:
                self._access[access].valid = False

    def revoke_user(self, user: str) -> None:
        with self._lock:
            for (grant_user, _), grant in self._grants.items():
                if grant_user == user:
                    self._revoke_grant(grant)

    def expire_user_access_tokens(self, user: str) -> None:
        with self._lock:
            for access in self._access.values():
                if access.grant.user == user:
                    access.valid = False

    # -- API side -------------------------------------------------------

    def lookup(self, token: str) -> AccessToken | None:
        """The live access token, or None when unknown, expired or revoked."""
        with self._lock:
            access = self._access.get(token)
            if access is None or not access.valid or access.grant.revoked:
                return None
            if access.expires_at < time.time():
                return None
            return access


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        expected = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        return hmac.compare_digest(expected, challenge)
    return hmac.compare_digest(verifier, challenge)


def _with_query(url: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((key, value) for key, value in params.items() if value is not None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
