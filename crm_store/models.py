"""The CRM store's tables.

Privacy promise (SPEC §2): no email subject, snippet or body is ever a column
here. Of a message only its Gmail id, From address and received time are kept.
OAuth tokens live only in `GmailAccount.encrypted_credentials` (Fernet).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_store.values import (  # noqa: F401 - the tables' enums, imported from here by most callers
    utcnow,
    DM_CHANNEL,
    AccountStatus,
    AlertStatus,
    AuditSurface,
    EnumText,
    ManagersSee,
    Sharing,
    SharingDepth,
    SharingPolicy,
)


class Profile(SQLModel, table=True):
    """A CRM profile: the permissions a CRM user has."""

    __tablename__ = "profiles"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    mail_integration: bool = Field(default=False)
    is_admin: bool = Field(default=False)


class CrmUser(SQLModel, table=True):
    """A CRM user, linked to a Slack user by email or explicitly by an admin."""

    __tablename__ = "crm_users"
    __table_args__ = (
        sa.UniqueConstraint("slack_team_id", "slack_user_id", name="uq_crm_users_slack"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, sa_column_kwargs={"unique": True})
    # A second address of the same person (SPEC §1: a rep may connect a Gmail with either address).
    secondary_email: Optional[str] = Field(default=None, max_length=320, index=True)
    name: Optional[str] = Field(default=None, max_length=200)
    profile_id: int = Field(foreign_key="profiles.id")
    slack_team_id: Optional[str] = Field(default=None, max_length=32)
    slack_user_id: Optional[str] = Field(default=None, max_length=32)
    timezone: Optional[str] = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    # The CRM's role and reporting line (Zoho's `role` and `Reporting_To`, CSV `role`/`manager_email`, the
    # ingest API): managers see their reports' customer email at the organisation's `managers_see` depth.
    role: Optional[str] = Field(default=None, max_length=100, index=True)
    manager_id: Optional[int] = Field(default=None, foreign_key="crm_users.id", index=True)
    # The sharing policy an admin set for this one user (a `SharingPolicy` value); None: their role's, else
    # the organisation's. The most specific wins.
    sharing_policy: Optional[str] = Field(default=None, max_length=16)
    # When this user was last DMed the Connect invitation of a grant (cleared when Mail Integration goes): a
    # repeated grant sends none.
    invited_at: Optional[datetime] = Field(default=None)


class RoleSharingPolicy(SQLModel, table=True):
    """The sharing policy an admin set for everyone with one CRM role (`/gmail admin policy role NAME …`)."""

    __tablename__ = "role_sharing_policies"

    role: str = Field(primary_key=True, max_length=100)
    policy: str = Field(max_length=16)


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: Optional[int] = Field(default=None, primary_key=True)
    # Stored lower-cased so look-ups by address use the index as-is.
    email: str = Field(max_length=320, sa_column_kwargs={"unique": True})
    secondary_email: Optional[str] = Field(default=None, max_length=320, index=True)
    first_name: Optional[str] = Field(default=None, max_length=200)
    last_name: Optional[str] = Field(default=None, max_length=200)
    company: Optional[str] = Field(default=None, max_length=300)
    phone: Optional[str] = Field(default=None, max_length=64)
    owner_id: Optional[int] = Field(default=None, foreign_key="crm_users.id", index=True)
    external_id: Optional[str] = Field(default=None, max_length=128, sa_column_kwargs={"unique": True})
    # A lead (SPEC §3 Leads) is a person the CRM has not made a contact yet: same row, same address rules, same
    # sharing; it has no deals. Converting it turns the row into the contact, so its history (alerts, mutes,
    # audit rows) stays with the person (`crm_store.leads`).
    is_lead: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    lead_status: Optional[str] = Field(default=None, max_length=100)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def display_name(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.email


class Deal(SQLModel, table=True):
    __tablename__ = "deals"
    # Covers the category query: a contact's deals with their closing dates and stages, no table look-up.
    __table_args__ = (sa.Index("ix_deals_contact_closing_stage", "contact_id", "closing_date", "stage"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=300)
    contact_id: int = Field(foreign_key="contacts.id")
    stage: str = Field(max_length=100)
    closing_date: Optional[date] = Field(default=None)
    amount: Optional[Decimal] = Field(default=None, sa_type=sa.Numeric(18, 2))
    owner_id: Optional[int] = Field(default=None, foreign_key="crm_users.id", index=True)
    external_id: Optional[str] = Field(default=None, max_length=128, sa_column_kwargs={"unique": True})
    updated_at: datetime = Field(default_factory=utcnow)


class OrgSettings(SQLModel, table=True):
    """Per Slack workspace settings an admin controls."""

    __tablename__ = "org_settings"

    team_id: str = Field(primary_key=True, max_length=32)
    sharing_policy: SharingPolicy = Field(default=SharingPolicy.CHOICE, sa_type=EnumText(SharingPolicy, 16))
    default_timezone: Optional[str] = Field(default=None, max_length=64)
    managers_see: ManagersSee = Field(default=ManagersSee.NONE, sa_type=EnumText(ManagersSee, 16))
    # When the weekly response-time digest was last claimed for this workspace (SPEC §3 Follow-ups).
    response_digest_at: Optional[datetime] = Field(default=None)


class CategoryChange(SQLModel, table=True):
    """A contact whose deals changed: its filed mail may need re-filing.

    Written by the CRM import (and any deal change); consumed per mailbox by
    the label job so re-filing costs only what changed.
    """

    __tablename__ = "category_changes"

    id: Optional[int] = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    changed_at: datetime = Field(default_factory=utcnow)


class GmailOAuthState(SQLModel, table=True):
    """A Google consent in flight: `state` bound to a Slack user, with its PKCE verifier."""

    __tablename__ = "gmail_oauth_states"

    state: str = Field(primary_key=True, max_length=128)
    slack_team_id: str = Field(max_length=32)
    slack_user_id: str = Field(max_length=32)
    code_verifier: str = Field(max_length=256)
    created_at: datetime = Field(default_factory=utcnow)
    consumed_at: Optional[datetime] = Field(default=None)


class GmailAccount(SQLModel, table=True):
    """One rep's connected mailbox, its settings and its sync cursor."""

    __tablename__ = "gmail_accounts"

    id: Optional[int] = Field(default=None, primary_key=True)
    crm_user_id: int = Field(foreign_key="crm_users.id", sa_column_kwargs={"unique": True})
    slack_team_id: str = Field(max_length=32, index=True)
    slack_user_id: str = Field(max_length=32)
    # One Gmail address is connected to at most one CRM user (SPEC §1).
    email_address: str = Field(max_length=320, sa_column_kwargs={"unique": True})
    status: AccountStatus = Field(default=AccountStatus.CONNECTED, sa_type=EnumText(AccountStatus, 16))
    encrypted_credentials: Optional[bytes] = Field(default=None, sa_type=sa.LargeBinary)
    connected_at: datetime = Field(default_factory=utcnow)

    sharing: Sharing = Field(default=Sharing.PRIVATE, sa_type=EnumText(Sharing, 16))
    sharing_depth: SharingDepth = Field(default=SharingDepth.METADATA, sa_type=EnumText(SharingDepth, 16))
    setup_done: bool = Field(default=False)

    magnet_enabled: bool = Field(default=False)
    magnet_enabled_at: Optional[datetime] = Field(default=None)
    alert_channel: Optional[str] = Field(default=None, max_length=32)  # None: the rep's DM
    # The channel whose alerts last went to the DM instead (it may see nothing): the rep is told once.
    alert_fallback_notice: Optional[str] = Field(default=None, max_length=32)
    digest_enabled: bool = Field(default=False)
    last_digest_at: Optional[datetime] = Field(default=None)
    quiet_start_minute: Optional[int] = Field(default=None)  # minutes after local midnight
    quiet_end_minute: Optional[int] = Field(default=None)

    # Follow-ups (SPEC §3): on by default, after this many working hours without a reply.
    followups_enabled: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    followup_hours: int = Field(default=24, sa_column_kwargs={"server_default": sa.text("24")})

    labels_enabled: bool = Field(default=False)
    labels_enabled_at: Optional[datetime] = Field(default=None)
    backfill_done: bool = Field(default=False)
    # JSON object: category key -> Gmail label id, cached to avoid labels.list.
    label_ids: Optional[str] = Field(default=None)
    # When the three labels were last listed in Gmail (and the missing ones created): a run after labels were
    # switched on that finds this older than `labels_enabled_at` checks them before anything else.
    label_ids_checked_at: Optional[datetime] = Field(default=None)
    last_category_change_id: int = Field(default=0)
    last_label_month: Optional[str] = Field(default=None, max_length=7)

    # Gmail history ids are unsigned 64-bit: text, never a signed integer.
    history_id: Optional[str] = Field(default=None, max_length=32)
    last_sync_at: Optional[datetime] = Field(default=None)
    last_sync_error: Optional[str] = Field(default=None, max_length=500)
    last_label_run_at: Optional[datetime] = Field(default=None)
    watch_expires_at: Optional[datetime] = Field(default=None)
    # A failing users.watch (100 quota units) is retried with exponential backoff, shared by every replica.
    watch_failures: int = Field(default=0)
    watch_retry_at: Optional[datetime] = Field(default=None)
    reconnect_notified_at: Optional[datetime] = Field(default=None)
    # Since when the mailbox's runs fail (the first failure of the current streak); None when the last run worked.
    failing_since: Optional[datetime] = Field(default=None)
    # The admins were told of the current incident (access revoked, or failing for an hour): set by the one
    # replica that claims the telling, cleared when the mailbox works again.
    admins_notified_at: Optional[datetime] = Field(default=None)
    # Gmail quota units this mailbox's work spent on `quota_day` (UTC date, ISO).
    quota_day: Optional[str] = Field(default=None, max_length=10)
    quota_units: int = Field(default=0)

    # Row lease: the replica working on this mailbox, until when.
    lease_owner: Optional[str] = Field(default=None, max_length=64)
    lease_expires_at: Optional[datetime] = Field(default=None, index=True)
    next_sync_at: Optional[datetime] = Field(default=None, index=True)
    next_label_at: Optional[datetime] = Field(default=None)
    # Set by a push notification that arrived while another run held the lease: sync again right after.
    sync_requested: bool = Field(default=False)


