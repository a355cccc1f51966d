"""What the Gmail side tells people, as interfaces and plain data; bot/ and usecases/ implement them.

- `Notifier` speaks to Slack (bot/notifier.py): DMs, alerts, digests.
- `AlertAudience` decides who may see how much of an alert in a channel (usecases/alerts.py, on the
  same access rules every other surface uses) and writes the audit of those views.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from crm_store.models import GmailAccount
from crm_store.sharing import Visibility

ALERT_EVENT_TYPE = "mailmagnet_alert"
DIGEST_EVENT_TYPE = "mailmagnet_digest"


class Hidden(StrEnum):
    """What of an email the sharing settings keep from the alert's channel (the words: handlers/blocks/alerts.py)."""

    SUBJECT = "subject"  # and the preview with it
    PREVIEW = "preview"


@dataclass
class AlertView:
    """One alert, as the people in its channel may see it (SPEC F3, §5)."""

    account_id: int
    gmail_id: str
    mailbox_address: str
    rep_user_id: str
    contact_id: int
    contact_name: str
    contact_email: str | None  # None with the CRM details hidden
    company: str | None
    category_label: str | None
    deal_context: str | None
    sender: str | None  # the From display name: None when the email's metadata is hidden
    received_at: datetime
    gmail_url: str
    subject: str | None = None  # None: hidden by sharing settings
    snippet: str | None = None
    hidden: Hidden | None = None
    crm_details: bool = True
    # A lead (SPEC §3): its status and owner instead of deals and label; None/False with the CRM details hidden.
    is_lead: bool = False
    lead_status: str | None = None
    owner: str | None = None

    @property
    def metadata_payload(self) -> dict:
        return {"account_id": self.account_id, "gmail_id": self.gmail_id}


class ClosedChannel(StrEnum):
    """Why a channel may see nothing of an email (the alert then goes to the rep's DM); the Slack surface words it."""

    SLACK_CONNECT = "slack_connect"  # shared with another organisation
    UNSERVED_WORKSPACE = "unserved_workspace"  # shared with a workspace this deployment does not serve
    ORG_SHARED_PUBLIC = "org_shared_public"  # public, shared with another workspace of the organisation
    PUBLIC = "public"  # public, and the sharing does not reach everyone in the workspace
    NOT_A_CRM_USER = "not_a_crm_user"  # private, with someone who is not a CRM user
    SHARING_EXCLUDES_MEMBER = "sharing_excludes_member"  # private, someone the sharing does not reach


@dataclass
class AudienceDecision:
    """How much of one email a channel may be shown, and whose views that makes."""

    level: Visibility
    crm_details: bool  # deals, label, contact email: only when everyone who can read it is a CRM user
    viewers: dict[int, Visibility] = field(default_factory=dict)  # CRM users other than the owner
    reason: ClosedChannel | None = None  # why the channel may see nothing (the alert then goes to the rep's DM)


class AlertAudience(Protocol):
    def channel_audience(self, account: GmailAccount, channel_id: str | None) -> Any:
        """Who can read the channel (None: the rep's DM), looked up once per run and channel."""

    def decide(self, account: GmailAccount, contact_id: int, audience: Any) -> AudienceDecision:
        """What that audience may see of this mailbox's emails with this contact."""

    def record_views(self, account: GmailAccount, gmail_id: str, contact_id: int, decision: AudienceDecision,
                     channel_id: str) -> None:
        """Audit: one row per viewer per email, written once however often the post is retried."""

    def fallback_notice_due(self, account_id: int, channel_id: str) -> bool:
        """True once per chosen channel: tell the rep why its alerts come to the DM instead."""


@dataclass(frozen=True)
class MailboxIncident:
    """What admins are told of a mailbox in trouble (SPEC §3 "For admins"): no content, only facts."""

    mailbox: str
    rep_slack_user_id: str
    rep_email: str
    revoked: bool  # Google revoked the access; else the mailbox has been failing since `since`
    error: str | None
    since: datetime | None


class Notifier(Protocol):
    def mailbox_connected(self, account: GmailAccount, *, replaced_address: str | None) -> None:
        """DM the rep that the mailbox is connected and invite them to choose their settings."""

    def ask_to_reconnect(self, account: GmailAccount, reason: str) -> None:
        """DM the rep, once, that Google revoked access and they must reconnect."""

    def tell_admin(self, team_id: str, admin_user_id: str, incident: MailboxIncident) -> None:
        """DM an admin that a rep's mailbox lost its access or has been failing for a while."""

    def invite_to_connect(self, team_id: str, user_id: str, granted_by: str | None) -> bool:
        """DM a newly granted rep the Connect button; True when Slack took it."""

    def alerts_go_to_dm(self, account: GmailAccount, channel: str, reason: str) -> None:
        """DM the rep, once per channel, that alerts meant for `channel` come to the DM, and why."""

    def alert_channel(self, account: GmailAccount) -> str:
        """The Slack channel id of the rep's DM with the bot."""

    def dm_address(self, account: GmailAccount) -> str:
        """What to post to for the rep's DM with the bot, known without asking Slack (alert_channel may ask)."""

    def post_alert(self, team_id: str, channel: str, view: AlertView) -> str:
        """Post one alert, with the Gmail message id in the message metadata; returns its ts."""

    def post_digest(self, team_id: str, channel: str, views: list[AlertView], digest_key: str) -> str:
        """Post several alerts as one message; returns its ts."""

    def posted_alerts(self, team_id: str, channel: str, since: datetime) -> dict[tuple[int, str], str]:
        """Alerts (account id, Gmail id) -> ts already in the channel since a moment: crash recovery."""
