"""Ephemeral answers to slash commands."""
from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from handlers.blocks.crm_data import crm_data_line
from handlers.blocks.ids import ActionId
from handlers.blocks.wording import (
    POLICY_TITLES,
    alerts_line,
    escape,
    on_off,
    person,
    quiet_line,
    sharing_line,
    slack_date,
)
from usecases.mailbox import Connection, LiveCheck

Reply = tuple[str, list[dict]]

# (topic, line): `usage(topic=…)` shows the lines of one topic, `usage()` all of them.
USAGE_LINES: list[tuple[str, str]] = [
    ("connect", "`/gmail connect` — connect your Gmail (Google sign-in; MailMagnet never sees your password)"),
    ("disconnect", "`/gmail disconnect` — disconnect and delete everything stored about your mailbox"),
    ("status", "`/gmail status` — your mailbox, settings, last sync and last error"),
    ("sharing", "`/gmail sharing [private|public|custom] [metadata|subject|full]` — who may see your emails, "
                "and how much of them"),
    ("magnet", "`/gmail magnet on|off` — an alert when a CRM contact writes to you"),
    ("labels", "`/gmail labels on|off` — file customer mail under Deals Closing This Month / Open Deals / "
               "Customers (needs MailMagnet on)"),
    ("alerts", "`/gmail alerts dm|#channel` — where MailMagnet alerts go"),
    ("followups", "`/gmail followups on|off|<hours>` — a nudge when a customer email waits that many working "
                  "hours for your reply (default on, 24)"),
    ("quiet", "`/gmail quiet 22:00-07:00|off` — hold alerts during these hours (your Slack time zone)"),
    ("digest", "`/gmail digest on|off` — one summary instead of an alert per email"),
    ("mute", "`/gmail mute <contact email>` · `/gmail unmute <contact email>` — no alerts for that contact"),
    ("share", "`/gmail share @user` · `/gmail unshare @user` — a colleague who may see your emails under "
              "Custom sharing"),
    ("why", "`/gmail why <sender email or Gmail link>` — why an email is (not) under a label"),
    ("admin", "`/gmail admin status` — every rep's connection · `/gmail admin grant @user` (or `@usergroup`, "
              "`#channel`: everyone in it with a CRM user) · `admin revoke @user` · "
              "`admin policy [role <name>|@user] private|public|custom|choice` · "
              "`admin managers none|metadata|subject|full` · `admin link @user <crm email>` · "
              "`admin allow @user <gmail address>` · `admin audit [@user] [since]` — admins only"),
    ("contact", "`/contact <email or name>` — a contact's card and the emails with them you may see · "
                "`/email <contact>` — write to a contact from your Gmail"),
    ("help", "`/gmail help` — this list"),
]
TOPIC_ALIASES = {"unmute": "mute", "unshare": "share"}


def _section(text: str) -> dict:
    return SectionBlock(text=MarkdownTextObject(text=text[:3000])).to_dict()


def message(text: str) -> Reply:
    """A plain answer: the same words as notification text and as one section."""
    return text, [_section(text)]


def usage(message_text: str | None = None, topic: str | None = None) -> Reply:
    topic = TOPIC_ALIASES.get(topic or "", topic)
    lines = [line for name, line in USAGE_LINES if name == topic] if topic else []
    if lines:
        body = "*Usage*\n" + "\n".join(f"• {line}" for line in lines) + "\nAll commands: `/gmail help`"
    else:
        body = "*MailMagnet — `/gmail` commands*\n" + "\n".join(f"• {line}" for _, line in USAGE_LINES)
    text = (f"{message_text}\n\n" if message_text else "") + body
    return text, [_section(text)]


def dm_help() -> Reply:
    """The answer to "help" typed in MailMagnet's Messages tab."""
    intro = ("I post MailMagnet alerts and digests here; I don't read what you write in this chat. "
             "These commands work in any channel or DM:")
    text = f"{intro}\n" + "\n".join(f"• {line}" for _, line in USAGE_LINES)
    return text, [_section(text)]


def dm_pointer() -> Reply:
    """The answer to anything else typed there: where the commands are."""
    text = "I don't read messages here. Type `help` for what MailMagnet can do, or `/gmail help` anywhere."
    return text, [_section(text)]


def connect_prompt(url: str, address: str | None = None) -> Reply:
    intro = ("Connect your Gmail to MailMagnet. You'll sign in on Google's own page; MailMagnet never sees "
             "your password, and stores only message ids, senders and dates — never subjects or bodies.")
    if address:
        intro = f"You're connected as *{escape(address)}*. Authenticate again to reconnect or switch mailbox.\n" + intro
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=intro)),
        ActionsBlock(block_id="gmail_connect", elements=[
            ButtonElement(text="Authenticate", action_id=ActionId.CONNECT_AUTHENTICATE.value, url=url,
                          style="primary"),
        ]),
        ContextBlock(elements=[MarkdownTextObject(text="The link works once, for 10 minutes.")]),
    ]
    return "Connect your Gmail: " + url, [b.to_dict() for b in blocks]


