"""Words shared by the use cases' sentences and the Block Kit builders (sharing options, escaping)."""
from __future__ import annotations

from crm_store.models import Sharing, SharingDepth, SharingPolicy

SHARING_TITLES = {
    Sharing.PRIVATE.value: "Private",
    Sharing.PUBLIC.value: "Public",
    Sharing.CUSTOM.value: "Custom",
}
SHARING_HELP = {
    Sharing.PRIVATE.value: "only you see the emails of your mailbox",
    Sharing.PUBLIC.value: "every CRM user of your workspace sees your emails with CRM contacts",
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


def clock(minute: int) -> str:
    """Minutes after midnight as HH:MM (the inverse of `crm_store.mailboxes.parse_clock`)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def escape(text: str | None) -> str:
    """Text from elsewhere (CRM data, an address, what a user typed) shown in mrkdwn: it can never
    mention anyone (`<!channel>`, `<@U…>`), link anywhere or break the formatting."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sharing_line(sharing: str | None, depth: str | None) -> str:
    if not sharing:
        return "—"
    title = SHARING_TITLES.get(sharing, sharing)
    if sharing == Sharing.PRIVATE.value or not depth:
        return f"{title} ({SHARING_HELP.get(sharing, '')})"
    return f"{title}, {DEPTH_TITLES.get(depth, depth).lower()}: {DEPTH_HELP.get(depth, '')}"
