"""A new message as the sync pipeline hands it to subscribers: in memory only, never stored whole."""
from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from crm_store.addresses import parse_addresses
from gmail.html_text import HTML_LIMIT, html_to_text


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
    parsed_sender_name: str | None = None  # from the one parse of the From header (from_gmail_metadata)

    @property
    def from_address(self) -> str | None:
        return self.from_addresses[0] if self.from_addresses else None

    @property
    def sender_name(self) -> str:
        if self.parsed_sender_name is not None:
            return self.parsed_sender_name
        return _sender_name(parse_addresses(self.from_header), self.from_header)

    @property
    def in_inbox(self) -> bool:
        return "INBOX" in self.label_ids


def _sender_name(parsed: list[tuple[str, str]], from_header: str) -> str:
    return (parsed[0][0] or parsed[0][1]) if parsed else from_header


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


GMAIL_ID_LIMIT = 64  # the store's gmail_id columns; Gmail's own ids are 16 characters


def is_gmail_id(value: Any) -> bool:
    """A message or thread id as Gmail (or a Gmail-compatible server, a hostile upstream) may send one, and as a
    button may carry one. Ids are opaque (Gmail's are hex, a Gmail-compatible server's may hold '-' or '_'), so
    only the length and printable ASCII without spaces are checked: what makes an id acceptable to show is that the
    message is in a mailbox the actor may see, which the use cases check by fetching it."""
    return (isinstance(value, str) and 0 < len(value) <= GMAIL_ID_LIMIT and value.isascii() and value.isprintable()
            and not any(c.isspace() for c in value))


def from_gmail_metadata(message: dict[str, Any]) -> NewMessage:
    """A message from `messages.get(format=metadata)`. Only a missing or malformed id (over 64 characters, spaces,
    controls) makes it unreadable (ValueError); a malformed thread id is dropped;
    any other odd field gets a neutral value (a From header that does not parse has no address)."""
    gmail_id = message.get("id") if isinstance(message, dict) else None
    if not isinstance(gmail_id, str) or not gmail_id:
        raise ValueError("a message without an id")
    if not is_gmail_id(gmail_id):  # a hostile upstream: never stored, shown or put into a URL
        raise ValueError("a message whose id is not a Gmail id")
    headers = header_map(message.get("payload"))
    from_header = headers.get("from", "")
    labels = message.get("labelIds")
    thread_id = message.get("threadId")
    senders = parse_addresses(from_header)
    return NewMessage(
        gmail_id=gmail_id,
        thread_id=thread_id if is_gmail_id(thread_id) else None,
        from_header=from_header,
        from_addresses=[addr for _, addr in senders],
        received_at=_received_at(message.get("internalDate")),
        label_ids=[label for label in labels if isinstance(label, str)] if isinstance(labels, list) else [],
        subject=headers.get("subject", ""),
        # Gmail sends the snippet HTML-escaped; it is escaped for Slack where it is shown, once.
        snippet=html.unescape(_text(message.get("snippet"))),
        to=headers.get("to", ""),
        cc=headers.get("cc", ""),
        message_id_header=headers.get("message-id", ""),
        parsed_sender_name=_sender_name(senders, from_header),
    )


# -- the plain-text body, for the mailbox owner's eyes only (never stored, never logged) ---------------------
# A stranger chooses every byte of it, so each step is capped before it runs (THREATS "Bounded work"): the
# parts looked at, the base64 decoded, the markup converted and the text kept.

MAX_PARTS = 200  # MIME parts looked at, in Gmail's (depth-first) order
BYTES_PER_CHAR = 4  # the most any charset spends on one character (UTF-8, UTF-32)
_CHARSET = re.compile(r'charset\s*=\s*"?([\w.:-]{1,40})', re.IGNORECASE)
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class BodyText:
    text: str
    truncated: bool  # the body goes on past what `text` holds


def _charset(part: dict[str, Any]) -> str:
    match = _CHARSET.search(header_map(part).get("content-type", "")[:1000])
    return match.group(1) if match else "utf-8"


def _decode(raw: bytes, charset: str) -> str:
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:  # unknown, or not a text encoding ("zlib_codec")
        text = raw.decode("utf-8", errors="replace")
    return _SURROGATES.sub("\ufffd", text)  # UTF-7 and friends can leave lone surrogates


def _decoded(part: dict[str, Any], max_bytes: int) -> tuple[str, bool]:
    """The part's text from at most `max_bytes` of its body (and whether the body had more)."""
    body = part.get("body")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, str) or not data:
        return "", False
    chars = -(-max_bytes // 3) * 4  # base64 characters that hold max_bytes
    try:
        raw = base64.urlsafe_b64decode(data[:chars] + "=" * (-len(data[:chars]) % 4))
    except (binascii.Error, ValueError):
        return "", False
    cut = len(data) > chars or len(raw) > max_bytes
    return _decode(raw[:max_bytes], _charset(part)), cut


def _parts(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload's parts, depth first as Gmail lists them, at most MAX_PARTS (no recursion: a hostile
    message may nest deeply)."""
    found: list[dict[str, Any]] = []
    stack = [payload]
    while stack and len(found) < MAX_PARTS:
        part = stack.pop()
        if not isinstance(part, dict):
            continue
        found.append(part)
        children = part.get("parts")
        if isinstance(children, list):
            stack.extend(reversed(children[:MAX_PARTS]))
    return found


def body_text(payload: dict[str, Any], limit: int) -> BodyText:
    """The first text/plain part of a `format=full` payload, else the first text/html part as text; at most
    `limit` characters."""
    parts = [p for p in _parts(payload or {}) if not p.get("filename")]
    for part in parts:
        if str(part.get("mimeType") or "").lower() == "text/plain":
            text, cut = _decoded(part, limit * BYTES_PER_CHAR)
            return BodyText(text[:limit], cut or len(text) > limit)
    for part in parts:
        if str(part.get("mimeType") or "").lower() == "text/html":
            markup, cut = _decoded(part, HTML_LIMIT)
            if cut and "<" in markup[-1000:]:
                markup = markup[:markup.rindex("<")]  # not half a tag, read as text
            converted = html_to_text(markup, limit)
            return BodyText(converted.text, cut or converted.truncated)
    return BodyText("", False)

