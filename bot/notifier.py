"""The Gmail side's Notifier, spoken in Slack: DMs, alerts, digests, and finding alerts already posted."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime
from http.client import HTTPException
from typing import Callable, Iterator

from slack_sdk.errors import SlackApiError

from bot.slack_clients import SlackClients
from bot.slack_failures import Failure, failure_of
from crm_store.models import GmailAccount
from gmail.notifier import ALERT_EVENT_TYPE, DIGEST_EVENT_TYPE, AlertView, MailboxIncident
from gmail.followups import FollowupNudge
from handlers.blocks.followups import followup_blocks, followup_metadata, followup_text
from handlers.blocks.response_digest import digest_chart_png, digest_text
from usecases.response_digest import ResponseDigest
from handlers.blocks.alerts import alert_blocks, alert_metadata, alert_text, digest_blocks, digest_metadata
from handlers.blocks.notifications import (
    admin_incident_dm,
    alerts_in_dm_notice,
    connect_invitation_dm,
    connected_dm,
    reconnect_dm,
)

log = logging.getLogger(__name__)

NOTICE_EVENT_TYPE = "mailmagnet_notice"
# A post's own clock reading bounds the history searched for it; Slack's clock may be a little behind ours.
CLOCK_SKEW_SECONDS = 60.0


class SlackDeliveryError(Exception):
    """Slack did not take the message, or whether it did cannot be told yet (its channel's history cannot be read):
    the alert stays pending, and the next run looks in the history before posting it again."""


class SlackNotifier:
    """Every post of a job is exactly once: one that failed in a way that leaves it uncertain (5xx, timeout,
    connection cut after sending) is sent again only when the channel's history shows it did not land. Each post
    carries metadata unique to it (the alert's mailbox and message, the digest's key, a notice's own id) to be
    found by; slack_sdk's retry handlers retry only what Slack surely did not take (bot/slack_clients.py)."""

    def __init__(self, slack: SlackClients, *, post_attempts: int = 3, pause_seconds: float = 0.5,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.slack = slack
        self.post_attempts = post_attempts
        self.pause_seconds = pause_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._dm_channels: dict[tuple[str, str], str] = {}
        self._bot_ids: dict[str, str | None] = {}

    def _client(self, team_id: str):
        client = self.slack.for_team(team_id)
        if client is None:
            raise SlackDeliveryError(f"no Slack token for workspace {team_id}")
        return client

    def dm(self, team_id: str, user_id: str, text: str, blocks: list[dict]) -> str | None:
        # chat.postMessage to a user id lands in the DM with the bot. The notice's own id in its metadata lets a
        # post whose answer was lost be found instead of sent twice.
        metadata = {"event_type": NOTICE_EVENT_TYPE, "event_payload": {"notice": uuid.uuid4().hex}}
        try:
            return self._post_once(team_id, user_id, text=text, blocks=blocks, metadata=metadata)
        except SlackDeliveryError as error:
            log.warning("DM to %s failed: %s", user_id, error)
            return None

    def mailbox_connected(self, account: GmailAccount, *, replaced_address: str | None) -> None:
        text, blocks = connected_dm(account.email_address, replaced_address)
        self.dm(account.slack_team_id, account.slack_user_id, text, blocks)

    def ask_to_reconnect(self, account: GmailAccount, reason: str) -> None:
        text, blocks = reconnect_dm(account.email_address, reason)
        self.dm(account.slack_team_id, account.slack_user_id, text, blocks)

    def tell_admin(self, team_id: str, admin_user_id: str, incident: MailboxIncident) -> None:
        text, blocks = admin_incident_dm(incident)
        self.dm(team_id, admin_user_id, text, blocks)

    def invite_to_connect(self, team_id: str, user_id: str, granted_by: str | None) -> bool:
        text, blocks = connect_invitation_dm(granted_by)
        return self.dm(team_id, user_id, text, blocks) is not None

    def alerts_go_to_dm(self, account: GmailAccount, channel: str, reason: str) -> None:
        text, blocks = alerts_in_dm_notice(channel, reason)
        self.dm(account.slack_team_id, account.slack_user_id, text, blocks)

    # -- alerts ----------------------------------------------------------------------------------

    def alert_channel(self, account: GmailAccount) -> str:
        return self._dm_channel(account.slack_team_id, account.slack_user_id)

    def _dm_channel(self, team_id: str, user_id: str) -> str:
        """The id of a user's DM with the bot (conversations.open; cached), to read its history."""
        key = (team_id, user_id)
        with self._lock:
            if key in self._dm_channels:
                return self._dm_channels[key]
        try:
            channel = self._client(team_id).conversations_open(users=user_id)
        except (SlackApiError, OSError, HTTPException) as error:
            raise SlackDeliveryError(f"cannot open a DM with {user_id}: {error}") from None
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
        except (SlackApiError, OSError, HTTPException):
            return None
        with self._lock:
            self._bot_ids[team_id] = bot_id
        return bot_id

    def post_alert(self, team_id: str, channel: str, view: AlertView) -> str:
        return self._post_once(team_id, channel, text=alert_text(view), blocks=alert_blocks(view),
                               metadata=alert_metadata(view), unfurl_links=False, unfurl_media=False)

    def post_followup(self, team_id: str, channel: str, nudge: FollowupNudge) -> str:
        return self._post_once(team_id, channel, text=followup_text(nudge), blocks=followup_blocks(nudge),
                               metadata=followup_metadata(nudge), unfurl_links=False, unfurl_media=False)

    def send_response_digest(self, digest: ResponseDigest) -> str:
        """The weekly response-time digest to one recipient's DM: the text as the file's comment, the chart as a
        PNG through slack_sdk's `files_upload_v2` (getUploadURLExternal, the upload, completeUploadExternal)."""
        client = self._client(digest.team_id)
        channel = self._dm_channel(digest.team_id, digest.recipient_slack_id)
        response = client.files_upload_v2(
            channel=channel, file=digest_chart_png(digest), filename="response-times.png",
            title=f"Customer response times {digest.since:%Y-%m-%d} to {digest.until:%Y-%m-%d}",
            alt_txt="Share of customer threads answered within 4 hours and within 24 hours, per rep",
            initial_comment=digest_text(digest))
        return response["file"]["id"]

    def post_digest(self, team_id: str, channel: str, views: list[AlertView], digest_key: str) -> str:
        text, blocks = digest_blocks(views)
        return self._post_once(team_id, channel, text=text, blocks=blocks, metadata=digest_metadata(views, digest_key),
                               unfurl_links=False, unfurl_media=False)

    def posted_alerts(self, team_id: str, channel: str, since: datetime) -> dict[tuple[int, str], str]:
        """Our own alerts in the channel since a moment, by the ids in their metadata. Messages anyone else
        posted are ignored, whatever metadata they carry, and a malformed payload is skipped."""
        found: dict[tuple[int, str], str] = {}
        for message in self._our_messages(team_id, channel, since.timestamp()):
            found.update(_alert_ids(message))
        return found

    # -- exactly once ------------------------------------------------------------------------------

    def _post_once(self, team_id: str, channel: str, *, metadata: dict, **content) -> str:
        """chat.postMessage, sent again only when Slack did not take it (429: after Retry-After) or when, after an
        uncertain failure, the channel's history shows it is not there. Returns its ts; raises SlackDeliveryError
        when it was refused, when the history cannot be read, or after `post_attempts` attempts."""
        client = self._client(team_id)
        since = self._clock() - CLOCK_SKEW_SECONDS  # just before the first attempt
        reason = "not attempted"
        for attempt in range(1, self.post_attempts + 1):
            try:
                return client.chat_postMessage(channel=channel, metadata=metadata, **content)["ts"]
            except SlackApiError as error:
                response = error.response
                reason = response.get("error") or f"HTTP {response.status_code}"
                failure = failure_of(status=response.status_code, error=response.get("error"))
                wait = _retry_after(response.headers)
            except (OSError, HTTPException) as error:  # no answer: timeout, reset, connection closed or refused
                reason = str(error) or type(error).__name__
                failure = failure_of(exception=error)
                wait = None
            if failure is Failure.REFUSED:
                break
            if failure is Failure.UNCERTAIN:
                # A post still in flight may land a moment later: wait before looking, longer at each attempt.
                self._sleep(self.pause_seconds * 2 ** (attempt - 1))
                ts = self._find_post(team_id, channel, since, metadata)
                if ts is not None:
                    log.info("chat.postMessage to %s failed (%s) but the post landed; not sending it again",
                             channel, reason)
                    return ts
            elif attempt < self.post_attempts:
                self._sleep(wait if wait is not None else self.pause_seconds * 2 ** (attempt - 1))
        raise SlackDeliveryError(f"chat.postMessage failed: {reason}")

    def _find_post(self, team_id: str, channel: str, since: float, metadata: dict) -> str | None:
        """The ts of our message in the channel carrying exactly this metadata, if there is one."""
        for message in self._our_messages(team_id, self._history_channel(team_id, channel), since):
            found = message.get("metadata")
            if isinstance(found, dict) and found.get("event_type") == metadata["event_type"] \
                    and found.get("event_payload") == metadata["event_payload"]:
                return message.get("ts")
        return None

    def _history_channel(self, team_id: str, channel: str) -> str:
        """Where to read what was posted to `channel`: a post to a user id lands in their DM with the bot."""
        return self._dm_channel(team_id, channel) if channel[:1] in ("U", "W") else channel

    def _our_messages(self, team_id: str, channel: str, since: float) -> Iterator[dict]:
        """Our own messages in the channel since a moment (with their metadata), newest first."""
        client = self._client(team_id)
        ours = self._bot_id(team_id)
        if ours is None:
            raise SlackDeliveryError("auth.test failed: cannot tell our own messages")
        cursor = None
        try:
            while True:
                page = client.conversations_history(channel=channel, oldest=f"{since:.6f}",
                                                    include_all_metadata=True, limit=200, cursor=cursor)
                for message in page.get("messages", []):
                    if message.get("bot_id") == ours:
                        yield message
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return
        except (SlackApiError, OSError, HTTPException) as error:
            raise SlackDeliveryError(f"cannot read the history of {channel}: {error}") from None


def _retry_after(headers) -> float | None:
    """Seconds to wait from a 429's Retry-After, capped: a job never sleeps for long."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return min(max(float(value), 0.0), 30.0)
            except (TypeError, ValueError):
                return None
    return None


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
