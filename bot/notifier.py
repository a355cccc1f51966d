"""The Gmail side's Notifier, spoken in Slack: DMs, alerts, digests, and finding alerts already posted."""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.slack_clients import SlackClients
from crm_store.models import GmailAccount
from gmail.notifier import ALERT_EVENT_TYPE, DIGEST_EVENT_TYPE, AlertView
from handlers.blocks.alerts import alert_blocks, alert_metadata, alert_text, digest_blocks, digest_metadata
from handlers.blocks.notifications import connected_dm, reconnect_dm

log = logging.getLogger(__name__)


class SlackDeliveryError(Exception):
    """Slack did not take the message; the alert stays pending and is retried."""


class SlackNotifier:
    def __init__(self, slack: SlackClients):
        self.slack = slack
        self._lock = threading.Lock()
        self._dm_channels: dict[tuple[str, str], str] = {}
        self._bot_users: dict[str, str] = {}

    def _client(self, team_id: str):
        client = self.slack.for_team(team_id)
        if client is None:
            raise SlackDeliveryError(f"no Slack token for workspace {team_id}")
        return client

    def dm(self, team_id: str, user_id: str, text: str, blocks: list[dict]) -> str | None:
        try:
            # chat.postMessage to a user id lands in the DM with the bot.
            return self._client(team_id).chat_postMessage(channel=user_id, text=text, blocks=blocks)["ts"]
        except (SlackApiError, SlackDeliveryError) as error:
            log.warning("DM to %s failed: %s", user_id, error)
            return None

    def mailbox_connected(self, account: GmailAccount, *, replaced_address: str | None) -> None:
        text, blocks = connected_dm(account.email_address, replaced_address)
        self.dm(account.slack_team_id, account.slack_user_id, text, blocks)

    def ask_to_reconnect(self, account: GmailAccount, reason: str) -> None:
        text, blocks = reconnect_dm(account.email_address, reason)
        self.dm(account.slack_team_id, account.slack_user_id, text, blocks)

    # -- alerts ----------------------------------------------------------------------------------

    def alert_channel(self, account: GmailAccount) -> str:
        key = (account.slack_team_id, account.slack_user_id)
        with self._lock:
            if key in self._dm_channels:
                return self._dm_channels[key]
        try:
            channel = self._client(account.slack_team_id).conversations_open(users=account.slack_user_id)
        except SlackApiError as error:
            raise SlackDeliveryError(f"cannot open a DM with {account.slack_user_id}: {error}") from None
        with self._lock:
            self._dm_channels[key] = channel["channel"]["id"]
        return self._dm_channels[key]

    def _bot_user(self, team_id: str) -> str | None:
        with self._lock:
            if team_id in self._bot_users:
                return self._bot_users[team_id]
        try:
            user = self._client(team_id).auth_test().get("user_id")
        except SlackApiError:
            return None
        with self._lock:
            self._bot_users[team_id] = user
        return user

    def channel_members(self, team_id: str, channel: str) -> list[str] | None:
        if channel.startswith("D"):
            return None
        client = self._client(team_id)
        members: list[str] = []
        cursor = None
        try:
            while True:
                page = client.conversations_members(channel=channel, limit=200, cursor=cursor)
                members.extend(page["members"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as error:
            raise SlackDeliveryError(f"cannot list members of {channel}: {error}") from None
        bot = self._bot_user(team_id)
        return [m for m in members if m != bot]

    def post_alert(self, team_id: str, channel: str, view: AlertView) -> str:
        try:
            response = self._client(team_id).chat_postMessage(
                channel=channel, text=alert_text(view), blocks=alert_blocks(view), metadata=alert_metadata(view),
                unfurl_links=False, unfurl_media=False)
        except SlackApiError as error:
            raise SlackDeliveryError(f"chat.postMessage failed: {error.response.get('error')}") from None
        return response["ts"]

    def post_digest(self, team_id: str, channel: str, views: list[AlertView], digest_key: str) -> str:
        text, blocks = digest_blocks(views)
        try:
            response = self._client(team_id).chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=digest_metadata(views, digest_key),
                unfurl_links=False, unfurl_media=False)
        except SlackApiError as error:
            raise SlackDeliveryError(f"chat.postMessage failed: {error.response.get('error')}") from None
        return response["ts"]

    def posted_alerts(self, team_id: str, channel: str, since: datetime) -> dict[tuple[int, str], str]:
        client = self._client(team_id)
        found: dict[tuple[int, str], str] = {}
        cursor = None
        try:
            while True:
                page = client.conversations_history(channel=channel, oldest=f"{since.timestamp():.6f}",
                                                    include_all_metadata=True, limit=200, cursor=cursor)
                for message in page.get("messages", []):
                    metadata = message.get("metadata") or {}
                    payload = metadata.get("event_payload") or {}
                    if metadata.get("event_type") == ALERT_EVENT_TYPE:
                        found[(int(payload["account_id"]), str(payload["gmail_id"]))] = message["ts"]
                    elif metadata.get("event_type") == DIGEST_EVENT_TYPE:
                        for gmail_id in payload.get("gmail_ids", []):
                            found[(int(payload["account_id"]), str(gmail_id))] = message["ts"]
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return found
        except SlackApiError as error:
            raise SlackDeliveryError(f"cannot read the history of {channel}: {error}") from None
