"""`/gmail admin …` and `mailmagnet users …` (SPEC §1): Mail Integration, links, allowed addresses, policy.

Every function takes the actor (a Slack admin, or the CLI operator) and the target, and asks
`access.require_admin_over` whether this actor may administer that CRM user: a Slack workspace admin
only within their workspace, a CRM admin (and the operator) everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from crm_store.addresses import is_valid_address
from crm_store.db import insert_once, session_scope
from crm_store.errors import InvalidInput, NotAllowed, NotFoundError
from crm_store.mailboxes import set_policy
from crm_store.sharing import org_policy
from crm_store.models import CrmUser, GmailAccount, MailboxAlias, SharingPolicy
from crm_store.users import (
    find_user_by_email,
    find_user_by_slack,
    get_or_create_user,
    link_slack_user,
    normalise_email,
    set_permissions,
)
from usecases import access
from usecases.actors import OPERATOR, Actor, SlackActorRef, identify, resolve
from usecases.context import Services
from usecases.mailbox import disconnect_any
from usecases.wording import escape


@dataclass(frozen=True)
class PermissionChange:
    email: str
    profile: str
    mail_integration: bool
    admin: bool
    created: bool = False
    disconnected: str | None = None  # the mailbox disconnected because the permission went away


def _slack_target(services: Services, who: SlackActorRef, target_slack_id: str, session) -> tuple[CrmUser | None, str | None]:
    """The CRM user behind a mentioned Slack user of the actor's workspace, and their Slack email."""
    identity = identify(services, SlackActorRef(who.team_id, target_slack_id, who.enterprise_id))
    user = find_user_by_slack(session, who.team_id, target_slack_id)
    return user, identity.email


def grant(services: Services, who: SlackActorRef, target_slack_id: str) -> PermissionChange:
    """Mail Integration for a Slack user of the admin's workspace (their CRM user found or created by email)."""
    actor = resolve(services, who)
    access.require_admin(actor)
    identity = identify(services, SlackActorRef(who.team_id, target_slack_id, who.enterprise_id))
    with session_scope(services.engine) as session:
        user = find_user_by_slack(session, who.team_id, target_slack_id)
        created = False
        if user is None:
            if identity.is_bot:
                raise InvalidInput(f"<@{target_slack_id}> is an app, not a person.")
            if not identity.email:
                raise InvalidInput(f"I can't read <@{target_slack_id}>'s email from Slack, so I can't find their CRM "
                                   "user. Link them first: `/gmail admin link @user their-crm-email`.")
            existing = find_user_by_email(session, identity.email)
            if existing is not None and existing.slack_user_id is not None:
                where = (f"<@{existing.slack_user_id}>" if existing.slack_team_id == who.team_id
                         else "someone in another Slack workspace")
                raise NotAllowed(f"The CRM user {escape(identity.email)} is linked to {where}. "
                                 "Use `/gmail admin link` to change that.")
            access.require_admin_over(session, actor, existing)
            created = existing is None
            user = existing or get_or_create_user(session, identity.email, identity.name)
            link_slack_user(session, user, team_id=who.team_id, slack_user_id=target_slack_id, timezone=identity.tz)
        else:
            access.require_admin_over(session, actor, user)
        profile = set_permissions(session, user, mail_integration=True)
        return PermissionChange(user.email, profile.name, True, profile.is_admin, created=created)


def revoke(services: Services, who: SlackActorRef, target_slack_id: str) -> PermissionChange:
    """Take Mail Integration away; the user's mailbox is disconnected (F10: no reading without it)."""
    actor = resolve(services, who)
    access.require_admin(actor)
    with session_scope(services.engine) as session:
        user, email = _slack_target(services, who, target_slack_id, session)
        if user is None and email:
            candidate = find_user_by_email(session, email)
            user = candidate if candidate is not None and candidate.slack_user_id is None else None
        if user is None:
            raise InvalidInput(f"<@{target_slack_id}> is not a CRM user, so there is nothing to revoke.")
        access.require_admin_over(session, actor, user)
    return _revoke_user(services, actor, user.id)


def _revoke_user(services: Services, actor: Actor, user_id: int, *, admin_too: bool = False) -> PermissionChange:
    with session_scope(services.engine) as session:
        user = session.get(CrmUser, user_id)
        access.require_admin_over(session, actor, user)
        profile = set_permissions(session, user, mail_integration=False, is_admin=False if admin_too else None)
        account = session.exec(select(GmailAccount).where(GmailAccount.crm_user_id == user.id)).first()
        account_id = account.id if account else None
        change = PermissionChange(user.email, profile.name, False, profile.is_admin)
    if account_id is not None:
        if services.gmail is not None:
            address = disconnect_any(services, account_id)
        else:  # the CLI without Google settings: our copy goes anyway
            from gmail.accounts import disconnect_mailbox

            address = disconnect_mailbox(services.engine, services.cipher, services.google, account_id)
        change = PermissionChange(change.email, change.profile, False, change.admin, disconnected=address)
    return change


