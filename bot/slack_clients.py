"""Slack Web API clients for jobs (alerts, DMs): one per workspace, with slack_sdk's retry handlers."""
from __future__ import annotations

import threading

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.oauth.installation_store import InstallationStore

from bot.settings import Settings


class ServerErrorRetryHandler(RetryHandler):
    """Retry Slack's 5xx answers too (slack_sdk ships handlers for 429 and connection errors only)."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return response is not None and response.status_code >= 500


def retry_handlers() -> list[RetryHandler]:
    # 429: honour Retry-After (slack_sdk's handler sleeps exactly that long), a few times.
    return [
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]


def api_base(settings: Settings) -> str:
    return settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"


def make_client(settings: Settings, token: str | None) -> WebClient:
    return WebClient(token=token, base_url=api_base(settings), timeout=15, retry_handlers=retry_handlers())


class SlackClients:
    """The bot token of a workspace: the configured one, or the installation's in multi-workspace mode."""

    def __init__(self, settings: Settings, installation_store: InstallationStore | None = None):
        self.settings = settings
        self.installation_store = installation_store
        self._lock = threading.Lock()
        self._clients: dict[str, WebClient] = {}

    def bot_token(self, team_id: str) -> str | None:
        if self.installation_store is None:
            return self.settings.slack_bot_token
        bot = self.installation_store.find_bot(enterprise_id=None, team_id=team_id)
        return bot.bot_token if bot else None

    def for_team(self, team_id: str) -> WebClient | None:
        token = self.bot_token(team_id)
        if token is None:
            return None
        with self._lock:
            client = self._clients.get(team_id)
            if client is None or client.token != token:
                client = self._clients[team_id] = make_client(self.settings, token)
            return client
