"""A rep's connected mailbox: connect, credentials at rest, revoked access, disconnect (SPEC F1, F8)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine
from sqlmodel import Session, delete, select, update

from crm_store.db import session_scope
from crm_store.mailboxes import drop_waiting_alerts
from crm_store.models import AccountStatus, Alert, Followup, GmailAccount, MailboxMessage, MutedContact, utcnow
from gmail.credentials import credentials_from_dict, credentials_to_dict
from gmail.config import GoogleConfig
from gmail.oauth import revoke_token
from gmail.tokens import TokenCipher

log = logging.getLogger(__name__)


@dataclass
class ConnectOutcome:
    account: GmailAccount
    replaced_address: str | None  # a different mailbox this rep had connected before
    reconnected: bool  # same mailbox again (after revoked access or a second consent)


def account_for_user(session: Session, crm_user_id: int) -> GmailAccount | None:
    return session.exec(select(GmailAccount).where(GmailAccount.crm_user_id == crm_user_id)).first()


def _delete_mailbox_data(session: Session, account_id: int) -> None:
    """Everything stored about the mailbox's email: ids, From addresses, alerts, mutes, follow-ups.

    The mailbox's row is locked first, as every run's transaction locks it before or with its own rows (the fence,
    the sync's INSERTs' foreign keys): a run's transaction under way finishes first and its rows are deleted here
    too; deleting them first and the mailbox last waited for that run holding its rows, and failed on the rows it
    committed meanwhile, or deadlocked with it (PostgreSQL; tests/gmail/test_disconnect_race.py)."""
    session.execute(select(GmailAccount.id).where(GmailAccount.id == account_id).with_for_update())
    session.execute(delete(Alert).where(Alert.account_id == account_id))
    session.execute(delete(Followup).where(Followup.account_id == account_id))
    session.execute(delete(MailboxMessage).where(MailboxMessage.account_id == account_id))
    session.execute(delete(MutedContact).where(MutedContact.account_id == account_id))


def connect_mailbox(engine: Engine, cipher: TokenCipher, *, crm_user_id: int, team_id: str, slack_user_id: str,
                    email_address: str, credentials: Credentials) -> ConnectOutcome:
    """Store the rep's mailbox with its credentials encrypted; one mailbox per rep."""
    encrypted = cipher.encrypt(credentials_to_dict(credentials))
    address = email_address.strip().lower()
    with session_scope(engine) as session:
        account = account_for_user(session, crm_user_id)
        replaced = None
        reconnected = False
        if account is not None and account.email_address != address:
            # Another mailbox replaces the old one, which is forgotten entirely (as on disconnect).
            replaced = account.email_address
            _delete_mailbox_data(session, account.id)
            session.delete(account)
            session.flush()
            account = None
        if account is None:
            account = GmailAccount(crm_user_id=crm_user_id, slack_team_id=team_id, slack_user_id=slack_user_id,
                                   email_address=address, encrypted_credentials=encrypted)
        else:
            reconnected = True
            account.encrypted_credentials = encrypted
            if account.status != AccountStatus.CONNECTED:
                # The old cursor may be long expired; start from "now" rather than alert on old mail.
                account.history_id = None
            account.status = AccountStatus.CONNECTED.value
            account.reconnect_notified_at = None
            account.last_sync_error = None
            account.failing_since = None
            account.admins_notified_at = None
            account.slack_team_id, account.slack_user_id = team_id, slack_user_id
        session.add(account)
        session.flush()
        session.expunge(account)
    return ConnectOutcome(account, replaced, reconnected)


def load_credentials(cipher: TokenCipher, account: GmailAccount, config: GoogleConfig) -> Credentials:
    return credentials_from_dict(cipher.decrypt(account.encrypted_credentials), config)


def save_refreshed_credentials(engine: Engine, cipher: TokenCipher, account_id: int, credentials: Credentials,
                               token_before: str | None) -> bool:
    """Persist an access token that google-auth refreshed during the run (saves a refresh next time)."""
    if not credentials.token or credentials.token == token_before:
        return False
    encrypted = cipher.encrypt(credentials_to_dict(credentials))
    with session_scope(engine) as session:
        session.execute(
            update(GmailAccount)
            .where(GmailAccount.id == account_id, GmailAccount.status == AccountStatus.CONNECTED.value)
            .values(encrypted_credentials=encrypted)
        )
    return True


def mark_revoked(engine: Engine, account_id: int, reason: str) -> bool:
    """Stop working on a mailbox whose access Google revoked, and drop its alerts still waiting (a reconnect starts
    from "now"). True only for the call that flipped it, so exactly one caller asks the rep to reconnect."""
    with session_scope(engine) as session:
        flipped = session.execute(
            update(GmailAccount)
            .where(GmailAccount.id == account_id, GmailAccount.status == AccountStatus.CONNECTED.value)
            .values(status=AccountStatus.REVOKED.value, encrypted_credentials=None,
                    last_sync_error=reason[:500], reconnect_notified_at=utcnow(),
                    lease_owner=None, lease_expires_at=None)
        ).rowcount
        if flipped:  # the mailbox's row first (it is locked now): the lock order of every run's transaction
            drop_waiting_alerts(session, account_id)
    return bool(flipped)


def disconnect_mailbox(engine: Engine, cipher: TokenCipher | None, config: GoogleConfig | None,
                       account_id: int) -> str | None:
    """Revoke the Google grant, then delete the credentials and every stored email datum (SPEC F8).
    Without the Google settings or keys the grant cannot be revoked; our copy is deleted anyway.

    Returns the disconnected address, or None when there was nothing to disconnect.
    """
    with session_scope(engine) as session:
        account = session.get(GmailAccount, account_id)
        if account is None:
            return None
        address = account.email_address
        encrypted = account.encrypted_credentials
    if encrypted and (cipher is None or config is None):
        log.warning("Gmail is not configured: mailbox %s deleted without revoking its Google grant", account_id)
    elif encrypted:
        try:
            data = cipher.decrypt(encrypted)
            # Revoking the refresh token ends the whole grant, access tokens included.
            token = data.get("refresh_token") or data.get("token")
            if token and not revoke_token(config, token):
                log.warning("could not revoke the Google grant of %s; deleting our copy anyway", account_id)
        except Exception:  # noqa: BLE001 - never keep data because Google could not be reached
            log.exception("revocation failed for mailbox %s", account_id)
    with session_scope(engine) as session:
        _delete_mailbox_data(session, account_id)
        session.execute(delete(GmailAccount).where(GmailAccount.id == account_id))
    return address


def granted_scopes(cipher: TokenCipher, account: GmailAccount) -> set[str]:
    """What Google granted for this mailbox, as stored with its credentials (empty when unknown)."""
    if not account.encrypted_credentials:
        return set()
    scopes = cipher.decrypt(account.encrypted_credentials).get("scopes") or []
    return set(scopes.split() if isinstance(scopes, str) else scopes)
