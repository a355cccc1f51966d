"""The "Choose settings" button of the "Connected as x@y" DM (SPEC F1): opens the setup modal."""
from __future__ import annotations

import json

from slack_bolt import App
from slack_sdk import WebClient

from bot.services import Services
from crm_store.identity import require_mail_integration
from crm_store.mailboxes import connected_mailbox_of
from crm_store.sharing import org_policy
from handlers.blocks.ids import ActionId
from handlers.blocks.setup import setup_modal
from handlers.context import SlackRequest
from handlers.middleware import ack_at_once, once


def setup_view(request: SlackRequest, private_metadata: dict) -> dict:
    with request.scope() as (session, actor):
        account = connected_mailbox_of(session, require_mail_integration(session, actor))
        return setup_modal(address=account.email_address, policy=org_policy(session, request.team_id).value,
                           sharing=account.sharing, depth=account.sharing_depth, magnet=account.magnet_enabled,
                           labels=account.labels_enabled, private_metadata=json.dumps(private_metadata))


def message_origin(body: dict) -> dict:
    """Where the button was: the message to replace with the saved settings after submission."""
    container = body.get("container") or {}
    if container.get("type") == "message" and not container.get("is_ephemeral") and container.get("message_ts"):
        return {"channel": container.get("channel_id"), "ts": container["message_ts"]}
    return {}


def register(app: App, services: Services) -> None:
    @app.action(ActionId.SETUP_OPEN.value, middleware=[ack_at_once])
    @once(services)
    def open_setup(body: dict, client: WebClient):
        request = SlackRequest.of(services, body, client)
        view = setup_view(request, message_origin(body))
        # Straight from the listener: the trigger id is good for 3 seconds.
        client.views_open(trigger_id=body["trigger_id"], view=view)
