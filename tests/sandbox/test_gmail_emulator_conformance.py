"""The emulator's answers validated against the gmail.v1 discovery document.

The document shipped with google-api-python-client is the contract: every
method the emulator serves must exist there with the same verb, path, upload
path and scopes, and every answer must be a valid instance of the method's
response schema (no unknown properties, 64-bit integers as decimal strings,
enums respected).  A method added to the emulator without a check here fails
``test_every_served_method_answers_valid_shapes``.
"""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage

import httplib2
import pytest
from googleapiclient.errors import HttpError

from sandbox.gmail_emulator import Fault, GmailEmulator
from sandbox.gmail_emulator._routes import ROUTES
from sandbox.gmail_emulator.conformance import google_error_problems, load_discovery, methods_of, validate
from sandbox.gmail_emulator.testing import authorize, gmail_service, new_batch

CLIENT_ID = "conformance.apps.googleusercontent.com"
CLIENT_SECRET = "secret"
REP = "rep@example.com"
FULL_SCOPE = "https://mail.google.com/"
TOPIC = "projects/mailmagnet/topics/gmail"

# Google's published quota units (SPEC §8 and the Gmail usage-limits page).
PUBLISHED_UNITS = {
    "gmail.users.getProfile": 1,
    "gmail.users.watch": 100,
    "gmail.users.stop": 50,
    "gmail.users.history.list": 2,
    "gmail.users.labels.list": 1,
    "gmail.users.labels.get": 1,
    "gmail.users.labels.create": 5,
    "gmail.users.labels.patch": 5,
    "gmail.users.labels.update": 5,
    "gmail.users.labels.delete": 5,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.modify": 5,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.messages.batchDelete": 50,
    "gmail.users.messages.delete": 10,
    "gmail.users.messages.trash": 5,
    "gmail.users.messages.untrash": 5,
    "gmail.users.messages.send": 100,
    "gmail.users.messages.insert": 25,
    "gmail.users.messages.import": 25,
    "gmail.users.threads.list": 10,
    "gmail.users.threads.get": 10,
    "gmail.users.threads.modify": 10,
    "gmail.users.threads.trash": 10,
    "gmail.users.threads.untrash": 10,
}

DOC = load_discovery()
METHODS = methods_of(DOC)


@pytest.fixture(scope="module")
def emu():
    with GmailEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        emulator.add_user(REP)
        emulator.create_topic(TOPIC)
        yield emulator


@pytest.fixture(scope="module")
def gmail(emu):
    return gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET, scopes=[FULL_SCOPE]))


def check(validated: set, method_id: str, response) -> None:
    """Validate ``response`` against the method's response schema (or emptiness)."""
    method = METHODS[method_id]
    if "response" in method:
        problems = validate(DOC, method["response"]["$ref"], response)
        assert problems == [], f"{method_id}: {problems}"
    else:
        assert response in ("", None, {}), f"{method_id} must answer an empty body, got {response!r}"
    validated.add(method_id)