LIVE_CHECKS = {
    Connection.NOT_CONNECTED: "not connected",
    Connection.REFUSED: "Google refused MailMagnet's access just now: reconnect with `/gmail connect`",
    Connection.KEY_UNREADABLE: ("MailMagnet cannot read its stored key for this mailbox (ask your admin about "
                                "TOKEN_ENCRYPTION_KEYS)"),
    Connection.NO_ANSWER: "Gmail did not answer just now (temporary); MailMagnet will keep trying",
}


def live_check_line(check: LiveCheck) -> str:
    """What Gmail answered `/gmail status` just now."""
    if check.connection is Connection.WORKING:
        return "working — Gmail answered just now" + (f" ({check.messages:,} messages)"
                                                      if check.messages is not None else "")
    return LIVE_CHECKS[check.connection]


def status_fields(status) -> list[str]:
    """The ten facts of a connected mailbox, shared by /gmail status and the App Home."""
    if status.connected:
        connection = "Connected" + (f": {live_check_line(status.live_check)}" if status.live_check else "")
    else:
        connection = ":warning: Google access was revoked — run `/gmail connect` to reconnect"
    sharing = sharing_line(status.sharing, status.depth)
    if status.policy_fixed:
        sharing += f"\n_Set by your organisation: {POLICY_TITLES.get(status.policy, status.policy)} for everyone_"
    return [
        f"*Mailbox*\n{escape(status.address or '—')}",
        f"*Connection*\n{connection}",
        f"*Sharing*\n{sharing}",
        f"*MailMagnet alerts*\n{on_off(status.magnet)}",
        f"*Labels*\n{on_off(status.labels)}" + (
            (" — in your Gmail" if status.labels_in_gmail else " — created at the first label run")
            if status.labels else ""),
        f"*Alerts go to*\n{alerts_line(status.alert_channel)}",
        f"*Quiet hours · digest*\n{quiet_line(status.quiet_start, status.quiet_end, status.timezone)} · "
        f"digest {on_off(status.digest).lower()}",
        f"*Last sync*\n{slack_date(status.last_sync_at)}",
        f"*Last label run*\n{slack_date(status.last_label_run_at, 'never' if not status.labels else 'not yet')}",
        f"*Last sync error*\n{escape(status.last_sync_error[:300]) if status.last_sync_error else 'none'}",
    ]


def status_extras(status) -> str | None:
    extras = [escape(crm_data_line(status.crm_data))] if getattr(status, "crm_data", None) else []
    if getattr(status, "followups", False):
        extras.append(f"follow-ups on ({status.followup_hours} working hours)")
    elif hasattr(status, "followups"):
        extras.append("follow-ups off")
    if status.muted_contacts:
        extras.append(f"{status.muted_contacts} muted contact{'s' if status.muted_contacts != 1 else ''}")
    if status.shared_with:
        extras.append("shared with " + ", ".join(person(p) for p in status.shared_with[:10]))
    return " · ".join(extras) or None


def status_report(status) -> Reply:
    if not status.has_mailbox:
        return message("You have no Gmail connected. Run `/gmail connect` to connect one.")
    blocks = [
        HeaderBlock(text="MailMagnet status"),
        SectionBlock(fields=[MarkdownTextObject(text=f) for f in status_fields(status)]),
    ]
    extras = status_extras(status)
    if extras:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=extras)]))
    state = "connected" if status.connected else "access revoked"
    text = (f"{escape(status.address)}: {state}; MailMagnet {on_off(status.magnet).lower()}, "
            f"labels {on_off(status.labels).lower()}")
    return text, [b.to_dict() for b in blocks]


def disconnect_confirmation(address: str, token: str) -> Reply:
    text = f"Disconnect {escape(address)}?"
    blocks = [
        SectionBlock(text=MarkdownTextObject(
            text=f"*Disconnect {escape(address)}?*\nMailMagnet will revoke its Google access, delete the stored "
                 "credentials and every stored email record of this mailbox, and stop its alerts and labels. "
                 "Labels already in Gmail stay as they are.")),
        ActionsBlock(block_id="gmail_disconnect", elements=[
            ButtonElement(text="Disconnect", action_id=ActionId.DISCONNECT_CONFIRM.value, value=token,
                          style="danger"),
            ButtonElement(text="Cancel", action_id=ActionId.DISCONNECT_CANCEL.value, value=token),
        ]),
    ]
    return text, [b.to_dict() for b in blocks]


def disconnected_notice(address: str) -> str:
    return (f"Disconnected *{escape(address)}*. MailMagnet revoked its Google access and deleted the stored "
            "credentials and every stored email record of this mailbox. Run `/gmail connect` to connect again.")
