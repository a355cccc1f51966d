"""The Bolt app: single workspace (bot token) or multi-workspace (Slack OAuth v2 installs)."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bot.manifest import bot_scopes
from bot.services import Services
from bot.slack_clients import make_client
from handlers import register_listeners
from handlers.mailmagnet import register as register_mailmagnet

log = logging.getLogger(__name__)

# Listeners run here after their ack (Bolt's default is 5 threads); they wait on Gmail and Slack, not the CPU.
LISTENER_THREADS = 16


class SlackNotConfigured(Exception):
    pass


def check_slack_settings(settings, *, socket_mode: bool = False) -> None:
    """Refuse to start without the Slack settings the chosen mode needs, naming them."""
    if socket_mode:
        if not settings.slack_app_token:
            raise SlackNotConfigured("--socket-mode needs SLACK_APP_TOKEN (an app-level xapp- token with "
                                     "connections:write)")
        if settings.multi_workspace:
            raise SlackNotConfigured("Socket Mode serves one workspace: unset SLACK_CLIENT_ID/SECRET")
    elif not settings.slack_signing_secret:
        raise SlackNotConfigured("SLACK_SIGNING_SECRET is required to receive Slack requests over HTTP")
    if not settings.multi_workspace and not settings.slack_bot_token:
        raise SlackNotConfigured("set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
                                 "SLACK_CLIENT_SECRET (installs into several workspaces)")


def create_slack_app(services: Services, *, socket_mode: bool = False) -> App:
    settings = services.settings
    check_slack_settings(settings, socket_mode=socket_mode)
    common = dict(
        signing_secret=settings.slack_signing_secret or "socket-mode-needs-no-signing-secret",
        # Listeners ack first and work afterwards on Bolt's thread pool (HTTP answers within ms).
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        # Do not call auth.test at start-up: the bot must start even while Slack is unreachable.
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack-listener"),
    )
    if settings.multi_workspace:
        oauth_settings = OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=bot_scopes(),
            installation_store=services.slack.installation_store,
            state_store=SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=services.engine),
            redirect_uri=f"{settings.public_base}/slack/oauth_redirect",
            authorization_url=settings.slack_authorization_url,
        )
        app = App(client=make_client(settings, None), oauth_settings=oauth_settings, **common)
    else:
        # The client carries the bot token (and our base URL and retry handlers).
        app = App(client=make_client(settings, settings.slack_bot_token), **common)
    register_listeners(app, services)
    register_mailmagnet(app, services)
    return app
