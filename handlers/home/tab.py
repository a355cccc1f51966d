"""The App Home tab (SPEC §3): published on every open and after every change made from it."""
from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks.home import home_view
from usecases import contact_emails
from usecases import mailbox as mailbox_use_cases
from usecases import overview as overview_use_cases
from usecases.values import Services, SlackActorRef

log = logging.getLogger(__name__)


def publish_home(services: Services, who: SlackActorRef, client: WebClient, notice: str | None = None) -> None:
    status = mailbox_use_cases.status(services, who)
    recent = contact_emails.recent_customer_emails(services, who) if status.connected else None
    team = overview_use_cases.overview_if_admin(services, who)
    try:
        client.views_publish(user_id=who.user_id, view=home_view(status, notice, recent, team))
    except SlackApiError as error:
        # Home tab disabled in the app config, user gone…: nothing the user could act on.
        log.warning("views.publish for %s failed: %s", who.user_id, error.response.get("error"))


def home_opened(event: dict, client: WebClient, actor: SlackActorRef, services: Services):
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    publish_home(services, actor, client)
