"""A new message as the sync pipeline hands it to subscribers: in memory only, never stored whole."""
from __future__ import annotations

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


def header_map(payload: dict[str, Any]) -> dict[str, str]:
    """Headers by lower-cased name; the first occurrence wins, as mail readers do."""
    headers: dict[str, str] = {}
    for header in payload.get("headers", []) or []:
        headers.setdefault(header.get("name", "").lower(), header.get("value", ""))
    return headers


def from_gmail_metadata(message: dict[str, Any]) -> NewMessage:
    headers = header_map(message.get("payload", {}))
    millis = int(message.get("internalDate") or 0)
    from_header = headers.get("from", "")
    return NewMessage(
        gmail_id=message["id"],
        thread_id=message.get("threadId"),
        from_header=from_header,
        from_addresses=[addr for _, addr in parse_addresses(from_header)],
        received_at=datetime.fromtimestamp(millis / 1000, tz=timezone.utc),
        label_ids=list(message.get("labelIds", [])),
        subject=headers.get("subject", ""),
        snippet=message.get("snippet", ""),
        to=headers.get("to", ""),
        cc=headers.get("cc", ""),
        message_id_header=headers.get("message-id", ""),
    )
