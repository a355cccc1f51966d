"""The buttons of a MailMagnet alert: View contact, Reply, Open in Gmail, Mute contact.

The button's value names (mailbox, message, contact); the use cases check every one of them against
the alert it came from and what the clicker may do.
"""
from __future__ import annotations

import json
import logging

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from handlers.blocks.alert_reply import REPLY_CALLBACK, loading_view, refusal_view, reply_view, submitted_reply
from handlers.blocks.alerts import AlertAction
from handlers.blocks.contact import contact_card_blocks
from handlers.middleware import once
from usecases import alerts as alert_use_cases
from usecases.alerts import AlertRef
from usecases.values import DomainError, Services
from usecases.wording import escape

log = logging.getLogger(__name__)


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
        card = alert_use_cases.contact_from_alert(services, context["actor"], _reference(body))
        text, blocks = contact_card_blocks(card)
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    @app.action(AlertAction.MUTE)
    @once(services)
    def mute(ack: Ack, body: dict, respond: Respond, context: BoltContext):
        ack()
        name, email = alert_use_cases.mute_from_alert(services, context["actor"], _reference(body))
        respond(text=f"Muted {escape(name)}: no more MailMagnet alerts for their emails. "
                     f"`/gmail unmute {escape(email)}` undoes it.", response_type="ephemeral", replace_original=False)

    @app.action(AlertAction.OPEN_GMAIL)
    def open_gmail(ack: Ack):
        ack()  # a link button: Slack opens the URL; the click still has to be acknowledged

    @app.action(AlertAction.REPLY)
    @once(services)
    def reply(ack: Ack, body: dict, client: WebClient, context: BoltContext):
        ack()
        reference = _reference(body)
        # The trigger id lasts 3 seconds: open at once, fill in once the use case (and Gmail) answered.
        opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view())
        try:
            draft = alert_use_cases.start_reply(services, context["actor"], reference)
        except DomainError as refusal:
            client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"],
                                view=refusal_view(str(refusal)))
            return
        metadata = {"a": draft.account_id, "g": draft.gmail_id}
        client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"],
                            view=reply_view(metadata, to=draft.to, mailbox=draft.mailbox, subject=draft.subject))

    @app.view(REPLY_CALLBACK)
    @once(services)  # a retried or repeated submission must not send the email twice
    def send_reply(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext):
        subject, text = submitted_reply(view)
        if not text.strip():
            ack(response_action="errors", errors={"reply_body": "Write a message first."})
            return
        ack()
        try:
            metadata = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            metadata = {}
        metadata = metadata if isinstance(metadata, dict) else {}
        to = alert_use_cases.send_reply(services, context["actor"], metadata.get("a"), metadata.get("g"), subject,
                                        text)
        client.chat_postMessage(channel=context["actor"].user_id,
                                text=f"Sent your reply to {escape(to)}: “{escape(subject)}”.")
