"""Slack Web API clients for jobs (alerts, DMs): one per workspace, with slack_sdk's retry handlers."""
from __future__ import annotations

import threading

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.oauth.installation_store import InstallationStore

from bot.settings import Settings
from telemetry import metrics


class ServerErrorRetryHandler(RetryHandler):
    """Retry Slack's 5xx answers too (slack_sdk ships handlers for 429 and connection errors only)."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return response is not None and response.status_code >= 500


class SlackErrorCounter(RetryHandler):
    """Counts every Slack Web API answer that is an error, for /metrics, and never asks for a retry.

    slack_sdk hands each answer (200 OK included, with its parsed body) and each connection error to the
    client's retry handlers in order; first in the list, this sees all of them, retries included, in every
    client: ours and the copies Bolt makes per request keep the same handlers."""

    def can_retry(self, *, state, request, response=None, error=None) -> bool:
        kind = self.error_kind(response, error)
        if kind is not None:
            method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0][:60]
            metrics.SLACK_API_ERRORS.labels(method=method, kind=kind).inc()
        return False

    @staticmethod
    def error_kind(response, error) -> str | None:
        # An HTTP error status comes with both the response and urllib's HTTPError: the response says more.
        if response is None:
            return "connection" if error is not None else None
        if response.status_code == 429:
            return "ratelimited"
        if response.status_code >= 500:
            return "http_5xx"
        if response.status_code >= 400:
            return f"http_{response.status_code}"
        body = response.body if isinstance(response.body, dict) else {}
        if body.get("ok") is False:
            return str(body.get("error") or "unknown")[:60]
        return None


def retry_handlers() -> list[RetryHandler]:
    # 429: honour Retry-After (slack_sdk's handler sleeps exactly that long), a few times.
    return [
        SlackErrorCounter(),
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
