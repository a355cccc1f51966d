"""The Bolt app: single workspace (bot token) or the organisation's workspaces (Slack OAuth v2 installs)."""
from __future__ import annotations

import html
import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltError
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_flow import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bot.manifest import bot_scopes
from bot.slack_clients import make_client
from crm_store.sqlite_gate import writes_first
from telemetry.log_context import ContextCopyingExecutor
from handlers import register_listeners
from usecases.actors import workspace_allowed
from bot.services import BotServices

log = logging.getLogger(__name__)

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
    if settings.multi_workspace and not (settings.allowed_team_id_list or settings.slack_allowed_enterprise_id):
        raise SlackNotConfigured("installs into several workspaces serve one organisation: set "
                                 "SLACK_ALLOWED_TEAM_IDS (its workspaces) or SLACK_ALLOWED_ENTERPRISE_ID (its "
                                 "Enterprise Grid org)")


class WorkspaceRefused(BoltError):
    """An install from a workspace this deployment does not serve."""


class OrganisationOAuthFlow(OAuthFlow):
    """Bolt's install flow, refusing (before anything is stored) workspaces outside the organisation; the
    token Slack just issued to such a workspace is revoked at once."""

    services: BotServices

    def store_installation(self, request, installation):
        if not workspace_allowed(self.services, installation.team_id, installation.enterprise_id):
            try:
                WebClient(token=installation.bot_token, base_url=self.client.base_url, timeout=10).auth_revoke()
            except SlackApiError as error:
                log.warning("could not revoke the refused install's token: %s", error.response.get("error"))
            log.warning("refused an install into workspace %s (enterprise %s)", installation.team_id,
                        installation.enterprise_id)
            raise WorkspaceRefused("workspace not allowed")
        return super().store_installation(request, installation)


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MailMagnet</title></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto"><h1>{title}</h1><p>{message}</p>
</body></html>"""


def _page(status: int, title: str, message: str) -> BoltResponse:
    return BoltResponse(status=status, body=PAGE.format(title=html.escape(title), message=html.escape(message)),
                        headers={"Content-Type": "text/html; charset=utf-8"})


def _install_failed(args: FailureArgs) -> BoltResponse:
    if isinstance(args.error, WorkspaceRefused):
        return _page(403, "MailMagnet was not installed",
                     "This MailMagnet serves another organisation's Slack workspaces only, so it cannot be installed "
                     "in this one. Nothing was stored, and the access Slack granted was revoked.")
    return _page(args.suggested_status_code, "MailMagnet was not installed",
                 f"Slack did not complete the installation ({args.reason}). Start again from the install link.")


def _installed(args: SuccessArgs) -> BoltResponse:
    return _page(200, "MailMagnet is installed",
                 "You can close this tab: in Slack, each rep runs /gmail connect to connect their Gmail.")


def listener_pool(settings) -> ThreadPoolExecutor:
    """Where listeners run after their ack. Bolt's default has 5 threads; they wait on Gmail and Slack, not the
    CPU. Its owner shuts it down: a thread left idle keeps its Gmail connection open."""
    # Each listener runs in its request's log context (request id, workspace: telemetry/log_context.py).
    return ContextCopyingExecutor(max_workers=settings.slack_listener_threads, thread_name_prefix="slack-listener",
                                  # their SQLite writes go before queued background writes
                                  initializer=writes_first)


def create_slack_app(services: BotServices, settings, *, socket_mode: bool = False,
                     listener_executor: ThreadPoolExecutor | None = None) -> App:
    check_slack_settings(settings, socket_mode=socket_mode)
    common = dict(
        signing_secret=settings.slack_signing_secret or "socket-mode-needs-no-signing-secret",
        # Listeners ack first and work afterwards on Bolt's thread pool (HTTP answers within ms).
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        # Do not call auth.test at start-up: the bot must start even while Slack is unreachable.
        token_verification_enabled=False,
        listener_executor=listener_executor or listener_pool(settings),
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
            callback_options=CallbackOptions(success=_installed, failure=_install_failed),
        )
        client = make_client(settings, None)
        flow = OrganisationOAuthFlow(client=client, settings=oauth_settings)
        flow.services = services
        app = App(client=client, oauth_flow=flow, **common)
    else:
        # The client carries the bot token (and our base URL and retry handlers).
        app = App(client=make_client(settings, settings.slack_bot_token), **common)
    register_listeners(app, services)
    return app