def multipart_raw() -> str:
    message = EmailMessage()
    message["From"] = "Ann Lee <ann@acme.test>"
    message["To"] = REP
    message["Subject"] = "Proposal attached"
    message["Date"] = "Tue, 03 Mar 2026 09:00:00 +0000"
    message.set_content("Please find the proposal attached.")
    message.add_alternative("<p>Please find the <b>proposal</b> attached.</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="proposal.pdf")
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


def test_routes_match_the_discovery_document():
    for route in ROUTES:
        method = METHODS[route.method_id]
        assert (route.http_method, route.path) == (method["httpMethod"], method["path"]), route.method_id
        assert set(route.scopes) == set(method["scopes"]), route.method_id
        upload = method.get("mediaUpload", {}).get("protocols", {}).get("simple", {}).get("path")
        assert route.upload_path == upload, route.method_id
        assert route.units == PUBLISHED_UNITS[route.method_id], route.method_id


def exercise_user_and_label_methods(emu, gmail, validated: set) -> None:
    users = gmail.users()
    check(validated, "gmail.users.getProfile", users.getProfile(userId="me").execute())
    check(validated, "gmail.users.labels.list", users.labels().list(userId="me").execute())
    created = users.labels().create(
        userId="me",
        body={"name": "Customers", "labelListVisibility": "labelShow", "messageListVisibility": "show",
              "color": {"backgroundColor": "#16a766", "textColor": "#ffffff"}},
    ).execute()
    check(validated, "gmail.users.labels.create", created)
    check(validated, "gmail.users.labels.get", users.labels().get(userId="me", id=created["id"]).execute())
    check(validated, "gmail.users.labels.get", users.labels().get(userId="me", id="INBOX").execute())
    check(validated, "gmail.users.labels.patch", users.labels().patch(userId="me", id=created["id"], body={"name": "Clients"}).execute())
    check(
        validated, "gmail.users.labels.update",
        users.labels().update(
            userId="me", id=created["id"],
            body={"id": created["id"], "name": "Customers", "labelListVisibility": "labelShowIfUnread",
                  "messageListVisibility": "hide"},
        ).execute(),
    )
    check(validated, "gmail.users.labels.delete", users.labels().delete(userId="me", id=created["id"]).execute())
    check(validated, "gmail.users.watch", users.watch(userId="me", body={"topicName": TOPIC, "labelIds": ["INBOX"]}).execute())
    check(validated, "gmail.users.stop", users.stop(userId="me").execute())


def exercise_message_and_thread_methods(emu, gmail, validated: set) -> None:
    messages = gmail.users().messages()
    start = emu.history_id(REP)
    label = gmail.users().labels().create(userId="me", body={"name": "Open Deals"}).execute()["id"]
    imported = messages.import_(userId="me", body={"raw": multipart_raw(), "labelIds": ["INBOX", "UNREAD"]}).execute()
    check(validated, "gmail.users.messages.import", imported)
    inserted = messages.insert(userId="me", body={"raw": multipart_raw(), "labelIds": ["INBOX"]}).execute()
    check(validated, "gmail.users.messages.insert", inserted)
    simple = emu.insert_message(REP, sender="bob@beta.test", to=REP, subject="Plain", body="plain text")
    check(validated, "gmail.users.messages.list", messages.list(userId="me", q="in:inbox", maxResults=2).execute())
    for fmt in ("minimal", "metadata", "full", "raw"):
        for gmail_id in (imported["id"], simple):
            check(validated, "gmail.users.messages.get", messages.get(userId="me", id=gmail_id, format=fmt).execute())
    full = messages.get(userId="me", id=imported["id"]).execute()
    assert full["payload"]["mimeType"] == "multipart/mixed"
    parts = full["payload"]["parts"]
    assert [p["partId"] for p in parts] == ["0", "1"] and parts[1]["filename"] == "proposal.pdf"
    assert [p["partId"] for p in parts[0]["parts"]] == ["0.0", "0.1"]

    check(validated, "gmail.users.messages.modify",
          messages.modify(userId="me", id=simple, body={"addLabelIds": [label, "STARRED"]}).execute())
    check(validated, "gmail.users.messages.batchModify",
          messages.batchModify(userId="me", body={"ids": [simple, inserted["id"]], "removeLabelIds": ["INBOX"]}).execute())
    check(validated, "gmail.users.messages.trash", messages.trash(userId="me", id=inserted["id"]).execute())
    check(validated, "gmail.users.messages.untrash", messages.untrash(userId="me", id=inserted["id"]).execute())
    sent = messages.send(
        userId="me",
        body={"raw": base64.urlsafe_b64encode(b"To: ann@acme.test\r\nSubject: Re: Proposal attached\r\n"
                                              b"In-Reply-To: <x@acme.test>\r\n\r\nThanks!").decode(),
              "threadId": imported["threadId"]},
    ).execute()
    check(validated, "gmail.users.messages.send", sent)
    assert sent["threadId"] == imported["threadId"]

    threads = gmail.users().threads()
    check(validated, "gmail.users.threads.list", threads.list(userId="me", maxResults=1).execute())
    for fmt in ("minimal", "metadata", "full"):
        check(validated, "gmail.users.threads.get", threads.get(userId="me", id=imported["threadId"], format=fmt).execute())
    check(validated, "gmail.users.threads.modify",
          threads.modify(userId="me", id=imported["threadId"], body={"addLabelIds": ["IMPORTANT"]}).execute())
    check(validated, "gmail.users.threads.trash", threads.trash(userId="me", id=imported["threadId"]).execute())
    check(validated, "gmail.users.threads.untrash", threads.untrash(userId="me", id=imported["threadId"]).execute())

    history = gmail.users().history().list(userId="me", startHistoryId=start).execute()
    check(validated, "gmail.users.history.list", history)
    kinds = {key for record in history["history"] for key in record if key not in ("id", "messages")}
    assert kinds == {"messagesAdded", "labelsAdded", "labelsRemoved"}

    check(validated, "gmail.users.messages.delete", messages.delete(userId="me", id=sent["id"]).execute())
    check(validated, "gmail.users.messages.batchDelete", messages.batchDelete(userId="me", body={"ids": [simple]}).execute())
    deleted = gmail.users().history().list(userId="me", startHistoryId=start, historyTypes="messageDeleted").execute()
    check(validated, "gmail.users.history.list", deleted)
    assert len(deleted["history"]) == 2


def test_every_served_method_answers_valid_shapes(emu, gmail):
    validated: set[str] = set()
    exercise_user_and_label_methods(emu, gmail, validated)
    exercise_message_and_thread_methods(emu, gmail, validated)
    # A method added to the emulator must be exercised above.
    assert {route.method_id for route in ROUTES} - validated == set()


def test_validator_catches_drift():
    good = {"id": "18c0000000000001", "threadId": "18c0000000000001", "historyId": str(2**63 + 5),
            "internalDate": "1772357400000", "sizeEstimate": 12, "labelIds": ["INBOX"]}
    assert validate(DOC, "Message", good) == []
    assert validate(DOC, "Message", {**good, "historyId": 2**63 + 5})  # number instead of string
    assert validate(DOC, "Message", {**good, "historyId": str(2**64)})  # beyond uint64
    assert validate(DOC, "Message", {**good, "internalDate": "soon"})
    assert validate(DOC, "Message", {**good, "labels": ["INBOX"]})  # unknown property
    assert validate(DOC, "Message", {**good, "sizeEstimate": "12"})
    assert validate(DOC, "Message", {"id": "x"})  # threadId missing
    assert validate(DOC, "Label", {"id": "Label_1", "name": "x", "type": "custom"})  # not in the enum
    assert validate(DOC, "ListMessagesResponse", {"messages": [{"id": "a", "threadId": "a"}]})
    assert google_error_problems({"error": {"code": 404, "message": "Not found"}}, 404)


def test_batch_answers_validate_too(emu, gmail):
    gmail_id = emu.insert_message(REP, sender="ann@acme.test", to=REP, subject="In a batch")
    answers = []
    batch = new_batch(emu, lambda rid, response, exc: answers.append((response, exc)))
    batch.add(gmail.users().messages().get(userId="me", id=gmail_id, format="metadata"))
    batch.add(gmail.users().labels().list(userId="me"))
    batch.execute()
    assert validate(DOC, "Message", answers[0][0]) == []
    assert validate(DOC, "ListLabelsResponse", answers[1][0]) == []


@pytest.mark.parametrize(
    "arrange, call, status",
    [
        (None, lambda g: g.users().messages().get(userId="me", id="18c0000000000001"), 404),
        (None, lambda g: g.users().messages().get(userId="me", id="bad!"), 400),
        (None, lambda g: g.users().labels().create(userId="me", body={"name": "inbox"}), 409),
        (None, lambda g: g.users().getProfile(userId="someone@else.test"), 403),
        (Fault(status=429, count=1), lambda g: g.users().getProfile(userId="me"), 429),
        (Fault(status=403, count=1), lambda g: g.users().getProfile(userId="me"), 403),
        (Fault(status=500, count=1), lambda g: g.users().getProfile(userId="me"), 500),
        (Fault(status=503, count=1), lambda g: g.users().getProfile(userId="me"), 503),
    ],
)
def test_error_bodies_have_googles_shape(emu, gmail, arrange, call, status):
    if arrange is not None:
        emu.add_fault(arrange)
    with pytest.raises(HttpError) as failure:
        call(gmail).execute()
    assert failure.value.status_code == status
    assert google_error_problems(json.loads(failure.value.content), status) == []


def test_unauthenticated_error_body(emu):
    response, content = httplib2.Http().request(emu.url + "gmail/v1/users/me/labels")
    assert response.status == 401
    assert google_error_problems(json.loads(content), 401) == []
    assert response["www-authenticate"].startswith("Bearer")


