"""The data the sharing rules read (SPEC §5): policies, relationships, and the visibility scale.

The decisions themselves — who may see how much of whose emails — are taken in one place,
`usecases/access.py`, which every surface and the alert job call.

Visibility is ordered: NONE < METADATA (from, to, date) < SUBJECT < FULL (subject and snippet)
< OWNER (everything, the mailbox owner only).
"""
from __future__ import annotations

from enum import IntEnum

from sqlmodel import Session, select

from crm_store.models import (
    Contact,
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

    @property
    def depth_name(self) -> str:
        return self.name.lower()


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
