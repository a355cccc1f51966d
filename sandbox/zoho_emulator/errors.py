"""Zoho CRM error answers.

The CRM API answers errors with ``{"code", "details", "message", "status": "error"}``; the
accounts server answers a failed token request with HTTP 200 and ``{"error": "invalid_code"}``
(an unknown or revoked refresh token) or ``{"error": "invalid_client"}`` (wrong client id or
secret), as Zoho does.
"""

from __future__ import annotations

from typing import Any


class ZohoError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


def invalid_token() -> ZohoError:
    return ZohoError(401, "INVALID_TOKEN", "invalid oauth token")


def authentication_failure() -> ZohoError:
    return ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed")


def invalid_module(index: int = 0) -> ZohoError:
    return ZohoError(400, "INVALID_MODULE", "the module name given seems to be invalid",
                     {"resource_path_index": index})


def invalid_url() -> ZohoError:
    return ZohoError(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")


def required_param_missing(name: str) -> ZohoError:
    return ZohoError(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param_name": name})


def invalid_data(param: str, message: str = "invalid data") -> ZohoError:
    return ZohoError(400, "INVALID_DATA", message, {"param_name": param})


def ambiguity(*params: str) -> ZohoError:
    return ZohoError(400, "AMBIGUITY_DURING_PROCESSING", "ambiguity while processing the request",
                     {"ambiguity_due_to": [{"param_name": name} for name in params]})


def discrete_pagination_limit(limit: int) -> ZohoError:
    return ZohoError(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                     "you can fetch only 2000 records with page and per_page; use page_token to fetch more",
                     {"limit": limit})


def too_many_requests(retry_after: int, limit: int, reset_epoch_ms: int) -> ZohoError:
    headers = {
        "Retry-After": str(retry_after),
        "X-RATELIMIT-LIMIT": str(limit),
        "X-RATELIMIT-REMAINING": "0",
        "X-RATELIMIT-RESET": str(reset_epoch_ms),
    }
    return ZohoError(429, "TOO_MANY_REQUESTS", "Rate limit exceeded. Please retry after the specified time.",
                     {"retry_after": retry_after}, headers)


def internal_error() -> ZohoError:
    return ZohoError(500, "INTERNAL_ERROR", "Internal Server Error")


def scope_mismatch() -> ZohoError:
    return ZohoError(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")


def invalid_id(record_id: str) -> ZohoError:
    return ZohoError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": record_id})


def already_converted(record_id: str) -> ZohoError:
    return ZohoError(400, "ID_ALREADY_CONVERTED", "id already converted", {"id": record_id})


def mandatory_not_found(api_name: str) -> ZohoError:
    return ZohoError(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": api_name})


def invalid_body(message: str = "body is not a valid JSON with a data array") -> ZohoError:
    return ZohoError(400, "INVALID_DATA", message, {"param_name": "data"})
