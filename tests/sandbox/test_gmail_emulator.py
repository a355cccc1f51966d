"""The Gmail emulator through the real googleapiclient over HTTP.

Every test builds the client the way the bot does: static discovery document,
``client_options={"api_endpoint": emu.url}``, credentials from the OAuth web
flow, ``BatchHttpRequest(batch_uri=emu.batch_url)``.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httplib2
import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from sandbox.gmail_emulator import Fault, GmailEmulator
from sandbox.gmail_emulator.conformance import google_error_problems
from sandbox.gmail_emulator.testing import authorize, gmail_service, new_batch

CLIENT_ID = "mailmagnet-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-secret"
REP = "rep@example.com"
OTHER = "colleague@example.com"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
METADATA = "https://www.googleapis.com/auth/gmail.metadata"


@pytest.fixture
def emu():
    with GmailEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        emulator.add_user(REP)
        emulator.add_user(OTHER)
        yield emulator


@pytest.fixture
def creds(emu):
    return authorize(emu, CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def gmail(emu, creds):
    return gmail_service(emu, creds)


def no_wait(request):
    """Let googleapiclient retry without its randomised back-off sleep."""
    request._sleep = lambda _seconds: None
    return request


def error_of(exc: HttpError) -> dict:
    return json.loads(exc.content)["error"]


def raw_message(**headers: str) -> str:
    message = EmailMessage()
    body = headers.pop("body", "Hello")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


# -- reading mail -------------------------------------------------------------


def test_list_and_get_follow_gmail_shapes(emu, gmail):
    older = emu.insert_message(
        REP, sender="Ann Lee <ann@acme.test>", to=REP, subject="Quote", body="Can you send the quote?",
        date=days_ago(2),
    )
    newer = emu.insert_message(
        REP, sender="bob@beta.test", to=REP, subject="Réunion", body="Bonjour à tous", date=days_ago(1),
        cc="carol@beta.test",
    )

    listed = gmail.users().messages().list(userId="me").execute()
    assert [m["id"] for m in listed["messages"]] == [newer, older]
    assert listed["resultSizeEstimate"] == 2
    assert "nextPageToken" not in listed

    minimal = gmail.users().messages().get(userId="me", id=older, format="minimal").execute()
    assert minimal["labelIds"] == ["INBOX", "UNREAD"]
    assert minimal["snippet"] == "Can you send the quote?"
    assert isinstance(minimal["internalDate"], str) and minimal["internalDate"].isdigit()
    assert "payload" not in minimal and "raw" not in minimal

    metadata = gmail.users().messages().get(
        userId="me", id=newer, format="metadata", metadataHeaders=["From", "Subject", "Cc"]
    ).execute()
    headers = {h["name"]: h["value"] for h in metadata["payload"]["headers"]}
    assert headers == {"From": "bob@beta.test", "Subject": "Réunion", "Cc": "carol@beta.test"}

    full = gmail.users().messages().get(userId="me", id=newer).execute()
    body = base64.urlsafe_b64decode(full["payload"]["body"]["data"]).decode()
    assert body == "Bonjour à tous"
    assert full["payload"]["mimeType"] == "text/plain"

    raw = gmail.users().messages().get(userId="me", id=newer, format="raw").execute()["raw"]
    decoded = base64.urlsafe_b64decode(raw)
    assert b"Subject: =?utf-8?" in decoded  # non-ASCII headers travel RFC 2047-encoded
    assert emu.message(REP, newer)["subject"] == "Réunion"


def test_unknown_and_malformed_message_ids(gmail):
    with pytest.raises(HttpError) as missing:
        gmail.users().messages().get(userId="me", id="18c0000000000001").execute()
    assert missing.value.status_code == 404
    assert error_of(missing.value)["message"] == "Requested entity was not found."
    assert google_error_problems(json.loads(missing.value.content), 404) == []

    with pytest.raises(HttpError) as malformed:
        gmail.users().messages().get(userId="me", id="not-an-id!").execute()
    assert malformed.value.status_code == 400
    assert error_of(malformed.value)["errors"][0]["reason"] == "invalidArgument"


def test_list_paging_max_results_and_spam_trash(emu, gmail):
    ids = emu.add_messages_bulk(
        REP,
        [
            {"sender": f"s{i}@acme.test", "to": REP, "subject": f"n{i}", "date": days_ago(30 - i / 100)}
            for i in range(1203)
        ],
    )
    emu.insert_message(REP, sender="spam@bad.test", to=REP, label_ids=["SPAM"])
    seen = []
    request = gmail.users().messages().list(userId="me", maxResults=1000)
    pages = 0
    while request is not None:
        page = request.execute()
        pages += 1
        assert len(page["messages"]) <= 500  # Gmail caps maxResults at 500
        assert page["resultSizeEstimate"] == 1203
        seen.extend(m["id"] for m in page["messages"])
        request = gmail.users().messages().list_next(request, page)
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, nothing twice, nothing lost

    with_spam = gmail.users().messages().list(userId="me", includeSpamTrash=True, maxResults=1).execute()
    assert with_spam["resultSizeEstimate"] == 1204
    spam_only = gmail.users().messages().list(userId="me", labelIds=["SPAM"]).execute()
    assert len(spam_only["messages"]) == 1


def test_empty_results_omit_repeated_fields(gmail, emu):
    assert gmail.users().messages().list(userId="me").execute() == {"resultSizeEstimate": 0}
    current = emu.history_id(REP)
    assert gmail.users().history().list(userId="me", startHistoryId=current).execute() == {"historyId": current}


def test_partial_response_fields(emu, gmail):
    emu.insert_message(REP, sender="a@acme.test", to=REP, subject="x")
    page = gmail.users().messages().list(userId="me", fields="messages(id)").execute()
    assert list(page) == ["messages"] and list(page["messages"][0]) == ["id"]


# -- history ----------------------------------------------------------------------


def test_history_ids_are_unsigned_64_bit_strings(emu, gmail):
    profile = gmail.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == REP
    assert int(profile["historyId"]) > 2**63 - 1  # breaks a client storing it as signed int64


def test_history_records_every_change_and_pages(emu, gmail):
    start = gmail.users().getProfile(userId="me").execute()["historyId"]
    first = emu.insert_message(REP, sender="ann@acme.test", to=REP, subject="one")
    second = emu.insert_message(REP, sender="bob@acme.test", to=REP, subject="two", label_ids=["INBOX"])
    label = gmail.users().labels().create(userId="me", body={"name": "Customers"}).execute()["id"]
    gmail.users().messages().modify(
        userId="me", id=first, body={"addLabelIds": [label], "removeLabelIds": ["INBOX"]}
    ).execute()
    emu.delete_message(REP, second)  # messages.delete needs the full mail.google.com scope

    records, token, pages = [], None, 0
    while True:
        page = gmail.users().history().list(
            userId="me", startHistoryId=start, maxResults=2, pageToken=token
        ).execute()
        pages += 1
        records.extend(page.get("history", []))
        token = page.get("nextPageToken")
        if token is None:
            break
    assert pages == 3
    assert page["historyId"] == emu.history_id(REP)
    ids = [int(r["id"]) for r in records]
    assert ids == sorted(ids) and len(set(ids)) == 5 and all(i > int(start) for i in ids)

    kinds = [next(k for k in r if k not in ("id", "messages")) for r in records]
    assert kinds == ["messagesAdded", "messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted"]
    assert records[0]["messagesAdded"][0]["message"]["labelIds"] == ["INBOX", "UNREAD"]
    assert records[1]["messagesAdded"][0]["message"]["labelIds"] == ["INBOX"]
    assert records[2]["labelsAdded"][0]["labelIds"] == [label]
    assert records[3]["labelsRemoved"][0]["labelIds"] == ["INBOX"]
    assert records[4]["messagesDeleted"][0]["message"] == {"id": second, "threadId": second}

    only_added = gmail.users().history().list(
        userId="me", startHistoryId=start, historyTypes=["messageAdded"]
    ).execute()["history"]
    assert [r["messagesAdded"][0]["message"]["id"] for r in only_added] == [first, second]
    with_label = gmail.users().history().list(userId="me", startHistoryId=start, labelId=label).execute()["history"]
    assert len(with_label) == 2  # the label was added, then INBOX removed while it was on

    message = gmail.users().messages().get(userId="me", id=first, format="minimal").execute()
    assert message["historyId"] == records[3]["id"]


def test_history_404_after_expiry_and_full_resync_works(emu, gmail):
    old = gmail.users().getProfile(userId="me").execute()["historyId"]
    emu.insert_message(REP, sender="ann@acme.test", to=REP)
    emu.expire_history(REP)
    with pytest.raises(HttpError) as expired:
        gmail.users().history().list(userId="me", startHistoryId=old).execute()
    assert expired.value.status_code == 404
    assert error_of(expired.value)["errors"][0]["reason"] == "notFound"

    fresh = gmail.users().getProfile(userId="me").execute()["historyId"]
    emu.insert_message(REP, sender="bob@acme.test", to=REP)
    history = gmail.users().history().list(userId="me", startHistoryId=fresh).execute()
    assert len(history["history"]) == 1


def test_history_404_beyond_retention_and_for_unknown_future_ids():
    with GmailEmulator(history_retention=0) as emu:
        emu.register_client(CLIENT_ID, CLIENT_SECRET)
        emu.add_user(REP)
        gmail = gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET))
        before = emu.history_id(REP)
        emu.insert_message(REP, sender="ann@acme.test", to=REP)
        with pytest.raises(HttpError) as pruned:
            gmail.users().history().list(userId="me", startHistoryId=before).execute()
        assert pruned.value.status_code == 404
        current = emu.history_id(REP)
        assert gmail.users().history().list(userId="me", startHistoryId=current).execute() == {"historyId": current}
        with pytest.raises(HttpError) as future:
            gmail.users().history().list(userId="me", startHistoryId=str(int(current) + 1000)).execute()
        assert future.value.status_code == 404
        with pytest.raises(HttpError) as missing:
            gmail.users().history().list(userId="me").execute()
        assert missing.value.status_code == 400


# -- labels -------------------------------------------------------------------------


def test_labels_system_and_user(emu, gmail):
    labels = {label["id"]: label for label in gmail.users().labels().list(userId="me").execute()["labels"]}
    for system in ("INBOX", "SENT", "UNREAD", "STARRED", "IMPORTANT", "TRASH", "SPAM", "DRAFT", "CATEGORY_PERSONAL"):
        assert labels[system]["type"] == "system"
    assert all("messagesTotal" not in label for label in labels.values())

    created = gmail.users().labels().create(
        userId="me", body={"name": "Deals Closing This Month", "labelListVisibility": "labelShow",
                           "messageListVisibility": "show"},
    ).execute()
    assert created["type"] == "user" and created["id"].startswith("Label_")

    for clash in ("deals closing this month", "DEALS CLOSING THIS MONTH", "inbox", "Sent"):
        with pytest.raises(HttpError) as conflict:
            gmail.users().labels().create(userId="me", body={"name": clash}).execute()
        assert conflict.value.status_code == 409
        assert error_of(conflict.value)["status"] == "ALREADY_EXISTS"

    other = gmail.users().labels().create(userId="me", body={"name": "Open Deals"}).execute()
    with pytest.raises(HttpError) as rename_clash:
        gmail.users().labels().patch(userId="me", id=other["id"], body={"name": "deals closing THIS month"}).execute()
    assert rename_clash.value.status_code == 409
    renamed = gmail.users().labels().patch(userId="me", id=other["id"], body={"name": "Open deals"}).execute()
    assert renamed["name"] == "Open deals" and renamed["labelListVisibility"] == "labelShow"

    message = emu.insert_message(REP, sender="ann@acme.test", to=REP, label_ids=["INBOX", "UNREAD", created["id"]])
    counted = gmail.users().labels().get(userId="me", id=created["id"]).execute()
    assert (counted["messagesTotal"], counted["messagesUnread"], counted["threadsTotal"]) == (1, 1, 1)

    start = emu.history_id(REP)
    gmail.users().labels().delete(userId="me", id=created["id"]).execute()
    assert emu.label_names(REP, message) == {"INBOX", "UNREAD"}
    removed = gmail.users().history().list(userId="me", startHistoryId=start).execute()["history"]
    assert removed[0]["labelsRemoved"][0]["labelIds"] == [created["id"]]
    with pytest.raises(HttpError) as gone:
        gmail.users().labels().get(userId="me", id=created["id"]).execute()
    assert gone.value.status_code == 404
    with pytest.raises(HttpError) as system_delete:
        gmail.users().labels().delete(userId="me", id="INBOX").execute()
    assert system_delete.value.status_code == 400


def test_modify_rejects_unknown_and_fixed_labels(emu, gmail):
    message = emu.insert_message(REP, sender="ann@acme.test", to=REP)
    for bad in ("Label_999", "SENT"):
        with pytest.raises(HttpError) as invalid:
            gmail.users().messages().modify(userId="me", id=message, body={"addLabelIds": [bad]}).execute()
        assert invalid.value.status_code == 400
    with pytest.raises(HttpError) as unknown_field:
        gmail.users().messages().modify(userId="me", id=message, body={"labelsToAdd": ["STARRED"]}).execute()
    assert "Unknown name" in error_of(unknown_field.value)["message"]
    assert emu.label_names(REP, message) == {"INBOX", "UNREAD"}


def test_batch_modify(emu, gmail):
    ids = emu.add_messages_bulk(REP, [{"sender": "a@acme.test", "to": REP} for _ in range(1000)])
    label = gmail.users().labels().create(userId="me", body={"name": "Customers"}).execute()["id"]
    start = emu.history_id(REP)
    result = gmail.users().messages().batchModify(
        userId="me", body={"ids": ids, "addLabelIds": [label], "removeLabelIds": ["INBOX"]}
    ).execute()
    assert result == ""  # empty 204 answer
    assert all(emu.label_names(REP, i) == {"UNREAD", "Customers"} for i in ids[:5] + ids[-5:])
    history = gmail.users().history().list(userId="me", startHistoryId=start, maxResults=500).execute()
    assert len(history["history"]) == 500 and "nextPageToken" in history

    with pytest.raises(HttpError) as too_many:
        gmail.users().messages().batchModify(
            userId="me", body={"ids": ids + ["18c0000000000001"], "addLabelIds": ["STARRED"]}
        ).execute()
    assert too_many.value.status_code == 400
    assert error_of(too_many.value)["message"] == "Number of ids cannot exceed 1000"
    assert "STARRED" not in emu.message(REP, ids[0])["labelIds"]


def test_trash_untrash_and_thread_get(emu, gmail):
    first = emu.insert_message(
        REP, sender="ann@acme.test", to=REP, subject="Pricing", message_id_header="<p1@acme.test>"
    )
    reply = emu.insert_message(
        REP, sender="ann@acme.test", to=REP, subject="Re: Pricing", in_reply_to="<p1@acme.test>"
    )
    assert emu.message(REP, reply)["threadId"] == emu.message(REP, first)["threadId"] == first
    thread = gmail.users().threads().get(userId="me", id=first, format="metadata").execute()
    assert [m["id"] for m in thread["messages"]] == [first, reply]

    gmail.users().messages().trash(userId="me", id=first).execute()
    assert gmail.users().messages().list(userId="me").execute()["resultSizeEstimate"] == 1
    gmail.users().messages().untrash(userId="me", id=first).execute()
    assert gmail.users().messages().list(userId="me").execute()["resultSizeEstimate"] == 2


# -- sending ------------------------------------------------------------------------


def test_send_threaded_reply_and_local_delivery(emu, gmail):
    original = emu.insert_message(
        REP, sender="Ann <ann@acme.test>", to=REP, subject="Quote", message_id_header="<q1@acme.test>"
    )
    reply = gmail.users().messages().send(
        userId="me",
        body={
            "raw": raw_message(To="ann@acme.test", Subject="Re: Quote", In_Reply_To="<q1@acme.test>",
                               References="<q1@acme.test>", body="Here it is"),
            "threadId": original,
        },
    ).execute()
    assert reply["threadId"] == original and reply["labelIds"] == ["SENT"]
    sent = emu.sent_messages(REP)[-1]
    assert sent["headers"]["In-Reply-To"] == "<q1@acme.test>"
    assert sent["headers"]["references"] == "<q1@acme.test>"
    assert sent["from"] == REP  # Gmail fills From with the account
    assert sent["body"].strip() == "Here it is"

    # Gmail keeps a message out of the named thread when the subject differs.
    other = gmail.users().messages().send(
        userId="me", body={"raw": raw_message(To="ann@acme.test", Subject="Unrelated"), "threadId": original}
    ).execute()
    assert other["threadId"] != original

    with pytest.raises(HttpError) as no_recipient:
        gmail.users().messages().send(userId="me", body={"raw": raw_message(Subject="x")}).execute()
    assert no_recipient.value.status_code == 400
    with pytest.raises(HttpError) as no_raw:
        gmail.users().messages().send(userId="me", body={}).execute()
    assert no_raw.value.status_code == 400

    gmail.users().messages().send(
        userId="me", body={"raw": raw_message(To=OTHER, Subject="FYI", body="see below")}
    ).execute()
    delivered = emu.user_messages(OTHER)
    assert len(delivered) == 1 and emu.label_names(OTHER, delivered[0]) == {"INBOX", "UNREAD", "CATEGORY_PERSONAL"}


def test_upload_endpoints_take_rfc822_media(emu, creds):
    # googleapiclient keeps https:// for /upload URLs when api_endpoint is
    # overridden, so against the http:// emulator the bot must send
    # body={"raw": ...}; the upload endpoints still answer like Gmail's.
    gmail_service(emu, creds).users().getProfile(userId="me").execute()
    message = EmailMessage()
    message["To"] = "ann@acme.test"
    message["Subject"] = "Uploaded"
    message.set_content("via /upload")
    auth = {"authorization": f"Bearer {creds.token}"}
    http = httplib2.Http()
    response, content = http.request(
        emu.url + "upload/gmail/v1/users/me/messages/send?uploadType=media", "POST",
        body=message.as_bytes(), headers={**auth, "content-type": "message/rfc822"},
    )
    assert response.status == 200
    assert emu.message(REP, json.loads(content)["id"])["subject"] == "Uploaded"

    boundary = "===related==="
    related = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"labelIds": ["INBOX"]})
        + f"\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
    ).encode() + message.as_bytes() + f"\r\n--{boundary}--\r\n".encode()
    response, content = http.request(
        emu.url + "upload/gmail/v1/users/me/messages?uploadType=multipart", "POST",
        body=related, headers={**auth, "content-type": f'multipart/related; boundary="{boundary}"'},
    )
    assert response.status == 200
    assert emu.label_names(REP, json.loads(content)["id"]) == {"INBOX"}


def test_insert_and_import_honour_internal_date_source(emu, gmail):
    raw = raw_message(From="ann@acme.test", To=REP, Subject="Old", Date="Mon, 02 Jan 2023 10:00:00 +0000")
    imported = gmail.users().messages().import_(userId="me", body={"raw": raw, "labelIds": ["INBOX"]}).execute()
    assert emu.message(REP, imported["id"])["internalDate"] == 1672653600000
    inserted = gmail.users().messages().insert(userId="me", body={"raw": raw}).execute()
    assert emu.message(REP, inserted["id"])["internalDate"] > 1672653600000
    assert emu.message(REP, inserted["id"])["labelIds"] == []


# -- batch ---------------------------------------------------------------------------


def test_batch_answers_each_part_with_its_content_id(emu, gmail):
    ids = [emu.insert_message(REP, sender=f"s{i}@acme.test", to=REP, subject=f"m{i}") for i in range(3)]
    answers = {}
    batch = new_batch(emu, lambda rid, response, exc: answers.__setitem__(rid, (response, exc)))
    for gmail_id in ids:
        batch.add(gmail.users().messages().get(userId="me", id=gmail_id, format="metadata"), request_id=gmail_id)
    batch.add(gmail.users().messages().get(userId="me", id="18c0000000000001"), request_id="missing")
    batch.add(gmail.users().messages().modify(userId="me", id=ids[0], body={"addLabelIds": ["STARRED"]}),
              request_id="modify")
    batch.execute()
    assert {rid: answers[rid][0]["id"] for rid in ids} == {i: i for i in ids}
    assert answers["missing"][1].status_code == 404
    assert answers["modify"][0]["labelIds"] == ["INBOX", "UNREAD", "STARRED"]
    inner = [call for call in emu.calls if call.in_batch]
    assert len(inner) == 5 and all(call.user == REP for call in inner)


def test_batch_limit_is_100_inner_requests(emu, gmail):
    message = emu.insert_message(REP, sender="a@acme.test", to=REP)
    results = []
    batch = new_batch(emu, lambda rid, response, exc: results.append(exc))
    for _ in range(100):
        batch.add(gmail.users().messages().get(userId="me", id=message, format="minimal"))
    batch.execute()
    assert results == [None] * 100

    too_big = new_batch(emu)
    for _ in range(101):
        too_big.add(gmail.users().messages().get(userId="me", id=message, format="minimal"))
    with pytest.raises(HttpError) as rejected:
        too_big.execute()
    assert rejected.value.status_code == 400
    assert "Inner request count exceeds the limit. Received: 101, Limit: 100" in error_of(rejected.value)["message"]


def test_batch_inner_requests_inherit_outer_authorization(emu, creds):
    gmail_service(emu, creds).users().getProfile(userId="me").execute()  # fresh token
    boundary = "===b==="
    body = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <x + 1>\r\n\r\n"
        f"GET /gmail/v1/users/me/profile HTTP/1.1\r\n\r\n\r\n--{boundary}--\r\n"
    )
    http = httplib2.Http()
    headers = {"content-type": f'multipart/mixed; boundary="{boundary}"'}
    _, anonymous = http.request(emu.batch_url, "POST", body=body, headers=headers)
    assert b"HTTP/1.1 401" in anonymous
    response, content = http.request(
        emu.url + "batch", "POST", body=body, headers={**headers, "authorization": f"Bearer {creds.token}"}
    )
    assert response.status == 200
    assert b"Content-ID: <response-x + 1>" in content and b'"emailAddress": "rep@example.com"' in content


# -- faults ---------------------------------------------------------------------------


def test_429_and_503_are_retried_by_googleapiclient(emu, gmail):
    message = emu.insert_message(REP, sender="a@acme.test", to=REP)
    emu.reset_counters()
    fault = emu.add_fault(Fault(method="gmail.users.messages.get", status=429, count=1))
    request = gmail.users().messages().get(userId="me", id=message)
    assert no_wait(request).execute(num_retries=2)["id"] == message
    assert fault.hits == 1
    assert [(c.status, c.units) for c in emu.calls] == [(429, 0), (200, 5)]

    emu.add_fault(Fault(method="gmail.users.messages.*", status=503, count=2))
    assert no_wait(gmail.users().messages().list(userId="me")).execute(num_retries=3)["resultSizeEstimate"] == 1

    emu.add_fault(Fault(method="*", status=429, count=1))
    with pytest.raises(HttpError) as limited:
        gmail.users().getProfile(userId="me").execute()
    error = error_of(limited.value)
    assert (error["status"], error["errors"][0]["reason"]) == ("RESOURCE_EXHAUSTED", "rateLimitExceeded")


@pytest.mark.parametrize("reason", ["userRateLimitExceeded", "rateLimitExceeded"])
def test_403_rate_limits_are_retried(emu, gmail, reason):
    emu.add_fault(Fault(method="gmail.users.getProfile", status=403, reason=reason, count=1))
    with pytest.raises(HttpError) as limited:
        gmail.users().getProfile(userId="me").execute()
    detail = error_of(limited.value)["errors"][0]
    assert (detail["domain"], detail["reason"]) == ("usageLimits", reason)
    emu.add_fault(Fault(method="gmail.users.getProfile", status=403, reason=reason, count=1))
    assert no_wait(gmail.users().getProfile(userId="me")).execute(num_retries=1)["emailAddress"] == REP


def test_500_backend_error_and_faulted_call_changes_nothing(emu, gmail):
    message = emu.insert_message(REP, sender="a@acme.test", to=REP)
    before = emu.history_id(REP)
    emu.reset_counters()
    emu.add_fault(Fault(method="gmail.users.messages.modify", status=500, count=1))
    with pytest.raises(HttpError) as failed:
        gmail.users().messages().modify(userId="me", id=message, body={"removeLabelIds": ["INBOX"]}).execute()
    assert failed.value.status_code == 500
    assert error_of(failed.value)["errors"][0]["reason"] == "backendError"
    assert emu.label_names(REP, message) == {"INBOX", "UNREAD"}
    assert emu.history_id(REP) == before
    assert emu.quota_units(REP) == 0


def test_fault_rate_is_a_seeded_probability(emu, gmail):
    fault = emu.add_fault(Fault(method="gmail.users.getProfile", status=503, rate=0.5, seed=7))
    outcomes = []
    for _ in range(40):
        try:
            gmail.users().getProfile(userId="me").execute()
            outcomes.append("ok")
        except HttpError as exc:
            outcomes.append(exc.status_code)
    assert 5 < outcomes.count(503) < 35 and outcomes.count(503) == fault.hits
    assert outcomes.count("ok") == 40 - fault.hits
    emu.clear_faults()
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == REP


def test_dropped_connections(emu, gmail):
    # httplib2 silently re-sends once on a dropped keep-alive connection ...
    emu.add_fault(Fault(method="gmail.users.getProfile", status="drop", count=1))
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == REP
    assert [c.status for c in emu.calls][-2:] == ["drop", 200]
    # ... but a second drop reaches the caller.
    emu.add_fault(Fault(method="gmail.users.getProfile", status="drop", count=2))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        gmail.users().getProfile(userId="me").execute()
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == REP


def test_timeouts_hang_longer_than_the_client_waits(emu, creds):
    gmail = gmail_service(emu, creds, timeout=0.3)
    emu.add_fault(Fault(method="gmail.users.getProfile", status="timeout", timeout_seconds=3, count=1))
    with pytest.raises(TimeoutError):
        gmail.users().getProfile(userId="me").execute()
    emu.add_fault(Fault(method="gmail.users.getProfile", status="timeout", timeout_seconds=3, count=1))
    assert no_wait(gmail.users().getProfile(userId="me")).execute(num_retries=1)["emailAddress"] == REP


def test_faults_inside_a_batch_fail_only_their_part(emu, gmail):
    ids = [emu.insert_message(REP, sender="a@acme.test", to=REP) for _ in range(4)]
    emu.reset_counters()
    emu.add_fault(Fault(method="gmail.users.messages.get", status=429, count=2))
    errors = {}
    batch = new_batch(emu, lambda rid, response, exc: errors.__setitem__(rid, exc and exc.status_code))
    for gmail_id in ids:
        batch.add(gmail.users().messages().get(userId="me", id=gmail_id), request_id=gmail_id)
    batch.execute()
    assert list(errors.values()) == [429, 429, None, None]
    assert emu.quota_units(REP) == 10


def test_latency_is_added_per_call(emu, gmail):
    emu.set_latency(50, method="gmail.users.getProfile")
    emu.add_fault(Fault(method="gmail.users.labels.list", status=None, latency_ms=20, count=1))
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == REP
    assert gmail.users().labels().list(userId="me").execute()["labels"]
    emu.set_latency(0, method="gmail.users.getProfile")
    assert [c.units for c in emu.calls[-2:]] == [1, 1]


# -- quota -----------------------------------------------------------------------------


def test_quota_units_per_method(emu, gmail):
    message = emu.insert_message(REP, sender="ann@acme.test", to=REP, subject="Quote")
    emu.create_topic("projects/mm/topics/gmail")
    emu.reset_counters()
    users = gmail.users()
    users.getProfile(userId="me").execute()
    users.labels().list(userId="me").execute()
    label = users.labels().create(userId="me", body={"name": "Customers"}).execute()["id"]
    users.labels().get(userId="me", id=label).execute()
    users.labels().patch(userId="me", id=label, body={"name": "Clients"}).execute()
    users.messages().list(userId="me").execute()
    users.messages().get(userId="me", id=message).execute()
    users.messages().modify(userId="me", id=message, body={"addLabelIds": [label]}).execute()
    users.messages().batchModify(userId="me", body={"ids": [message], "removeLabelIds": [label]}).execute()
    users.history().list(userId="me", startHistoryId=emu.history_id(REP)).execute()
    users.threads().get(userId="me", id=message).execute()
    users.messages().send(userId="me", body={"raw": raw_message(To="ann@acme.test", Subject="Hi")}).execute()
    users.messages().insert(userId="me", body={"raw": raw_message(To=REP, Subject="x")}).execute()
    users.messages().import_(userId="me", body={"raw": raw_message(To=REP, Subject="y")}).execute()
    users.watch(userId="me", body={"topicName": "projects/mm/topics/gmail"}).execute()
    users.stop(userId="me").execute()
    users.labels().delete(userId="me", id=label).execute()

    batch = new_batch(emu)
    for _ in range(3):
        batch.add(users.messages().get(userId="me", id=message, format="minimal"))
    batch.execute()

    units = {}
    for call in emu.calls:
        units.setdefault(call.method, []).append(call.units)
    assert units == {
        "gmail.users.getProfile": [1],
        "gmail.users.labels.list": [1],
        "gmail.users.labels.create": [5],
        "gmail.users.labels.get": [1],
        "gmail.users.labels.patch": [5],
        "gmail.users.messages.list": [5],
        "gmail.users.messages.get": [5, 5, 5, 5],
        "gmail.users.messages.modify": [5],
        "gmail.users.messages.batchModify": [50],
        "gmail.users.history.list": [2],
        "gmail.users.threads.get": [10],
        "gmail.users.messages.send": [100],
        "gmail.users.messages.insert": [25],
        "gmail.users.messages.import": [25],
        "gmail.users.watch": [100],
        "gmail.users.stop": [50],
        "gmail.users.labels.delete": [5],
    }
    assert emu.quota_units(REP) == 1 + 1 + 5 + 1 + 5 + 5 + 20 + 5 + 50 + 2 + 10 + 100 + 25 + 25 + 100 + 50 + 5
    assert emu.quota_units(OTHER) == 0
    assert sum(call.in_batch for call in emu.calls) == 3


# -- authorization ----------------------------------------------------------------------


def test_expired_access_token_is_refreshed_transparently(emu, creds, gmail):
    old_token = creds.token
    emu.expire_access_tokens(REP)
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == REP
    assert creds.token != old_token
    assert [c.status for c in emu.calls] == [401, 200]


def test_batch_refreshes_expired_tokens_and_resends(emu, creds, gmail):
    ids = [emu.insert_message(REP, sender="a@acme.test", to=REP) for _ in range(3)]
    emu.expire_access_tokens(REP)
    answers = {}
    batch = new_batch(emu, lambda rid, response, exc: answers.__setitem__(rid, exc or response["id"]))
    for gmail_id in ids:
        batch.add(gmail.users().messages().get(userId="me", id=gmail_id, format="minimal"), request_id=gmail_id)
    batch.execute()
    assert answers == {gmail_id: gmail_id for gmail_id in ids}
    assert [c.status for c in emu.calls] == [401, 401, 401, 200, 200, 200]


def test_revoked_access_fails_refresh_with_invalid_grant(emu, creds, gmail):
    emu.revoke_access(REP)
    with pytest.raises(RefreshError) as refused:
        gmail.users().getProfile(userId="me").execute()
    assert "invalid_grant" in str(refused.value)
    status, _ = httplib2.Http().request(
        emu.url + "gmail/v1/users/me/profile", headers={"authorization": f"Bearer {creds.token}"}
    )
    assert status.status == 401


def test_unauthenticated_and_other_users_mailbox(emu, gmail):
    response, content = httplib2.Http().request(emu.url + "gmail/v1/users/me/profile")
    assert response.status == 401
    body = json.loads(content)
    assert body["error"]["status"] == "UNAUTHENTICATED" and google_error_problems(body, 401) == []
    response, content = httplib2.Http().request(
        emu.url + "gmail/v1/users/me/profile", headers={"authorization": "Bearer ya29.forged"}
    )
    assert response.status == 401 and json.loads(content)["error"]["errors"][0]["reason"] == "authError"

    assert gmail.users().getProfile(userId=REP).execute()["emailAddress"] == REP
    with pytest.raises(HttpError) as denied:
        gmail.users().getProfile(userId=OTHER).execute()
    assert denied.value.status_code == 403


def test_scopes_are_enforced(emu):
    readonly = gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET, scopes=[READONLY]))
    message = emu.insert_message(REP, sender="a@acme.test", to=REP)
    assert readonly.users().messages().get(userId="me", id=message).execute()["id"] == message
    with pytest.raises(HttpError) as forbidden:
        readonly.users().messages().modify(userId="me", id=message, body={"addLabelIds": ["STARRED"]}).execute()
    assert forbidden.value.status_code == 403
    assert error_of(forbidden.value)["errors"][0]["reason"] == "insufficientPermissions"

    metadata = gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET, scopes=[METADATA]))
    assert metadata.users().messages().get(userId="me", id=message, format="metadata").execute()["id"] == message
    for call in (
        metadata.users().messages().get(userId="me", id=message, format="full"),
        metadata.users().messages().list(userId="me", q="from:a@acme.test"),
    ):
        with pytest.raises(HttpError) as restricted:
            call.execute()
        assert restricted.value.status_code == 403


# -- push -------------------------------------------------------------------------------


class PushReceiver:
    """A tiny HTTP endpoint that records Pub/Sub push deliveries."""

    def __init__(self, status: int = 204):
        received = self.received = []
        arrived = self.arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with arrived:
                    received.append((self.path, json.loads(body)))
                    arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gmail/push"

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    endpoint = PushReceiver()
    yield endpoint
    endpoint.close()


def test_watch_pushes_pubsub_envelopes(emu, gmail, receiver):
    topic = "projects/mailmagnet/topics/gmail"
    subscription = emu.create_push_subscription(topic, receiver.url, verification_token="s3cret")
    watch = gmail.users().watch(
        userId="me", body={"topicName": topic, "labelIds": ["INBOX"], "labelFilterBehavior": "include"}
    ).execute()
    assert watch["historyId"] == emu.history_id(REP)
    expires_in = int(watch["expiration"]) / 1000 - datetime.now(timezone.utc).timestamp()
    assert 6.9 * 86400 < expires_in <= 7 * 86400

    emu.insert_message(REP, sender="ann@acme.test", to=REP)
    path, envelope = receiver.wait_for(1)[0]
    assert parse_qs(urlsplit(path).query) == {"token": ["s3cret"]}
    assert envelope["subscription"] == subscription
    assert envelope["message"]["messageId"] and envelope["message"]["publishTime"].endswith("Z")
    data = json.loads(base64.b64decode(envelope["message"]["data"]))
    assert data == {"emailAddress": REP, "historyId": int(emu.history_id(REP))}

    emu.insert_message(REP, sender="spam@bad.test", to=REP, label_ids=["SPAM"])  # outside the filter
    assert emu.wait_for_push()
    assert len(receiver.received) == 1

    gmail.users().stop(userId="me").execute()
    emu.insert_message(REP, sender="bob@acme.test", to=REP)
    assert emu.wait_for_push()
    assert len(receiver.received) == 1
    assert [d["status"] for d in emu.push_deliveries] == [204]

    gmail.users().watch(userId="me", body={"topicName": topic}).execute()  # renewal, no label filter
    emu.modify_labels(REP, emu.user_messages(REP)[0], add=["STARRED"])
    assert len(receiver.wait_for(2)) == 2
    emu.expire_watch(REP)
    emu.insert_message(REP, sender="carol@acme.test", to=REP)
    assert emu.wait_for_push()
    assert len(receiver.received) == 2


def test_watch_needs_an_existing_topic_and_failed_pushes_are_recorded(emu, gmail):
    with pytest.raises(HttpError) as bad_name:
        gmail.users().watch(userId="me", body={"topicName": "gmail-topic"}).execute()
    assert bad_name.value.status_code == 400
    with pytest.raises(HttpError) as missing:
        gmail.users().watch(userId="me", body={"topicName": "projects/p/topics/nope"}).execute()
    assert missing.value.status_code == 404

    emu.create_push_subscription("projects/p/topics/t", "http://127.0.0.1:9/unreachable")
    gmail.users().watch(userId="me", body={"topicName": "projects/p/topics/t"}).execute()
    emu.insert_message(REP, sender="ann@acme.test", to=REP)
    assert emu.wait_for_push()
    (delivery,) = emu.push_deliveries
    assert delivery["status"] is None and delivery["error"]


# -- seeding and the Python-side API -------------------------------------------------------


def test_command_line_runs_a_seeded_emulator(tmp_path):
    import subprocess
    import sys

    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"users": [REP], "messages": [{"user": REP, "sender": "ann@acme.test", "subject": "Hi"}]}))
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.gmail_emulator", "--seed", str(seed), "--client-id", CLIENT_ID,
         "--client-secret", CLIENT_SECRET],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        urls = json.loads(process.stdout.readline())
        response, content = httplib2.Http().request(urls["GMAIL_API_URL"] + "healthz")
        assert response.status == 200
        assert urls["GOOGLE_TOKEN_URI"].endswith("/token") and urls["users"] == [REP]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_seed_from_dict(emu):
    result = emu.seed_from(
        {
            "users": ["seed@example.com", {"email": "labels@example.com", "labels": ["Customers"]}],
            "messages": [
                {"user": "seed@example.com", "sender": "ann@acme.test", "to": "seed@example.com",
                 "subject": "Hi", "body": "Hello", "labels": ["INBOX", "Open Deals"], "date": "2026-03-01T09:30:00Z"},
                {"user": "seed@example.com", "sender": "bob@acme.test", "subject": "Later", "date": 1772400000},
            ],
        }
    )
    assert result["users"] == ["seed@example.com", "labels@example.com"]
    first, second = result["messages"]
    assert emu.label_names("seed@example.com", first) == {"INBOX", "Open Deals"}
    assert emu.message("seed@example.com", first)["internalDate"] == 1772357400000
    assert emu.label_names("seed@example.com", second) == {"INBOX", "UNREAD"}
    assert emu.user_messages("seed@example.com") == [second, first]
    assert emu.label_id("labels@example.com", "customers") is not None
