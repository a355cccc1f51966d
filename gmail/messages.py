"""A new message as the sync pipeline hands it to subscribers: in memory only, never stored whole."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from crm_store.addresses import parse_addresses


@dataclass
class NewMessage:
    gmail_id: str
    thread_id: str | None
    from_header: str
    from_addresses: list[str]
    received_at: datetime
    label_ids: list[str] = field(default_factory=list)
    # Content below lives only in memory, for the one alert that may show it (SPEC §5).
    subject: str = ""
    snippet: str = ""
    to: str = ""
    cc: str = ""
    message_id_header: str = ""

    @property
    def from_address(self) -> str | None:
        return self.from_addresses[0] if self.from_addresses else None

    @property
    def sender_name(self) -> str:
        parsed = parse_addresses(self.from_header)
        return (parsed[0][0] or parsed[0][1]) if parsed else self.from_header

    @property
    def in_inbox(self) -> bool:
        return "INBOX" in self.label_ids


def header_map(payload: Any) -> dict[str, str]:
    """Headers by lower-cased name; the first occurrence wins, as mail readers do. Malformed entries are skipped."""
    headers: dict[str, str] = {}
    raw = payload.get("headers") if isinstance(payload, dict) else None
    for header in raw if isinstance(raw, list) else []:
        if isinstance(header, dict) and isinstance(header.get("name"), str) and isinstance(header.get("value"), str):
            headers.setdefault(header["name"].lower(), header["value"])
    return headers


# Gmail's internalDate is epoch milliseconds; anything outside years 1970-9999 is not a date.
_MAX_MILLIS = 253_402_300_799_999


def _received_at(value: Any) -> datetime:
    try:
        millis = int(value)
    except (TypeError, ValueError):
        millis = -1
    if not 0 <= millis <= _MAX_MILLIS:
        return datetime.now(timezone.utc)  # unreadable: treat it as arriving now
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def from_gmail_metadata(message: dict[str, Any]) -> NewMessage:
    """A message from `messages.get(format=metadata)`. Only a missing id makes it unreadable (ValueError);
    any other odd field gets a neutral value (a From header that does not parse has no address)."""
    gmail_id = message.get("id") if isinstance(message, dict) else None
    if not isinstance(gmail_id, str) or not gmail_id:
        raise ValueError("a message without an id")
    headers = header_map(message.get("payload"))
    from_header = headers.get("from", "")
    labels = message.get("labelIds")
    thread_id = message.get("threadId")
    return NewMessage(
        gmail_id=gmail_id,
        thread_id=thread_id if isinstance(thread_id, str) else None,
        from_header=from_header,
        from_addresses=[addr for _, addr in parse_addresses(from_header)],
        received_at=_received_at(message.get("internalDate")),
        label_ids=[label for label in labels if isinstance(label, str)] if isinstance(labels, list) else [],
        subject=headers.get("subject", ""),
        # Gmail sends the snippet HTML-escaped; it is escaped for Slack where it is shown, once.
        snippet=html.unescape(_text(message.get("snippet"))),
        to=headers.get("to", ""),
        cc=headers.get("cc", ""),
        message_id_header=headers.get("message-id", ""),
    )


# -- the plain-text body, for the mailbox owner's eyes only (never stored, never logged) ---------------------

def _decode_part(part: dict[str, Any]) -> str:
    import base64
    import re

    data = (part.get("body") or {}).get("data")
    if not data:
        return ""
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    content_type = header_map(part).get("content-type", "")
    match = re.search(r'charset="?([\w.:-]+)"?', content_type, re.IGNORECASE)
    try:
        return raw.decode(match.group(1) if match else "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _parts(payload: dict[str, Any]):
    yield payload
    for part in payload.get("parts") or []:
        yield from _parts(part)


def plain_text_body(payload: dict[str, Any]) -> str:
    """The first text/plain part of a `format=full` payload; else the first text/html part as text."""
    import html
    import re

    parts = [p for p in _parts(payload or {}) if not (p.get("filename") or "")]
    for part in parts:
        if (part.get("mimeType") or "").lower() == "text/plain":
            return _decode_part(part)
    for part in parts:
        if (part.get("mimeType") or "").lower() == "text/html":
            text = re.sub(r"(?is)<(script|style).*?</\1>", " ", _decode_part(part))
            text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
            return html.unescape(re.sub(r"<[^>]+>", "", text))
    return ""
