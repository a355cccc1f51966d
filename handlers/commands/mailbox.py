"""`/gmail status|disconnect|sharing|magnet|labels|alerts`: the rep's own mailbox and its settings."""
from __future__ import annotations

from handlers.blocks.followups import followups_setting_words
from handlers.blocks.commands import Reply, disconnect_confirmation, message, status_report, usage
from handlers.blocks.refusals import refusal_text
from handlers.blocks import settings as setting_words
from handlers.parsing import UsageError, channel_choice, on_off, shown
from usecases import mailbox as mailbox_use_cases
from usecases import followups as followup_use_cases
from usecases import settings as setting_use_cases
from usecases.values import NotConnected, Services, Sharing, SharingDepth, SlackActorRef

SHARING_WORDS = {s.value for s in Sharing}
DEPTH_WORDS = {d.value for d in SharingDepth}


def _no_arguments(args: list[str], topic: str) -> None:
    if args:
        raise UsageError(f"`/gmail {topic}` takes no arguments.", topic)


def status(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    # One use-case call decides the refusal (F10 first, as for every Gmail command) and reads the status; Gmail
    # is asked only for a well-formed command.
    report = mailbox_use_cases.status(services, who, live=not args)
    if report.refusal:
        return message(refusal_text(report.refusal))
    _no_arguments(args, "status")
    return status_report(report)


def disconnect(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    _no_arguments(args, "disconnect")
    try:
        prompt = mailbox_use_cases.ask_to_disconnect(services, who)
    except NotConnected as nothing:
        raise UsageError(str(nothing), "connect") from None
    return disconnect_confirmation(prompt.address, prompt.token)


def sharing(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    choice: Sharing | None = None
    depth: SharingDepth | None = None
    for word in args:
        lowered = word.lower()
        if lowered in SHARING_WORDS and choice is None:
            choice = Sharing(lowered)
        elif lowered in DEPTH_WORDS and depth is None:
            depth = SharingDepth(lowered)
        else:
            raise UsageError(f"`{shown(word)}` is not a sharing option here.", "sharing")
    if choice is None and depth is None:
        return usage(setting_words.sharing_shown(setting_use_cases.show_sharing(services, who)), "sharing")
    return message(setting_words.sharing_changed(setting_use_cases.change_sharing(services, who, choice, depth)))


def magnet(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    return message(setting_words.magnet_changed(setting_use_cases.change_magnet(services, who, on_off(args, "magnet"))))


def labels(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    return message(setting_words.labels_changed(setting_use_cases.change_labels(services, who, on_off(args, "labels"))))


def alerts(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    if len(args) != 1:
        raise UsageError("`/gmail alerts` takes `dm` or one `#channel`.", "alerts")
    if args[0].lower() in ("dm", "me", "direct"):
        choice = None
    else:
        choice = channel_choice(args[0], "alerts")
    return message(setting_words.alert_destination_changed(
        setting_use_cases.change_alert_destination(services, who, choice)))


def followups(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    """`/gmail followups on|off|<hours>`."""
    setting_use_cases.require_gmail_features(services, who)
    if len(args) == 1 and args[0].isascii() and args[0].isdigit() and len(args[0]) <= 4:
        setting = followup_use_cases.change_followups(services, who, hours=int(args[0]))
    else:
        try:
            enabled = on_off(args, "followups")
        except UsageError:
            raise UsageError("`/gmail followups` takes `on`, `off` or a number of working hours.", "followups") from None
        setting = followup_use_cases.change_followups(services, who, enabled=enabled)
    return message(followups_setting_words(setting.enabled, setting.hours, setting.working_hours))
