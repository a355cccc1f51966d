"""Words and formats shared by the builders: sharing options, on/off, dates Slack renders in the reader's zone."""
from __future__ import annotations

from datetime import datetime, timezone

from crm_store.models import Sharing, SharingDepth, SharingPolicy

BOT_MENTION = "@MailMagnet"

SHARING_TITLES = {
    Sharing.PRIVATE.value: "Private",
    Sharing.PUBLIC.value: "Public",
    Sharing.CUSTOM.value: "Custom",
}
SHARING_HELP = {
    Sharing.PRIVATE.value: "only you see the emails of your mailbox",
    Sharing.PUBLIC.value: "every CRM user sees your emails with CRM contacts",
    Sharing.CUSTOM.value: "only a contact's owner, the owners of its deals, and people you share with",
}
POLICY_TITLES = {**SHARING_TITLES, SharingPolicy.CHOICE.value: "User's choice"}
DEPTH_TITLES = {
    SharingDepth.METADATA.value: "Metadata",
    SharingDepth.SUBJECT.value: "Subject",
    SharingDepth.FULL.value: "Full",
}
DEPTH_HELP = {
    SharingDepth.METADATA.value: "from, to and date",
    SharingDepth.SUBJECT.value: "from, to, date and subject",
    SharingDepth.FULL.value: "subject and snippet too (never the body)",
}


def on_off(value: bool) -> str:
    return "On" if value else "Off"


def sharing_line(sharing: str | None, depth: str | None) -> str:
    if not sharing:
        return "—"
    title = SHARING_TITLES.get(sharing, sharing)
    if sharing == Sharing.PRIVATE.value or not depth:
        return f"{title} ({SHARING_HELP.get(sharing, '')})"
    return f"{title}, {DEPTH_TITLES.get(depth, depth).lower()}: {DEPTH_HELP.get(depth, '')}"


def slack_date(moment: datetime | None, never: str = "not yet") -> str:
    """A date each reader sees in their own time zone, with a UTC fallback."""
    if moment is None:
        return never
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def quiet_line(start: int | None, end: int | None, tz: str | None) -> str:
    if start is None or end is None:
        return "none"
    return f"{clock(start)}–{clock(end)} ({tz or 'UTC'})"


def alerts_line(channel: str | None) -> str:
    return f"<#{channel}>" if channel else "your DM"


def escape(text: str) -> str:
    """Text from elsewhere (an error message, an address) shown in mrkdwn without mentioning anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
