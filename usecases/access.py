"""Every decision "may this actor do or see this" (SPEC §1, §5), in one place.

Use cases call these before they act; the alert job calls `alert_audience` through the
`AlertAudience` port. Nothing else in the code decides who may do or see what.

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

from dataclasses import dataclass
from typing import Iterable

from sqlmodel import Session, or_, select

from crm_store.errors import (
    AdminOnly,
    CreatesNoCrmUser,
    LinkNeedsProof,
    NotAllowed,
    NotConnected,
    NotLinked,
    PermissionRequired,
)
from crm_store.models import (
    AccountStatus,
    Contact,
    CrmUser,
    Deal,
    EmailShare,
    GmailAccount,
    ManagersSee,
    OrgSettings,
    Profile,
    Sharing,
)
from crm_store.sharing import (
    Visibility,
    custom_allowed_users,
    effective_sharing,
    managers_of,
    managers_see,
    mailbox_policy,
    reports_of,
)
from crm_store.users import normalise_email, user_has_address, user_profile
from gmail.notifier import AudienceDecision
from usecases.actors import Actor, workspace_allowed
from usecases.context import ChannelInfo, Services, SlackIdentity
from usecases.wording import escape

ADMIN_ONLY = "Only MailMagnet admins and Slack workspace admins can do that."


# -- who can grant ----------------------------------------------------------------------------------

def _crm_admin_names(session: Session, team_id: str | None) -> list[str]:
    admins = session.exec(
        select(CrmUser).join(Profile, Profile.id == CrmUser.profile_id).where(Profile.is_admin.is_(True))
        .order_by(CrmUser.id).limit(5)
    ).all()
    return [f"<@{u.slack_user_id}>" if u.slack_user_id and u.slack_team_id == team_id
            else escape(u.name or u.email) for u in admins]


def granters(session: Session, team_id: str | None) -> str:
    """Who can grant Mail Integration to someone of this workspace, named for a refusal message."""
    names = _crm_admin_names(session, team_id)
    if names:
        return ", ".join(names) + " (MailMagnet admins) or a Slack workspace admin"
    return "a Slack workspace admin or owner"


def crm_admins(session: Session, team_id: str | None) -> str:
    """The CRM admins, named for a refusal that only they can lift."""
    names = _crm_admin_names(session, team_id)
    return "a CRM admin" + (f" ({', '.join(names)})" if names else "")


# -- the actor's own rights -------------------------------------------------------------------------

def require_linked(session: Session, actor: Actor) -> CrmUser:
    if actor.crm_user_id is None:
        email = f" ({actor.slack_email})" if actor.slack_email else ""
        raise NotLinked(
            f"Your Slack account{email} is not linked to a CRM user. Ask {granters(session, actor.team_id)} "
            "to add you with `/gmail admin grant @you`."
        )
    user = session.get(CrmUser, actor.crm_user_id)
    if user is None:
        raise NotLinked("Your CRM user no longer exists. Ask a MailMagnet admin.")
    return user


def require_mail_integration(session: Session, actor: Actor) -> CrmUser:
    user = require_linked(session, actor)
    if not actor.mail_integration:
        raise PermissionRequired(
            "Your CRM profile does not have the Mail Integration permission, which Gmail features need. "
            f"Ask {granters(session, actor.team_id)} to run `/gmail admin grant @you`."
        )
    return user


def require_crm_user(session: Session, actor: Actor) -> CrmUser:
    """CRM details (deals, amounts, phone, owner) are for linked CRM users of the organisation only."""
    if actor.is_operator:
        raise NotAllowed("This needs a Slack user.")
    if actor.crm_user_id is None:
        raise NotLinked("Contact details are shown to CRM users only, and your Slack account is not linked to "
                        f"one. Ask {granters(session, actor.team_id)} to add you.")
    return require_linked(session, actor)


def require_admin(actor: Actor) -> None:
    if not actor.is_any_admin:
        raise AdminOnly(ADMIN_ONLY)


def require_crm_admin(actor: Actor) -> None:
    """What spans the organisation's workspaces (roles' policies): a CRM admin or the operator only."""
    require_admin(actor)
    if not (actor.is_operator or actor.crm_admin):
        raise NotAllowed("Roles are the organisation's, across its Slack workspaces: only a MailMagnet (CRM) admin "
                         "sets a role's sharing policy. You can set your workspace's policy or one user's.")


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
        raise NotAllowed(f"{target.email} belongs to another Slack workspace of your organisation: only its "
                         "admins or a MailMagnet (CRM) admin can change that user.")
    if target.id != actor.crm_user_id and _is_crm_admin(session, target):
        raise NotAllowed(f"{target.email} is a MailMagnet (CRM) admin: only another CRM admin can change them.")


# -- linking Slack users to CRM users (SPEC §1 "Linking needs proof") -----------------------------------

def require_may_create_crm_user(session: Session, actor: Actor, email: str) -> None:
    """CRM users come from the CRM data, the operator, or a CRM admin; a Slack workspace admin never makes one
    (they would otherwise mint an identity that owns contacts and deals by its email)."""
    require_admin(actor)
    if actor.is_operator or actor.crm_admin:
        return
    raise CreatesNoCrmUser(
        f"There is no CRM user with the email {escape(email)}, and a Slack workspace admin does not create CRM "
        "users. One comes from the CRM data (a CSV import, the CRM ingest API or the Zoho sync), from "
        f"`mailmagnet users grant {escape(email)}` on the MailMagnet server, or from "
        f"{crm_admins(session, actor.team_id)} with `/gmail admin grant` or `/gmail admin link`.")


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
            shown = (f"<@{identity.user_id}>'s Slack email is {escape(proof)}" if proof
                     else f"Slack has no confirmed email for <@{identity.user_id}>")
            raise LinkNeedsProof(
                "A Slack workspace admin links someone only to the CRM user whose email or secondary email is "
                f"their own Slack email, as Slack confirmed it. {shown}, which is not the email of the CRM user "
                f"{escape(crm_email)}, so only {crm_admins(session, actor.team_id)} can make this link. If the "
                "CRM has the wrong email for this person, correct it in the CRM.")
    require_admin_over(session, actor, user)
    if user is None:
        require_may_create_crm_user(session, actor, crm_email)


def require_relinkable(session: Session, user: CrmUser, slack_team_id: str, slack_user_id: str) -> None:
    """A mailbox belongs to its rep: a CRM user with a connected mailbox keeps its Slack user."""
    if user.slack_user_id is None or (user.slack_team_id, user.slack_user_id) == (slack_team_id, slack_user_id):
        return
    account = session.exec(select(GmailAccount).where(GmailAccount.crm_user_id == user.id)).first()
    if account is not None:
        raise NotAllowed(f"{user.email} has the Gmail {account.email_address} connected by <@{user.slack_user_id}>. "
                         "A mailbox belongs to its rep: it must be disconnected (`/gmail admin revoke`) before "
                         "that CRM user is linked to someone else.")


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
        raise NotConnected("You have no Gmail connected. Run `/gmail connect` first.")
    if account.status != AccountStatus.CONNECTED:
        raise NotConnected(
            f"Google no longer lets MailMagnet read {account.email_address}. Run `/gmail connect` to reconnect."
        )
    return account


def require_mailbox_owner(session: Session, actor: Actor, account_id: int | None) -> GmailAccount:
    """Only the rep whose mailbox it is acts on it (reply, mute, disconnect…)."""
    account = session.get(GmailAccount, account_id) if isinstance(account_id, int) else None
    if account is None:
        raise NotConnected("That mailbox is no longer connected to MailMagnet.")
    if actor.crm_user_id is None or account.crm_user_id != actor.crm_user_id:
        raise NotAllowed(f"Only <@{account.slack_user_id}> can do that for their mailbox.")
    return account


# -- who sees how much of whose emails (SPEC §5) ----------------------------------------------------

def visibility_for_users(session: Session, account: GmailAccount, contact_id: int | None,
                         viewer_ids: Iterable[int | None]) -> dict[int | None, Visibility]:
    """What each viewer (a CRM user id; None for someone who is not a CRM user) may see of this
    mailbox's emails with this contact.

    Public: every CRM user linked in the mailbox's workspace. Custom: the contact's owner, the owners
    of its deals and the users the rep shared with — CRM relationships, valid in every workspace of
    the organisation. Private: nobody. The owner always sees everything.
    """
    viewers = list(dict.fromkeys(viewer_ids))
    result: dict[int | None, Visibility] = {}
    if account.status != AccountStatus.CONNECTED:
        # A disconnected or revoked mailbox's emails are no longer associated with anyone (F8).
        return {viewer: Visibility.NONE for viewer in viewers}
    sharing = effective_sharing(mailbox_policy(session, account), account)
    depth = Visibility.of_depth(account.sharing_depth)
    workspace_users: set[int] = set()
    if sharing is Sharing.PUBLIC:
        known = [v for v in viewers if v is not None]
        if known:
            workspace_users = set(session.exec(select(CrmUser.id).where(
                CrmUser.id.in_(known), CrmUser.slack_team_id == account.slack_team_id)).all())
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
    _managers_see_reports(session, account, contact_id, result)
    return result


def _managers_see_reports(session: Session, account: GmailAccount, contact_id: int | None,
                          result: dict[int | None, Visibility]) -> None:
    """SPEC §1 Roles: with the organisation's `managers_see` on, everyone above the rep in the reporting line sees
    the rep's emails with a contact at that depth, whatever the rep's sharing (more, if the sharing gives more).
    Only emails with a contact: `contact_id` None (mail with nobody of the CRM) stays the owner's alone, and every
    surface lists a message under a contact only on its verified headers."""
    if contact_id is None:
        return
    see = managers_see(session, account.slack_team_id)
    if see is ManagersSee.NONE:
        return
    level = Visibility.of_depth(see.value)
    above = set(managers_of(session, account.crm_user_id))
    for viewer, current in result.items():
        if viewer in above and current < level:
            result[viewer] = level


def visibility(session: Session, account: GmailAccount, contact_id: int | None, viewer_id: int | None) -> Visibility:
    return visibility_for_users(session, account, contact_id, [viewer_id])[viewer_id]


def unrelated_user_visibility(session: Session, account: GmailAccount) -> Visibility:
    """What any CRM user of the mailbox's workspace may see with no relationship to the contact."""
    if account.status != AccountStatus.CONNECTED:
        return Visibility.NONE
    sharing = effective_sharing(mailbox_policy(session, account), account)
    return Visibility.of_depth(account.sharing_depth) if sharing is Sharing.PUBLIC else Visibility.NONE


