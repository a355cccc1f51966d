"""Every decision "may this actor do or see this" (SPEC §1, §5), in one place.

Use cases call these before they act. Who may *see* how much of whose emails (the sharing rules, and the
alert job's `alert_audience` through the `AlertAudience` port) is decided beside it, in `usecases/visibility.py`.
Nothing else in the code decides who may do or see what.

Roles
- A *rep* is a Slack user linked to a CRM user; Gmail features need the profile's Mail Integration.
- A *CRM admin* (profile flag) administers the whole organisation, in every workspace.
- A *Slack workspace admin* (users.info is_admin/is_owner) administers the users of their own
  workspace only: CRM users linked in that workspace, and CRM users linked nowhere yet who are not
  CRM admins. They never act on another workspace's users and never hand out CRM-admin power.
  They link a Slack user to a CRM user only with proof (the Slack-confirmed email is the CRM user's
  email or secondary email) and never create CRM users.
- The *operator* at the CLI has shell and database access, so acts as a CRM admin.

Mailboxes belong to their rep: only the owner changes, sends from or disconnects a mailbox (an admin
can take Mail Integration away, which disconnects it); a CRM user whose mailbox is connected is not
re-linked to another Slack user until it is disconnected.
"""
from __future__ import annotations

from sqlmodel import Session, select

from crm_store.errors import (
    AdminOnly,
    CreatesNoCrmUser,
    LinkNeedsProof,
    NotAllowed,
    NotConnected,
    NotLinked,
    PermissionRequired,
)
from crm_store.models import AccountStatus, CrmUser, GmailAccount, Profile
from crm_store.users import normalise_email, user_has_address, user_profile
from usecases.actors import Actor
from usecases.context import SlackIdentity
from usecases.refusals import Person, Refusal


# -- who can grant ----------------------------------------------------------------------------------

def crm_admins(session: Session, team_id: str | None) -> tuple[Person, ...]:
    """The CRM admins (the first five), named in a refusal that they can lift: who can grant Mail Integration, or
    link and create CRM users."""
    admins = session.exec(
        select(CrmUser).join(Profile, Profile.id == CrmUser.profile_id).where(Profile.is_admin.is_(True))
        .order_by(CrmUser.id).limit(5)
    ).all()
    return tuple(Person(u.slack_user_id if u.slack_user_id and u.slack_team_id == team_id else None,
                        u.name or u.email) for u in admins)


# -- the actor's own rights -------------------------------------------------------------------------

def require_linked(session: Session, actor: Actor) -> CrmUser:
    if actor.crm_user_id is None:
        raise NotLinked(Refusal.NOT_LINKED, slack_email=actor.slack_email,
                        granters=crm_admins(session, actor.team_id))
    user = session.get(CrmUser, actor.crm_user_id)
    if user is None:
        raise NotLinked(Refusal.CRM_USER_GONE)
    return user


def require_mail_integration(session: Session, actor: Actor) -> CrmUser:
    user = require_linked(session, actor)
    if not actor.mail_integration:
        raise PermissionRequired(Refusal.NO_MAIL_INTEGRATION, granters=crm_admins(session, actor.team_id))
    return user


def require_crm_user(session: Session, actor: Actor) -> CrmUser:
    """CRM details (deals, amounts, phone, owner) are for linked CRM users of the organisation only."""
    if actor.is_operator:
        raise NotAllowed(Refusal.NEEDS_SLACK_USER)
    if actor.crm_user_id is None:
        raise NotLinked(Refusal.CONTACTS_FOR_CRM_USERS, granters=crm_admins(session, actor.team_id))
    return require_linked(session, actor)


def require_admin(actor: Actor) -> None:
    if not actor.is_any_admin:
        raise AdminOnly(Refusal.ADMIN_ONLY)


def require_crm_admin(actor: Actor) -> None:
    """What spans the organisation's workspaces (roles' policies): a CRM admin or the operator only."""
    require_admin(actor)
    if not (actor.is_operator or actor.crm_admin):
        raise NotAllowed(Refusal.ROLES_FOR_CRM_ADMINS)


def _is_crm_admin(session: Session, user: CrmUser) -> bool:
    return bool(user_profile(session, user).is_admin)


def require_admin_over(session: Session, actor: Actor, target: CrmUser | None) -> None:
    """May the actor administer this CRM user (grant, revoke, link, allow)? `None`: a CRM user to be
    created, which belongs to no workspace yet."""
    require_admin(actor)
    if actor.is_operator or actor.crm_admin:
        return
    # A Slack workspace admin: their own workspace's users, and unlinked users who are not CRM admins.
    if target is None:
        return
    if target.slack_team_id is not None and target.slack_team_id != actor.team_id:
        raise NotAllowed(Refusal.ANOTHER_WORKSPACES_USER, email=target.email)
    if target.id != actor.crm_user_id and _is_crm_admin(session, target):
        raise NotAllowed(Refusal.TARGET_IS_CRM_ADMIN, email=target.email)


# -- linking Slack users to CRM users (SPEC §1 "Linking needs proof") -----------------------------------

def require_may_create_crm_user(session: Session, actor: Actor, email: str) -> None:
    """CRM users come from the CRM data, the operator, or a CRM admin; a Slack workspace admin never makes one
    (they would otherwise mint an identity that owns contacts and deals by its email)."""
    require_admin(actor)
    if actor.is_operator or actor.crm_admin:
        return
    raise CreatesNoCrmUser(Refusal.CREATES_NO_CRM_USER, email=email, crm_admins=crm_admins(session, actor.team_id))


