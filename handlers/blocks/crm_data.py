"""Where CRM data came from, as the status surfaces say it: "CRM data last changed 5 minutes ago (Zoho CRM sync)"."""
from __future__ import annotations

from datetime import datetime, timezone

from usecases.crm import CrmChange, CrmDataState


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def describe_last_change(change: CrmChange | None, now: datetime | None = None) -> str:
    if change is None:
        return "CRM data has not been imported yet"
    now = now or datetime.now(timezone.utc)
    return f"CRM data last changed {_ago((now - change.changed_at).total_seconds())} ({change.source_name})"


def crm_data_line(state: CrmDataState) -> str:
    """The last change, plus a failing Zoho CRM sync (plain text: the caller escapes it)."""
    line = describe_last_change(state.last_change)
    if state.zoho_error:
        line += f"; the last Zoho CRM sync failed: {state.zoho_error[:200]}"
    return line
