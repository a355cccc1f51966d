"""Noise control (SPEC §3) and explicit shares: `/gmail quiet|digest|mute|unmute|share|unshare`."""
from __future__ import annotations

from handlers.blocks import settings as setting_words
from handlers.blocks.commands import Reply, message
from handlers.parsing import OFF_WORDS, UsageError, clock_range, email_address, mentioned_user, on_off
from usecases import settings as setting_use_cases
from usecases.values import Services, SlackActorRef


def quiet(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    if len(args) == 1 and args[0].lower() in OFF_WORDS:
        return message(setting_words.quiet_changed(setting_use_cases.set_quiet(services, who, None, None)))
    if not args:
        raise UsageError("Give the hours to keep quiet, e.g. `/gmail quiet 22:00-07:00`, or `off`.", "quiet")
    first, last = clock_range(args, "quiet")
    return message(setting_words.quiet_changed(setting_use_cases.set_quiet(services, who, first, last)))


def digest(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    return message(setting_words.digest_changed(setting_use_cases.change_digest(services, who, on_off(args, "digest"))))


def _contact_address(args: list[str], topic: str) -> str:
    if len(args) != 1:
        raise UsageError(f"`/gmail {topic}` takes one contact e-mail address.", topic)
    return email_address(args[0], topic)


def mute(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    return message(setting_words.mute_changed(
        setting_use_cases.change_mute(services, who, _contact_address(args, "mute"), True)))


def unmute(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    return message(setting_words.mute_changed(
        setting_use_cases.change_mute(services, who, _contact_address(args, "unmute"), False)))


def _one_mention(args: list[str], topic: str) -> str:
    if len(args) != 1:
        raise UsageError(f"`/gmail {topic}` takes one @user.", topic)
    return mentioned_user(args[0], topic)


def share(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    return message(setting_words.share_changed(
        setting_use_cases.change_share(services, who, _one_mention(args, "share"), True)))


def unshare(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    setting_use_cases.require_gmail_features(services, who)
    return message(setting_words.share_changed(
        setting_use_cases.change_share(services, who, _one_mention(args, "unshare"), False)))
