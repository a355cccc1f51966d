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
from handlers.blocks.notifications import alerts_in_dm_notice, connected_dm, reconnect_dm

log = logging.getLogger(__name__)


class SlackDeliveryError(Exception):
    """Slack did not take the message; the alert stays pending and is retried."""


class SlackNotifier:
    def __init__(self, slack: SlackClients):
        self.slack = slack
        self._lock = threading.Lock()
        self._dm_channels: dict[tuple[str, str], str] = {}
        self._bot_ids: dict[str, str | None] = {}

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

    def alerts_go_to_dm(self, account: GmailAccount, channel: str, reason: str) -> None:
        text, blocks = alerts_in_dm_notice(channel, reason)
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

    def dm_address(self, account: GmailAccount) -> str:
        # chat.postMessage to a user id lands in the DM with the bot: a post needs no conversations.open (a round
        # trip for the first alert of every rep after each start); reading the DM's history still does.
        return account.slack_user_id

    def _bot_id(self, team_id: str) -> str | None:
        """Our bot's id in the workspace (auth.test), to tell our own messages from anyone else's."""
        with self._lock:
            if team_id in self._bot_ids:
                return self._bot_ids[team_id]
        try:
            bot_id = self._client(team_id).auth_test().get("bot_id")
        except SlackApiError:
            return None
        with self._lock:
            self._bot_ids[team_id] = bot_id
        return bot_id

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
        """Our own alerts in the channel since a moment, by the ids in their metadata. Messages anyone else
        posted are ignored, whatever metadata they carry, and a malformed payload is skipped."""
        client = self._client(team_id)
        ours = self._bot_id(team_id)
        if ours is None:
            raise SlackDeliveryError("auth.test failed: cannot tell our own messages")
        found: dict[tuple[int, str], str] = {}
        cursor = None
        try:
            while True:
                page = client.conversations_history(channel=channel, oldest=f"{since.timestamp():.6f}",
                                                    include_all_metadata=True, limit=200, cursor=cursor)
                for message in page.get("messages", []):
                    if message.get("bot_id") != ours:
                        continue
                    found.update(_alert_ids(message))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return found
        except SlackApiError as error:
            raise SlackDeliveryError(f"cannot read the history of {channel}: {error}") from None


def _alert_ids(message: dict) -> dict[tuple[int, str], str]:
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    payload = metadata.get("event_payload") if isinstance(metadata.get("event_payload"), dict) else {}
    ts = message.get("ts")
    account_id = payload.get("account_id")
    if not isinstance(ts, str) or not isinstance(account_id, int):
        return {}
    if metadata.get("event_type") == ALERT_EVENT_TYPE:
        gmail_ids = [payload.get("gmail_id")]
    elif metadata.get("event_type") == DIGEST_EVENT_TYPE:
        gmail_ids = payload.get("gmail_ids") if isinstance(payload.get("gmail_ids"), list) else []
    else:
        return {}
    return {(account_id, gmail_id): ts for gmail_id in gmail_ids if isinstance(gmail_id, str)}
