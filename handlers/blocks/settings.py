"""The sentences a rep reads after changing their mailbox's settings (usecases/settings.py returns the facts),
and the refusals of those changes that name a channel, a contact or a colleague."""
from __future__ import annotations

from handlers.blocks.wording import BOT_MENTION, CLOSED_CHANNELS, POLICY_TITLES, clock, escape, sharing_line
from usecases.settings import (
    AlertChannelRefused,
    AlertDestination,
    ChannelCaveat,
    ChannelChoice,
    ChannelRefusal,
    MuteChange,
    NotAContact,
    NotACrmUserYet,
    QuietHours,
    ShareChange,
    SharingView,
    Switched,
)


def magnet_changed(change: Switched) -> str:
    if not change.changed:
        return f"MailMagnet was already {'on' if change.enabled else 'off'}."
    if change.enabled:
        return ("MailMagnet is *on*: you'll get an alert when a CRM contact writes to you "
                "(to change where, `/gmail alerts dm|#channel`).")
    return "MailMagnet is *off*." + (" Labels were switched off too, since they need MailMagnet."
                                      if change.labels_off else "")


def labels_changed(change: Switched) -> str:
    if not change.changed:
        return f"Labels were already {'on' if change.enabled else 'off'}."
    if not change.enabled:
        return "Labels are *off*. Mail already filed stays where it is."
    created = change.labels_created
    where = ("Gmail did not answer just now, so the labels will be created at the first label run"
             if created is None else "the three labels are in your Gmail" +
             (f" (created: {', '.join(escape(name) for name in created)})" if created else ""))
    return ("Labels are *on*: customer mail in your Inbox is filed under Deals Closing This Month, Open Deals "
            f"and Customers (recent Inbox mail first, then every new email); {where}.")


def sharing_line_of(view: SharingView) -> str:
    return sharing_line(view.sharing.value, view.depth.value if view.depth else None)


def sharing_shown(view: SharingView) -> str:
    lines = [f"Your sharing: {sharing_line_of(view)}."]
    if view.policy_fixed:
        lines.append(f"Your organisation set *{POLICY_TITLES[view.policy.value]}* for everyone; you can still "
                     "choose how much colleagues see (`metadata`, `subject` or `full`).")
    return "\n".join(lines)


def sharing_changed(view: SharingView) -> str:
    return f"Sharing is now: {sharing_line_of(view)}."


CAVEATS = {
    ChannelCaveat.PUBLIC_NO_DEALS: "It is a public channel: alerts there show the contact's name and company, "
                                   "never deal details.",
    ChannelCaveat.OUTSIDER_GOES_TO_DM: "Someone in that channel is not a CRM user of your organisation, so alerts "
                                       "will come to your DM instead.",
    ChannelCaveat.PRIVATE_SHARING_GOES_TO_DM: "Your sharing is Private, so alerts will come to your DM instead "
                                              "(`/gmail sharing` to change it).",
    ChannelCaveat.CUSTOM_SHARING_PER_CONTACT: "Your sharing is Custom: an alert is posted there only when everyone "
                                              "in the channel may see your emails with that contact; the others "
                                              "come to your DM.",
}


def _caveat(destination: AlertDestination) -> str | None:
    if destination.caveat is ChannelCaveat.PUBLIC_GOES_TO_DM:
        sharing = destination.sharing.value if destination.sharing else "?"
        return ("It is a public channel that anyone in the workspace can read, and your sharing "
                f"({sharing}) does not let everyone see your emails: alerts will come to your DM instead. "
                "With `/gmail sharing public` they would be posted there (contact name and company only, no "
                "deal details, since anyone may read it).")
    return CAVEATS.get(destination.caveat) if destination.caveat else None


def alert_destination_changed(destination: AlertDestination) -> str:
    if destination.channel_id is None:
        return "MailMagnet alerts now go to your DM with MailMagnet."
    text = (f"MailMagnet alerts now go to <#{destination.channel_id}>. Everyone who can read it sees them, so each "
            "alert shows only what all of them may see of your emails.")
    caveat = _caveat(destination)
    return text + (f"\n:warning: {caveat}" if caveat else "")


def channel_label(channel: ChannelChoice) -> str:
    return f"<#{channel.id}>" if channel.id else f"#{escape(channel.name or '')}"


def alert_channel_refused(refusal: AlertChannelRefused) -> str:
    label = channel_label(refusal.channel)
    invite = f"invite {BOT_MENTION} to {label} first (`/invite {BOT_MENTION}` in that channel), then run this again"
    return {
        ChannelRefusal.NO_DESTINATION: "Alerts can only go to your DM on this server.",
        ChannelRefusal.NOT_FOUND: f"I can't find {label}. If it is a private channel, {invite}.",
        ChannelRefusal.CANNOT_SEE: f"I can't see {label}: {invite}.",
        ChannelRefusal.DIRECT: "That is a direct message: use `/gmail alerts dm` for alerts in your DM with "
                               "MailMagnet.",
        ChannelRefusal.ARCHIVED: f"{label} is archived: choose another channel.",
        ChannelRefusal.OUTSIDE: f"MailMagnet never posts about your mailbox in {label}: {CLOSED_CHANNELS.get(refusal.outside, refusal.outside)}. Choose a "
                                "channel only your organisation is in, or `/gmail alerts dm`.",
        ChannelRefusal.BOT_NOT_MEMBER: f"MailMagnet is not in {label}: {invite}.",
        ChannelRefusal.REP_NOT_MEMBER: f"You are not a member of {label}: alerts about your mailbox can only go to "
                                       "private channels you are in.",
    }[refusal.reason]


def quiet_changed(quiet: QuietHours) -> str:
    if quiet.start is None or quiet.end is None:
        return "Quiet hours are off: alerts arrive as emails do."
    return (f"Quiet hours set: no alerts between {clock(quiet.start)} and {clock(quiet.end)} "
            f"({escape(quiet.zone)}).")


def digest_changed(change: Switched) -> str:
    return ("Digest is *on*: MailMagnet batches your alerts into a summary instead of one message per email."
            if change.enabled else "Digest is *off*: one alert per email.")


def mute_changed(change: MuteChange) -> str:
    name = escape(change.contact_name)
    if change.muted:
        return f"Muted {name}: no more alerts for their emails." if change.changed else f"{name} was already muted."
    return f"Unmuted {name}: their emails alert you again." if change.changed else f"{name} was not muted."


def not_a_contact(refusal: NotAContact) -> str:
    return f"{escape(refusal.address)} is not a CRM contact, so MailMagnet sends no alerts for it anyway."


def share_changed(change: ShareChange) -> str:
    mention = f"<@{change.colleague}>"
    if not change.shared:
        return (f"{mention} no longer sees your emails through a share." if change.changed
                else f"You had not shared your emails with {mention}.")
    text = f"{mention} may now see your emails with CRM contacts." if change.changed else f"{mention} already could."
    if not change.custom:
        text += " This applies while your sharing is *Custom* (`/gmail sharing custom`)."
    return text


def not_a_crm_user_yet(refusal: NotACrmUserYet) -> str:
    return (f"<@{refusal.slack_user_id}> is not a CRM user yet, so they see no emails in MailMagnet. "
            "An admin can add them with `/gmail admin grant`.")
