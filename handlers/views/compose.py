"""Submission of the compose modal (a new email or a reply): field errors stay in the modal; once it closes,
the email is sent through the rep's Gmail and the rep gets a confirmation with a link (or Gmail's refusal,
in words) in their DM."""
from __future__ import annotations

from slack_bolt import Ack
from slack_sdk import WebClient

from handlers.blocks.refusals import field_refusals, refusal_text
from handlers.blocks.compose import field_errors, sent_message, submitted
from usecases import compose
from usecases.compose import FieldErrors, Outgoing
from usecases.values import DomainError, Services, SlackActorRef


def outgoing_of(view: dict) -> Outgoing:
    metadata, to, subject, body = submitted(view)
    return Outgoing(account_id=metadata.get("a"), subject=subject, body=body,
                    reply_to_gmail_id=metadata.get("g"), contact_ids=metadata.get("c"), to=to)


def send_email(ack: Ack, view: dict, client: WebClient, actor: SlackActorRef, services: Services):
    outgoing = outgoing_of(view)
    try:
        compose.check_email(services, actor, outgoing)
    except FieldErrors as invalid:
        ack(response_action="errors", errors=field_errors(field_refusals(invalid.errors), view))
        return
    except DomainError as refusal:
        ack(response_action="errors", errors=field_errors({"body": refusal_text(refusal)}, view))
        return
    ack()
    sent = compose.send_email(services, actor, outgoing)  # a refusal from Gmail reaches the DM (once)
    text, blocks = sent_message(sent)
    client.chat_postMessage(channel=actor.user_id, text=text, blocks=blocks)
