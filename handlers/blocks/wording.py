"""Formats shared by the builders: on/off, dates Slack renders in the reader's zone; the sharing words
come from the use cases, which say the same in their sentences."""
from __future__ import annotations

from datetime import datetime, timezone

from usecases.wording import (  # noqa: F401 - re-exported for the builders
    DEPTH_HELP,
    DEPTH_TITLES,
    POLICY_TITLES,
    SHARING_HELP,
    SHARING_TITLES,
    clock,
    escape,
    sharing_line,
)

BOT_MENTION = "@MailMagnet"


def on_off(value: bool) -> str:
    return "On" if value else "Off"


def slack_date(moment: datetime | None, never: str = "not yet") -> str:
    """A date each reader sees in their own time zone, with a UTC fallback."""
    if moment is None:
        return never
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def quiet_line(start: int | None, end: int | None, tz: str | None) -> str:
    if start is None or end is None:
        return "none"
    return f"{clock(start)}–{clock(end)} ({escape(tz or 'UTC')})"


def alerts_line(channel: str | None) -> str:
    return f"<#{channel}>" if channel else "your DM"
