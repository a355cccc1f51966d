"""Who is acting (SPEC §1): a Slack user resolved to a CRM user, the operator at the CLI, or a job.

A Slack request names its sender as (enterprise, team, user) ids. `acting` (and `resolve`) checks the
workspace is one this deployment serves — unless the Slack middleware already admitted the request
(`admit`) — and finds the CRM user linked to the sender. A linked sender is known from the stored link: Slack
is asked who they are (users.info, cached by bot/) only when a decision needs their Slack profile (a
workspace admin's rights). An unlinked sender is looked up at once: linking by email the first time, when
the Slack profile's email (confirmed by Slack, read in the request's own workspace) is the email or
secondary email of a CRM user not linked to anyone yet. The result is a plain `Actor`: ids and flags, never
an ORM object, so it can cross threads and sessions.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterator

from sqlmodel import Session

from crm_store.db import session_scope
from crm_store.errors import WrongWorkspace
from crm_store.models import CrmUser
from crm_store.users import find_user_by_slack, link_slack_user, normalise_email, user_profile, users_with_address
from usecases.context import Services, SlackIdentity


class ActorKind(StrEnum):
    SLACK = "slack"
    OPERATOR = "operator"  # someone at the CLI: shell and database access already
    SYSTEM = "system"  # the scheduler


@dataclass(frozen=True)
class SlackActorRef:
    """Who a verified Slack request says sent it. `admitted`: its workspace was checked already (`admit`)."""

    team_id: str
    user_id: str
    enterprise_id: str | None = None
    admitted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    team_id: str | None = None
    slack_user_id: str | None = None
    identity: SlackIdentity | None = None  # read through `slack_profile`: it may not be looked up yet
    crm_user_id: int | None = None
    crm_email: str | None = None
    mail_integration: bool = False
    crm_admin: bool = False  # the CRM profile's admin flag: an admin of the whole organisation
    # A linked Slack user's profile, looked up (users.info) the first time a decision reads it.
    look_up_identity: Callable[[], SlackIdentity] | None = field(default=None, compare=False, repr=False)

    @property
    def slack_profile(self) -> SlackIdentity | None:
        if self.identity is None and self.look_up_identity is not None:
            object.__setattr__(self, "identity", self.look_up_identity())
        return self.identity

    @property
    def is_operator(self) -> bool:
        return self.kind is ActorKind.OPERATOR

    @property
    def workspace_admin(self) -> bool:
        """A Slack admin or owner: an admin for the users of their own workspace only."""
        if self.kind is not ActorKind.SLACK:
            return False
        profile = self.slack_profile
        return bool(profile and profile.is_workspace_admin)

    @property
    def is_any_admin(self) -> bool:
        return self.is_operator or self.crm_admin or self.workspace_admin

    @property
    def slack_email(self) -> str | None:
        profile = self.slack_profile
        return profile.email if profile else None


OPERATOR = Actor(ActorKind.OPERATOR, crm_admin=True, mail_integration=False)
SYSTEM = Actor(ActorKind.SYSTEM)


def workspace_allowed(services: Services, team_id: str | None, enterprise_id: str | None) -> bool:
    """SPEC §1: the named workspaces, every workspace of the named Grid org, or the bot token's own."""
    config = services.config
    if config.allowed_team_ids or config.allowed_enterprise_id:
        return bool((team_id and team_id in config.allowed_team_ids)
                    or (config.allowed_enterprise_id and enterprise_id == config.allowed_enterprise_id))
    if config.multi_workspace:
        return False  # installs into any workspace need an allow-list; `serve` refuses to start without one
    if services.directory is None:
        return True
    own_team, own_enterprise = services.directory.workspace_of_token()
    if own_team is None:
        return False  # Slack could not say which workspace the token is for: refuse rather than guess
    return team_id == own_team or (own_enterprise is not None and enterprise_id == own_enterprise
                                   and team_id in (None, "", own_team))


def check_workspace(services: Services, team_id: str | None, enterprise_id: str | None) -> None:
    if not workspace_allowed(services, team_id, enterprise_id):
        raise WrongWorkspace()  # handlers/blocks/refusals.py says it


