"""Buttons in messages about the connection: Authenticate (a link), Reconnect Gmail, Disconnect / Cancel."""
from __future__ import annotations

from slack_bolt import Ack, Respond

from handlers.blocks.refusals import refusal_text
from usecases import idempotency
from handlers.blocks.commands import connect_prompt, disconnected_notice, message
from usecases import mailbox as mailbox_use_cases
from usecases.values import DomainError, InvalidInput, Services, SlackActorRef


def _replace(respond: Respond, text: str) -> None:
    reply, blocks = message(text)
    respond(text=reply, blocks=blocks, replace_original=True)


def authenticate_link_opened(ack: Ack):
    # A link button still sends an interaction; the browser does the rest.
    ack()


def reconnect(respond: Respond, actor: SlackActorRef, services: Services):
    link = mailbox_use_cases.start_connect(services, actor)
    text, blocks = connect_prompt(link.url, link.connected_address)
    respond(text=text, blocks=blocks, response_type="ephemeral")


def confirm_disconnect(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    token = (body["actions"][0].get("value") or "")[:100]
    connection, _, nonce = token.partition(":")
    if not nonce:
        raise InvalidInput("This confirmation is not one MailMagnet sent. Run `/gmail disconnect` again.")
    # One confirmation disconnects once, however often (and however fast) it is clicked — by its rep: the key
    # names the clicker, so someone else's click on it (refused below) cannot use it up.
    who = actor
    if not idempotency.claim(services, f"disconnect:{who.team_id}:{who.user_id}:{token}"):
        return
    try:
        text = disconnected_notice(mailbox_use_cases.disconnect_own(services, who, connection))
    except DomainError as refusal:
        text = refusal_text(refusal)
    _replace(respond, text)


def cancel_disconnect(respond: Respond):
    _replace(respond, "Disconnect cancelled: your Gmail stays connected.")
