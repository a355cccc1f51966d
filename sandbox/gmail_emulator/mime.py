"""RFC 5322 messages: building raw mail, reading it back, Gmail payloads.

Messages are stored as raw bytes, the way Gmail keeps them; headers, a plain
text body and the snippet are extracted once when a message arrives so that
searching and ``format=metadata`` never re-parse.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import html
import re
import uuid
from datetime import datetime
from email.header import Header
from email.message import Message as EmailMessage
from email.parser import BytesParser
from typing import Any, Iterable

ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender", "delivered-to"})
SNIPPET_LENGTH = 200

_PARSER = BytesParser(policy=email.policy.default)
# No "<" inside a tag: a stranger's `<a <a <a …` without ">" would make `<[^>]+>` quadratic.
_TAGS = re.compile(r"<[^<>]+>")
_SPACES = re.compile(r"\s+")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64_decode_any(text: str) -> bytes:
    """Decode base64url or standard base64, padded or not (Gmail accepts both)."""
    cleaned = re.sub(r"\s+", "", text)
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned)
        return base64.b64decode(cleaned, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64: {exc}") from exc


def new_message_id_header() -> str:
    return f"<{uuid.uuid4().hex}@mail.gmail.com>"


def _encode_header_value(name: str, value: str) -> str:
    if value.isascii():
        return value
    if name.lower() in ADDRESS_HEADERS:
        pairs = email.utils.getaddresses([value])
        return ", ".join(email.utils.formataddr(pair, charset="utf-8") for pair in pairs)
    return Header(value, "utf-8").encode()


def build_raw(headers: Iterable[tuple[str, str]], body: str) -> bytes:
    """A text/plain message with CRLF line ends; non-ASCII headers as RFC 2047 words."""
    lines = [f"{name}: {_encode_header_value(name, value)}" for name, value in headers]
    if body.isascii():
        lines.append('Content-Type: text/plain; charset="UTF-8"')
        lines.append("Content-Transfer-Encoding: 7bit")
        payload = body.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")
    else:
        lines.append('Content-Type: text/plain; charset="UTF-8"')
        lines.append("Content-Transfer-Encoding: base64")
        encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii")
        payload = encoded.replace("\n", "\r\n").encode("ascii")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + payload


def format_date(when: datetime) -> str:
    return email.utils.format_datetime(when)


def parse_raw(raw: bytes) -> EmailMessage:
    return _PARSER.parsebytes(raw)


def decoded_headers(message: EmailMessage) -> list[tuple[str, str]]:
    """Header values with RFC 2047 encoded words decoded, as the Gmail API shows them."""
    result = []
    for name, value in message.raw_items():
        try:
            text = str(message.policy.header_factory(name, value))
        except Exception:  # malformed header: show it as it came
            text = value
        result.append((name, _SPACES.sub(" ", text.replace("\r", "").replace("\n", " ")).strip()))
    return result


def text_of(message: EmailMessage) -> str:
    """The readable text of a message: text/plain, else text/html without tags."""
    plain: list[str] = []
    rich: list[str] = []
    for part in message.walk():
        if part.is_multipart() or part.get_filename():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            content = part.get_content()
        except Exception:
            payload = part.get_payload(decode=True) or b""
            content = payload.decode("utf-8", "replace")
        (plain if ctype == "text/plain" else rich).append(content)
    if plain:
        return "\n".join(plain)
    return html.unescape(_TAGS.sub(" ", "\n".join(rich)))


def has_attachment(message: EmailMessage) -> bool:
    return any(part.get_filename() for part in message.walk() if not part.is_multipart())


def snippet_of(text: str) -> str:
    collapsed = _SPACES.sub(" ", text).strip()[:SNIPPET_LENGTH]
    return html.escape(collapsed, quote=True).replace("&#x27;", "&#39;")


def payload_of(part: EmailMessage, part_id: str = "") -> dict[str, Any]:
    """The ``MessagePart`` tree Gmail returns for ``format=full``."""
    headers = [{"name": name, "value": value} for name, value in decoded_headers(part)]
    result: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": headers,
    }
    if part.is_multipart():
        result["body"] = {"size": 0}
        children = part.get_payload()
        prefix = f"{part_id}." if part_id else ""
        result["parts"] = [payload_of(child, f"{prefix}{index}") for index, child in enumerate(children)]
    else:
        data = part.get_payload(decode=True) or b""
        body: dict[str, Any] = {"size": len(data)}
        if data:
            body["data"] = b64url_encode(data)
        result["body"] = body
    return result


def addresses(value: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of an address header."""
    return [(name, addr.lower()) for name, addr in email.utils.getaddresses([value]) if addr]


def parse_date_header(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed


_SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|sv|vs)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def normalized_subject(subject: str) -> str:
    """Subject without reply/forward prefixes, for Gmail's "same subject" threading rule."""
    return _SPACES.sub(" ", _SUBJECT_PREFIX.sub("", subject or "")).strip().lower()
