"""A rep's own mailbox: connect, finish the Google consent, status, disconnect (SPEC F1, F8, F10, §1)."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from crm_store.db import session_scope
from crm_store.errors import DomainError, NotConnected
from crm_store.models import (
    AccountStatus,
    CrmUser,
    EmailShare,
    GmailAccount,
    MailboxAlias,
    MutedContact,
    SharingPolicy,
)
from crm_store.sharing import effective_sharing, user_policy_and_scope
from crm_store.users import find_user_by_slack, normalise_email, user_profile
from gmail.accounts import (
    ConnectOutcome,
    connect_mailbox,
    disconnect_mailbox,
    load_credentials,
    mark_revoked,
    save_refreshed_credentials,
)
from gmail.config import GMAIL_MODIFY_SCOPE
from gmail.errors import AccessRevoked, GmailError
from gmail.label_ids import labels_created_in_gmail
from gmail.oauth import ConsentError, revoke_token
from gmail.tokens import TokenKeyError
from usecases import access
from usecases.actors import SlackActorRef, acting, workspace_allowed
from usecases.context import Services
from usecases.crm import CrmDataState, crm_data_state
from usecases.refusals import Person, Refusal

log = logging.getLogger(__name__)

# -- connect ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConnectLink:
    url: str
    connected_address: str | None  # the mailbox connected now, if any
    revoked: bool = False


def start_connect(services: Services, who: SlackActorRef) -> ConnectLink:
    """An Authenticate link bound to this Slack user (state, PKCE, 10 minutes, single use)."""
    _, _, _, consent = services.require_gmail()
    with acting(services, who) as (session, actor):
        user = access.require_mail_integration(session, actor)
        account = access.own_mailbox(session, actor)
        address = account.email_address if account else None
        revoked = account is not None and account.status != AccountStatus.CONNECTED
        hint = user.email
    url = consent.authorization_url(who.team_id, who.user_id, login_hint=hint)
    return ConnectLink(url, address, revoked)


class ConnectRefused(ConsentError):
    """The consent completed at Google but MailMagnet will not keep it: `refusal` and `facts` say why. The grant
    was revoked at Google, unless that would have ended the live connection of `kept_address`."""

    def __init__(self, refusal: Refusal, facts: dict, kept_address: str | None):
        super().__init__(refusal.value)
        self.refusal, self.facts, self.kept_address = refusal, facts, kept_address


def allowed_addresses(session: Session, user: CrmUser) -> set[str]:
    """The Gmail addresses this CRM user may connect: their own emails and the ones an admin allowed."""
    addresses = {user.email}
    if user.secondary_email:
        addresses.add(user.secondary_email)
    addresses.update(session.exec(select(MailboxAlias.address).where(MailboxAlias.crm_user_id == user.id)).all())
    return {normalise_email(a) for a in addresses}


def _live_mailbox(services: Services, address: str | None) -> GmailAccount | None:
    """The connected mailbox of this Google account, whoever's it is."""
    if not address:
        return None
    with session_scope(services.engine) as session:
        return session.exec(select(GmailAccount).where(GmailAccount.email_address == address,
                                                       GmailAccount.status == AccountStatus.CONNECTED.value)).first()


class _Consent:
    """One finished Google consent that may yet be refused: who signed in, and how to refuse without harm."""

    def __init__(self, services: Services, credentials):
        self.services = services
        self.credentials = credentials
        self._address: str | None = None
        self._asked = False

    def address(self) -> str | None:
        """The Google account that consented, from one getProfile; None when Gmail did not say. A grant without
        gmail.modify cannot read the profile (and backs no connection: one without it is never kept)."""
        if not self._asked:
            self._asked = True
            if GMAIL_MODIFY_SCOPE in set(self.credentials.granted_scopes or []):
                _, _, gmail, _ = self.services.require_gmail()
                try:
                    self._address = normalise_email(gmail.mailbox(self.credentials).get_profile()["emailAddress"])
                except (GmailError, KeyError, TypeError) as failure:  # a strange answer proves nothing either
                    log.warning("getProfile failed after consent: %s", failure)
        return self._address

    def refuse(self, refusal: Refusal, **facts) -> ConnectRefused:
        """Refuse the consent. Google keeps one grant per account and app, and revoking any of its tokens ends
        all of it, so revoking a consent by an account that is connected already would disconnect that live
        mailbox — someone else's, or the rep's own. Then nothing is revoked (this consent's tokens are simply
        dropped); otherwise the grant is revoked at once. The page says which."""
        live = _live_mailbox(self.services, self.address())
        if live is not None:
            log.info("consent refused without revoking: %s backs the live mailbox %s", live.email_address, live.id)
            return ConnectRefused(refusal, facts, live.email_address)
        google, _, _, _ = self.services.require_gmail()
        revoke_token(google, self.credentials.refresh_token or self.credentials.token)
        return ConnectRefused(refusal, facts, None)


