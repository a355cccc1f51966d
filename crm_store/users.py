"""CRM users and their profiles (Mail Integration permission, admin flag)."""
from __future__ import annotations

from sqlmodel import Session, func, or_, select

from crm_store.db import insert_once
from crm_store.models import CrmUser, Profile, utcnow

# A user's permissions are the flags of their profile. The four combinations
# are four well-known profiles, created on first use, so granting one flag to
# one user never changes anyone else's permissions.
PROFILE_NAMES = {
    (False, False): "Standard",
    (True, False): "Sales Rep",
    (True, True): "Administrator",
    (False, True): "Administrator (no mail)",
}


def normalise_email(email: str) -> str:
    return email.strip().lower()


def profile_for(session: Session, *, mail_integration: bool, is_admin: bool) -> Profile:
    name = PROFILE_NAMES[(mail_integration, is_admin)]
    profile = session.exec(select(Profile).where(Profile.name == name)).first()
    if profile is None:
        insert_once(session, Profile, name=name, mail_integration=mail_integration, is_admin=is_admin)
        profile = session.exec(select(Profile).where(Profile.name == name)).one()
    return profile


def find_user_by_email(session: Session, email: str) -> CrmUser | None:
    return session.exec(select(CrmUser).where(CrmUser.email == normalise_email(email))).first()


def users_with_address(session: Session, address: str) -> list[CrmUser]:
    """The CRM users whose email or secondary email is `address`: those by email first (emails are unique,
    secondary emails need not be)."""
    address = normalise_email(address)
    if not address:
        return []
    # Secondary emails come from CRM data in any case; a CRM users table is small enough to lower() it.
    users = session.exec(select(CrmUser).where(or_(CrmUser.email == address,
                                                   func.lower(CrmUser.secondary_email) == address))
                         .order_by(CrmUser.id)).all()
    return sorted(users, key=lambda user: user.email != address)


def user_has_address(user: CrmUser, address: str | None) -> bool:
    """Is `address` this CRM user's email or secondary email?"""
    if not address:
        return False
    address = normalise_email(address)
    return address in {normalise_email(user.email), normalise_email(user.secondary_email or "")}


def find_user_by_slack(session: Session, team_id: str, user_id: str) -> CrmUser | None:
    return session.exec(
        select(CrmUser).where(CrmUser.slack_team_id == team_id, CrmUser.slack_user_id == user_id)
    ).first()


def get_or_create_user(session: Session, email: str, name: str | None = None) -> CrmUser:
    """The CRM user with that email; a new one has no permissions. Safe when two requests create
    the same user at once: the insert that loses the race is a no-op."""
    user = find_user_by_email(session, email)
    if user is None:
        profile = profile_for(session, mail_integration=False, is_admin=False)
        insert_once(session, CrmUser, email=normalise_email(email), name=name, profile_id=profile.id,
                    created_at=utcnow())
        user = find_user_by_email(session, email)
    return user


def user_profile(session: Session, user: CrmUser) -> Profile:
    return session.get(Profile, user.profile_id)


def set_permissions(
    session: Session, user: CrmUser, *, mail_integration: bool | None = None, is_admin: bool | None = None
) -> Profile:
    """Change one or both flags, keeping the other as it is."""
    current = user_profile(session, user)
    profile = profile_for(
        session,
        mail_integration=current.mail_integration if mail_integration is None else mail_integration,
        is_admin=current.is_admin if is_admin is None else is_admin,
    )
    user.profile_id = profile.id
    if not profile.mail_integration:
        user.invited_at = None  # a later grant invites them to connect again
    session.add(user)
    session.flush()
    return profile


def link_slack_user(
    session: Session, user: CrmUser, *, team_id: str, slack_user_id: str, timezone: str | None = None
) -> CrmUser:
    """Bind a CRM user to a Slack user; a Slack user is linked to at most one CRM user."""
    previous = find_user_by_slack(session, team_id, slack_user_id)
    if previous is not None and previous.id != user.id:
        previous.slack_team_id = previous.slack_user_id = None
        session.add(previous)
        session.flush()
    user.slack_team_id, user.slack_user_id = team_id, slack_user_id
    if timezone:
        user.timezone = timezone
    session.add(user)
    session.flush()
    return user
