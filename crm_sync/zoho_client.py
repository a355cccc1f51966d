"""A small Zoho CRM REST API v7 client: the calls the sync needs, and nothing else.

- Authentication: the refresh-token grant on the accounts server (`POST {accounts}/oauth/v2/token`,
  form body), then `Authorization: Zoho-oauthtoken <access token>`. The access token is renewed
  a minute before `expires_in` runs out, and at once when Zoho answers 401 `INVALID_TOKEN`
  (revoked, or expired early); a second 401 right after a refresh is an error. The accounts
  server answers a refused grant with HTTP 200 and `{"error": "invalid_code"}` (refresh token
  unknown or revoked) or `{"error": "invalid_client"}`: both are `ZohoAuthError`.
- The API root is `ZOHO_API_URL` when set, else the `api_domain` of the token answer.
- 429: waits what Zoho says — `Retry-After`, else the body's `details.retry_after`, else
  `X-RATELIMIT-RESET` (epoch milliseconds or seconds) — up to `max_wait_seconds`; a longer wait
  ends the run (`ZohoRateLimited`) and the next run resumes. 5xx, timeouts and dropped
  connections: exponential backoff with full jitter. At most `max_attempts` tries per call.
- An empty listing is 204; with `If-Modified-Since` and nothing newer, Zoho answers 304 (its
  status-code page; clients in the wild handle both): both are an empty page.
- A broken or hostile server gets nothing more than a failed run (`ZohoBadAnswer`): answers are
  read as a stream and refused past `max_answer_bytes`, each listing's JSON is checked for the types
  Zoho's API documents (a record is an object with an id, `Modified_Time` is a date-time, …), and the
  access token goes only to `ZOHO_API_URL`, or else to the `api_domain` of the token answer when it is a
  Zoho API host (`*.zohoapis.<data centre>`) over https — or any host on loopback (the emulator). Any
  other `api_domain` — plain http on the internet, a look-alike host — would receive the token with
  every call, so the run stops and says to set `ZOHO_API_URL` instead.
"""
from __future__ import annotations

import ipaddress
import logging
import random
import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import requests

from crm_sync.config import ZohoConfig
from crm_sync.errors import (
    ZohoAuthError,
    ZohoBadAnswer,
    ZohoPageTokenInvalid,
    ZohoRateLimited,
    ZohoRequestError,
    ZohoTemporaryError,
)

from crm_sync.zoho_answers import (
    Answer,
    DeletedPage,
    RecordsPage,
    answer_body,
    format_zoho_time,
    listing,
    listing_body,
    record_id,
    server_time,
    zoho_time,
)

log = logging.getLogger(__name__)