@dataclass(frozen=True)
class ChannelAudience:
    """Who can read a channel, as the sharing rules need it."""

    channel: ChannelInfo | None  # None: the rep's own DM
    member_crm_ids: tuple[int | None, ...] = ()  # None for members who are not CRM users of this workspace
    outside: str | None = None  # why people outside the organisation can read it (channel_outside_organisation)

    @property
    def is_dm(self) -> bool:
        return self.channel is None


def channel_outside_organisation(services: Services, channel: ChannelInfo) -> str | None:
    """SPEC §5: a channel shared with another organisation is an outside audience, whoever its members are
    today: Slack Connect (an invitation pending included, since accepting it shows the history), or a channel
    shared with a workspace this deployment does not serve (an org-shared channel reaching beyond the allowed
    workspaces). The reason, or None when only the organisation can read it."""
    if channel.is_ext_shared:
        return "it is shared with another organisation (Slack Connect), whose people can read it"
    for team_id in channel.shared_with:
        if not (workspace_allowed(services, team_id, None) or workspace_allowed(services, None, team_id)):
            return ("it is shared with another organisation's Slack workspace, which this MailMagnet does not "
                    "serve, so people outside your organisation can read it")
    return None


def crm_ids_of_members(session: Session, team_id: str, slack_ids: list[str]) -> tuple[int | None, ...]:
    linked = dict(session.exec(select(CrmUser.slack_user_id, CrmUser.id).where(
        CrmUser.slack_team_id == team_id, CrmUser.slack_user_id.in_(slack_ids))).all()) if slack_ids else {}
    return tuple(linked.get(slack_id) for slack_id in slack_ids)


