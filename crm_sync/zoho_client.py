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
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Sequence

import requests

from crm_sync.config import ZohoConfig
from crm_sync.errors import (
    ZohoAuthError,
    ZohoPageTokenInvalid,
    ZohoRateLimited,
    ZohoRequestError,
    ZohoTemporaryError,
)

log = logging.getLogger(__name__)

API_VERSION = "v7"
TOKEN_MARGIN_SECONDS = 60


def parse_zoho_time(value: str | None) -> datetime | None:
    """Zoho's ISO 8601 timestamps (`2026-11-20T17:30:05+05:30`) as aware UTC datetimes."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_zoho_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat(timespec="seconds")


@dataclass
class RecordsPage:
    records: list[dict[str, Any]]
    more: bool
    next_page_token: str | None
    page_token_expiry: datetime | None
    server_time: datetime | None  # the Date header: Zoho's clock, to the second


@dataclass
class DeletedPage:
    records: list[dict[str, Any]]
    more: bool
    server_time: datetime | None


def _server_time(response: requests.Response) -> datetime | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


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
        body = _body(response)
        error = body.get("error")
        if error == "invalid_code":
            raise ZohoAuthError("Zoho refused the refresh token (invalid_code: revoked, or from another data "
                                "centre or client): create a new one and set ZOHO_REFRESH_TOKEN")
        if error == "invalid_client":
            raise ZohoAuthError("Zoho refused the client (invalid_client): check ZOHO_CLIENT_ID, "
                                "ZOHO_CLIENT_SECRET and ZOHO_ACCOUNTS_URL")
        if error or response.status_code != 200 or not body.get("access_token"):
            raise ZohoAuthError(f"Zoho's token endpoint answered {response.status_code} {error or ''}".strip())
        self.access_token = body["access_token"]
        lifetime = float(body.get("expires_in") or 3600)
        self.token_expires = self.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
        if self.config.api_url is None and body.get("api_domain"):
            self.api_url = str(body["api_domain"]).rstrip("/")
        log.info("Zoho access token refreshed")

    def _token(self) -> str:
        if self.access_token is None or self.monotonic() >= self.token_expires:
            self.refresh()
        return self.access_token  # type: ignore[return-value]

    # -- calls ----------------------------------------------------------------

    def _send(self, method: str, url: str, *, authorized: bool = True, params: dict | None = None,
              headers: dict | None = None, data: dict | None = None) -> requests.Response:
        """One call with the retries above; returns a 2xx/3xx response or raises a `ZohoError`."""
        refreshed = False
        failure = "no attempt"
        for attempt in range(self.config.max_attempts):
            all_headers = dict(headers or {})
            if authorized:
                all_headers["Authorization"] = f"Zoho-oauthtoken {self._token()}"
            self.calls += 1
            try:
                response = self.session.request(method, url, params=params, headers=all_headers, data=data,
                                                timeout=self.config.timeout_seconds)
            except (requests.ConnectionError, requests.Timeout) as error:
                failure = f"{type(error).__name__}"
                self._back_off(attempt, failure)
                continue
            status = response.status_code
            if status < 400:
                return response
            body = _body(response)
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

    def _retry_after(self, response: requests.Response, body: dict) -> float | None:
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
                    now = _server_time(response) or datetime.now(timezone.utc)
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
                now = _server_time(response) or datetime.now(timezone.utc)
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
                     sort_by: str = "Modified_Time", sort_order: str = "asc") -> RecordsPage:
        """One page of `GET /crm/v7/{module}`: records modified after `since` (If-Modified-Since), oldest first."""
        params: dict[str, Any] = {"fields": ",".join(fields), "per_page": per_page or self.config.per_page,
                                  "sort_by": sort_by, "sort_order": sort_order}
        if page_token:
            params["page_token"] = page_token
        headers = {"If-Modified-Since": format_zoho_time(since)} if since is not None else {}
        response = self._send("GET", self._api(module), params=params, headers=headers)
        if response.status_code in (204, 304):
            return RecordsPage([], False, None, None, _server_time(response))
        body = _body(response)
        info = body.get("info") if isinstance(body.get("info"), dict) else {}
        records = [item for item in body.get("data") or [] if isinstance(item, dict) and item.get("id")]
        more = bool(info.get("more_records"))
        token = info.get("next_page_token") if more else None
        if more and not token:
            raise ZohoRequestError("Zoho said more records follow but gave no next_page_token", status=200)
        return RecordsPage(records, more, token, parse_zoho_time(info.get("page_token_expiry")),
                           _server_time(response))

    def list_deleted(self, module: str, *, since: datetime | None = None, page: int = 1,
                     per_page: int | None = None, kind: str = "all") -> DeletedPage:
        """One page of `GET /crm/v7/{module}/deleted`: records deleted after `since`."""
        params = {"type": kind, "page": page, "per_page": per_page or self.config.per_page}
        headers = {"If-Modified-Since": format_zoho_time(since)} if since is not None else {}
        response = self._send("GET", self._api(f"{module}/deleted"), params=params, headers=headers)
        if response.status_code in (204, 304):
            return DeletedPage([], False, _server_time(response))
        body = _body(response)
        info = body.get("info") if isinstance(body.get("info"), dict) else {}
        records = [item for item in body.get("data") or [] if isinstance(item, dict) and item.get("id")]
        return DeletedPage(records, bool(info.get("more_records")), _server_time(response))
