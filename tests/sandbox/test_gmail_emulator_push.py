"""Pub/Sub push of the Gmail emulator: delay, coalescing, at-least-once delivery, label-filtered changes.

The endpoint is a real HTTP server that answers a scripted status per POST and
can hold its answer; changes are made through googleapiclient or the
emulator's own helpers.  Delays are checked only as lower bounds.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.gmail_emulator import GmailEmulator
from sandbox.gmail_emulator.testing import authorize, gmail_service

CLIENT_ID = "mailmagnet-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-secret"
REP = "rep@example.com"
TOPIC = "projects/mailmagnet/topics/gmail"


class Endpoint:
    """A push endpoint: answers ``statuses`` in turn (then ``default``), optionally holding each answer."""

    def __init__(self, statuses=(), default: int = 204):
        self.script = list(statuses)
        self.default = default
        self.release = threading.Event()
        self.release.set()
        self.received: list[dict] = []
        self.arrived = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                data = json.loads(base64.b64decode(body["message"]["data"]))
                with endpoint.arrived:
                    endpoint.received.append(
                        {"at": time.monotonic(), "messageId": body["message"]["messageId"],
                         "authorization": self.headers.get("Authorization"), **data}
                    )
                    status = endpoint.script.pop(0) if endpoint.script else endpoint.default
                    endpoint.arrived.notify_all()
                endpoint.release.wait(30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gmail/push"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def emu():
    with GmailEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        emulator.add_user(REP)
        yield emulator


@pytest.fixture
def gmail(emu):
    return gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET))


@pytest.fixture
def endpoint():
    receiver = Endpoint()
    yield receiver
    receiver.close()


def watch(emu, gmail, endpoint, label_ids=("INBOX",), behavior="include"):
    emu.create_push_subscription(TOPIC, endpoint.url)
    gmail.users().watch(
        userId="me", body={"topicName": TOPIC, "labelIds": list(label_ids), "labelFilterBehavior": behavior}
    ).execute()


def insert_through_api(gmail) -> str:
    raw = base64.urlsafe_b64encode(b"From: ann@acme.test\r\nTo: rep@example.com\r\nSubject: Hi\r\n\r\nHello").decode()
    body = {"raw": raw, "labelIds": ["INBOX", "UNREAD"]}
    return gmail.users().messages().insert(userId="me", body=body).execute()["id"]


# -- delay ----------------------------------------------------------------------------


def test_push_arrives_after_the_delay(emu, gmail, endpoint):
    watch(emu, gmail, endpoint)
    emu.set_push_delay(0.5)
    changed = time.monotonic()
    insert_through_api(gmail)
    (push,) = endpoint.wait_for(1)
    assert push["at"] - changed >= 0.5 * 0.95
    assert push["historyId"] == int(emu.history_id(REP))
    assert emu.wait_for_push()
    assert emu.push_counts()["delivered"] == 1


def test_delivery_never_holds_up_the_api_call_that_caused_it(emu, gmail, endpoint):
    watch(emu, gmail, endpoint)
    emu.set_push_coalescing(False)
    endpoint.release.clear()  # the endpoint takes the first push and does not answer
    insert_through_api(gmail)
    endpoint.wait_for(1)
    second = insert_through_api(gmail)  # returns while the first delivery still hangs
    assert emu.message(REP, second)["id"] == second
    assert not emu.wait_for_push(timeout=0.2)
    endpoint.release.set()
    assert emu.wait_for_push()
    assert len(endpoint.received) == 2
    assert [d["status"] for d in emu.push_deliveries] == [204, 204]


def test_delay_jitter_is_seeded_and_stays_within_bounds(emu, gmail, endpoint):
    watch(emu, gmail, endpoint)
    emu.set_push_coalescing(False)
    emu.set_push_delay(0.3, jitter=0.2, seed=42)
    changed_at = {}
    for _ in range(5):
        emu.insert_message(REP, sender="ann@acme.test", to=REP)
        changed_at[int(emu.history_id(REP))] = time.monotonic()
    pushes = endpoint.wait_for(5)
    assert emu.wait_for_push()
    assert sorted(p["historyId"] for p in pushes) == sorted(changed_at)
    assert all(p["at"] - changed_at[p["historyId"]] >= 0.1 * 0.95 for p in pushes)


# -- coalescing -------------------------------------------------------------------------


def test_waiting_pushes_of_a_mailbox_are_coalesced_by_default(emu, gmail, endpoint):
    watch(emu, gmail, endpoint)
    emu.set_push_delay(1.0)
    for _ in range(3):
        emu.insert_message(REP, sender="ann@acme.test", to=REP)
    assert emu.wait_for_push()
    assert [p["historyId"] for p in endpoint.received] == [int(emu.history_id(REP))]
    counts = emu.push_counts()
    assert counts["published"] == 1 and counts["coalesced"] == 2 and counts["delivered"] == 1


def test_without_coalescing_every_change_gets_its_own_push(emu, gmail, endpoint):
    watch(emu, gmail, endpoint)
    emu.set_push_coalescing(False)
    emu.set_push_delay(0.3)
    history_ids = []
    for _ in range(3):
        emu.insert_message(REP, sender="ann@acme.test", to=REP)
        history_ids.append(int(emu.history_id(REP)))
    assert emu.wait_for_push()
    assert sorted(p["historyId"] for p in endpoint.received) == history_ids
    assert len({p["messageId"] for p in endpoint.received}) == 3
    assert emu.push_counts()["published"] == 3 and emu.push_counts()["coalesced"] == 0


# -- at-least-once delivery ---------------------------------------------------------------


def test_failed_pushes_are_retried_with_backoff_until_acknowledged(emu, gmail):
    endpoint = Endpoint(statuses=[503, 500])
    try:
        watch(emu, gmail, endpoint)
        emu.set_push_retry(min_backoff=0.05, max_backoff=1.0)
        emu.insert_message(REP, sender="ann@acme.test", to=REP)
        assert emu.wait_for_push(timeout=10)
        attempts = endpoint.received
        assert len(attempts) == 3
        assert len({a["messageId"] for a in attempts}) == 1  # a redelivery, not a new message
        assert {a["historyId"] for a in attempts} == {int(emu.history_id(REP))}
        deliveries = emu.push_deliveries
        assert [(d["attempt"], d["status"], d["acked"]) for d in deliveries] == [
            (1, 503, False), (2, 500, False), (3, 204, True)
        ]
        assert deliveries[1]["time"] - deliveries[0]["time"] >= 0.05 * 0.95
        assert deliveries[2]["time"] - deliveries[1]["time"] >= 0.10 * 0.95
        counts = emu.push_counts()
        assert (counts["attempts"], counts["retried"], counts["delivered"], counts["failed"]) == (3, 2, 1, 0)
    finally:
        endpoint.close()


def test_retries_stop_after_max_attempts_and_are_off_by_default(emu, gmail):
    endpoint = Endpoint(default=500)
    try:
        watch(emu, gmail, endpoint)
        emu.insert_message(REP, sender="ann@acme.test", to=REP)
        assert emu.wait_for_push()
        assert len(endpoint.received) == 1  # no retries unless asked for
        assert emu.push_counts()["failed"] == 1

        emu.set_push_retry(min_backoff=0.01, max_backoff=0.05, max_attempts=3)
        emu.reset_counters()
        emu.insert_message(REP, sender="bob@acme.test", to=REP)
        assert emu.wait_for_push(timeout=10)
        assert len(endpoint.received) == 1 + 3
        counts = emu.push_counts()
        assert (counts["attempts"], counts["retried"], counts["delivered"], counts["failed"]) == (3, 2, 0, 1)
        assert [d["attempt"] for d in emu.push_deliveries[-3:]] == [1, 2, 3]
    finally:
        endpoint.close()


def test_an_unreachable_endpoint_is_retried_too(emu, gmail):
    emu.create_push_subscription(TOPIC, "http://127.0.0.1:9/unreachable")
    gmail.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    emu.set_push_retry(min_backoff=0.01, max_attempts=2)
    emu.insert_message(REP, sender="ann@acme.test", to=REP)
    assert emu.wait_for_push(timeout=10)
    assert [(d["attempt"], d["status"]) for d in emu.push_deliveries] == [(1, None), (2, None)]
    assert all(d["error"] for d in emu.push_deliveries)


# -- which changes push -------------------------------------------------------------------


def pushes_after(emu, endpoint, change) -> int:
    before = len(endpoint.received)
    change()
    assert emu.wait_for_push()
    return len(endpoint.received) - before


def test_reading_or_archiving_inbox_mail_pushes_like_gmail(emu, gmail, endpoint):
    inbox = emu.insert_message(REP, sender="ann@acme.test", to=REP)
    other_inbox = emu.insert_message(REP, sender="bob@acme.test", to=REP)
    spam = emu.insert_message(REP, sender="spam@bad.test", to=REP, label_ids=["SPAM", "UNREAD"])
    watch(emu, gmail, endpoint)
    emu.set_push_coalescing(False)

    assert pushes_after(emu, endpoint, lambda: emu.mark_read(REP, inbox)) == 1
    assert endpoint.received[-1]["historyId"] == int(emu.history_id(REP))
    assert pushes_after(emu, endpoint, lambda: emu.archive(REP, inbox)) == 1
    def remove_through_api(label):
        return lambda: gmail.users().messages().modify(
            userId="me", id=other_inbox, body={"removeLabelIds": [label]}
        ).execute()

    assert pushes_after(emu, endpoint, remove_through_api("UNREAD")) == 1
    assert pushes_after(emu, endpoint, remove_through_api("INBOX")) == 1
    assert emu.label_names(REP, inbox) == set() and emu.label_names(REP, other_inbox) == set()

    # Never in the Inbox, or no longer in it: nothing to tell.
    assert pushes_after(emu, endpoint, lambda: emu.mark_read(REP, spam)) == 0
    assert pushes_after(emu, endpoint, lambda: emu.modify_labels(REP, spam, add=["STARRED"])) == 0
    assert pushes_after(emu, endpoint, lambda: emu.modify_labels(REP, inbox, add=["UNREAD"])) == 0

    # Deleting for good: the message had INBOX when it went.
    doomed = emu.insert_message(REP, sender="carol@acme.test", to=REP)
    assert emu.wait_for_push()
    assert pushes_after(emu, endpoint, lambda: emu.delete_message(REP, doomed)) == 1
    assert pushes_after(emu, endpoint, lambda: emu.delete_message(REP, spam)) == 0


def test_exclude_filter_pushes_for_everything_but_its_labels(emu, gmail, endpoint):
    inbox = emu.insert_message(REP, sender="ann@acme.test", to=REP)
    spam = emu.insert_message(REP, sender="spam@bad.test", to=REP, label_ids=["SPAM", "UNREAD"])
    watch(emu, gmail, endpoint, label_ids=["SPAM"], behavior="exclude")
    emu.set_push_coalescing(False)
    assert pushes_after(emu, endpoint, lambda: emu.mark_read(REP, inbox)) == 1
    assert pushes_after(emu, endpoint, lambda: emu.mark_read(REP, spam)) == 0


def test_an_authenticated_subscription_sends_a_google_signed_oidc_token(emu, gmail, endpoint):
    """As Pub/Sub with a push auth service account: `Authorization: Bearer <JWT>` that google-auth verifies against
    the emulator's certificates (Google's format: PEM x509 by key id), with Google's issuer, the audience (default:
    the endpoint URL), the service account's email, verified."""
    import urllib.request

    import google.auth.transport.requests
    from google.oauth2 import id_token

    account = "push@mailmagnet.iam.gserviceaccount.com"
    emu.create_push_subscription(TOPIC, endpoint.url, service_account=account)
    emu.create_push_subscription(TOPIC, endpoint.url + "?token=t")  # the older kind: no token
    gmail.users().watch(userId="me", body={"topicName": TOPIC, "labelIds": ["INBOX"]}).execute()
    emu.insert_message(REP, sender="ann@acme.test", to=REP, subject="Signed")
    assert emu.wait_for_push()
    with urllib.request.urlopen(emu.certs_url, timeout=5) as response:
        certs = json.loads(response.read())
        assert "max-age=" in response.headers["Cache-Control"]
    assert list(certs) == [emu.push.signer.kid] and certs[emu.push.signer.kid].startswith("-----BEGIN CERTIFICATE")
    tokens = [r["authorization"] for r in endpoint.received]
    assert sorted(token is None for token in tokens) == [False, True]
    token = next(t for t in tokens if t).removeprefix("Bearer ")
    claims = id_token.verify_token(token, google.auth.transport.requests.Request(), audience=endpoint.url,
                                   certs_url=emu.certs_url)
    assert claims["iss"] == "https://accounts.google.com" and claims["email"] == account
    assert claims["email_verified"] is True and claims["exp"] - claims["iat"] == 3600
