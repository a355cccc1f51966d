"""Where a Zoho stream's listing continues (`crm_sync_cursors`; the rules in `crm_sync.zoho_sync`'s docstring), and
the stamp that tells a record applied before from one changed within the same second."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["Cursor", "aware", "stamp", "stamp_time"]


@dataclass
class Cursor:
    since: datetime | None = None
    skip: dict[str, str] = field(default_factory=dict)  # record id -> "Modified_Time#digest" of what was applied
    page_token: str | None = None
    page_token_since: datetime | None = None
    page_token_expires_at: datetime | None = None


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def stamp(modified: datetime | None, record: dict[str, Any]) -> str:
    """What was applied of a record: its Modified_Time and a digest of the fields we keep."""
    digest = hashlib.sha1(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{modified.isoformat() if modified else ''}#{digest}"


def stamp_time(stamp: str) -> datetime | None:
    moment = stamp.split("#", 1)[0]
    return datetime.fromisoformat(moment) if moment else None