def finish_connect(services: Services, *, state: str | None, code: str | None,
                   error: str | None) -> ConnectOutcome:
    """The Google callback: check the state, exchange the code, then decide whether to keep the grant.

    Kept only when the workspace is served here, the rep still has Mail Integration, every scope MailMagnet
    needs was granted, and the mailbox is the rep's own (SPEC §1) and nobody else's yet. Anything else is
    refused, the page says why, and the grant is revoked at Google — unless that Google account is connected
    already, whose live grant a revocation would end (`_Consent.refuse`).
    """
    google, cipher, gmail, consent = services.require_gmail()
    result = consent.complete(state, code, error)
    credentials = result.credentials
    finished = _Consent(services, credentials)
    refuse = finished.refuse

    if not workspace_allowed(services, result.slack_team_id, None):
        raise refuse(Refusal.CONSENT_FROM_ANOTHER_ORGANISATION)
    granted = set(credentials.granted_scopes or [])
    missing = [scope for scope in google.scopes if scope not in granted]
    if missing:
        raise refuse(Refusal.CONSENT_SCOPES_MISSING, scopes=tuple(missing))
    with session_scope(services.engine) as session:
        user = find_user_by_slack(session, result.slack_team_id, result.slack_user_id)
        permitted = user is not None and user_profile(session, user).mail_integration
        if permitted:
            crm_user_id, crm_email = user.id, user.email
            allowed = allowed_addresses(session, user)
    # Refused after the session: a refusal asks Google and opens a session of its own, so refusing inside it would
    # hold two connections at once (with a fixed pool, threads doing that can wait on each other: crm_store/db.py).
    if not permitted:
        raise refuse(Refusal.CONSENT_WITHOUT_MAIL_INTEGRATION)
    address = finished.address()
    if address is None:
        raise refuse(Refusal.CONSENT_UNANSWERED)
    live = _live_mailbox(services, address)
    if address not in allowed:
        if live is not None and live.crm_user_id != crm_user_id:
            # Someone followed another user's link with their own, connected, account: nothing of theirs moves.
            raise refuse(Refusal.CONSENT_ON_ANOTHERS_LINK, address=address)
        raise refuse(Refusal.CONSENT_NOT_OWN_MAILBOX, address=address, allowed=tuple(sorted(allowed)))
    with session_scope(services.engine) as session:
        taken = session.exec(select(GmailAccount).where(GmailAccount.email_address == address,
                                                        GmailAccount.crm_user_id != crm_user_id)).first()
    if taken is not None:
        raise refuse(Refusal.MAILBOX_TAKEN, address=address)
    try:
        outcome = connect_mailbox(services.engine, cipher, crm_user_id=crm_user_id, team_id=result.slack_team_id,
                                  slack_user_id=result.slack_user_id, email_address=address,
                                  credentials=credentials)
    except IntegrityError:
        raise refuse(Refusal.MAILBOX_TAKEN_MEANWHILE, address=address) from None
    log.info("mailbox %s connected for CRM user %s (%s)", outcome.account.id, crm_user_id, crm_email)
    if services.notifier is not None:
        services.notifier.mailbox_connected(outcome.account, replaced_address=outcome.replaced_address)
    if services.jobs is not None:
        services.jobs.mailbox_connected(outcome.account)
    return outcome


# -- status -----------------------------------------------------------------------------------------

