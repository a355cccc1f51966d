"""`/gmail <subcommand>`: acked at once (middleware), then answered ephemerally through the response_url.

SUBCOMMANDS is the one table of subcommands; other modules may add to it
(`SUBCOMMANDS["why"] = …`) before the first request.
"""
from __future__ import annotations

import logging
from typing import Callable

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.services import Services
from crm_store.identity import require_mail_integration
from crm_store.mailboxes import mailbox_of
from crm_store.models import AccountStatus
from handlers.blocks.commands import connect_prompt, usage
from handlers.context import SlackRequest
from handlers.middleware import ack_at_once, once
from handlers.parsing import UsageError, shown

log = logging.getLogger(__name__)

COMMAND = "/gmail"

Subcommand = Callable[[SlackRequest, list[str], Respond], None]


def connect(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _, _, _, consent = request.services.require_gmail()
    with request.scope() as (session, actor):
        require_mail_integration(session, actor)
        account = mailbox_of(session, actor.user)
        address = account.email_address if account and account.status == AccountStatus.CONNECTED else None
    url = consent.authorization_url(request.team_id, request.user_id, login_hint=request.identity().email)
    text, blocks = connect_prompt(url, address)
    respond(text=text, blocks=blocks, response_type="ephemeral")


def show_help(request: SlackRequest, args: list[str], respond: Respond) -> None:
    text, blocks = usage()
    respond(text=text, blocks=blocks, response_type="ephemeral")


def _table() -> dict[str, Subcommand]:
    from handlers.commands import admin, mailbox, noise

    return {
        "connect": connect,
        "help": show_help,
        "status": mailbox.status,
        "disconnect": mailbox.disconnect,
        "sharing": mailbox.sharing,
        "magnet": mailbox.magnet,
        "labels": mailbox.labels,
        "alerts": mailbox.alerts,
        "quiet": noise.quiet,
        "digest": noise.digest,
        "mute": noise.mute,
        "unmute": noise.unmute,
        "share": noise.share,
        "unshare": noise.unshare,
        "admin": admin.admin,
    }


SUBCOMMANDS: dict[str, Subcommand] = _table()


def run_subcommand(request: SlackRequest, text: str, respond: Respond) -> None:
    words = text.split()
    name = words[0].lower() if words else "help"
    handler = SUBCOMMANDS.get(name)
    try:
        if handler is None:
            raise UsageError(f"`/gmail {shown(words[0])}` is not a MailMagnet command.")
        handler(request, words[1:], respond)
    except UsageError as error:
        # Malformed input is answered with the usage of that subcommand; other refusals go to the error handler.
        reply, blocks = usage(str(error), error.topic)
        respond(text=reply, blocks=blocks, response_type="ephemeral")


def register(app: App, services: Services) -> None:
    @app.command(COMMAND, middleware=[ack_at_once])
    @once(services)
    def gmail_command(body: dict, respond: Respond, client: WebClient):
        run_subcommand(SlackRequest.of(services, body, client), body.get("text") or "", respond)
