"""Pub/Sub push authentication (SPEC §6, issue 19): only Google's OIDC token for our subscription makes a push do
anything. A stranger who POSTs to /gmail/push — with a token signed by another key, an expired one, one minted for
another audience or another service account, or the old query token read from a load balancer's log — gets 401/403,
and nothing happens: no Gmail call, no sync requested, no alert."""
from __future__ import annotations

import base64
import http.client
import json
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from crm_store.db import session_scope
from crm_store.models import GmailAccount, utcnow
from sandbox.gmail_emulator.oidc import OidcSigner, push_claims
from tests.support.alerts import CONTACTS, DEALS, alerts_in
from testsupport.stack import PUSH_SERVICE_ACCOUNT, REP, REP_GMAIL, TEAM, start_stack

TOPIC = "projects/mailmagnet-test/topics/gmail"
LEAKED_QUERY_TOKEN = "the-old-shared-token-from-the-lb-logs"


@pytest.fixture
def pushing(database_url):
    """Authenticated push configured, and — as an operator part way through moving off it — the old query token
    still set: with OIDC on it must no longer open the door."""
    stack = start_stack(database_url, scheduler=True, gmail_pubsub_topic=TOPIC, sync_interval_seconds=3600,
                        label_interval_seconds=3600)
    stack.settings.pubsub_verification_token = LEAKED_QUERY_TOKEN  # read by nobody once OIDC is configured
    stack.subscribe_push(TOPIC)
    yield stack
    stack.stop()


def envelope(address: str, history_id: int) -> bytes:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": history_id}).encode()).decode()
    return json.dumps({"message": {"data": data, "messageId": "1", "publishTime": "2026-11-26T00:00:00Z"},
                       "subscription": "projects/mailmagnet-test/subscriptions/gmail-push"}).encode()


