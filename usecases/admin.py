"""`/gmail admin …` and `mailmagnet users …` (SPEC §1): Mail Integration, links, allowed addresses, policy.

Every function takes the actor (a Slack admin, or the CLI operator) and the target, and asks
`access.require_admin_over` whether this actor may administer that CRM user: a Slack workspace admin
only within their workspace, a CRM admin (and the operator) everywhere. Links and new CRM users need
more (`access.require_may_link`, `access.require_may_create_crm_user`): a Slack workspace admin links
only on the proof of a matching Slack-confirmed email and never creates a CRM user.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from crm_store.addresses import is_valid_address
from crm_store.db import insert_once, session_scope
from crm_store.errors import InvalidInput, NotAllowed, NotFoundError
from crm_store.mailboxes import org_settings, set_policy
from crm_store.sharing import managers_see, org_policy
from crm_store.models import CrmUser, GmailAccount, MailboxAlias, ManagersSee, RoleSharingPolicy, SharingPolicy
from crm_store.users import (
    find_user_by_email,
    find_user_by_slack,
    get_or_create_user,
    link_slack_user,
    normalise_email,
    set_permissions,
    users_with_address,
)
from usecases import access
from usecases.actors import (
    OPERATOR,
    Actor,
    SlackActorRef,
    acting,
    crm_users_proven_by,
    identify,
    unlinked_user_proven_by,
)
from usecases.context import Services, SlackIdentity
from usecases.mailbox import disconnect_any
from usecases.refusals import Refusal


@dataclass(frozen=True)
class PermissionChange:
    email: str
    profile: str
    mail_integration: bool
    admin: bool
    created: bool = False
    disconnected: str | None = None  # the mailbox disconnected because the permission went away


def _identify_target(services: Services, session: Session, who: SlackActorRef, target_slack_id: str) -> SlackIdentity:
    """What Slack says of a mentioned user of the actor's workspace (users.info), asked with no transaction open:
    the request's session goes on afterwards in a new one."""
    session.commit()
    return identify(services, SlackActorRef(who.team_id, target_slack_id, who.enterprise_id))


def grant(services: Services, who: SlackActorRef, target_slack_id: str) -> PermissionChange:
    """Mail Integration for a Slack user of the admin's workspace. Their CRM user is the one linked to them, else
    the one their Slack-confirmed email names (then linked); only a CRM admin creates one when none exists."""
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        identity = _identify_target(services, session, who, target_slack_id)
        user = find_user_by_slack(session, who.team_id, target_slack_id)
        created = False
        if user is None:
            user, created = _proven_user_for_grant(session, actor, identity)
            link_slack_user(session, user, team_id=who.team_id, slack_user_id=target_slack_id, timezone=identity.tz)
        else:
            access.require_admin_over(session, actor, user)
        profile = set_permissions(session, user, mail_integration=True)
        return PermissionChange(user.email, profile.name, True, profile.is_admin, created=created)


def _proven_user_for_grant(session, actor: Actor, identity: SlackIdentity) -> tuple[CrmUser, bool]:
    """The CRM user a not-yet-linked Slack user proves to be by their email (or a new one, for a CRM admin),
    after checking the actor may link them; (user, created)."""
    if identity.is_bot:
        raise InvalidInput(Refusal.TARGET_IS_AN_APP, slack_user_id=identity.user_id)
    email = identity.verified_email
    if not email:
        raise InvalidInput(Refusal.NO_CONFIRMED_EMAIL, slack_user_id=identity.user_id,
                           crm_admins=access.crm_admins(session, actor.team_id))
    proven = crm_users_proven_by(session, identity)
    if len(proven) > 1:
        raise InvalidInput(Refusal.SECONDARY_EMAIL_OF_SEVERAL, email=email, slack_user_id=identity.user_id,
                           crm_admins=access.crm_admins(session, actor.team_id))
    existing = proven[0] if proven else None
    if existing is not None and existing.slack_user_id is not None:
        here = existing.slack_team_id == identity.team_id
        raise NotAllowed(Refusal.CRM_USER_LINKED_ELSEWHERE, email=existing.email,
                         linked_to=existing.slack_user_id if here else None)
    access.require_may_link(session, actor, identity, existing, existing.email if existing else email)
    if existing is not None:
        return existing, False
    return get_or_create_user(session, email, identity.name), True  # a CRM admin's: require_may_link said so


def revoke(services: Services, who: SlackActorRef, target_slack_id: str) -> PermissionChange:
    """Take Mail Integration away; the user's mailbox is disconnected (F10: no reading without it)."""
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        identity = _identify_target(services, session, who, target_slack_id)
        user = find_user_by_slack(session, who.team_id, target_slack_id) or unlinked_user_proven_by(session, identity)
        if user is None:
            raise InvalidInput(Refusal.NOTHING_TO_REVOKE, slack_user_id=target_slack_id)
        change, account_id = _take_permission(session, actor, user)
    return _disconnect_after_revoke(services, change, account_id)