@dataclass(frozen=True)
class LinkResult:
    email: str
    created: bool
    previous_slack_user: str | None


def link(services: Services, who: SlackActorRef, target_slack_id: str, crm_email: str) -> LinkResult:
    """Link a Slack user of the admin's workspace to a CRM user explicitly (emails differ)."""
    actor = resolve(services, who)
    access.require_admin(actor)
    crm_email = normalise_email(crm_email)
    target = identify(services, SlackActorRef(who.team_id, target_slack_id, who.enterprise_id))
    if target.is_bot:
        raise InvalidInput(f"<@{target_slack_id}> is an app, not a person.")
    with session_scope(services.engine) as session:
        user = find_user_by_email(session, crm_email)
        access.require_admin_over(session, actor, user)
        current = find_user_by_slack(session, who.team_id, target_slack_id)
        if current is not None and user is not None and current.id == user.id:
            return LinkResult(crm_email, False, None)
        if current is not None:
            # The Slack user moves away from their current CRM user: that one must be the admin's to change too.
            access.require_admin_over(session, actor, current)
            access.require_relinkable(session, current, "", "")
        if user is not None:
            access.require_relinkable(session, user, who.team_id, target_slack_id)
        created = user is None
        user = user or get_or_create_user(session, crm_email)
        previous = user.slack_user_id if user.slack_team_id == who.team_id else None
        link_slack_user(session, user, team_id=who.team_id, slack_user_id=target_slack_id)
    return LinkResult(crm_email, created, previous if previous != target_slack_id else None)


def allow_address(services: Services, who: SlackActorRef, target_slack_id: str, address: str) -> str:
    """Allow a CRM user to connect a Gmail address that is not their CRM email (SPEC §1)."""
    actor = resolve(services, who)
    access.require_admin(actor)
    address = normalise_email(address)
    if not is_valid_address(address):
        raise InvalidInput(f"`{escape(address)}` is not an email address.")
    with session_scope(services.engine) as session:
        user = find_user_by_slack(session, who.team_id, target_slack_id)
        if user is None:
            raise InvalidInput(f"<@{target_slack_id}> is not a CRM user yet: `/gmail admin grant` them first.")
        access.require_admin_over(session, actor, user)
        other = find_user_by_email(session, address)
        if other is not None and other.id != user.id:
            raise NotAllowed(f"{escape(address)} is the CRM email of another user ({escape(other.email)}).")
        holder = session.get(MailboxAlias, address)
        if holder is not None and holder.crm_user_id != user.id:
            raise NotAllowed(f"{escape(address)} is already allowed for another CRM user.")
        insert_once(session, MailboxAlias, address=address, crm_user_id=user.id,
                    allowed_by=actor.crm_email or actor.slack_user_id)
    return (f"<@{target_slack_id}> may now connect the Gmail {escape(address)} (`/gmail connect`, signing in to "
            "Google as that address).")


def show_policy(services: Services, who: SlackActorRef) -> str:
    actor = resolve(services, who)
    access.require_admin(actor)
    with session_scope(services.engine) as session:
        return org_policy(session, who.team_id).value


def change_policy(services: Services, who: SlackActorRef, policy: SharingPolicy) -> SharingPolicy:
    """The sharing policy of the admin's own workspace (each workspace of the organisation has one)."""
    actor = resolve(services, who)
    access.require_admin(actor)
    with session_scope(services.engine) as session:
        set_policy(session, who.team_id, policy)
    return policy


# -- the CLI: the operator, by email ------------------------------------------------------------------

def grant_by_email(services: Services, email: str, *, admin: bool = False, actor: Actor = OPERATOR) -> PermissionChange:
    """`mailmagnet users grant EMAIL [--admin]`: how the first admin is made."""
    email = normalise_email(email)
    if not is_valid_address(email):
        raise InvalidInput(f"{email!r} is not an email address")
    with session_scope(services.engine) as session:
        existing = find_user_by_email(session, email)
        access.require_admin_over(session, actor, existing)
        if admin and not (actor.is_operator or actor.crm_admin):
            raise NotAllowed("Only a CRM admin makes someone a CRM admin.")
        user = existing or get_or_create_user(session, email)
        profile = set_permissions(session, user, mail_integration=True, is_admin=True if admin else None)
        return PermissionChange(user.email, profile.name, True, profile.is_admin, created=existing is None)


def revoke_by_email(services: Services, email: str, *, actor: Actor = OPERATOR) -> PermissionChange:
    """`mailmagnet users revoke EMAIL`: Mail Integration and the admin flag go; the mailbox is disconnected."""
    email = normalise_email(email)
    with session_scope(services.engine) as session:
        user = find_user_by_email(session, email)
        if user is None:
            raise NotFoundError(f"no CRM user with email {email}")
        user_id = user.id
    return _revoke_user(services, actor, user_id, admin_too=True)
