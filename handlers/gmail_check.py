"""`/gmail status` asks Gmail itself whether the connection still works (the stored state can be hours old)."""
from __future__ import annotations

import logging

from bot.services import Services
from crm_store.db import session_scope
from crm_store.models import AccountStatus, GmailAccount
from gmail.accounts import load_credentials, mark_revoked, save_refreshed_credentials
from gmail.errors import AccessRevoked, GmailError
from gmail.tokens import TokenKeyError

log = logging.getLogger(__name__)


def check_connection(services: Services, account_id: int) -> str:
    """One getProfile call (1 quota unit); the answer is a line for the rep to read."""
    google, cipher, gmail, _ = services.require_gmail()
    with session_scope(services.engine) as session:
        account = session.get(GmailAccount, account_id)
        if account is None or account.status != AccountStatus.CONNECTED or not account.encrypted_credentials:
            return "not connected"
        session.expunge(account)
    try:
        credentials = load_credentials(cipher, account, google)
        token_before = credentials.token
        mailbox = gmail.mailbox(credentials)
        profile = mailbox.get_profile()
        save_refreshed_credentials(services.engine, cipher, account_id, mailbox.credentials, token_before)
    except AccessRevoked as refused:
        # Same path as the sync job: flip once, and only the caller that flipped asks the rep to reconnect.
        if mark_revoked(services.engine, account_id, str(refused)) and services.notifier is not None:
            services.notifier.ask_to_reconnect(account, str(refused))
        return "Google refused MailMagnet's access just now: reconnect with `/gmail connect`"
    except TokenKeyError:
        log.warning("credentials of mailbox %s cannot be decrypted with TOKEN_ENCRYPTION_KEYS", account_id)
        return "MailMagnet cannot read its stored key for this mailbox (ask your admin about TOKEN_ENCRYPTION_KEYS)"
    except GmailError as failure:
        log.info("status check of mailbox %s failed: %s", account_id, failure)
        return "Gmail did not answer just now (temporary); MailMagnet will keep trying"
    total = profile.get("messagesTotal")
    return "working — Gmail answered just now" + (f" ({total:,} messages)" if isinstance(total, int) else "")