def alert_audience(session: Session, account: GmailAccount, contact_id: int,
                   audience: ChannelAudience) -> AudienceDecision:
    """SPEC §5, channels: a public channel is readable by the whole workspace, so it gets what an
    unrelated CRM user may see and no CRM details; a private channel gets the least any member may
    see, with CRM details only when every member is a CRM user. Nothing → the rep's DM."""
    if audience.is_dm:
        return AudienceDecision(Visibility.OWNER, True)
    if audience.outside:
        return AudienceDecision(Visibility.NONE, False, {}, audience.outside)
    members = [m for m in audience.member_crm_ids if m != account.crm_user_id]
    levels = visibility_for_users(session, account, contact_id, members)
    if not audience.channel.is_private:
        level = unrelated_user_visibility(session, account)
        crm_details = False
        viewers = {m: level for m in members if m is not None}
        reason = None if level > Visibility.NONE else (
            "it is a public channel, which anyone in the workspace can read, and your sharing setting "
            "does not let everyone in the workspace see your emails")
    else:
        level = min(levels.values(), default=Visibility.OWNER)
        crm_details = None not in members
        viewers = {m: level for m in members if m is not None}
        reason = None
        if level == Visibility.NONE:
            reason = ("someone in that channel is not a CRM user of your organisation" if None in members else
                      "your sharing setting does not let everyone in that channel see your emails with this "
                      "contact")
    if level == Visibility.NONE:
        return AudienceDecision(Visibility.NONE, False, {}, reason)
    return AudienceDecision(level, crm_details, viewers)


