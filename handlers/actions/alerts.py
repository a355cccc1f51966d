"""The buttons of a MailMagnet alert: View contact, Reply, Open in Gmail, Mute contact.

The button's value names (mailbox, message, contact); the use cases check every one of them against
the alert it came from and what the clicker may do.
"""
from __future__ import annotations

import json
import logging
import re

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from handlers.actions.contact import modal_then
from handlers.blocks.ids import AlertAction
from handlers.blocks.compose import compose_view, loading_view, notice_view
from handlers.blocks.contact import contact_view_blocks
from usecases import alerts as alert_use_cases
from usecases.alerts import AlertRef
from usecases.values import Services, SlackActorRef
from handlers.blocks.wording import escape

log = logging.getLogger(__name__)

# Digests posted by earlier versions named each Open button `alert_open_gmail_<gmail id>`; their clicks still get acked.
OPEN_GMAIL_ACTIONS = re.compile(rf"^{AlertAction.OPEN_GMAIL}(_[A-Za-z0-9_-]{{1,64}})?$")


def _reference(body: dict) -> AlertRef:
    try:
        value = json.loads(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        value = None
    return AlertRef.of(value)


def view_contact(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    view = alert_use_cases.contact_from_alert(services, actor, _reference(body))
    text, blocks = contact_view_blocks(view)
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def mute(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    name, email = alert_use_cases.mute_from_alert(services, actor, _reference(body))
    respond(text=f"Muted {escape(name)}: no more MailMagnet alerts for their emails. "
                 f"`/gmail unmute {escape(email)}` undoes it.", response_type="ephemeral", replace_original=False)


def open_gmail(ack: Ack):
    ack()  # a link button: Slack opens the URL; the click still has to be acknowledged


def reply(body: dict, client: WebClient, actor: SlackActorRef, services: Services):
    # The trigger id lasts 3 seconds: open at once, fill in once the use case (and Gmail) answered.
    modal_then(client, body, loading_view(),
               lambda: compose_view(alert_use_cases.start_reply(services, actor, _reference(body))),
               notice_view)
