"""What can go wrong talking to Zoho CRM, in a few kinds the sync handles uniformly.

Each message is safe to show an admin as is (no token, no secret).
"""
from __future__ import annotations


class ZohoError(Exception):
    """Any failure of a Zoho call; the run stops and the next one resumes from the stored cursor."""


class ZohoAuthError(ZohoError):
    """The refresh token or the client credentials are refused: an admin must act (retrying will not help)."""


class ZohoTemporaryError(ZohoError):
    """5xx, a timeout or a dropped connection, still failing after the retries."""


class ZohoRateLimited(ZohoTemporaryError):
    """429 for longer than the client waits within one run."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ZohoRequestError(ZohoError):
    """Zoho refused the request itself (4xx other than 401/429): `code` is Zoho's error code."""

    def __init__(self, message: str, *, status: int, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or {}


class ZohoBadAnswer(ZohoError):
    """Zoho answered what its API never does (JSON of the wrong types, an answer too large, a listing that
    never ends or repeats itself, an `api_domain` that is not a Zoho API host): a broken or hostile server.
    The run stops there; asking again would get the same."""


class ZohoPageTokenInvalid(ZohoRequestError):
    """A stored page token expired (Zoho keeps them a day) or is unknown: read again from the cursor."""


class LeaseLost(ZohoError):
    """Another replica took the sync over (this one was too slow to renew its lease); nothing more is committed."""