def require_may_link(session: Session, actor: Actor, identity: SlackIdentity, user: CrmUser | None,
                     crm_email: str) -> None:
    """May the actor link this Slack user to this CRM user (`None`: the one `crm_email` would create)?

    The operator and a CRM admin link on their word. A Slack workspace admin only forces the link the proof
    already gives: a user of their own workspace whose Slack-confirmed email is the CRM user's email or
    secondary email (and then only a CRM user of their workspace or of none, not a CRM admin). They never
    claim a CRM user by name, and never create one. Without the proof the refusal reads the same whether or
    not `crm_email` is a CRM user's, or whose, so it tells nobody which emails the CRM holds."""
    require_admin(actor)
    if not (actor.is_operator or actor.crm_admin):
        proof = identity.verified_email
        matches = bool(proof) and identity.team_id == actor.team_id and (
            user_has_address(user, proof) if user is not None else normalise_email(crm_email) == proof)
        if not matches:
            raise LinkNeedsProof(Refusal.LINK_NEEDS_PROOF, slack_user_id=identity.user_id, proof=proof or None,
                                 crm_email=crm_email, crm_admins=crm_admins(session, actor.team_id))
    require_admin_over(session, actor, user)
    if user is None:
        require_may_create_crm_user(session, actor, crm_email)


def require_relinkable(session: Session, user: CrmUser, slack_team_id: str, slack_user_id: str) -> None:
    """A mailbox belongs to its rep: a CRM user with a connected mailbox keeps its Slack user."""
    if user.slack_user_id is None or (user.slack_team_id, user.slack_user_id) == (slack_team_id, slack_user_id):
        return
    account = session.exec(select(GmailAccount).where(GmailAccount.crm_user_id == user.id)).first()
    if account is not None:
        raise NotAllowed(Refusal.MAILBOX_KEEPS_ITS_REP, email=user.email, address=account.email_address,
                         owner_slack_id=user.slack_user_id)


# -- mailboxes --------------------------------------------------------------------------------------

def own_mailbox(session: Session, actor: Actor) -> GmailAccount | None:
    if actor.crm_user_id is None:
        return None
    return session.exec(select(GmailAccount).where(GmailAccount.crm_user_id == actor.crm_user_id)).first()


def require_own_connected_mailbox(session: Session, actor: Actor) -> GmailAccount:
    """The actor's own mailbox, connected; Mail Integration required (F10)."""
    require_mail_integration(session, actor)
    account = own_mailbox(session, actor)
    if account is None:
        raise NotConnected(Refusal.NO_MAILBOX)
    if account.status != AccountStatus.CONNECTED:
        raise NotConnected(Refusal.MAILBOX_REVOKED, address=account.email_address)
    return account


def require_mailbox_owner(session: Session, actor: Actor, account_id: int | None) -> GmailAccount:
    """Only the rep whose mailbox it is acts on it (reply, mute, disconnect…)."""
    account = session.get(GmailAccount, account_id) if isinstance(account_id, int) else None
    if account is None:
        raise NotConnected(Refusal.MAILBOX_GONE)
    if actor.crm_user_id is None or account.crm_user_id != actor.crm_user_id:
        raise NotAllowed(Refusal.NOT_YOUR_MAILBOX, owner_slack_id=account.slack_user_id)
    return account


def workspace_crm_user(session: Session, team_id: str, slack_user_id: str) -> CrmUser | None:
    return session.exec(select(CrmUser).where(CrmUser.slack_team_id == team_id,
                                              CrmUser.slack_user_id == slack_user_id)).first()


# -- the admin overview (SPEC §3 "For admins") -------------------------------------------------------

def admin_scope(actor: Actor) -> str | None:
    """Whose reps an admin sees in the overview: None for everyone (a CRM admin, the operator), else the Slack
    workspace a Slack workspace admin administers."""
    require_admin(actor)
    if actor.is_operator or actor.crm_admin:
        return None
    return actor.team_id or ""


def admins_to_tell(session: Session, team_id: str) -> list[tuple[str, str]]:
    """Who is DMed of a mailbox's incident: the CRM admins linked in its workspace, else (none there) the CRM
    admins linked in other workspaces of the organisation, who administer everywhere. Slack workspace admins
    are not listed anywhere we can read without users.list; they see the state in `/gmail admin status`."""
    linked = session.exec(
        select(CrmUser.slack_team_id, CrmUser.slack_user_id).join(Profile, Profile.id == CrmUser.profile_id)
        .where(Profile.is_admin.is_(True), CrmUser.slack_user_id.is_not(None)).order_by(CrmUser.id)).all()
    here = [(t, u) for t, u in linked if t == team_id]
    return here or [(t, u) for t, u in linked]


# -- the audit log (SPEC §5) ------------------------------------------------------------------------

def audit_scope(session: Session, actor: Actor) -> str | None:
    """Which audit rows the actor may read: None for all of them (a CRM admin, the operator), else the Slack
    workspace whose mailboxes and viewers a Slack workspace admin administers."""
    require_admin(actor)
    if actor.is_operator or actor.crm_admin:
        return None
    return actor.team_id or ""
