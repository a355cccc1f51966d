"""Google consent over real HTTP: state binding, single use, expiry, PKCE; tokens at rest."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from crm_store.db import session_scope
from crm_store.models import GmailAccount, GmailOAuthState
from gmail.accounts import disconnect_mailbox, load_credentials
from bot.routes.gmail import consent_failed
from gmail.oauth import ConsentError, ConsentFailure, InvalidState
from gmail.tokens import TokenCipher, TokenKeyError, reencrypt_all
from testsupport.consent import consent_redirect, query_of
from tests.support.gmail import TEAM


def finish(env, query):
    return env.finish(query)


def test_round_trip_binds_the_mailbox_to_the_slack_user_who_asked(gmail_env):
    gmail_env.emu.add_user("ann@gmail.example")
    gmail_env.add_crm_user("U1", "ann@crm.example", allow="ann@gmail.example")
    query = gmail_env.consent_redirect("U1", "ann@gmail.example")
    outcome = finish(gmail_env, query)
    assert outcome.account.email_address == "ann@gmail.example"
    assert (outcome.account.slack_team_id, outcome.account.slack_user_id) == (TEAM, "U1")
    credentials = load_credentials(gmail_env.cipher, gmail_env.account(outcome.account.id), gmail_env.config)
    assert credentials.refresh_token and credentials.token


def test_forged_replayed_and_expired_state_are_refused(gmail_env):
    gmail_env.emu.add_user("ann@gmail.example")
    gmail_env.add_crm_user("U1", "ann@crm.example", allow="ann@gmail.example")
    query = gmail_env.consent_redirect("U1", "ann@gmail.example")
    with pytest.raises(InvalidState) as forged:
        finish(gmail_env, {**query, "state": "forged-" + query["state"]})
    assert forged.value.failure is ConsentFailure.UNKNOWN_STATE
    assert "not one MailMagnet issued" in consent_failed(forged.value)
    finish(gmail_env, query)
    with pytest.raises(InvalidState) as replayed:
        finish(gmail_env, query)
    assert replayed.value.failure is ConsentFailure.STATE_USED
    assert "already used" in consent_failed(replayed.value)
    late = gmail_env.consent_redirect("U1", "ann@gmail.example")
    with session_scope(gmail_env.engine) as session:
        record = session.get(GmailOAuthState, late["state"])
        record.created_at = record.created_at - timedelta(minutes=11)
    with pytest.raises(InvalidState) as expired:
        finish(gmail_env, late)
    assert expired.value.failure is ConsentFailure.STATE_EXPIRED
    assert "expired" in consent_failed(expired.value)


def test_wrong_pkce_verifier_is_refused_by_google(gmail_env):
    gmail_env.emu.add_user("ann@gmail.example")
    gmail_env.add_crm_user("U1", "ann@crm.example", allow="ann@gmail.example")
    query = gmail_env.consent_redirect("U1", "ann@gmail.example")
    with session_scope(gmail_env.engine) as session:
        session.get(GmailOAuthState, query["state"]).code_verifier = "x" * 64
    with pytest.raises(ConsentError) as refused:
        finish(gmail_env, query)
    assert refused.value.failure is ConsentFailure.EXCHANGE_REFUSED
    assert "Google refused" in consent_failed(refused.value)
    with session_scope(gmail_env.engine) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(GmailAccount)).one()[0] == 0


def test_declined_consent_and_lost_permission_keep_nothing(gmail_env):
    gmail_env.emu.add_user("ann@gmail.example")
    gmail_env.add_crm_user("U1", "ann@crm.example", allow="ann@gmail.example")
    denied = consent_redirect(gmail_env.emu, gmail_env.consent.authorization_url(TEAM, "U1"), None)
    with pytest.raises(ConsentError) as declined:
        finish(gmail_env, query_of(denied))
    assert (declined.value.failure, declined.value.google_error) == (ConsentFailure.NOT_GRANTED, "access_denied")
    assert "you declined" in consent_failed(declined.value)
    gmail_env.add_crm_user("U1", "ann@crm.example", mail=False, allow="ann@gmail.example")
    with pytest.raises(ConsentError) as kept_nothing:
        finish(gmail_env, gmail_env.consent_redirect("U1", "ann@gmail.example"))
    assert "Mail Integration" in consent_failed(kept_nothing.value)
    with session_scope(gmail_env.engine) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(GmailAccount)).one()[0] == 0


def test_tokens_are_encrypted_at_rest_and_rotate(gmail_env, database_url):
    account_id = gmail_env.connect("ann@gmail.example")
    credentials = load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config)
    secrets = [credentials.token.encode(), credentials.refresh_token.encode()]
    with gmail_env.engine.connect() as connection:
        dump = b"".join(str(row).encode() for table in ("gmail_accounts", "gmail_oauth_states")
                        for row in connection.exec_driver_sql(f"SELECT * FROM {table}"))
    assert not any(secret in dump for secret in secrets)
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        gmail_env.engine.dispose()
        raw = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
        assert not any(secret in raw for secret in secrets)

    # Rotation: a new key is added in front, the old one still listed; re-encrypt; then the old key can go.
    old_key, new_key = gmail_env.key, Fernet.generate_key().decode()
    before = gmail_env.account(account_id).encrypted_credentials
    with pytest.raises(TokenKeyError):
        TokenCipher([new_key]).decrypt(before)  # the new key alone cannot read what the old one wrote
    assert TokenCipher([new_key, old_key]).decrypt(before)["token"] == credentials.token  # both listed: it reads
    assert reencrypt_all(gmail_env.engine, TokenCipher([new_key, old_key])) == 1
    after = gmail_env.account(account_id).encrypted_credentials
    assert after != before  # rewritten…
    with pytest.raises(TokenKeyError):
        TokenCipher([old_key]).decrypt(after)  # …under the new key: the old one no longer opens it
    # With the old key dropped, the rotated credentials still read, and Google still takes them.
    rotated = load_credentials(TokenCipher([new_key]), gmail_env.account(account_id), gmail_env.config)
    assert (rotated.token, rotated.refresh_token) == (credentials.token, credentials.refresh_token)
    assert gmail_env.service.mailbox(rotated).get_profile()["emailAddress"] == "ann@gmail.example"


def test_refreshed_access_token_is_persisted(gmail_env):
    account_id = gmail_env.connect("ann@gmail.example")
    before = load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config).token
    gmail_env.emu.expire_access_tokens("ann@gmail.example")
    result = gmail_env.pipeline().sync(account_id)
    assert result.status == "synced"
    after = load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config).token
    assert after != before


def test_disconnect_revokes_at_google_and_deletes_everything(gmail_env):
    account_id = gmail_env.connect("ann@gmail.example")
    gmail_env.pipeline().sync(account_id)
    credentials = load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config)
    assert disconnect_mailbox(gmail_env.engine, gmail_env.cipher, gmail_env.config, account_id) == "ann@gmail.example"
    assert gmail_env.account(account_id) is None
    # The grant is gone at Google: the old credentials no longer work.
    from gmail.errors import AccessRevoked
    with pytest.raises(AccessRevoked):
        gmail_env.service.mailbox(credentials).get_profile()
