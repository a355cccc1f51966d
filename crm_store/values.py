"""The values the store's columns hold: statuses and settings as enums, and the column type that keeps an enum as
its text (`EnumText`), so the code compares members and the database keeps the VARCHARs the migrations made."""
from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum

import sqlalchemy as sa

__all__ = ["DM_CHANNEL", "AccountStatus", "AlertStatus", "AuditSurface", "EnumText", "ManagersSee", "Sharing", "SharingDepth",
           "SharingPolicy", "utcnow"]


class SharingPolicy(StrEnum):
    """The organisation's policy; `choice` lets every rep pick their own."""

    PRIVATE = "private"
    PUBLIC = "public"
    CUSTOM = "custom"
    CHOICE = "choice"


class Sharing(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"
    CUSTOM = "custom"


class SharingDepth(StrEnum):
    """What colleagues see of a shared mailbox's emails (bodies: never)."""

    METADATA = "metadata"
    SUBJECT = "subject"
    FULL = "full"


class ManagersSee(StrEnum):
    """How much of their reports' customer email managers see, whatever the reports' sharing (SPEC §1 Roles)."""

    NONE = "none"
    METADATA = "metadata"
    SUBJECT = "subject"
    FULL = "full"


class AccountStatus(StrEnum):
    CONNECTED = "connected"
    REVOKED = "revoked"  # Google said invalid_grant; the rep must reconnect


class AlertStatus(StrEnum):
    PENDING = "pending"  # recorded, not yet known to be in Slack
    POSTED = "posted"
    QUEUED_DIGEST = "queued_digest"
    SKIPPED = "skipped"  # muted contact, or MailMagnet turned off or access revoked before posting


class AuditSurface(StrEnum):
    CHANNEL_ALERT = "channel_alert"
    CONTACT_VIEW = "contact_view"
    EMAIL_DETAIL = "email_detail"
    APP_HOME = "app_home"
    SHORTCUT = "shortcut"


# `Alert.channel` of an alert for the rep's DM with the bot (`GmailAccount.alert_channel` None): the DM's channel id
# is known only once Slack is asked, after the alert is recorded.
DM_CHANNEL = "dm"


class ChangeSource(StrEnum):
    """Where a change of CRM data came from (`CrmDataChange.source`)."""

    CSV = "csv"
    API = "api"
    ZOHO = "zoho"


class ChangedKind(StrEnum):
    """What a change of CRM data changed (`CrmDataChange.kind`): a record kind, or the CRM users."""

    CONTACTS = "contacts"
    DEALS = "deals"
    LEADS = "leads"
    USERS = "users"


class EnumText(sa.TypeDecorator):
    """A StrEnum kept as its value in a VARCHAR column (the column the migrations made: no schema change). Reads
    give members; a write of anything but one of the enum's values fails before it reaches the database."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int):
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value, dialect):
        return None if value is None else self.enum(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum(value)


def utcnow() -> datetime:
    """Aware UTC now: sqlmodel stores datetimes as UTC and refuses naive ones."""
    return datetime.now(timezone.utc)
