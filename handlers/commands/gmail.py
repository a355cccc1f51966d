"""`/gmail <subcommand>`: acked at once (middleware), then answered ephemerally through the response_url.

SUBCOMMANDS is the one table of subcommands. Each takes the app's services, who asked and the words
after the subcommand, calls one use case and returns the reply (text, blocks).
"""
from __future__ import annotations

import logging
from typing import Callable

from slack_bolt import Respond

from handlers.blocks.commands import Reply, connect_prompt, usage
from handlers.parsing import UsageError, shown
from usecases import mailbox as mailbox_use_cases
from usecases.values import Services, SlackActorRef

log = logging.getLogger(__name__)

COMMAND = "/gmail"

Subcommand = Callable[[Services, SlackActorRef, list[str]], Reply]


def connect(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    link = mailbox_use_cases.start_connect(services, who)
    return connect_prompt(link.url, link.connected_address)


def show_help(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    return usage()


def _table() -> dict[str, Subcommand]:
    from handlers.commands import admin, mailbox, noise, why

    return {
        "connect": connect,
        "help": show_help,
        "status": mailbox.status,
        "disconnect": mailbox.disconnect,
        "sharing": mailbox.sharing,
        "magnet": mailbox.magnet,
        "labels": mailbox.labels,
        "followups": mailbox.followups,
        "alerts": mailbox.alerts,
        "quiet": noise.quiet,
        "digest": noise.digest,
        "mute": noise.mute,
        "unmute": noise.unmute,
        "share": noise.share,
        "unshare": noise.unshare,
        "why": why.why,
        "admin": admin.admin,
    }


SUBCOMMANDS: dict[str, Subcommand] = _table()


def run_subcommand(services: Services, who: SlackActorRef, text: str) -> Reply:
    words = text.split()
    name = words[0].lower() if words else "help"
    handler = SUBCOMMANDS.get(name)
    try:
        if handler is None:
            raise UsageError(f"`/gmail {shown(words[0])}` is not a MailMagnet command.")
        return handler(services, who, words[1:])
    except UsageError as error:
        # Malformed input is answered with the usage of that subcommand; other refusals go to the error handler.
        return usage(str(error), error.topic)


def gmail_command(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    text, blocks = run_subcommand(services, actor, body.get("text") or "")
    respond(text=text, blocks=blocks, response_type="ephemeral")
