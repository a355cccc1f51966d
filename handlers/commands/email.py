"""`/email <contact email or name>` (SPEC F6): the compose modal, sent from the rep's own Gmail."""
from __future__ import annotations

import logging

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks.compose import compose_view
from handlers.blocks.contact import no_contact_blocks, notice, usage
from handlers.parsing import contact_query
from usecases import compose
from usecases.contacts import NoContact
from usecases.values import Services, SlackActorRef

log = logging.getLogger(__name__)

COMMAND = "/email"


def email_command(body: dict, respond: Respond, client: WebClient, actor: SlackActorRef, services: Services):
    query = contact_query(body.get("text") or "")
    if not query:
        text, blocks = usage()
        respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    # No Gmail call before the modal: the trigger id lasts 3 seconds.
    draft = compose.start_email(services, actor, query)
    if isinstance(draft, NoContact):
        text, blocks = no_contact_blocks(draft)
        respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    try:
        client.views_open(trigger_id=body["trigger_id"], view=compose_view(draft))
    except SlackApiError as error:
        log.info("could not open the compose modal: %s", error.response.get("error"))
        text, blocks = notice("Slack did not let me open the email form in time. Please run `/email` again.")
        respond(text=text, blocks=blocks, response_type="ephemeral")
