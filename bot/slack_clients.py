"""Slack Web API clients for jobs (alerts, DMs): one per workspace, with slack_sdk's retry handlers."""
from __future__ import annotations

import threading

from slack_sdk import WebClient
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.oauth.installation_store import InstallationStore

from bot.settings import Settings
from bot.slack_failures import method_of, never_sent, safe_to_repeat
from telemetry import metrics


class ServerErrorRetryHandler(RetryHandler):
    """Retry Slack's 5xx answers (slack_sdk's own handler knows 500 and 503 only) — for calls safe to repeat.

    A post answered 5xx may be in the channel already: sending it again is the notifier's decision, after a look
    at the channel's history (bot/notifier.py), never a blind retry here."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return response is not None and response.status_code >= 500 and safe_to_repeat(method_of(request.url))


class ConnectionErrorRetryHandler(builtin_handlers.ConnectionErrorRetryHandler):
    """slack_sdk's handler for a reset or closed connection, for calls safe to repeat; a post only when it never
    reached Slack (connection refused): cut after sending, it may have landed."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return safe_to_repeat(method_of(request.url)) or (error is not None and never_sent(error))


class SlackErrorCounter(RetryHandler):
    """Counts every Slack Web API answer that is an error, for /metrics, and never asks for a retry.

    slack_sdk hands each answer (200 OK included, with its parsed body) and each connection error to the
    client's retry handlers in order; first in the list, this sees all of them, retries included, in every
    client: ours and the copies Bolt makes per request keep the same handlers."""

    def can_retry(self, *, state, request, response=None, error=None) -> bool:
        kind = self.error_kind(response, error)
        if kind is not None:
            method = method_of(request.url)[:60]
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
    # 429 (Slack did not take the call): honour Retry-After (slack_sdk's handler sleeps that long), for every
    # method. 5xx and connection errors: only calls safe to repeat (bot/slack_failures.py).
    return [
        SlackErrorCounter(),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]


def api_base(settings: Settings) -> str:
    return settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"


def make_client(settings: Settings, token: str | None) -> WebClient:
    return WebClient(token=token, base_url=api_base(settings), timeout=settings.slack_timeout_seconds,
                     retry_handlers=retry_handlers())


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

    def forget_revoked_tokens(self, enterprise_id: str | None, team_id: str | None, *, bot: bool,
                              user_ids: list[str]) -> bool:
        """tokens_revoked, as Bolt's TokenRevocationListeners handles it: the revoked users' and the bot's."""
        if self.installation_store is None:
            return False
        for user_id in user_ids:
            self.installation_store.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        if bot:
            self.installation_store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        self._forget_client(team_id)
        return True

    def forget_workspace(self, enterprise_id: str | None, team_id: str | None) -> bool:
        """app_uninstalled: every token of the workspace."""
        if self.installation_store is None:
            return False
        self.installation_store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        self._forget_client(team_id)
        return True

    def _forget_client(self, team_id: str | None) -> None:
        with self._lock:
            self._clients.pop(team_id or "", None)

    def for_team(self, team_id: str) -> WebClient | None:
        token = self.bot_token(team_id)
        if token is None:
            return None
        with self._lock:
            client = self._clients.get(team_id)
            if client is None or client.token != token:
                client = self._clients[team_id] = make_client(self.settings, token)
            return client
