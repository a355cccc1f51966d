"""Google-style API errors.

Every Gmail API error answers with the same JSON envelope Google uses:
``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}],
"status"}}``; googleapiclient's retry logic (``_should_retry_response``) reads
``errors[0].reason`` of 403 answers, so the reasons below are Google's own.
"""

from __future__ import annotations

from typing import Any

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

REASON_PHRASES = {
    200: "OK",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """An error answer of the Gmail API."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        *,
        domain: str = "global",
        status: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        detail = {"message": self.message, "domain": self.domain, "reason": self.reason}
        detail.update(self.extra)
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [detail],
                "status": self.status,
            }
        }


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", "notFound")


def invalid_argument(message: str) -> ApiError:
    return ApiError(400, message, "invalidArgument")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "badRequest")


def login_required() -> ApiError:
    return ApiError(
        401,
        "Request is missing required authentication credential. Expected OAuth 2 "
        "access token, login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "required",
        extra={"location": "Authorization", "locationType": "header"},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def invalid_credentials() -> ApiError:
    return ApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        extra={"location": "Authorization", "locationType": "header"},
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        },
    )


def insufficient_scopes() -> ApiError:
    return ApiError(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
            'error="insufficient_scope"'
        },
    )


def delegation_denied(address: str) -> ApiError:
    return ApiError(403, f"Delegation denied for {address}", "forbidden")


# Rate limits (the per-user limit and injected faults) and outages: the bodies Google sends.


def rate_limit_429(retry_after_iso: str) -> ApiError:
    # Google names the retry time in the message only; it sends no Retry-After header.
    message = f"User-rate limit exceeded.  Retry after {retry_after_iso}"
    return ApiError(429, message, "rateLimitExceeded", domain="usageLimits")


def rate_limit_403(reason: str = "userRateLimitExceeded") -> ApiError:
    messages = {
        "userRateLimitExceeded": "User Rate Limit Exceeded",
        "rateLimitExceeded": "Rate Limit Exceeded",
        "dailyLimitExceeded": "Daily Limit Exceeded",
        "quotaExceeded": "Quota Exceeded",
    }
    return ApiError(403, messages.get(reason, "Rate Limit Exceeded"), reason, domain="usageLimits")


def backend_error() -> ApiError:
    return ApiError(500, "Backend Error", "backendError")


def service_unavailable() -> ApiError:
    return ApiError(503, "The service is currently unavailable.", "backendError")
