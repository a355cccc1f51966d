"""Zoho's answers read and checked: the JSON of a listing has the types Zoho's API documents (a record is an object
with an id, `Modified_Time` is a date-time, …), or the run stops with `ZohoBadAnswer` (see `crm_sync.zoho_client`)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

from crm_sync.errors import ZohoBadAnswer

__all__ = ["Answer", "DeletedPage", "RecordsPage", "answer_body", "format_zoho_time", "listing", "listing_body",
           "parse_zoho_time", "record_id", "server_time", "zoho_time"]


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


def zoho_time(value: Any, what: str) -> datetime | None:
    """A date-time field of an answer; anything else is a broken answer."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ZohoBadAnswer(f"Zoho answered a {what} that is not a date-time: {str(value)[:40]!r}")
    try:
        return parse_zoho_time(value)
    except ValueError:
        raise ZohoBadAnswer(f"Zoho answered a {what} that is not a date-time: {value[:40]!r}") from None


def record_id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise ZohoBadAnswer(f"Zoho answered a {what} whose id is not an id: {str(value)[:40]!r}")
    return str(value)


def listing(body: Any, what: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The `data` and `info` of a listing, checked for the types Zoho documents."""
    if not isinstance(body, dict):
        raise ZohoBadAnswer(f"Zoho answered its {what} with JSON that is not an object")
    data = body.get("data")
    info = body.get("info")
    if data is None:
        data = []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ZohoBadAnswer(f"Zoho answered its {what} with `data` that is not a list of records")
    if info is None:
        info = {}
    if not isinstance(info, dict):
        raise ZohoBadAnswer(f"Zoho answered its {what} with `info` that is not an object")
    if not isinstance(info.get("more_records", False), bool):
        raise ZohoBadAnswer(f"Zoho answered its {what} with `more_records` that is not true or false")
    return data, info


@dataclass
class Answer:
    """An HTTP answer, its body read up to the client's cap."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    reason: str = ""


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


def server_time(response: Answer) -> datetime | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def decoded(response: Answer) -> Any:
    """The answer's JSON; ValueError when it is not JSON (nesting deeper than Python recurses included)."""
    try:
        return json.loads(response.content) if response.content else None
    except (ValueError, RecursionError):
        raise ValueError("not JSON") from None


def answer_body(response: Answer) -> dict[str, Any]:
    """An error's or the token endpoint's JSON object, or {} (what we read of it is checked where used)."""
    try:
        body = decoded(response)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def listing_body(response: Answer, what: str) -> Any:
    try:
        return decoded(response)
    except ValueError:
        raise ZohoBadAnswer(f"Zoho answered its {what} with something that is not JSON") from None
