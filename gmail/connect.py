"""Finishing a Gmail connection after Google's consent (SPEC F1)."""
from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from crm_store.db import session_scope
from crm_store.users import find_user_by_slack, user_profile
from gmail.accounts import ConnectOutcome, connect_mailbox
from gmail.client import GmailService
from gmail.errors import GmailError
from gmail.oauth import ConsentError, GoogleConsent, revoke_token
from gmail.tokens import TokenCipher

log = logging.getLogger(__name__)


def finish_connect(engine: Engine, consent: GoogleConsent, gmail: GmailService, cipher: TokenCipher, *,
                   state: str | None, code: str | None, error: str | None) -> ConnectOutcome:
    """Check the state, exchange the code, re-check the permission, read the address, store the mailbox."""
    result = consent.complete(state, code, error)
    credentials = result.credentials
    with session_scope(engine) as session:
        user = find_user_by_slack(session, result.slack_team_id, result.slack_user_id)
        allowed = user is not None and user_profile(session, user).mail_integration
        crm_user_id = user.id if user else None
    if not allowed:
        # The permission was taken away while the rep was on Google's page: keep nothing.
        revoke_token(consent.config, credentials.refresh_token or credentials.token)
        raise ConsentError("Your CRM profile no longer has the Mail Integration permission, "
                           "so MailMagnet did not keep access to your Gmail.")
    try:
        address = gmail.mailbox(credentials).get_profile()["emailAddress"]
    except GmailError as failure:
        log.warning("getProfile failed after consent: %s", failure)
        raise ConsentError("Google granted access but Gmail did not answer. Run /gmail connect again.") from None
    return connect_mailbox(engine, cipher, crm_user_id=crm_user_id, team_id=result.slack_team_id,
                           slack_user_id=result.slack_user_id, email_address=address, credentials=credentials)
