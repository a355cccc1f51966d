"""Formats shared by the builders: the sharing options' words, on/off, dates Slack renders in the reader's zone,
people, and `escape` — the one function that makes CRM data, mail and what a user typed safe in mrkdwn."""
from __future__ import annotations

from datetime import datetime, timezone

from usecases.values import ClosedChannel, Person, Sharing, SharingDepth, SharingPolicy

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


BOT_MENTION = "@MailMagnet"

# Why a channel may see nothing of an email: the end of a sentence ("… in #sales: <reason>.").
CLOSED_CHANNELS = {
    ClosedChannel.SLACK_CONNECT: "it is shared with another organisation (Slack Connect), whose people can read it",
    ClosedChannel.UNSERVED_WORKSPACE: ("it is shared with another organisation's Slack workspace, which this "
                                       "MailMagnet does not serve, so people outside your organisation can read it"),
    ClosedChannel.ORG_SHARED_PUBLIC: ("it is a public channel shared with another workspace of your organisation, "
                                      "whose people your sharing setting does not let see your emails"),
    ClosedChannel.PUBLIC: ("it is a public channel, which anyone in the workspace can read, and your sharing setting "
                           "does not let everyone in the workspace see your emails"),
    ClosedChannel.NOT_A_CRM_USER: "someone in that channel is not a CRM user of your organisation",
    ClosedChannel.SHARING_EXCLUDES_MEMBER: ("your sharing setting does not let everyone in that channel see your "
                                            "emails with this contact"),
}


def person(who: Person) -> str:
    """Someone named to a reader: a mention when linked in the reader's workspace, else their name, escaped."""
    return f"<@{who.slack_user_id}>" if who.slack_user_id else escape(who.name)


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
