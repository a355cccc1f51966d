"""Who is asking: a Slack user resolved to a CRM user, with their permissions (SPEC §1)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from crm_store.errors import AdminOnly, NotLinked, PermissionRequired
from crm_store.models import CrmUser, Profile
from crm_store.users import find_user_by_email, find_user_by_slack, link_slack_user, user_profile


@dataclass(frozen=True)
class SlackIdentity:
    """What Slack's users.info says about a user; plain data so the domain needs no Slack SDK."""

    team_id: str
    user_id: str
    email: str | None = None
    name: str | None = None
    tz: str | None = None
    is_workspace_admin: bool = False  # is_admin or is_owner in Slack


@dataclass
class Actor:
    identity: SlackIdentity
    user: CrmUser | None
    profile: Profile | None

    @property
    def is_admin(self) -> bool:
        return self.identity.is_workspace_admin or bool(self.profile and self.profile.is_admin)

    @property
    def has_mail_integration(self) -> bool:
        return bool(self.profile and self.profile.mail_integration)


def resolve_actor(session: Session, identity: SlackIdentity) -> Actor:
    """The CRM user behind a Slack user: linked earlier, or now by matching email."""
    user = find_user_by_slack(session, identity.team_id, identity.user_id)
    if user is None and identity.email:
        candidate = find_user_by_email(session, identity.email)
        if candidate is not None and candidate.slack_user_id is None:
            user = link_slack_user(session, candidate, team_id=identity.team_id, slack_user_id=identity.user_id,
                                   timezone=identity.tz)
    if user is not None:
        changed = False
        if identity.tz and user.timezone != identity.tz:
            user.timezone, changed = identity.tz, True
        if identity.name and not user.name:
            user.name, changed = identity.name, True
        if changed:
            session.add(user)
    return Actor(identity, user, user_profile(session, user) if user else None)


def granters(session: Session, team_id: str) -> str:
    """Who can grant Mail Integration, named for a refusal message."""
    admins = session.exec(
        select(CrmUser).join(Profile, Profile.id == CrmUser.profile_id).where(Profile.is_admin.is_(True))
    ).all()
    names = [f"<@{u.slack_user_id}>" if u.slack_user_id and u.slack_team_id == team_id else (u.name or u.email)
             for u in admins[:5]]
    if names:
        return ", ".join(names) + " (MailMagnet admins) or a Slack workspace admin"
    return "a Slack workspace admin or owner"


def require_linked(session: Session, actor: Actor) -> CrmUser:
    if actor.user is None:
        email = f" ({actor.identity.email})" if actor.identity.email else ""
        raise NotLinked(
            f"Your Slack account{email} is not linked to a CRM user. Ask {granters(session, actor.identity.team_id)} "
            "to add you with `/gmail admin grant @you`."
        )
    return actor.user


def require_mail_integration(session: Session, actor: Actor) -> CrmUser:
    user = require_linked(session, actor)
    if not actor.has_mail_integration:
        raise PermissionRequired(
            "Your CRM profile does not have the Mail Integration permission, which Gmail features need. "
            f"Ask {granters(session, actor.identity.team_id)} to run `/gmail admin grant @you`."
        )
    return user


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise AdminOnly("Only MailMagnet admins and Slack workspace admins can do that.")