@dataclass
class MailboxStatus:
    """Everything the status surfaces need; `refusal` is set when the rep may not use Gmail features."""

    refusal: DomainError | None = None  # why, as handlers/blocks/refusals.py words it
    account_id: int | None = None
    mailbox_token: str | None = None  # names this connection (for the disconnect confirmation)
    address: str | None = None
    connected: bool = False
    policy: str = SharingPolicy.CHOICE.value
    sharing: str | None = None  # effective: the policy when fixed, else the rep's choice
    depth: str | None = None
    setup_done: bool = False
    magnet: bool = False
    labels: bool = False
    labels_in_gmail: bool = False  # the three labels exist in the rep's Gmail
    alert_channel: str | None = None  # None: the rep's DM
    digest: bool = False
    followups: bool = True  # follow-up nudges (SPEC §3), after `followup_hours` working hours
    followup_hours: int = 24
    quiet_start: int | None = None  # minutes after local midnight
    quiet_end: int | None = None
    timezone: str | None = None
    last_sync_at: datetime | None = None
    last_sync_error: str | None = None
    last_label_run_at: datetime | None = None
    muted_contacts: int = 0
    shared_with: list[Person] = field(default_factory=list)
    live_check: LiveCheck | None = None  # filled by /gmail status after asking Gmail
    crm_data: CrmDataState | None = None  # when CRM data last changed, and from where

    @property
    def has_mailbox(self) -> bool:
        return self.account_id is not None

    @property
    def policy_fixed(self) -> bool:
        return self.policy != SharingPolicy.CHOICE.value


def mailbox_token(account: GmailAccount) -> str:
    """Names one connection of one mailbox: ids are reused after a disconnect (SQLite), connection times are not."""
    connected_at = account.connected_at
    if connected_at is None:
        return f"{account.id}.0"
    if connected_at.tzinfo is None:  # SQLite gives back naive UTC
        connected_at = connected_at.replace(tzinfo=timezone.utc)
    return f"{account.id}.{int(connected_at.timestamp() * 1_000_000)}"


def _shared_with(session: Session, user_id: int, team_id: str | None) -> list[Person]:
    viewers = session.exec(
        select(CrmUser).join(EmailShare, EmailShare.viewer_user_id == CrmUser.id)
        .where(EmailShare.owner_user_id == user_id).order_by(CrmUser.email)
    ).all()
    return [Person(v.slack_user_id if v.slack_user_id and v.slack_team_id == team_id else None, v.email)
            for v in viewers]


def _load_status(session: Session, actor) -> tuple[MailboxStatus, GmailAccount | None]:
    """The report, and the rep's mailbox row (None without one, or when refused)."""
    try:
        user = access.require_mail_integration(session, actor)
    except DomainError as refusal:
        return MailboxStatus(refusal=refusal), None
    policy = user_policy_and_scope(session, user, actor.team_id)[0]
    status = MailboxStatus(policy=policy.value, timezone=user.timezone,
                           shared_with=_shared_with(session, user.id, actor.team_id))
    account = access.own_mailbox(session, actor)
    if account is None:
        return status, None
    status.account_id = account.id
    status.mailbox_token = mailbox_token(account)
    status.address = account.email_address
    status.connected = account.status == AccountStatus.CONNECTED
    status.sharing = effective_sharing(policy, account).value
    status.depth = account.sharing_depth
    status.setup_done = account.setup_done
    status.magnet = account.magnet_enabled
    status.labels = account.labels_enabled
    status.labels_in_gmail = labels_created_in_gmail(account)
    status.alert_channel = account.alert_channel
    status.digest = account.digest_enabled
    status.followups, status.followup_hours = account.followups_enabled, account.followup_hours
    status.quiet_start, status.quiet_end = account.quiet_start_minute, account.quiet_end_minute
    status.last_sync_at = account.last_sync_at
    status.last_sync_error = account.last_sync_error
    status.last_label_run_at = account.last_label_run_at
    status.muted_contacts = session.exec(
        select(func.count()).select_from(MutedContact).where(MutedContact.account_id == account.id)
    ).one()
    return status, account


