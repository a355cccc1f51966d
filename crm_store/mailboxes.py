"""A rep's mailbox settings and the organisation's policy: the rules, no Slack, no Gmail calls."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, delete, update

from crm_store import category_changes
from crm_store.db import insert_once
from crm_store.errors import InvalidInput, LabelsNeedMagnet, PolicyFixed, StoreRefusal
from crm_store.sharing import policy_and_scope
from crm_store.models import (
    Alert,
    AlertStatus,
    CrmUser,
    EmailShare,
    GmailAccount,
    MutedContact,
    OrgSettings,
    Sharing,
    SharingDepth,
    SharingPolicy,
    utcnow,
)


def org_settings(session: Session, team_id: str) -> OrgSettings:
    org = session.get(OrgSettings, team_id)
    if org is None:
        insert_once(session, OrgSettings, team_id=team_id, sharing_policy=SharingPolicy.CHOICE.value)
        org = session.get(OrgSettings, team_id)
    return org


def set_policy(session: Session, team_id: str, policy: SharingPolicy) -> OrgSettings:
    org = org_settings(session, team_id)
    org.sharing_policy = policy.value
    session.add(org)
    return org


def set_sharing(session: Session, account: GmailAccount, sharing: Sharing | None,
                depth: SharingDepth | None = None) -> GmailAccount:
    policy, scope = policy_and_scope(session, account)
    if sharing is not None and policy is not SharingPolicy.CHOICE and sharing.value != policy.value:
        raise PolicyFixed(StoreRefusal.POLICY_FIXED, policy=policy, scope=scope)
    if sharing is not None:
        account.sharing = sharing.value
    if depth is not None:
        account.sharing_depth = depth.value
    account.setup_done = True
    session.add(account)
    return account


class MagnetChange(StrEnum):
    MAGNET_ON = "magnet_on"
    MAGNET_OFF = "magnet_off"
    LABELS_OFF = "labels_off"  # switching MailMagnet off switches labels off too


def set_magnet(session: Session, account: GmailAccount, enabled: bool,
               now: datetime | None = None) -> list[MagnetChange]:
    """Switch MailMagnet; switching it off also switches labels off (they need it). Returns what changed."""
    changed: list[MagnetChange] = []
    if enabled and not account.magnet_enabled:
        account.magnet_enabled = True
        account.magnet_enabled_at = now or utcnow()
        account.next_sync_at = None  # due at once
        # Start from "now": mail that arrived while MailMagnet was off is not news.
        account.history_id = None
        changed.append(MagnetChange.MAGNET_ON)
    elif not enabled and account.magnet_enabled:
        # Set before the alerts' UPDATE, whose autoflush then writes the mailbox's row first: the lock order of every
        # transaction on a mailbox (a run's fenced stamp deadlocked otherwise: tests/gmail/test_lock_order.py).
        account.magnet_enabled = False
        drop_waiting_alerts(session, account.id)  # not sent whenever MailMagnet comes back
        changed.append(MagnetChange.MAGNET_OFF)
        if account.labels_enabled:
            account.labels_enabled = False
            changed.append(MagnetChange.LABELS_OFF)
    account.setup_done = True
    session.add(account)
    return changed


def drop_waiting_alerts(session: Session, account_id: int) -> int:
    """Alerts not yet in Slack (a retry's, a digest's) will never be: MailMagnet switched off, or Google revoked the
    mailbox's access. They would otherwise go out whenever the mailbox works again, maybe days later, about mail
    the rep has long seen (README, *MailMagnet alerts*). A run posting them looks again just before its
    post (gmail/magnet.py, `_still_waiting`). The caller writes the mailbox's row first: the lock order of every
    transaction on a mailbox (tests/gmail/test_lock_order.py)."""
    return session.execute(update(Alert).where(
        Alert.account_id == account_id,
        Alert.status.in_([AlertStatus.PENDING.value, AlertStatus.QUEUED_DIGEST.value]))
        .values(status=AlertStatus.SKIPPED.value).execution_options(synchronize_session=False)).rowcount


def set_labels(session: Session, account: GmailAccount, enabled: bool, now: datetime | None = None) -> bool:
    """Switch filing into labels. Returns True when something changed."""
    if enabled and not account.magnet_enabled:
        raise LabelsNeedMagnet(StoreRefusal.LABELS_NEED_MAGNET)
    if enabled == account.labels_enabled:
        return False
    account.labels_enabled = enabled
    if enabled:
        account.labels_enabled_at = now or utcnow()
        account.backfill_done = False  # file what is already in the Inbox (within the lookback)
        account.next_label_at = None  # due at once
        # CRM changes from before matter to no mail filed from now on.
        account.last_category_change_id = category_changes.latest_id(session)
    session.add(account)
    return True


def set_alert_destination(session: Session, account: GmailAccount, channel_id: str | None) -> GmailAccount:
    if account.alert_channel != channel_id:
        account.alert_fallback_notice = None  # a new destination: tell the rep again if it cannot show alerts
    account.alert_channel = channel_id
    session.add(account)
    return account


def set_digest(session: Session, account: GmailAccount, enabled: bool) -> None:
    account.digest_enabled = enabled
    session.add(account)


def parse_clock(value: str) -> int:
    """'22:00' or '7' -> minutes after midnight."""
    try:
        hours, _, minutes = value.strip().partition(":")
        h, m = int(hours), int(minutes or 0)
    except ValueError:
        raise InvalidInput(StoreRefusal.NOT_A_TIME, text=value) from None
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise InvalidInput(StoreRefusal.NOT_A_TIME, text=value)
    return h * 60 + m


def set_quiet_hours(session: Session, account: GmailAccount, start: int | None, end: int | None) -> None:
    if (start is None) != (end is None) or (start is not None and start == end):
        raise InvalidInput(StoreRefusal.QUIET_HOURS_NEED_TWO_TIMES)
    account.quiet_start_minute, account.quiet_end_minute = start, end
    session.add(account)


def in_quiet_hours(account: GmailAccount, local_minute: int) -> bool:
    start, end = account.quiet_start_minute, account.quiet_end_minute
    if start is None or end is None:
        return False
    if start < end:
        return start <= local_minute < end
    return local_minute >= start or local_minute < end  # over midnight


def mute_contact(session: Session, account: GmailAccount, contact_id: int) -> bool:
    return insert_once(session, MutedContact, account_id=account.id, contact_id=contact_id)


def unmute_contact(session: Session, account: GmailAccount, contact_id: int) -> bool:
    return bool(session.execute(delete(MutedContact).where(
        MutedContact.account_id == account.id, MutedContact.contact_id == contact_id)).rowcount)


def share_with(session: Session, owner: CrmUser, viewer: CrmUser) -> bool:
    if owner.id == viewer.id:
        raise InvalidInput(StoreRefusal.OWN_EMAILS_ALWAYS_VISIBLE)
    return insert_once(session, EmailShare, owner_user_id=owner.id, viewer_user_id=viewer.id)


def unshare_with(session: Session, owner: CrmUser, viewer: CrmUser) -> bool:
    return bool(session.execute(delete(EmailShare).where(
        EmailShare.owner_user_id == owner.id, EmailShare.viewer_user_id == viewer.id)).rowcount)
