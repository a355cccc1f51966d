"""The "Choose settings" button of the "Connected as x@y" DM (SPEC F1): opens the setup modal."""
from __future__ import annotations

import json

from slack_sdk import WebClient

from handlers.blocks.setup import setup_modal
from usecases import settings as setting_use_cases
from usecases.values import Services, SlackActorRef


def setup_view(services: Services, who: SlackActorRef, private_metadata: dict) -> dict:
    choices = setting_use_cases.setup_choices(services, who)
    return setup_modal(address=choices.address, policy=choices.policy, sharing=choices.sharing, depth=choices.depth,
                       magnet=choices.magnet, labels=choices.labels, private_metadata=json.dumps(private_metadata))


def message_origin(body: dict) -> dict:
    """Where the button was: the message to replace with the saved settings after submission."""
    container = body.get("container") or {}
    if container.get("type") == "message" and not container.get("is_ephemeral") and container.get("message_ts"):
        return {"channel": container.get("channel_id"), "ts": container["message_ts"]}
    return {}


def open_setup(body: dict, client: WebClient, actor: SlackActorRef, services: Services):
    view = setup_view(services, actor, message_origin(body))
    # Straight from the listener: the trigger id is good for 3 seconds.
    client.views_open(trigger_id=body["trigger_id"], view=view)
