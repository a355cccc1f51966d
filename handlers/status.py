"""What `/gmail status` and the App Home show: a rep's mailbox and settings, read once, as plain data."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlmodel import Session, func, select

from crm_store.errors import DomainError
from crm_store.identity import Actor, require_mail_integration
from crm_store.mailboxes import mailbox_of
from crm_store.models import (
    AccountStatus,
    CrmUser,
    EmailShare,
    GmailAccount,
    MutedContact,
    SharingPolicy,
)
from crm_store.sharing import effective_sharing, org_policy


@dataclass
class MailboxStatus:
    """Everything the status surfaces need; `refusal` is set when the rep may not use Gmail features."""

    refusal: str | None = None
    account_id: int | None = None
    mailbox_token: str | None = None  # names this connection (handlers.changes.mailbox_token)
    address: str | None = None
    connected: bool = False
    policy: str = SharingPolicy.CHOICE.value
    sharing: str | None = None  # effective: the policy when fixed, else the rep's choice
    depth: str | None = None
    setup_done: bool = False
    magnet: bool = False
    labels: bool = False
    alert_channel: str | None = None  # None: the rep's DM
    digest: bool = False
    quiet_start: int | None = None  # minutes after local midnight
    quiet_end: int | None = None
    timezone: str | None = None
    last_sync_at: datetime | None = None
    last_sync_error: str | None = None
    last_label_run_at: datetime | None = None
    muted_contacts: int = 0
    shared_with: list[str] = field(default_factory=list)  # Slack mentions or emails
    live_check: str | None = None  # filled by /gmail status after asking Gmail

    @property
    def has_mailbox(self) -> bool:
        return self.account_id is not None

    @property
    def policy_fixed(self) -> bool:
        return self.policy != SharingPolicy.CHOICE.value


def _shared_with(session: Session, user: CrmUser, team_id: str) -> list[str]:
    viewers = session.exec(
        select(CrmUser).join(EmailShare, EmailShare.viewer_user_id == CrmUser.id)
        .where(EmailShare.owner_user_id == user.id).order_by(CrmUser.email)
    ).all()
    return [f"<@{v.slack_user_id}>" if v.slack_user_id and v.slack_team_id == team_id else v.email for v in viewers]


def mailbox_token(account: GmailAccount) -> str:
    """Names one connection of one mailbox: ids are reused after a disconnect (SQLite), connection times are not."""
    connected_at = account.connected_at
    if connected_at is None:
        return f"{account.id}.0"
    if connected_at.tzinfo is None:  # SQLite gives back naive UTC
        connected_at = connected_at.replace(tzinfo=timezone.utc)
    return f"{account.id}.{int(connected_at.timestamp() * 1_000_000)}"


def load_status(session: Session, actor: Actor, team_id: str) -> MailboxStatus:
    try:
        user = require_mail_integration(session, actor)
    except DomainError as refusal:
        return MailboxStatus(refusal=str(refusal))
    policy = org_policy(session, team_id)
    status = MailboxStatus(policy=policy.value, timezone=user.timezone,
                           shared_with=_shared_with(session, user, team_id))
    account: GmailAccount | None = mailbox_of(session, user)
    if account is None:
        return status
    status.account_id = account.id
    status.mailbox_token = mailbox_token(account)
    status.address = account.email_address
    status.connected = account.status == AccountStatus.CONNECTED
    status.sharing = effective_sharing(policy, account).value
    status.depth = account.sharing_depth
    status.setup_done = account.setup_done
    status.magnet = account.magnet_enabled
    status.labels = account.labels_enabled
    status.alert_channel = account.alert_channel
    status.digest = account.digest_enabled
    status.quiet_start, status.quiet_end = account.quiet_start_minute, account.quiet_end_minute
    status.last_sync_at = account.last_sync_at
    status.last_sync_error = account.last_sync_error
    status.last_label_run_at = account.last_label_run_at
    status.muted_contacts = session.exec(
        select(func.count()).select_from(MutedContact).where(MutedContact.account_id == account.id)
    ).one()
    return status