API_VERSION = "v7"
TOKEN_MARGIN_SECONDS = 60
READ_CHUNK = 64 * 1024
# Zoho's API hosts, one per data centre (www.zohoapis.com, .eu, .in, .com.au, .com.cn, .jp, .ca, .sa, .uk).
ZOHO_API_HOST = re.compile(r"(?:[a-z0-9-]+\.)*zohoapis\.(?:com|eu|in|com\.au|com\.cn|jp|ca|sa|uk)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_root(api_domain: Any) -> str:
    """The API root from the token answer's `api_domain`, if it may receive the access token (module docstring)."""
    refusal = ZohoBadAnswer(f"Zoho's token answer names api_domain {str(api_domain)[:80]!r}, which is not a Zoho "
                            "API host over https: MailMagnet sends the access token to no other host. Set "
                            "ZOHO_API_URL to use another API server.")
    if not isinstance(api_domain, str):
        raise refusal
    try:
        parts = urlsplit(api_domain.strip())
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise refusal from None
    if (parts.username is not None or parts.password is not None or parts.query or parts.fragment
            or parts.path not in ("", "/") or not host):
        raise refusal
    loopback = _is_loopback(host)
    if not (parts.scheme == "https" and (ZOHO_API_HOST.fullmatch(host) or loopback)
            or parts.scheme == "http" and loopback):
        raise refusal
    return f"{parts.scheme}://{parts.netloc}"


class ZohoClient:
    """One per sync run (requests' Session is not meant to be shared between threads)."""

    def __init__(self, config: ZohoConfig, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None):
        self.config = config
        self.session = session or requests.Session()
        self.sleep = sleep
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.access_token: str | None = None
        self.token_expires: float = 0.0
        self.api_url: str | None = config.api_url.rstrip("/") if config.api_url else None
        self.waits: list[float] = []  # what the client slept, and why it was asked to (tests, logs)
        self.calls = 0

    def close(self) -> None:
        self.session.close()

    # -- OAuth ----------------------------------------------------------------

    def refresh(self) -> None:
        """A new access token from the refresh-token grant."""
        form = {"grant_type": "refresh_token", "client_id": self.config.client_id,
                "client_secret": self.config.client_secret, "refresh_token": self.config.refresh_token}
        response = self._send("POST", self.config.token_url, data=form, authorized=False)
        body = answer_body(response)
        error = body.get("error")
        if error == "invalid_code":
            raise ZohoAuthError("Zoho refused the refresh token (invalid_code: revoked, or from another data "
                                "centre or client): create a new one and set ZOHO_REFRESH_TOKEN")
        if error == "invalid_client":
            raise ZohoAuthError("Zoho refused the client (invalid_client): check ZOHO_CLIENT_ID, "
                                "ZOHO_CLIENT_SECRET and ZOHO_ACCOUNTS_URL")
        if error or response.status_code != 200 or not body.get("access_token"):
            raise ZohoAuthError(f"Zoho's token endpoint answered {response.status_code} {str(error or '')[:80]}"
                                .strip())
        token, lifetime = body["access_token"], body.get("expires_in") or 3600
        if not isinstance(token, str) or not token.isprintable() or len(token) > 4096:
            raise ZohoBadAnswer("Zoho's token endpoint answered an access_token that is not a token")
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or not 0 <= lifetime < 10 ** 9:
            raise ZohoBadAnswer("Zoho's token endpoint answered an expires_in that is not a number of seconds")
        if self.config.api_url is None:
            # Checked before the token is kept: it must not go to a host Zoho's answer merely names.
            self.api_url = api_root(body.get("api_domain"))
        self.access_token = token
        self.token_expires = self.monotonic() + max(0.0, float(lifetime) - TOKEN_MARGIN_SECONDS)
        log.info("Zoho access token refreshed")

    def _token(self) -> str:
        if self.access_token is None or self.monotonic() >= self.token_expires:
            self.refresh()
        return self.access_token  # type: ignore[return-value]

    # -- calls ----------------------------------------------------------------

    def _read(self, response: requests.Response) -> Answer:
        """The whole answer, read as a stream: one larger than `max_answer_bytes` is refused before it is all
        in memory (decompressed size counted: a small gzip can hold a large page)."""
        limit = self.config.max_answer_bytes
        refusal = ZohoBadAnswer(f"Zoho's answer is larger than {limit / 1024 / 1024:g} MB, more than any page "
                                "of records it sends: stopped reading it")
        try:
            declared = response.headers.get("Content-Length") or "0"
            if not declared.isdigit() or int(declared) > limit:
                raise refusal
            chunks, size = [], 0
            for chunk in response.iter_content(READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise refusal
                chunks.append(chunk)
            return Answer(response.status_code, response.headers, b"".join(chunks), response.reason or "")
        finally:
            response.close()  # unread, the rest is never fetched: the connection is dropped, not reused

    def _send(self, method: str, url: str, *, authorized: bool = True, params: dict | None = None,
              headers: dict | None = None, data: dict | None = None) -> Answer:
        """One call with the retries above; returns a 2xx/3xx answer or raises a `ZohoError`."""
        refreshed = False
        failure = "no attempt"
        for attempt in range(self.config.max_attempts):
            all_headers = dict(headers or {})
            if authorized:
                all_headers["Authorization"] = f"Zoho-oauthtoken {self._token()}"
            self.calls += 1
            try:
                response = self._read(self.session.request(
                    method, url, params=params, headers=all_headers, data=data, timeout=self.config.timeout_seconds,
                    stream=True))
            except requests.RequestException as error:  # refused, reset, timed out, cut off mid-answer
                failure = f"{type(error).__name__}"
                self._back_off(attempt, failure)
                continue
            status = response.status_code
            if status < 400:
                return response
            body = answer_body(response)
            code = body.get("code")
            if status == 401 and authorized and code in ("INVALID_TOKEN", "AUTHENTICATION_FAILURE", None):
                if refreshed:
                    raise ZohoAuthError(f"Zoho refused a fresh access token ({code}): check the scopes "
                                        "granted to ZOHO_REFRESH_TOKEN (ZohoCRM.modules.READ or ALL)")
                self.refresh()
                refreshed = True
                continue
            if status == 429:
                wait = self._retry_after(response, body)
                if wait is not None and wait > self.config.max_wait_seconds:
                    raise ZohoRateLimited(f"Zoho rate limit: retry after {wait:.0f} s", wait)
                failure = "429 TOO_MANY_REQUESTS"
                if attempt + 1 < self.config.max_attempts:
                    self._wait(wait if wait is not None else self._backoff_delay(attempt), failure)
                continue
            if status >= 500:
                failure = f"{status} {code or ''}".strip()
                self._back_off(attempt, failure)
                continue
            message = body.get("message") or response.reason or "refused"
            details = body.get("details") if isinstance(body.get("details"), dict) else {}
            if code == "INVALID_DATA" and details.get("param_name") == "page_token":
                raise ZohoPageTokenInvalid(f"Zoho: {message}", status=status, code=code, details=details)
            raise ZohoRequestError(f"Zoho answered {status} {code or ''}: {message}".replace("  ", " "),
                                   status=status, code=code, details=details)
        if failure.startswith("429"):
            raise ZohoRateLimited(f"Zoho rate limit still exceeded after {self.config.max_attempts} attempts")
        raise ZohoTemporaryError(f"Zoho unavailable after {self.config.max_attempts} attempts ({failure})")

    def _retry_after(self, response: Answer, body: dict) -> float | None:
        header = response.headers.get("Retry-After")
        if header:
            try:
                return max(0.0, float(header))
            except ValueError:
                try:
                    when = parsedate_to_datetime(header)
                except (TypeError, ValueError):
                    when = None
                if when is not None:
                    now = server_time(response) or datetime.now(timezone.utc)
                    return max(0.0, (when - now).total_seconds())
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        if isinstance(details.get("retry_after"), (int, float)) and not isinstance(details.get("retry_after"), bool):
            return max(0.0, float(details["retry_after"]))
        reset = response.headers.get("X-RATELIMIT-RESET")
        if reset:
            try:
                value = float(reset)
            except ValueError:
                return None
            if value > 1e11:  # epoch milliseconds
                value /= 1000
            if value > 1e9:  # epoch seconds
                now = server_time(response) or datetime.now(timezone.utc)
                return max(0.0, value - now.timestamp())
            return max(0.0, value)
        return None

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self.config.max_wait_seconds, self.config.backoff_base_seconds * (2 ** attempt))
        return self.rng.uniform(0, ceiling)

    def _back_off(self, attempt: int, failure: str) -> None:
        if attempt + 1 < self.config.max_attempts:
            self._wait(self._backoff_delay(attempt), failure)

    def _wait(self, seconds: float, why: str) -> None:
        log.info("Zoho: %s; retrying in %.1f s", why, seconds)
        self.waits.append(seconds)
        self.sleep(seconds)

    def _api(self, path: str) -> str:
        if self.api_url is None:
            self._token()  # learns api_domain
        return f"{self.api_url}/crm/{API_VERSION}/{path}"

    def list_records(self, module: str, fields: Sequence[str], *, since: datetime | None = None,
                     page_token: str | None = None, per_page: int | None = None,
                     sort_by: str = "Modified_Time", sort_order: str = "asc",
                     extra: dict[str, str] | None = None) -> RecordsPage:
        """One page of `GET /crm/v7/{module}`: records modified after `since` (If-Modified-Since), oldest first.
        `extra`: more query parameters (Leads: `converted=both`, or Zoho hides converted leads)."""
        params: dict[str, Any] = {"fields": ",".join(fields), "per_page": per_page or self.config.per_page,
                                  "sort_by": sort_by, "sort_order": sort_order, **(extra or {})}
        if page_token:
            params["page_token"] = page_token
        headers = {"If-Modified-Since": format_zoho_time(since)} if since is not None else {}
        response = self._send("GET", self._api(module), params=params, headers=headers)
        if response.status_code in (204, 304):
            return RecordsPage([], False, None, None, server_time(response))
        data, info = listing(listing_body(response, f"{module} listing"), f"{module} listing")
        records = []
        for item in data:
            record = {**item, "id": record_id(item.get("id"), f"{module} record")}
            zoho_time(record.get("Modified_Time"), f"{module} record's Modified_Time")
            records.append(record)
        more = info.get("more_records", False)
        token = info.get("next_page_token") if more else None
        if more and not token:
            raise ZohoRequestError("Zoho said more records follow but gave no next_page_token", status=200)
        if token is not None and (not isinstance(token, str) or len(token) > 1024 or not token.isprintable()):
            raise ZohoBadAnswer(f"Zoho answered its {module} listing with a next_page_token that is not a token")
        return RecordsPage(records, more, token, zoho_time(info.get("page_token_expiry"), "page_token_expiry"),
                           server_time(response))

    def list_users(self, *, page: int = 1, per_page: int = 200) -> tuple[list[dict[str, Any]], bool]:
        """One page of `GET /crm/v7/users?type=AllUsers` (needs the `ZohoCRM.users.READ` scope): the users and
        whether more follow."""
        response = self._send("GET", self._api("users"), params={"type": "AllUsers", "page": page,
                                                                 "per_page": per_page})
        if response.status_code in (204, 304):
            return [], False
        body = listing_body(response, "users listing")
        if not isinstance(body, dict):
            raise ZohoBadAnswer("Zoho answered its users listing with JSON that is not an object")
        data, info = listing({"data": body.get("users"), "info": body.get("info")}, "users listing")
        return [{**u, "id": record_id(u.get("id"), "user")} for u in data], info.get("more_records", False)

    def get_record(self, module: str, record_id: str, *, extra: dict[str, str] | None = None) -> dict[str, Any] | None:
        """`GET /crm/v7/{module}/{id}`: the whole record, or None when Zoho has none (204). A converted lead is
        read with `converted=true`, and only this read carries its `$converted_detail`."""
        response = self._send("GET", self._api(f"{module}/{record_id}"), params=dict(extra or {}))
        if response.status_code in (204, 304):
            return None
        data, _ = listing(listing_body(response, f"{module} record"), f"{module} record")
        return data[0] if data and isinstance(data[0], dict) else None

    def list_deleted(self, module: str, *, since: datetime | None = None, page: int = 1,
                     per_page: int | None = None, kind: str = "all") -> DeletedPage:
        """One page of `GET /crm/v7/{module}/deleted`: records deleted after `since`."""
        params = {"type": kind, "page": page, "per_page": per_page or self.config.per_page}
        headers = {"If-Modified-Since": format_zoho_time(since)} if since is not None else {}
        response = self._send("GET", self._api(f"{module}/deleted"), params=params, headers=headers)
        if response.status_code in (204, 304):
            return DeletedPage([], False, server_time(response))
        what = f"deleted {module} listing"
        data, info = listing(listing_body(response, what), what)
        records = []
        for item in data:
            record = {**item, "id": record_id(item.get("id"), f"deleted {module} record")}
            zoho_time(record.get("deleted_time"), f"deleted {module} record's deleted_time")
            records.append(record)
        return DeletedPage(records, info.get("more_records", False), server_time(response))
