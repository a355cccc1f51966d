"""The App Home tab (SPEC §3): published on every open and after every change made from it."""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services import Services
from handlers.blocks.home import home_view
from handlers.context import SlackRequest
from handlers.middleware import once
from handlers.status import load_status

log = logging.getLogger(__name__)


def publish_home(request: SlackRequest, notice: str | None = None) -> None:
    with request.scope() as (session, actor):
        status = load_status(session, actor, request.team_id)
    try:
        request.client.views_publish(user_id=request.user_id, view=home_view(status, notice))
    except SlackApiError as error:
        # Home tab disabled in the app config, user gone…: nothing the user could act on.
        log.warning("views.publish for %s failed: %s", request.user_id, error.response.get("error"))


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    @once(services)
    def home_opened(body: dict, event: dict, client: WebClient):
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        publish_home(SlackRequest(services, client, body.get("team_id") or "", event["user"]))