class MailboxMessage(SQLModel, table=True):
    """What is kept of an Inbox message: id, From address, received time, and our own filing state.

    Rows from non-contacts are deleted once older than the lookback (housekeeping); filed rows, rows waiting
    to be filed and contacts' rows stay."""

    __tablename__ = "mailbox_messages"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "gmail_id", name="uq_mailbox_messages_account_gmail"),
        sa.Index("ix_mailbox_messages_account_from", "account_id", "from_address"),
        sa.Index("ix_mailbox_messages_received_at", "received_at"),
        # Only the rows a label run must still decide: a handful per mailbox at any time, where an index of the
        # flag itself held every row. The predicate is written as the queries write it (`.is_(True)`), so both
        # databases see that it applies.
        sa.Index("ix_mailbox_messages_to_file", "account_id",
                 sqlite_where=sa.column("needs_filing", sa.Boolean).is_(True),
                 postgresql_where=sa.column("needs_filing", sa.Boolean).is_(True)),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    # No index of its own: both indexes above start with it.
    account_id: int = Field(foreign_key="gmail_accounts.id")
    gmail_id: str = Field(max_length=64)
    from_address: str = Field(max_length=320)
    received_at: datetime
    # Our label state: category key the message is filed under, None if never filed.
    filed_category: Optional[str] = Field(default=None, max_length=32)
    filed_at: Optional[datetime] = Field(default=None)
    # The label run must decide this one: file it (a category now) or leave it (none).
    needs_filing: bool = Field(default=False)
    # Whether it is in the Inbox, as the sync last heard (history, or a listing of the Inbox); None: unknown
    # (stored before this was tracked, or older than the last listing after a gap in the history), so the
    # label run asks Gmail before filing it. Kept up to date for unfiled rows only.
    in_inbox: Optional[bool] = Field(default=None)