def post(stack, token: str | None, *, query: str = "") -> int:
    parts = urlsplit(stack.server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        # The mailbox's newest history id, as Gmail announces new mail.
        body = envelope(REP_GMAIL, int(stack.gmail.history_id(REP_GMAIL)))
        connection.request("POST", "/gmail/push" + query, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def quiet_mailbox(stack) -> int:
    """Connected, MailMagnet on, its next poll an hour away: only an accepted push could make it sync now."""
    stack.add_rep()
    stack.import_crm(CONTACTS, DEALS)
    stack.connect_with_push()
    stack.update_mailbox(sync_requested=False, next_sync_at=utcnow() + timedelta(hours=1))
    return stack.account_id()


def audience(stack) -> str:
    return stack.settings.pubsub_push_audience


def forged_tokens(stack) -> dict[str, str]:
    emulator = stack.gmail
    now = time.time()
    return {
        # The right claims, signed with a key that is not Google's (same key id, to get past the look-up).
        "forged": OidcSigner(kid=emulator.push.signer.kid).sign(push_claims(PUSH_SERVICE_ACCOUNT, audience(stack))),
        # Google's key, but an hour and a half old (push tokens last an hour).
        "expired": emulator.sign_push_token(PUSH_SERVICE_ACCOUNT, audience(stack), issued_at=now - 5400),
        # Google's key, minted for somebody else's endpoint.
        "wrong audience": emulator.sign_push_token(PUSH_SERVICE_ACCOUNT, "https://attacker.example/push"),
        # Google's key, for another project's service account (anyone can have Pub/Sub push to our URL).
        "wrong account": emulator.sign_push_token("push@attacker-project.iam.gserviceaccount.com", audience(stack)),
        # Google's key and our account, but the email is not verified.
        "unverified email": emulator.sign_push_token(PUSH_SERVICE_ACCOUNT, audience(stack), email_verified=False),
        # Not Google's issuer.
        "wrong issuer": emulator.sign_push_token(PUSH_SERVICE_ACCOUNT, audience(stack),
                                                 issuer="https://attacker.example"),
    }


def test_forged_expired_and_foreign_push_tokens_are_refused_with_no_side_effect(pushing):
    account_id = quiet_mailbox(pushing)
    pushing.gmail.expire_watch(REP_GMAIL)  # Gmail stops pushing by itself: only the pushes below arrive
    pushing.mail("jane@acme.example", "Only a genuine push may announce this")
    dm = pushing.slack.dm_channel(TEAM, REP)
    with session_scope(pushing.engine) as session:
        cursor = session.get(GmailAccount, account_id).history_id
    calls = len(pushing.gmail.calls)

    statuses = {name: post(pushing, token) for name, token in forged_tokens(pushing).items()}
    statuses["no token"] = post(pushing, None)
    statuses["garbage"] = post(pushing, "not.a.jwt")
    statuses["leaked query token"] = post(pushing, None, query=f"?token={LEAKED_QUERY_TOKEN}")

    assert all(status in (401, 403) for status in statuses.values()), statuses
    assert statuses["forged"] == statuses["expired"] == statuses["no token"] == 401
    assert statuses["wrong audience"] == statuses["wrong account"] == statuses["unverified email"] == 403
    time.sleep(0.5)
    pushing.services.jobs.wait_for_requested()
    assert len(pushing.gmail.calls) == calls, "a refused push made Gmail calls"
    with session_scope(pushing.engine) as session:
        account = session.get(GmailAccount, account_id)
        assert not account.sync_requested and account.history_id == cursor
    assert not alerts_in(pushing, dm)

    # The same push with Google's token for our subscription is what brings the alert.
    assert post(pushing, pushing.gmail.sign_push_token(PUSH_SERVICE_ACCOUNT, audience(pushing))) == 204
    alerts = pushing.slack.wait_for(lambda: alerts_in(pushing, dm), timeout=10)
    assert "Only a genuine push may announce this" in json.dumps(alerts[0]["blocks"])


def test_the_authenticated_push_from_pubsub_brings_the_alert(pushing):
    quiet_mailbox(pushing)
    pushing.mail("jane@acme.example", "Pushed with a Google-signed token")
    dm = pushing.slack.dm_channel(TEAM, REP)
    alerts = pushing.slack.wait_for(lambda: alerts_in(pushing, dm), timeout=10)
    assert "Pushed with a Google-signed token" in json.dumps(alerts[-1]["blocks"])
    delivery = pushing.gmail.push_deliveries[-1]
    assert delivery["authenticated"] and delivery["status"] == 204


def test_google_certificates_are_fetched_once_not_per_push(pushing):
    quiet_mailbox(pushing)
    token = pushing.gmail.sign_push_token(PUSH_SERVICE_ACCOUNT, audience(pushing))
    for _ in range(5):
        assert post(pushing, token) == 204
    assert pushing.gmail.certs_fetches == 1
    # A token under a key id we have never seen (Google rotates keys) looks once more, but not on every push.
    stranger = OidcSigner().sign(push_claims(PUSH_SERVICE_ACCOUNT, audience(pushing)))
    for _ in range(5):
        assert post(pushing, stranger) == 401
    assert pushing.gmail.certs_fetches == 2


def test_without_google_certificates_a_push_is_answered_503_so_pubsub_delivers_it_again(tmp_path):
    """Google's certificates cannot be fetched: nothing can be verified, so nothing is done, and the answer asks
    Pub/Sub to deliver the push again later (a 4xx would not be retried by every subscription)."""
    stack = start_stack(f"sqlite:///{tmp_path / 'db.sqlite'}", scheduler=True, gmail_pubsub_topic=TOPIC,
                        google_certs_url="http://127.0.0.1:9/oauth2/v1/certs")
    try:
        stack.add_rep()
        stack.gmail.add_user(REP_GMAIL)
        calls = len(stack.gmail.calls)
        assert post(stack, stack.gmail.sign_push_token(PUSH_SERVICE_ACCOUNT, audience(stack))) == 503
        assert len(stack.gmail.calls) == calls
    finally:
        stack.stop()
