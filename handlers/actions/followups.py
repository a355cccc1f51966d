"""The buttons of a follow-up nudge: Reply (the compose modal, threaded), Snooze 1 day, Done, Open in Gmail."""
from __future__ import annotations

import json

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from handlers.actions.contact import modal_then
from handlers.blocks.compose import compose_view, loading_view, notice_view
from handlers.blocks.followups import FollowupAction, done_words, snoozed_words
from handlers.middleware import once
from usecases import followups as followup_use_cases
from usecases.followups import FollowupRef
from usecases.values import Services


def _reference(body: dict) -> FollowupRef:
    try:
        value = json.loads(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        value = None
    return FollowupRef.of(value)


def register(app: App, services: Services) -> None:
    @app.action(FollowupAction.REPLY)
    @once(services)
    def reply(ack: Ack, body: dict, client: WebClient, context: BoltContext):
        ack()
        modal_then(client, body, loading_view(),
                   lambda: compose_view(followup_use_cases.start_reply(services, context["actor"], _reference(body))),
                   notice_view)

    @app.action(FollowupAction.SNOOZE)
    @once(services)
    def snooze(ack: Ack, body: dict, respond: Respond, context: BoltContext):
        ack()
        followup_use_cases.snooze(services, context["actor"], _reference(body))
        respond(text=snoozed_words(), response_type="ephemeral", replace_original=False)

    @app.action(FollowupAction.DONE)
    @once(services)
    def done(ack: Ack, body: dict, respond: Respond, context: BoltContext):
        ack()
        followup_use_cases.done(services, context["actor"], _reference(body))
        respond(text=done_words(), response_type="ephemeral", replace_original=False)

    @app.action(FollowupAction.OPEN_GMAIL)
    def open_gmail(ack: Ack):
        ack()  # a link button
