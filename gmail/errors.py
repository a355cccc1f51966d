"""Gmail failures mapped to the few cases the sync loop and the handlers treat differently."""
from __future__ import annotations

import json
import re
import socket
from datetime import datetime, timezone
from http.client import HTTPException

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError


class GmailError(Exception):
    """Base of every Gmail failure the rest of the code sees."""


class GmailTemporaryError(GmailError):
    """Worth retrying later: rate limits, 5xx, timeouts, dropped connections."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class DeadlinePassed(GmailTemporaryError):
    """The caller stopped waiting (`GmailService.deadline`): the request was not sent, or not waited for."""


class HistoryExpired(GmailError):
    """The stored history id is too old (404): the mailbox needs a full resync."""


class AccessRevoked(GmailError):
    """The rep removed our access (invalid_grant / 401 after refresh): they must reconnect."""


class NotFound(GmailError):
    """A message or label that no longer exists."""


class InvalidRequest(GmailError):
    """Gmail refused the request as malformed (a bug or a deleted label id)."""


RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "backendError"}
TEMPORARY_STATUSES = {408, 429, 500, 502, 503, 504}
# Google's advice for its rate-limit answers: back off exponentially, from a second. A shorter configured base
# (GMAIL_RETRY_BASE_SECONDS) retried a refused /batch within the same second until its attempts ran out, so a
# large backfill under the per-user limit never finished (the fleet's rate-limit scenario).
RATE_LIMIT_MIN_SECONDS = 1.0
RATE_LIMITED = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}
# Gmail names the moment in the message of a 429 only ("User-rate limit exceeded.  Retry after 2026-…Z").
RETRY_AFTER_TEXT = re.compile(r"Retry after (\S+?)\.?(?:\s|$)")


def error_reasons(error: HttpError) -> list[str]:
    try:
        body = json.loads(error.content.decode("utf-8", "replace"))
        return [e.get("reason", "") for e in body.get("error", {}).get("errors", [])]
    except (ValueError, AttributeError):
        return []


def _retry_after(error: HttpError) -> float | None:
    """Seconds to wait: a Retry-After header, else the moment a rate-limit message names; for a rate limit at
    least RATE_LIMIT_MIN_SECONDS."""
    value = getattr(error.resp, "get", lambda *_: None)("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        seconds = None
    limited = error.status_code == 429 or bool(RATE_LIMITED.intersection(error_reasons(error)))
    if seconds is None and limited:
        named = RETRY_AFTER_TEXT.search(_error_message(error))
        try:
            moment = datetime.fromisoformat(named.group(1).replace("Z", "+00:00")) if named else None
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    return max(seconds or 0.0, RATE_LIMIT_MIN_SECONDS) if limited else seconds


def translate(error: BaseException, *, during_history: bool = False) -> GmailError:
    """The domain error for anything the Google client libraries raise."""
    if isinstance(error, GmailError):
        return error
    if isinstance(error, RefreshError):
        text = str(error)
        # invalid_scope: the grant no longer covers what we ask for (a partial consent, scopes taken back).
        if any(reason in text for reason in ("invalid_grant", "unauthorized_client", "invalid_client", "invalid_scope")):
            return AccessRevoked(f"Google refused to refresh the token: {text}")
        return GmailTemporaryError(f"token refresh failed: {text}")
    if isinstance(error, HttpError):
        status = error.status_code
        reasons = error_reasons(error)
        if status == 404 and during_history:
            return HistoryExpired("history id too old")
        if status == 404:
            return NotFound(str(error))
        if status in TEMPORARY_STATUSES or (status == 403 and RATE_LIMIT_REASONS.intersection(reasons)):
            return GmailTemporaryError(f"Gmail answered {status} {','.join(reasons)}".strip(),
                                       retry_after=_retry_after(error))
        if status == 401:
            return AccessRevoked("Gmail refused the credentials (401)")
        if status == 403 and ("insufficientPermissions" in reasons or "forbidden" in reasons):
            return AccessRevoked("the Gmail grant lacks a required permission")
        return InvalidRequest(f"Gmail answered {status}: {error.reason if hasattr(error, 'reason') else error}")
    if isinstance(error, (TransportError, socket.timeout, TimeoutError, ConnectionError, HTTPException,
                          httplib2.HttpLib2Error, OSError)):
        return GmailTemporaryError(f"network error talking to Gmail: {type(error).__name__}: {error}")
    raise error


# -- sending (SPEC F6) ------------------------------------------------------------------------------------
# A send is not idempotent: only the refusals that say Gmail did not take the message are retried.

class SendingLimitExceeded(GmailError):
    """Gmail refuses to send from this mailbox for now: its daily sending limit, or its rate limit after retries."""


class SendThrottled(GmailTemporaryError):
    """A per-user rate limit on messages.send: Gmail did not take the message, so it may be retried."""


class SendingNotPermitted(GmailError):
    """The grant does not cover sending (403 insufficientPermissions on messages.send). Not a revoked mailbox:
    reading still works; the rep reconnects to allow sending."""


SENDING_LIMIT_REASONS = {"dailyLimitExceeded", "dailyLimitExceededUnreg", "quotaExceeded"}
SEND_RATE_REASONS = {"userRateLimitExceeded", "rateLimitExceeded"}


def _error_message(error: HttpError) -> str:
    try:
        body = json.loads(error.content.decode("utf-8", "replace"))
        return str(body.get("error", {}).get("message", ""))
    except (ValueError, AttributeError):
        return ""


def translate_send(error: BaseException) -> GmailError:
    """messages.send's failures: the sending limit (Gmail answers 403 `dailyLimitExceeded`, or 429/403 with
    "Daily user sending quota exceeded" / "Mail sending limit" in the message), per-user rate limits (retried),
    and a grant without the send permission (never treated as revoked access)."""
    if isinstance(error, HttpError):
        status = error.status_code
        reasons = set(error_reasons(error))
        text = _error_message(error).lower()
        about_sending = "sending" in text and any(word in text for word in ("limit", "quota"))
        if status in (400, 403, 429) and (reasons & SENDING_LIMIT_REASONS or about_sending):
            return SendingLimitExceeded(f"Gmail answered {status} {','.join(sorted(reasons))}".strip())
        if status == 429 or (status == 403 and reasons & SEND_RATE_REASONS):
            return SendThrottled(f"Gmail answered {status} {','.join(sorted(reasons))}".strip(),
                                 retry_after=_retry_after(error))
        if status == 403 and reasons & {"insufficientPermissions", "forbidden", "insufficientScopes"}:
            return SendingNotPermitted("the Gmail grant does not allow sending")
    return translate(error)