def admit(services: Services, team_id: str, user_id: str, enterprise_id: str | None) -> SlackActorRef | None:
    """The Slack middleware's one workspace check: the sender of a request this deployment serves, marked as
    checked (the use cases do not check again), or None."""
    if not workspace_allowed(services, team_id, enterprise_id):
        return None
    return SlackActorRef(team_id, user_id, enterprise_id, admitted=True)


def identify(services: Services, ref: SlackActorRef) -> SlackIdentity:
    """users.info through bot/'s cached directory; without it we know only the ids."""
    if services.directory is None:
        return SlackIdentity(team_id=ref.team_id, user_id=ref.user_id, known=False)
    return services.directory.user(ref.team_id, ref.user_id)


def resolve(services: Services, ref: SlackActorRef) -> Actor:
    """The actor behind a Slack request, in a transaction of its own (see `acting` for a whole request's)."""
    with acting(services, ref) as (_, actor):
        return actor


@contextmanager
def acting(services: Services, ref: SlackActorRef) -> Iterator[tuple[Session, Actor]]:
    """One session for a whole request: the actor is resolved in it and the use case reads (and writes) in it
    too, instead of a session of its own per step. Committed when the block ends, rolled back if it raises."""
    if not ref.admitted:
        check_workspace(services, ref.team_id, ref.enterprise_id)
    with session_scope(services.engine) as session:
        yield session, resolve_in(session, services, ref)


def crm_users_proven_by(session: Session, identity: SlackIdentity) -> list[CrmUser]:
    """The CRM users this Slack user's verified email names (SPEC §1 "Linking needs proof"): the one with that
    email, else those with it as secondary email. Linked or not; empty when the profile proves nothing."""
    email = identity.verified_email
    if not email:
        return []
    candidates = users_with_address(session, email)
    by_email = [user for user in candidates if user.email == normalise_email(email)]
    return by_email or candidates


def unlinked_user_proven_by(session: Session, identity: SlackIdentity) -> CrmUser | None:
    """The CRM user this Slack user proves to be, when that user is linked to nobody yet and is the only one
    the email names. One linked to another Slack user is somebody else's: only an admin moves a link."""
    proven = crm_users_proven_by(session, identity)
    if len(proven) == 1 and proven[0].slack_user_id is None:
        return proven[0]
    return None


def resolve_in(session: Session, services: Services, ref: SlackActorRef) -> Actor:
    user = find_user_by_slack(session, ref.team_id, ref.user_id)
    if user is not None:
        return _linked(session, services, ref, user)
    session.commit()  # no Slack call inside an open transaction
    identity = identify(services, ref)
    candidate = unlinked_user_proven_by(session, identity)
    if candidate is None:
        return Actor(ActorKind.SLACK, identity.team_id, identity.user_id, identity)
    user = link_slack_user(session, candidate, team_id=identity.team_id, slack_user_id=identity.user_id,
                           timezone=identity.tz)
    session.commit()  # the link stands on its proof, whatever the request then does
    return _linked(session, services, ref, user, identity)


def _linked(session: Session, services: Services, ref: SlackActorRef, user: CrmUser,
            identity: SlackIdentity | None = None) -> Actor:
    """A linked sender: the stored link is the proof. Their Slack profile (time zone, name, admin flag) comes
    from the directory's cache; when none is kept, it is refreshed in the background and looked up now only
    if a decision reads it."""
    directory = services.directory
    if identity is None and directory is not None:
        identity = directory.cached_user(ref.team_id, ref.user_id)
        if identity is None:
            directory.refresh_user(ref.team_id, ref.user_id)
    if identity is not None and identity.known:
        changed = False
        if identity.tz and user.timezone != identity.tz:
            user.timezone, changed = identity.tz, True
        if identity.name and not user.name:
            user.name, changed = identity.name, True
        if changed:
            session.add(user)
    profile = user_profile(session, user)
    return Actor(ActorKind.SLACK, ref.team_id, ref.user_id, identity, crm_user_id=user.id, crm_email=user.email,
                 mail_integration=profile.mail_integration, crm_admin=profile.is_admin,
                 look_up_identity=None if identity is not None else (lambda: identify(services, ref)))
