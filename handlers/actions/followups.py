"""The buttons of a follow-up nudge: Reply (the compose modal, threaded), Snooze 1 day, Done, Open in Gmail.

The button's value names (follow-up, mailbox); the use cases check both against the clicker: only the
mailbox's owner acts on its follow-ups."""
from __future__ import annotations

import json

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from handlers.actions.contact import modal_then
from handlers.blocks.compose import compose_view, loading_view, notice_view
from handlers.blocks.followups import done_words, snoozed_words
from usecases import followups as followup_use_cases
from usecases.followups import FollowupRef
from usecases.values import Services, SlackActorRef


def _reference(body: dict) -> FollowupRef:
    try:
        value = json.loads(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        value = None
    return FollowupRef.of(value)


def reply(body: dict, client: WebClient, actor: SlackActorRef, services: Services):
    # The trigger id lasts 3 seconds: open at once, fill in once the use case (and Gmail) answered.
    modal_then(client, body, loading_view(),
               lambda: compose_view(followup_use_cases.start_reply(services, actor, _reference(body))),
               notice_view)


def snooze(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    followup_use_cases.snooze(services, actor, _reference(body))
    respond(text=snoozed_words(), response_type="ephemeral", replace_original=False)


def done(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    followup_use_cases.done(services, actor, _reference(body))
    respond(text=done_words(), response_type="ephemeral", replace_original=False)


def open_gmail(ack: Ack):
    ack()  # a link button: Slack opens the URL; the click still has to be acknowledged
