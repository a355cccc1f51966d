"""Every Gmail call counted in one place for /metrics: calls and quota units by method, errors by kind.

googleapiclient builds every request of our discovery-built service as a `MeteredRequest` (`build`'s
`requestBuilder`), so single calls are counted however they are executed; the parts of a `/batch` are counted
by `MeteredBatch`'s callback, once each, as Google counts them. Both report to `record_call`. A `/batch` that
fails as a whole (no part answered) is counted apart, by kind.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator

from google.auth.credentials import Credentials as GoogleCredentials
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from gmail.errors import RATE_LIMIT_REASONS, error_reasons
from telemetry import metrics

# Google's published cost of each method we call, in quota units per call
# (developers.google.com/gmail/api/reference/quota; SPEC §8 uses the same table).
UNITS_PER_CALL: dict[str, int] = {
    "gmail.users.getProfile": 1,
    "gmail.users.watch": 100,
    "gmail.users.stop": 50,
    "gmail.users.history.list": 2,
    "gmail.users.labels.list": 1,
    "gmail.users.labels.create": 5,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.modify": 5,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.messages.send": 100,
}


def error_kind(error: BaseException) -> str:
    """A short, bounded name for a failure: Gmail's reason for rate limits and refusals, `401`, `5xx`, …"""
    if isinstance(error, HttpError):
        status = error.status_code or 0
        if status >= 500:
            return "5xx"
        if status == 401:
            return "401"
        reasons = error_reasons(error)
        return (reasons[0] if reasons and reasons[0] else str(status))[:40]
    if isinstance(error, RefreshError):
        return "invalid_grant" if "invalid_grant" in str(error) else "token_refresh"
    return "network"


def _charged(error: BaseException | None, kind: str | None) -> bool:
    """Whether Google counts the call against the quota: it answered, and neither refused the credentials nor
    the rate (the emulator counts the same way). A token refresh or a connection that failed never got there."""
    if error is None:
        return True
    return isinstance(error, HttpError) and not (kind in ("401", "429") or kind in RATE_LIMIT_REASONS)


def mailbox_key(*https: Any) -> int | None:
    """Which mailbox a call was made for, as Google counts its per-user limit: the first of `https` that carries
    credentials (an `AuthorizedHttp`) names it. A hash of the refresh token: stable across runs, never shown."""
    for http in https:
        credentials = getattr(http, "credentials", None)  # a plain httplib2.Http has its own, unrelated kind
        if isinstance(credentials, GoogleCredentials):
            return hash(getattr(credentials, "refresh_token", None) or credentials.token)
    return None


@dataclass
class Tally:
    """Quota units charged while it is the current tally (one mailbox's run, for the admin overview)."""

    units: int = 0


_TALLY: ContextVar[Tally | None] = ContextVar("mailmagnet_quota_tally", default=None)


@contextmanager
def tally() -> Iterator[Tally]:
    """Count the quota units of the calls made on this thread within the block (a mailbox's run)."""
    current = Tally()
    token = _TALLY.set(current)
    try:
        yield current
    finally:
        _TALLY.reset(token)


def record_call(method_id: str | None, error: BaseException | None = None, mailbox: int | None = None) -> None:
    method = method_id or "unknown"
    kind = None if error is None else error_kind(error)
    metrics.labelled(metrics.GMAIL_CALLS, method).inc()
    if _charged(error, kind):
        units = UNITS_PER_CALL.get(method, 0)
        metrics.labelled(metrics.GMAIL_QUOTA_UNITS, method).inc(units)
        counting = _TALLY.get()
        if counting is not None:
            counting.units += units
        if mailbox is not None:
            metrics.MAILBOX_UNIT_PEAKS.add(mailbox, units)
    if kind is not None:
        metrics.GMAIL_ERRORS.labels(kind=kind).inc()


class MeteredRequest(HttpRequest):
    """A request that reports itself when executed on its own (inside a batch it never is)."""

    def execute(self, http=None, num_retries=0) -> Any:
        mailbox = mailbox_key(http, self.http)
        try:
            result = super().execute(http=http, num_retries=num_retries)
        except Exception as error:
            record_call(self.methodId, error, mailbox)
            raise
        record_call(self.methodId, mailbox=mailbox)
        return result


class MeteredBatch(BatchHttpRequest):
    """A `/batch` whose parts are reported as their answers are handed to the callback."""

    def __init__(self, callback=None, batch_uri=None):
        def metered(request_id: str, response: Any, exception: Exception | None) -> None:
            request = self._requests.get(request_id)
            # A part sent with its own credentials (the polling sweep) is its mailbox's; else the batch's.
            record_call(getattr(request, "methodId", None), exception,
                        mailbox_key(getattr(request, "http", None), self._sent_with))
            if callback is not None:
                callback(request_id, response, exception)

        super().__init__(callback=metered, batch_uri=batch_uri)
        self._sent_with = None

    def _execute(self, http, order, requests):
        self._sent_with = http
        try:
            return super()._execute(http, order, requests)
        except Exception as error:  # the whole batch: no part was answered, so no part is counted as a call
            metrics.GMAIL_BATCH_FAILURES.labels(kind=error_kind(error)).inc()
            raise
