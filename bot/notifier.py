"""The Gmail side's Notifier, spoken in Slack: DMs from the bot to a rep."""
from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.slack_clients import SlackClients
from crm_store.models import GmailAccount
from handlers.blocks.notifications import connected_dm, reconnect_dm

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, slack: SlackClients):
        self.slack = slack

    def dm(self, team_id: str, user_id: str, text: str, blocks: list[dict]) -> str | None:
        client = self.slack.for_team(team_id)
        if client is None:
            log.warning("no Slack token for workspace %s: DM to %s dropped", team_id, user_id)
            return None
        try:
            # chat.postMessage to a user id lands in the DM with the bot.
            return client.chat_postMessage(channel=user_id, text=text, blocks=blocks)["ts"]
        except SlackApiError as error:
            log.warning("DM to %s failed: %s", user_id, error.response.get("error"))
            return None

    def mailbox_connected(self, account: GmailAccount, *, replaced_address: str | None) -> None:
        text, blocks = connected_dm(account.email_address, replaced_address)
        self.dm(account.slack_team_id, account.slack_user_id, text, blocks)

    def ask_to_reconnect(self, account: GmailAccount, reason: str) -> None:
        text, blocks = reconnect_dm(account.email_address, reason)
        self.dm(account.slack_team_id, account.slack_user_id, text, blocks)
