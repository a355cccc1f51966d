"""Failures told to the user: domain errors as a clear ephemeral message; anything else logged with a
reference the user sees. Only for requests that passed Slack's signature check: the body of an
unverified request names a response_url and a user that nobody vouched for."""
from __future__ import annotations

import logging
import uuid

from slack_bolt import App

from handlers.blocks.contact import STILL_LOOKING
from handlers.blocks.refusals import refusal_text
from usecases.fanout import ViewInFlight
from usecases.values import DomainError

log = logging.getLogger("mailmagnet.handlers")


def user_message(error: BaseException) -> str:
    if isinstance(error, ViewInFlight):  # a fact without words of its own
        return STILL_LOOKING
    if isinstance(error, DomainError):
        return refusal_text(error)
    reference = uuid.uuid4().hex[:10]
    log.error("unhandled error (reference %s): %s", reference, error, exc_info=error)
    return (f"Sorry, something went wrong on our side (reference `{reference}`). Please try again; "
            "if it keeps happening, give the reference to your MailMagnet admin.")


def present_error(error: BaseException, body: dict, respond, client, context) -> None:
    if not (context or {}).get("verified"):
        log.warning("error on an unverified Slack request (not answered): %s", type(error).__name__)
        return
    message = user_message(error)
    try:
        if respond is not None and (body.get("response_url") or body.get("response_urls")):
            respond(text=message, response_type="ephemeral", replace_original=False)
            return
        user = context.get("user_id")
        channel = context.get("channel_id")
        if user and channel:
            client.chat_postEphemeral(channel=channel, user=user, text=message)
        elif user:
            client.chat_postMessage(channel=user, text=message)
    except Exception as failure:
        log.warning("could not tell the user about an error (%s): %s", type(failure).__name__, message)


def register_error_handler(app: App) -> None:
    @app.error
    def handle_error(error, body, respond, client, context):
        present_error(error, body, respond, client, context)
