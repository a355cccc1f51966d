"""Who may see whose emails (SPEC §5), and how much of them.

Visibility is ordered: NONE < METADATA (from, to, date) < SUBJECT < FULL
(subject and snippet) < OWNER (everything, the mailbox owner only). A channel
sees the least that any of its members may see.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from crm_store.models import (
    Contact,
    CrmUser,
    Deal,
    EmailShare,
    GmailAccount,
    OrgSettings,
    Sharing,
    SharingDepth,
    SharingPolicy,
)


class Visibility(IntEnum):
    NONE = 0
    METADATA = 1
    SUBJECT = 2
    FULL = 3
    OWNER = 4

    @classmethod
    def of_depth(cls, depth: str) -> "Visibility":
        return {SharingDepth.METADATA: cls.METADATA, SharingDepth.SUBJECT: cls.SUBJECT,
                SharingDepth.FULL: cls.FULL}[SharingDepth(depth)]

    @property
    def shows_subject(self) -> bool:
        return self >= Visibility.SUBJECT

    @property
    def shows_snippet(self) -> bool:
        return self >= Visibility.FULL


def org_policy(session: Session, team_id: str) -> SharingPolicy:
    org = session.get(OrgSettings, team_id)
    return SharingPolicy(org.sharing_policy) if org else SharingPolicy.CHOICE


def effective_sharing(policy: SharingPolicy, account: GmailAccount) -> Sharing:
    """The organisation's fixed policy, or the rep's own choice under "User's choice"."""
    if policy is SharingPolicy.CHOICE:
        return Sharing(account.sharing)
    return Sharing(policy.value)


def custom_allowed_users(session: Session, account: GmailAccount, contact_id: int) -> set[int]:
    """Under Custom: contact owner, owners of the contact's deals, and users the rep shared with."""
    allowed: set[int] = set()
    owner = session.exec(select(Contact.owner_id).where(Contact.id == contact_id)).first()
    if owner:
        allowed.add(owner)
    allowed.update(
        uid for uid in session.exec(
            select(Deal.owner_id).where(Deal.contact_id == contact_id, Deal.owner_id.is_not(None)).distinct()
        ).all()
    )
    allowed.update(session.exec(
        select(EmailShare.viewer_user_id).where(EmailShare.owner_user_id == account.crm_user_id)
    ).all())
    return allowed


def visibility_for_users(session: Session, account: GmailAccount, contact_id: int | None,
                         viewer_ids: Iterable[int | None]) -> dict[int | None, Visibility]:
    """What each viewer (a CRM user id; None for someone who is not a CRM user) may see of
    this mailbox's emails with this contact."""
    viewers = list(dict.fromkeys(viewer_ids))
    result: dict[int | None, Visibility] = {}
    sharing = effective_sharing(org_policy(session, account.slack_team_id), account)
    depth = Visibility.of_depth(account.sharing_depth)
    workspace_users: set[int] = set()
    if sharing is Sharing.PUBLIC:
        known = [v for v in viewers if v is not None]
        if known:
            workspace_users = set(session.exec(
                select(CrmUser.id).where(CrmUser.id.in_(known),
                                         sa.or_(CrmUser.slack_team_id == account.slack_team_id,
                                                CrmUser.slack_team_id.is_(None)))
            ).all())
    custom: set[int] = set()
    if sharing is Sharing.CUSTOM and contact_id is not None:
        custom = custom_allowed_users(session, account, contact_id)
    for viewer in viewers:
        if viewer is not None and viewer == account.crm_user_id:
            result[viewer] = Visibility.OWNER
        elif viewer is None or contact_id is None or sharing is Sharing.PRIVATE:
            result[viewer] = Visibility.NONE
        elif sharing is Sharing.PUBLIC:
            result[viewer] = depth if viewer in workspace_users else Visibility.NONE
        else:
            result[viewer] = depth if viewer in custom else Visibility.NONE
    return result


def visibility(session: Session, account: GmailAccount, contact_id: int | None, viewer_id: int | None) -> Visibility:
    return visibility_for_users(session, account, contact_id, [viewer_id])[viewer_id]
