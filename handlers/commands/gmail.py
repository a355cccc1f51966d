"""`/gmail <subcommand>`: ack at once, then answer through the response_url."""
from __future__ import annotations

import logging
from typing import Callable

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.services import Services
from crm_store.identity import require_mail_integration
from crm_store.mailboxes import mailbox_of
from crm_store.models import AccountStatus
from handlers.blocks.commands import connect_prompt, usage
from handlers.context import SlackRequest

log = logging.getLogger(__name__)

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


SUBCOMMANDS: dict[str, Subcommand] = {
    "connect": connect,
    "help": show_help,
}


def register(app: App, services: Services) -> None:
    @app.command("/gmail")
    def gmail_command(ack: Ack, body: dict, respond: Respond, client: WebClient):
        ack()
        words = (body.get("text") or "").split()
        name = words[0].lower() if words else "help"
        handler = SUBCOMMANDS.get(name)
        if handler is None:
            text, blocks = usage(f"`/gmail {name[:40]}` is not a MailMagnet command.")
            respond(text=text, blocks=blocks, response_type="ephemeral")
            return
        handler(SlackRequest.of(services, body, client), words[1:], respond)