def _take_permission(session: Session, actor: Actor, user: CrmUser, *,
                     admin_too: bool = False) -> tuple[PermissionChange, int | None]:
    """Mail Integration (and with `admin_too` the admin flag) goes; the mailbox to disconnect, if any."""
    access.require_admin_over(session, actor, user)
    profile = set_permissions(session, user, mail_integration=False, is_admin=False if admin_too else None)
    account = session.exec(select(GmailAccount).where(GmailAccount.crm_user_id == user.id)).first()
    return PermissionChange(user.email, profile.name, False, profile.is_admin), account.id if account else None


def _disconnect_after_revoke(services: Services, change: PermissionChange, account_id: int | None) -> PermissionChange:
    """Without Mail Integration no mailbox stays (F10): Google's grant is revoked once the permission's
    transaction has ended (disconnecting is its own step, as from `/gmail disconnect`)."""
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
    """Link a Slack user of the admin's workspace to a CRM user explicitly (SPEC §1 "Linking needs proof"): a
    CRM admin links anyone (and may create the CRM user); a Slack workspace admin only the Slack user whose
    confirmed email is that CRM user's email or secondary email."""
    crm_email = normalise_email(crm_email)
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        target = _identify_target(services, session, who, target_slack_id)
        if target.is_bot:
            raise InvalidInput(Refusal.TARGET_IS_AN_APP, slack_user_id=target_slack_id)
        named = users_with_address(session, crm_email)
        by_email = [u for u in named if u.email == crm_email]
        user = by_email[0] if by_email else (named[0] if len(named) == 1 else None)
        if user is None and len(named) > 1 and (actor.is_operator or actor.crm_admin
                                                or crm_email == target.verified_email):
            raise InvalidInput(Refusal.NAME_THE_CRM_EMAIL, email=crm_email)
        access.require_may_link(session, actor, target, user, crm_email)
        current = find_user_by_slack(session, who.team_id, target_slack_id)
        if current is not None and user is not None and current.id == user.id:
            return LinkResult(user.email, False, None)
        if current is not None:
            # The Slack user moves away from their current CRM user: that one must be the admin's to change too.
            access.require_admin_over(session, actor, current)
            access.require_relinkable(session, current, "", "")
        if user is not None:
            access.require_relinkable(session, user, who.team_id, target_slack_id)
        created = user is None
        if created:  # require_may_link allowed it: a CRM admin's (or the operator's) new CRM user
            user = get_or_create_user(session, crm_email, target.name)
        previous = user.slack_user_id if user.slack_team_id == who.team_id else None
        link_slack_user(session, user, team_id=who.team_id, slack_user_id=target_slack_id, timezone=target.tz)
    return LinkResult(user.email, created, previous if previous != target_slack_id else None)


def allow_address(services: Services, who: SlackActorRef, target_slack_id: str, address: str) -> str:
    """Allow a CRM user to connect a Gmail address that is not their CRM email (SPEC §1). Returns the address."""
    address = normalise_email(address)
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        if not is_valid_address(address):
            raise InvalidInput(Refusal.NOT_AN_ADDRESS, text=address)
        user = find_user_by_slack(session, who.team_id, target_slack_id)
        if user is None:
            raise InvalidInput(Refusal.GRANT_FIRST, slack_user_id=target_slack_id)
        access.require_admin_over(session, actor, user)
        # An address that is someone else's (their CRM email or secondary email, their alias, their connected
        # mailbox) is never allowed to another user: Google's consent would still be needed, but the allowance
        # would stand in the owner's way.
        other = next((u for u in users_with_address(session, address) if u.id != user.id), None)
        if other is not None:
            raise NotAllowed(Refusal.ADDRESS_OF_ANOTHER_USER, address=address, other_email=other.email)
        holder = session.get(MailboxAlias, address)
        if holder is not None and holder.crm_user_id != user.id:
            raise NotAllowed(Refusal.ADDRESS_ALLOWED_TO_ANOTHER, address=address)
        connected = session.exec(select(GmailAccount).where(GmailAccount.email_address == address,
                                                            GmailAccount.crm_user_id != user.id)).first()
        if connected is not None:
            raise NotAllowed(Refusal.ADDRESS_CONNECTED_BY_ANOTHER, address=address)
        insert_once(session, MailboxAlias, address=address, crm_user_id=user.id,
                    allowed_by=actor.crm_email or actor.slack_user_id)
    return address


def show_policy(services: Services, who: SlackActorRef) -> str:
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        return org_policy(session, who.team_id).value


