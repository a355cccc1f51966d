"""What the Gmail side tells people, as an interface and plain data; bot/ implements it with Slack."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crm_store.models import GmailAccount

ALERT_EVENT_TYPE = "mailmagnet_alert"
DIGEST_EVENT_TYPE = "mailmagnet_digest"


@dataclass
class AlertView:
    """One alert, as the people in its channel may see it (SPEC F3, §5)."""

    account_id: int
    gmail_id: str
    mailbox_address: str
    rep_user_id: str
    contact_id: int
    contact_name: str
    contact_email: str
    company: str | None
    category_label: str | None
    deal_context: str | None
    sender: str
    received_at: datetime
    gmail_url: str
    subject: str | None = None  # None: hidden by sharing settings
    snippet: str | None = None
    hidden_reason: str | None = None

    @property
    def metadata_payload(self) -> dict:
        return {"account_id": self.account_id, "gmail_id": self.gmail_id}


class Notifier(Protocol):
    def mailbox_connected(self, account: GmailAccount, *, replaced_address: str | None) -> None:
        """DM the rep that the mailbox is connected and invite them to choose their settings."""

    def ask_to_reconnect(self, account: GmailAccount, reason: str) -> None:
        """DM the rep, once, that Google revoked access and they must reconnect."""

    def alert_channel(self, account: GmailAccount) -> str:
        """The Slack channel id alerts of this mailbox go to (the rep's DM by default)."""

    def channel_members(self, team_id: str, channel: str) -> list[str] | None:
        """Slack user ids of a shared channel's people (None for the rep's own DM)."""

    def post_alert(self, team_id: str, channel: str, view: AlertView) -> str:
        """Post one alert, with the Gmail message id in the message metadata; returns its ts."""

    def post_digest(self, team_id: str, channel: str, views: list[AlertView], digest_key: str) -> str:
        """Post several alerts as one message; returns its ts."""

    def posted_alerts(self, team_id: str, channel: str, since: datetime) -> dict[tuple[int, str], str]:
        """Alerts (account id, Gmail id) -> ts already in the channel since a moment: crash recovery."""