def workspace_crm_user(session: Session, team_id: str, slack_user_id: str) -> CrmUser | None:
    return session.exec(select(CrmUser).where(CrmUser.slack_team_id == team_id,
                                              CrmUser.slack_user_id == slack_user_id)).first()


# -- a contact's emails across mailboxes (SPEC F5, F7) ----------------------------------------------

def mailboxes_visible_to(session: Session, actor: Actor, contact_id: int) -> list[tuple[GmailAccount, Visibility]]:
    """Every connected mailbox whose emails with this contact the actor may see, with how much (the actor's own
    at OWNER). Candidates are the mailboxes any rule could open — their own, their workspace's (Public), those
    shared with them, their reports' (managers' visibility), and all of them when the actor owns the contact or one
    of its deals (Custom) — and each
    is decided by `visibility_for_users`, like every other surface. Admins get nothing more."""
    if actor.crm_user_id is None:
        return []
    viewer = session.get(CrmUser, actor.crm_user_id)
    if viewer is None:
        return []
    related = (session.exec(select(Contact.id).where(Contact.id == contact_id, Contact.owner_id == viewer.id)).first()
               is not None or session.exec(select(Deal.id).where(Deal.contact_id == contact_id,
                                                                  Deal.owner_id == viewer.id)).first() is not None)
    query = select(GmailAccount).where(GmailAccount.status == AccountStatus.CONNECTED.value)
    if not related:
        sharers = select(EmailShare.owner_user_id).where(EmailShare.viewer_user_id == viewer.id)
        candidates = [GmailAccount.crm_user_id == viewer.id, GmailAccount.crm_user_id.in_(sharers)]
        if viewer.slack_team_id:
            candidates.append(GmailAccount.slack_team_id == viewer.slack_team_id)
        if session.exec(select(OrgSettings.team_id).where(
                OrgSettings.managers_see != ManagersSee.NONE.value)).first() is not None:
            reports = reports_of(session, viewer.id)
            if reports:
                candidates.append(GmailAccount.crm_user_id.in_(reports))
        query = query.where(or_(*candidates))
    visible = []
    for account in session.exec(query.order_by(GmailAccount.id)).all():
        level = visibility_for_users(session, account, contact_id, [viewer.id])[viewer.id]
        if level > Visibility.NONE:
            visible.append((account, level))
    return visible


def email_visibility(session: Session, actor: Actor, account_id, contact_id) -> tuple[GmailAccount, Visibility]:
    """How much of this mailbox's emails with this contact the actor may see; a refusal when nothing."""
    account = session.get(GmailAccount, account_id) if isinstance(account_id, int) else None
    if account is None or account.status != AccountStatus.CONNECTED:
        raise NotConnected("That mailbox is no longer connected to MailMagnet, so its emails are not shown.")
    level = visibility(session, account, contact_id if isinstance(contact_id, int) else None, actor.crm_user_id)
    if level == Visibility.NONE:
        raise NotAllowed(f"<@{account.slack_user_id}>'s sharing settings do not let you see that email.")
    return account, level


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