class Alert(SQLModel, table=True):
    """One MailMagnet alert: recorded before posting so it is sent exactly once."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "gmail_id", name="uq_alerts_account_gmail"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="gmail_accounts.id", index=True)
    gmail_id: str = Field(max_length=64)
    contact_id: int = Field(foreign_key="contacts.id")
    channel: str = Field(max_length=32)  # a Slack channel id, or DM_CHANNEL
    status: AlertStatus = Field(default=AlertStatus.PENDING, sa_type=EnumText(AlertStatus, 16), index=True)
    slack_ts: Optional[str] = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    # Set (and committed) just before posting: a crash after it means "look in Slack before posting again".
    attempted_at: Optional[datetime] = Field(default=None)
    posted_at: Optional[datetime] = Field(default=None)


class Followup(SQLModel, table=True):
    """A customer thread waiting for the rep's reply (SPEC §3 Follow-ups): thread id, contact, times — no content.

    Opened by the sync when a contact's email arrives in a thread with no open row; answered when the sync sees a
    message the rep sent in that thread (SENT, in the history it reads anyway). Answered rows stay a week and a
    half for the weekly response-time digest, then go; all go with the mailbox (disconnect)."""

    __tablename__ = "followups"
    __table_args__ = (
        # The nudge job's look-up: open rows of a mailbox by due time.
        sa.Index("ix_followups_account_due", "account_id", "answered_at", "due_at"),
        # The sync's look-ups of a thread's open row (open one if none, a newer message, the rep's reply): without
        # it each was a scan of the mailbox's open rows, which grow with every unanswered thread.
        sa.Index("ix_followups_account_thread", "account_id", "thread_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="gmail_accounts.id")
    thread_id: str = Field(max_length=128)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    # The newest unanswered customer message: what Reply answers (an id, never content).
    gmail_id: str = Field(max_length=64)
    received_at: datetime  # the first unanswered customer message: how long the customer has waited
    due_at: datetime  # received_at plus the rep's follow-up hours, counted in working hours of the rep's zone
    answered_at: Optional[datetime] = Field(default=None)
    nudged_at: Optional[datetime] = Field(default=None)
    snoozed_until: Optional[datetime] = Field(default=None)
    done_at: Optional[datetime] = Field(default=None)


class MutedContact(SQLModel, table=True):
    __tablename__ = "muted_contacts"

    account_id: int = Field(foreign_key="gmail_accounts.id", primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", primary_key=True)


class EmailShare(SQLModel, table=True):
    """An explicit share by a rep: "share emails with @user" (SPEC §5, Custom)."""

    __tablename__ = "email_shares"

    owner_user_id: int = Field(foreign_key="crm_users.id", primary_key=True)
    viewer_user_id: int = Field(foreign_key="crm_users.id", primary_key=True)


class AuditLog(SQLModel, table=True):
    """One row per viewer per email of someone else's mailbox shown, per surface (SPEC §5). No content:
    who, whose mailbox, which contact, which message id, how much of it, where, when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # Written once even when Slack retries or a post is re-sent after a crash.
        sa.UniqueConstraint("viewer_user_id", "account_id", "gmail_id", "surface", name="uq_audit_log_view"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    viewer_user_id: int = Field(foreign_key="crm_users.id")
    # The Slack user who saw it, in which workspace, when the row was written (SPEC §1): the CRM user's link
    # may move later, the row still names who looked. Empty on rows written before it was recorded.
    viewer_slack_team_id: Optional[str] = Field(default=None, max_length=32)
    viewer_slack_user_id: Optional[str] = Field(default=None, max_length=32)
    account_id: Optional[int] = Field(default=None)
    mailbox_address: str = Field(max_length=320)
    contact_id: Optional[int] = Field(default=None)
    gmail_id: Optional[str] = Field(default=None, max_length=64)
    surface: AuditSurface = Field(default=AuditSurface.CHANNEL_ALERT, sa_type=EnumText(AuditSurface, 32))
    depth: Optional[str] = Field(default=None, max_length=16)
    channel_id: Optional[str] = Field(default=None, max_length=32)
    viewed_at: datetime = Field(default_factory=utcnow, index=True)


class MailboxAlias(SQLModel, table=True):
    """An address an admin allowed a CRM user to connect besides their own (`/gmail admin allow`)."""

    __tablename__ = "mailbox_aliases"

    address: str = Field(primary_key=True, max_length=320)
    crm_user_id: int = Field(foreign_key="crm_users.id", index=True)
    allowed_by: Optional[str] = Field(default=None, max_length=320)
    created_at: datetime = Field(default_factory=utcnow)


class ContactViewPage(SQLModel, table=True):
    """Where a contact view's "Show more" continues in one mailbox: a Gmail page token and how far into that
    page the view got. Never content, never a message id; one row per (view, mailbox) that has more to show.
    Rows expire with the response_url (an hour at most) and go with their mailbox (F8)."""

    __tablename__ = "contact_view_pages"

    view_id: str = Field(primary_key=True, max_length=32)
    account_id: int = Field(primary_key=True, foreign_key="gmail_accounts.id", ondelete="CASCADE")
    slack_team_id: str = Field(max_length=32)
    slack_user_id: str = Field(max_length=32)
    contact_id: int
    surface: AuditSurface = Field(sa_type=EnumText(AuditSurface, 32))
    page_token: Optional[str] = Field(default=None, max_length=512)  # None: the first page
    page_offset: int = Field(default=0)
    shown: int = Field(default=0)  # emails the view has shown so far (numbering of the next page)
    created_at: datetime = Field(default_factory=utcnow, index=True)


# The service's own bookkeeping tables, imported from here like every table.
from crm_store.bookkeeping import (  # noqa: E402,F401
    ApiKey,
    CrmDataChange,
    CrmSyncCursor,
    JobLease,
    ProcessedSlackRequest,
)
