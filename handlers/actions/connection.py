"""Buttons in messages about the connection: Authenticate (a link), Reconnect Gmail, Disconnect / Cancel."""
from __future__ import annotations

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.services import Services
from crm_store.errors import DomainError, InvalidInput
from handlers import dedupe
from handlers.blocks.commands import message
from handlers.blocks.ids import ActionId
from handlers.changes import disconnect_own_mailbox
from handlers.commands.gmail import connect
from handlers.context import SlackRequest
from handlers.middleware import ack_at_once, once


def _replace(respond: Respond, text: str) -> None:
    reply, blocks = message(text)
    respond(text=reply, blocks=blocks, replace_original=True)


def register(app: App, services: Services) -> None:
    @app.action(ActionId.CONNECT_AUTHENTICATE.value)
    def authenticate_link_opened(ack: Ack):
        # A link button still sends an interaction; the browser does the rest.
        ack()

    @app.action(ActionId.RECONNECT.value, middleware=[ack_at_once])
    @once(services)
    def reconnect(body: dict, respond: Respond, client: WebClient):
        connect(SlackRequest.of(services, body, client), [], respond)

    @app.action(ActionId.DISCONNECT_CONFIRM.value, middleware=[ack_at_once])
    @once(services)
    def confirm_disconnect(body: dict, respond: Respond, client: WebClient):
        token = (body["actions"][0].get("value") or "")[:100]
        mailbox, _, nonce = token.partition(":")
        if not nonce:
            raise InvalidInput("This confirmation is not one MailMagnet sent. Run `/gmail disconnect` again.")
        # One confirmation disconnects once, however often (and however fast) it is clicked.
        if not dedupe.claim(services.engine, f"disconnect:{token}"):
            return
        try:
            text = disconnect_own_mailbox(SlackRequest.of(services, body, client), mailbox)
        except DomainError as refusal:
            text = str(refusal)
        _replace(respond, text)

    @app.action(ActionId.DISCONNECT_CANCEL.value, middleware=[ack_at_once])
    @once(services)
    def cancel_disconnect(respond: Respond):
        _replace(respond, "Disconnect cancelled: your Gmail stays connected.")
