"""The buttons of a MailMagnet alert: View contact, Reply, Open in Gmail, Mute contact.

The button's value names (mailbox, message, contact); the use cases check every one of them against
the alert it came from and what the clicker may do.
"""
from __future__ import annotations

import json
import logging
import re

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from handlers.actions.contact import modal_then
from handlers.blocks.ids import AlertAction
from handlers.blocks.compose import compose_view, loading_view, notice_view
from handlers.blocks.contact import contact_view_blocks
from handlers.middleware import once
from usecases import alerts as alert_use_cases
from usecases.alerts import AlertRef
from usecases.values import Services
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


def register(app: App, services: Services) -> None:
    @app.action(AlertAction.VIEW_CONTACT)
    @once(services)
    def view_contact(ack: Ack, body: dict, respond: Respond, context: BoltContext):
        ack()
        view = alert_use_cases.contact_from_alert(services, context["actor"], _reference(body))
        text, blocks = contact_view_blocks(view)
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    @app.action(AlertAction.MUTE)
    @once(services)
    def mute(ack: Ack, body: dict, respond: Respond, context: BoltContext):
        ack()
        name, email = alert_use_cases.mute_from_alert(services, context["actor"], _reference(body))
        respond(text=f"Muted {escape(name)}: no more MailMagnet alerts for their emails. "
                     f"`/gmail unmute {escape(email)}` undoes it.", response_type="ephemeral", replace_original=False)

    @app.action(OPEN_GMAIL_ACTIONS)
    def open_gmail(ack: Ack):
        ack()  # a link button: Slack opens the URL; the click still has to be acknowledged

    @app.action(AlertAction.REPLY)
    @once(services)
    def reply(ack: Ack, body: dict, client: WebClient, context: BoltContext):
        ack()
        # The trigger id lasts 3 seconds: open at once, fill in once the use case (and Gmail) answered.
        modal_then(client, body, loading_view(),
                   lambda: compose_view(alert_use_cases.start_reply(services, context["actor"], _reference(body))),
                   notice_view)
