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
    CrmUser,
    Deal,
    EmailShare,
    GmailAccount,
    ManagersSee,
    OrgSettings,
    RoleSharingPolicy,
    Sharing,
    SharingDepth,
    SharingPolicy,
)

# The longest reporting line followed (a cycle in the CRM's data stops there too).
MAX_HIERARCHY_DEPTH = 20
# The most reports a manager's look-up gathers (a whole organisation under one CEO fits).
MAX_REPORTS = 50_000


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


class PolicyScope(IntEnum):
    """Where a mailbox's sharing policy was set: the most specific wins."""

    ORGANISATION = 0
    ROLE = 1
    USER = 2


def policy_and_scope(session: Session, account: GmailAccount) -> tuple[SharingPolicy, PolicyScope]:
    """The sharing policy that applies to this mailbox (SPEC §5): set for its rep, else for the rep's role, else
    the organisation's (the mailbox's workspace's)."""
    return user_policy_and_scope(session, session.get(CrmUser, account.crm_user_id), account.slack_team_id)


def user_policy_and_scope(session: Session, user: CrmUser | None, team_id: str) -> tuple[SharingPolicy, PolicyScope]:
    if user is not None and user.sharing_policy:
        return SharingPolicy(user.sharing_policy), PolicyScope.USER
    if user is not None and user.role:
        rule = session.get(RoleSharingPolicy, user.role)
        if rule is not None:
            return SharingPolicy(rule.policy), PolicyScope.ROLE
    return org_policy(session, team_id), PolicyScope.ORGANISATION


def mailbox_policy(session: Session, account: GmailAccount) -> SharingPolicy:
    return policy_and_scope(session, account)[0]


def managers_see(session: Session, team_id: str) -> ManagersSee:
    org = session.get(OrgSettings, team_id)
    return ManagersSee(org.managers_see) if org is not None and org.managers_see else ManagersSee.NONE


def managers_of(session: Session, user_id: int) -> list[int]:
    """Everyone above this CRM user in the reporting line, nearest first (cycle-safe, bounded)."""
    chain: list[int] = []
    current = user_id
    for _ in range(MAX_HIERARCHY_DEPTH):
        manager = session.exec(select(CrmUser.manager_id).where(CrmUser.id == current)).first()
        if manager is None or manager == user_id or manager in chain:
            break
        chain.append(manager)
        current = manager
    return chain


def reports_of(session: Session, manager_id: int) -> set[int]:
    """Everyone below this CRM user in the reporting line (their reports, their reports' reports…)."""
    found: set[int] = set()
    level = [manager_id]
    for _ in range(MAX_HIERARCHY_DEPTH):
        below = [uid for uid in session.exec(select(CrmUser.id).where(CrmUser.manager_id.in_(level))).all()
                 if uid not in found and uid != manager_id]
        if not below:
            break
        found.update(below)
        if len(found) >= MAX_REPORTS:
            break
        level = below
    return found


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