def change_policy(services: Services, who: SlackActorRef, policy: SharingPolicy) -> SharingPolicy:
    """The sharing policy of the admin's own workspace (each workspace of the organisation has one)."""
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        set_policy(session, who.team_id, policy)
    return policy


@dataclass(frozen=True)
class PolicyOverview:
    organisation: SharingPolicy
    roles: list[tuple[str, SharingPolicy]]
    users: list[tuple[str, str | None, SharingPolicy]]  # (CRM email, Slack user id in this workspace, policy)
    managers_see: ManagersSee


def policy_overview(services: Services, who: SlackActorRef) -> PolicyOverview:
    """`/gmail admin policy`: the policies that apply, most specific last."""
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        roles = [(r.role, SharingPolicy(r.policy)) for r in
                 session.exec(select(RoleSharingPolicy).order_by(RoleSharingPolicy.role)).all()]
        users = [(u.email, u.slack_user_id if u.slack_team_id == who.team_id else None, SharingPolicy(u.sharing_policy))
                 for u in session.exec(select(CrmUser).where(CrmUser.sharing_policy.is_not(None))
                                       .order_by(CrmUser.email).limit(50)).all()]
        return PolicyOverview(org_policy(session, who.team_id), roles, users, managers_see(session, who.team_id))


def change_role_policy(services: Services, who: SlackActorRef, role: str,
                       policy: SharingPolicy | None) -> tuple[str, int]:
    """The sharing policy of everyone with this CRM role (None: back to the organisation's). Roles are the
    organisation's, across its workspaces, so only a CRM admin sets them. Returns (role, how many hold it)."""
    role = " ".join(role.split())[:100]
    with acting(services, who) as (session, actor):
        access.require_crm_admin(actor)
        holders = len(session.exec(select(CrmUser.id).where(CrmUser.role == role)).all())
        if policy is not None and holders == 0:
            raise NotFoundError(Refusal.NO_SUCH_ROLE, role=role)
        rule = session.get(RoleSharingPolicy, role)
        if policy is None:
            if rule is not None:
                session.delete(rule)
        elif rule is None:
            insert_once(session, RoleSharingPolicy, role=role, policy=policy.value)
            rule = session.get(RoleSharingPolicy, role)
            rule.policy = policy.value
        else:
            rule.policy = policy.value
            session.add(rule)
    return role, holders


def change_user_policy(services: Services, who: SlackActorRef, target_slack_id: str,
                       policy: SharingPolicy | None) -> str:
    """The sharing policy of one user (None: back to their role's, else the organisation's). Returns their email."""
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        user = find_user_by_slack(session, who.team_id, target_slack_id)
        if user is None:
            raise InvalidInput(Refusal.GRANT_FIRST, slack_user_id=target_slack_id)
        access.require_admin_over(session, actor, user)
        user.sharing_policy = policy.value if policy is not None else None
        session.add(user)
        return user.email


def change_managers_see(services: Services, who: SlackActorRef, depth: ManagersSee) -> ManagersSee:
    """How much of their reports' customer email managers see in the admin's workspace (SPEC §1 Roles)."""
    with acting(services, who) as (session, actor):
        access.require_admin(actor)
        org_settings(session, who.team_id).managers_see = depth.value
    return depth


# -- the CLI: the operator, by email ------------------------------------------------------------------

def grant_by_email(services: Services, email: str, *, admin: bool = False, actor: Actor = OPERATOR) -> PermissionChange:
    """`mailmagnet users grant EMAIL [--admin]`: how the first admin is made."""
    email = normalise_email(email)
    if not is_valid_address(email):
        raise InvalidInput(Refusal.NOT_AN_ADDRESS, text=email)
    with session_scope(services.engine) as session:
        existing = find_user_by_email(session, email)
        access.require_admin_over(session, actor, existing)
        if admin and not (actor.is_operator or actor.crm_admin):
            raise NotAllowed(Refusal.ONLY_CRM_ADMINS_MAKE_ADMINS)
        if existing is None:
            access.require_may_create_crm_user(session, actor, email)
        user = existing or get_or_create_user(session, email)
        profile = set_permissions(session, user, mail_integration=True, is_admin=True if admin else None)
        return PermissionChange(user.email, profile.name, True, profile.is_admin, created=existing is None)


def revoke_by_email(services: Services, email: str, *, actor: Actor = OPERATOR) -> PermissionChange:
    """`mailmagnet users revoke EMAIL`: Mail Integration and the admin flag go; the mailbox is disconnected."""
    email = normalise_email(email)
    with session_scope(services.engine) as session:
        user = find_user_by_email(session, email)
        if user is None:
            raise NotFoundError(Refusal.NO_CRM_USER_WITH_EMAIL, email=email)
        change, account_id = _take_permission(session, actor, user, admin_too=True)
    return _disconnect_after_revoke(services, change, account_id)