def status(services: Services, who: SlackActorRef, *, live: bool = False) -> MailboxStatus:
    """The rep's mailbox and settings, read in one transaction with the actor; `live` also asks Gmail (one
    getProfile, after the transaction) whether the connection still works."""
    with acting(services, who) as (session, actor):
        report, account = _load_status(session, actor)
        if report.refusal is None:
            report.crm_data = crm_data_state(services, session)
    if live and report.connected and services.gmail is not None:
        report.live_check = check_connection(services, account)
    return report


class Connection(StrEnum):
    """What Gmail answered when `/gmail status` asked (`check_connection`)."""

    WORKING = "working"
    NOT_CONNECTED = "not_connected"  # no credentials stored
    REFUSED = "refused"  # Google refused the access just now (the mailbox is marked revoked)
    KEY_UNREADABLE = "key_unreadable"  # TOKEN_ENCRYPTION_KEYS cannot decrypt the stored credentials
    NO_ANSWER = "no_answer"  # temporary


@dataclass(frozen=True)
class LiveCheck:
    connection: Connection
    messages: int | None = None  # the mailbox's message count, when Gmail said


def check_connection(services: Services, account: GmailAccount) -> LiveCheck:
    """One getProfile call (1 quota unit) for a connected mailbox."""
    google, cipher, gmail, _ = services.require_gmail()
    if not account.encrypted_credentials:
        return LiveCheck(Connection.NOT_CONNECTED)
    try:
        credentials = load_credentials(cipher, account, google)
        token_before = credentials.token
        mailbox = gmail.mailbox(credentials)
        profile = mailbox.get_profile()
        save_refreshed_credentials(services.engine, cipher, account.id, mailbox.credentials, token_before)
    except AccessRevoked as refused:
        # Same path as the sync job: flip once, and only the caller that flipped asks the rep to reconnect.
        if mark_revoked(services.engine, account.id, str(refused)) and services.notifier is not None:
            services.notifier.ask_to_reconnect(account, str(refused))
        return LiveCheck(Connection.REFUSED)
    except TokenKeyError:
        log.warning("credentials of mailbox %s cannot be decrypted with TOKEN_ENCRYPTION_KEYS", account.id)
        return LiveCheck(Connection.KEY_UNREADABLE)
    except GmailError as failure:
        log.info("status check of mailbox %s failed: %s", account.id, failure)
        return LiveCheck(Connection.NO_ANSWER)
    total = profile.get("messagesTotal")
    return LiveCheck(Connection.WORKING, total if isinstance(total, int) else None)


# -- disconnect -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DisconnectPrompt:
    address: str
    token: str  # names this connection and this confirmation


def ask_to_disconnect(services: Services, who: SlackActorRef) -> DisconnectPrompt:
    """The confirmation question. Deleting one's own data needs no permission; with no mailbox, F10 applies."""
    with acting(services, who) as (session, actor):
        access.require_linked(session, actor)
        account = access.own_mailbox(session, actor)
        if account is None:
            access.require_mail_integration(session, actor)
            raise NotConnected(Refusal.NOTHING_TO_DISCONNECT)
        return DisconnectPrompt(account.email_address, f"{mailbox_token(account)}:{secrets.token_urlsafe(9)}")


def disconnect_any(services: Services, account_id: int) -> str | None:
    """Revoke the Google grant, delete credentials and stored email metadata (F8); with the rows gone, no job
    leases the mailbox again. Callers have decided the actor may do this."""
    google, cipher, _, _ = services.require_gmail()
    return disconnect_mailbox(services.engine, cipher, google, account_id)


def disconnect_own(services: Services, who: SlackActorRef, connection: str | None = None) -> str:
    """Disconnect the actor's own mailbox (the connection `connection` names, when given)."""
    services.require_gmail()
    gone = NotConnected(Refusal.DISCONNECTED_ALREADY)
    with acting(services, who) as (session, actor):
        access.require_linked(session, actor)
        account = access.own_mailbox(session, actor)
        if account is None or (connection is not None and mailbox_token(account) != connection):
            raise gone
        account_id, address = account.id, account.email_address
    if disconnect_any(services, account_id) is None:
        raise gone
    return address
